"""The async entry points run the sync transfer in a worker thread: cancelling the awaiting
task stops that thread promptly and leaves nothing behind, several run at once on one
event loop, and what the twin learns about the registry stays with the async client."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
import pytest
from docker_registry_v1 import AsyncClient, InvalidInput
from docker_registry_v1.core.progress import PlannedLayer, SilentProgress
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.oci.client import AsyncOCIClient
from docker_registry_v1.transfer import apull, apush
from docker_registry_v1.transfer.copy import acopy
from transfer_support import assert_chain_in, save_archive, seed_chain

LAYER = "/v1/images/*/layer"


def transfer_threads() -> list[threading.Thread]:
    """The sync transfers' job threads (``bounded.run_threads``) still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("regv1-transfer")]


def ended(threads: list[threading.Thread], within: float) -> bool:
    deadline = time.monotonic() + within
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


class Watch(SilentProgress):
    """Records when the plan came and how many layer bytes arrived; ``pause`` slows each
    chunk down, so that a pull is mid-layer for seconds."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.planned_at: float | None = None
        self.done_at: float | None = None
        self.bytes = 0
        self.planned_event = threading.Event()
        self.first_chunk = threading.Event()
        self._lock = threading.Lock()

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        self.planned_at = time.monotonic()
        self.planned_event.set()

    def advanced(self, image_id: str, nbytes: int) -> None:
        with self._lock:
            self.bytes += nbytes
        self.first_chunk.set()
        time.sleep(self.pause)

    def assembled(self, nbytes: int) -> None:
        self.done_at = time.monotonic()


async def cancel_when(
    event: threading.Event, call: functools.partial[object], delay: float = 0.0
) -> tuple[bool, float]:
    """Run ``call`` and cancel it once ``event`` is set (plus ``delay``); whether the
    cancellation was caught, and how long the call took to return after it."""
    cancelled_at = 0.0
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(call)
            assert await anyio.to_thread.run_sync(event.wait, 20.0)
            await anyio.sleep(delay)
            cancelled_at = time.monotonic()
            scope.cancel()
    return scope.cancelled_caught, time.monotonic() - cancelled_at


def test_cancelled_mid_layer_stops_the_worker_promptly_and_leaves_no_file(
    standalone: Standalone, tmp_path: Path
) -> None:
    chain = seed_chain(3, seed=11, size=6_000_000)
    standalone.store.seed("acme/big", "1.0", chain)
    total = sum(len(image.layer_bytes) for image in chain)
    dest = tmp_path / "big.tar"
    # ~100 chunks a layer: ~5 s per layer at this pace, twice the bound below, which
    # leaves room for a loaded machine (three test workers on two cores)
    watch = Watch(pause=0.05)
    before = set(transfer_threads())

    async def main() -> tuple[bool, float]:
        async with AsyncClient(standalone.url) as client:
            call = functools.partial(apull, client, "acme/big", "1.0", dest, progress=watch)
            return await cancel_when(watch.first_chunk, call)

    cancelled, took = anyio.run(main)
    assert cancelled
    assert took < 2.5, f"the cancelled pull took {took:.2f}s to return"
    assert 0 < watch.bytes < total  # it was cancelled mid-layer
    assert list(tmp_path.iterdir()) == []  # no archive, no spool directory
    assert ended([t for t in transfer_threads() if t not in before], within=2.5)
    seen = watch.bytes
    time.sleep(0.3)
    assert watch.bytes == seen  # nothing goes on in the background


def test_a_push_cancelled_mid_layer_stops_and_finalises_nothing(
    standalone: Standalone, tmp_path: Path
) -> None:
    chain = seed_chain(2, seed=13, size=3_000_000)
    archive = save_archive(tmp_path / "in.tar", "acme/up", "1.0", chain)
    watch = Watch(pause=0.02)

    async def main() -> tuple[bool, float]:
        async with AsyncClient(standalone.url) as client:
            call = functools.partial(apush, client, archive, "acme/up", "1.0", progress=watch)
            return await cancel_when(watch.first_chunk, call)

    cancelled, took = anyio.run(main)
    assert cancelled
    assert took < 2.5, f"the cancelled push took {took:.2f}s to return"
    assert 0 < watch.bytes < sum(len(image.layer_bytes) for image in chain)
    assert standalone.store.tags("acme/up") in (None, {})
    assert standalone.log.find(method="PUT", path="/v1/images/*/checksum") == []
    assert standalone.store.layer(chain[0].id) is None  # the layer PUT broke off


def test_cancelled_while_the_server_stalls_returns_at_once(
    standalone: Standalone, tmp_path: Path
) -> None:
    """A layer GET waiting on a silent server cannot notice anything; the pull's own
    thread is woken all the same, cleans up and returns, and the job thread ends as soon
    as the answer comes, without writing anything."""
    chain = seed_chain(2, seed=12, size=200_000)
    standalone.store.seed("acme/stall", "1.0", chain)
    standalone.faults.latency(LAYER, 6.0)
    dest = tmp_path / "stall.tar"
    watch = Watch()
    before = set(transfer_threads())

    async def main() -> tuple[bool, float]:
        async with AsyncClient(standalone.url) as client:
            call = functools.partial(apull, client, "acme/stall", "1.0", dest, progress=watch)
            return await cancel_when(watch.planned_event, call, delay=0.2)

    started = time.monotonic()
    cancelled, took = anyio.run(main)
    assert cancelled
    assert took < 2.5, f"the cancelled pull took {took:.2f}s to return"
    assert time.monotonic() - started < 5  # well before the layers could answer (6 s)
    assert list(tmp_path.iterdir()) == []
    assert watch.bytes == 0
    assert ended([t for t in transfer_threads() if t not in before], within=10.0)
    assert list(tmp_path.iterdir()) == []
    assert watch.bytes == 0


def test_two_async_pulls_run_at_once_on_one_event_loop(
    standalone: Standalone, tmp_path: Path
) -> None:
    chains = {"acme/one": seed_chain(2, seed=21), "acme/two": seed_chain(2, seed=22)}
    for repo, chain in chains.items():
        standalone.store.seed(repo, "1.0", chain)
    standalone.faults.latency(LAYER, 1.0)  # each pull spends a second on its layers
    watches = {repo: Watch() for repo in chains}
    ticks = 0

    async def ticker(stop: anyio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await anyio.sleep(0.05)

    async def main() -> None:
        stop = anyio.Event()
        async with AsyncClient(standalone.url) as client, anyio.create_task_group() as outer:
            outer.start_soon(ticker, stop)
            async with anyio.create_task_group() as group:
                for repo in chains:
                    dest = tmp_path / f"{repo.split('/')[1]}.tar"
                    group.start_soon(
                        functools.partial(apull, client, repo, "1.0", dest, progress=watches[repo])
                    )
            stop.set()

    anyio.run(main)
    for repo, chain in chains.items():
        assert_chain_in(tmp_path / f"{repo.split('/')[1]}.tar", chain)
    one, two = watches["acme/one"], watches["acme/two"]
    assert one.planned_at is not None
    assert one.done_at is not None
    assert two.planned_at is not None
    assert two.done_at is not None
    # each waited a second for its layers, and they did so at the same time
    assert one.planned_at < two.done_at
    assert two.planned_at < one.done_at
    assert ticks >= 10  # the event loop kept running meanwhile


def test_the_twin_shares_the_token_decision_with_the_async_client(
    standalone: Standalone, tmp_path: Path
) -> None:
    standalone.store.seed("acme/app", "1.0", seed_chain(2, seed=31))

    async def main() -> bool | None:
        async with AsyncClient(standalone.url) as client:
            await apull(client, "acme/app", "1.0", tmp_path / "one.tar")
            await apull(client, "acme/app", "1.0", tmp_path / "two.tar")
            assert await client.issues_tokens() is False
            return client._tokens_known()

    assert anyio.run(main) is False
    # one _ping for both pulls and the client's own question: the first twin asked it
    assert len(standalone.log.find(path="/v1/_ping")) == 1


def test_an_async_client_with_a_transport_of_its_own_is_refused(
    standalone: Standalone, tmp_path: Path
) -> None:
    standalone.store.seed("acme/app", "1.0", seed_chain(1, seed=41))

    async def main() -> None:
        transport = httpx.AsyncHTTPTransport()
        async with AsyncClient(standalone.url, transport=transport) as client:
            with pytest.raises(InvalidInput, match=r"transport=.*cannot run a whole-image"):
                await apull(client, "acme/app", "1.0", tmp_path / "a.tar")
        async with (
            AsyncClient(standalone.url) as source,
            AsyncOCIClient("http://127.0.0.1:9/", transport=httpx.AsyncHTTPTransport()) as dest,
        ):
            with pytest.raises(InvalidInput, match=r"AsyncOCIClient made with transport="):
                await acopy(source, "acme/app", "1.0", dest, cache=tmp_path / "c.sqlite")

    anyio.run(main)
    assert standalone.log.entries == []  # refused before anything was sent
    assert list(tmp_path.iterdir()) == []
