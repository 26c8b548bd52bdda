"""Ctrl-C during a pull through the Python API: stop at once, leave nothing, re-raise.

A real SIGINT is sent to the main thread, where it lands as it would from a
terminal: in the sync pull's wait for its worker threads, in the async pull's
event loop (whose runner cancels the main task and then raises KeyboardInterrupt).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import interruptible
import pytest
from docker_registry_v1.core.progress import PlannedLayer
from docker_registry_v1.emulator import Emulator
from transfer_support import FAST, Runner, seed_chain

LAYER = "/v1/images/*/layer"


@pytest.fixture(autouse=True)
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt here even if pytest was started with it ignored."""
    with interruptible.keyboard_interrupt_on_sigint():
        yield


def sigint_main_thread() -> None:
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


class Counting:
    """Counts the bytes reported; ``trigger`` sends SIGINT at the first of them."""

    def __init__(self, *, trigger: bool = False) -> None:
        self.trigger = trigger
        self.bytes = 0
        self.done: list[str] = []
        self._lock = threading.Lock()

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        del layers

    def advanced(self, image_id: str, nbytes: int) -> None:
        del image_id
        with self._lock:
            first, self.bytes = self.bytes == 0, self.bytes + nbytes
        if first and self.trigger:
            sigint_main_thread()

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        del skipped
        with self._lock:
            self.done.append(image_id)


def transfer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("regv1-transfer")]


def test_interrupt_while_every_layer_waits_for_the_server(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    held_back = 4.0
    standalone.store.seed("acme/big", "1.0", seed_chain(4, size=1 << 20))
    rule = standalone.faults.latency(LAYER, held_back, method="GET")
    progress = Counting()

    def interrupter() -> None:
        while rule.hits < 4:
            time.sleep(0.01)
        time.sleep(0.5)
        sigint_main_thread()

    threading.Thread(target=interrupter, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run("pull", standalone.url, "acme/big", "1.0", tmp_path / "big.tar", progress=progress)
    assert time.monotonic() - started < 0.5 + 2.0
    assert list(tmp_path.iterdir()) == []
    # the abandoned workers stop at the server's first bytes instead of downloading
    for worker in transfer_threads():
        worker.join(held_back + 10)
        assert not worker.is_alive()
    assert progress.bytes == 0
    assert progress.done == []


def test_interrupt_while_layers_stream(standalone: Emulator, run: Runner, tmp_path: Path) -> None:
    chain = seed_chain(4, size=8 << 20)
    standalone.store.seed("acme/big", "1.0", chain)
    progress = Counting(trigger=True)
    with pytest.raises(KeyboardInterrupt):
        run(
            "pull",
            standalone.url,
            "acme/big",
            "1.0",
            tmp_path / "big.tar",
            progress=progress,
            retry=FAST,
        )
    assert list(tmp_path.iterdir()) == []
    for worker in transfer_threads():
        worker.join(10)
    total = sum(len(image.layer_bytes) for image in chain)
    assert 0 < progress.bytes < total // 4, (progress.bytes, total)
    assert progress.done == []
