"""`run_threads` keeps a worker that finished its batch for the next one a moment
(a migration runs one small batch per tag, thousands back to back: a thread start per
job was a tenth of its CPU), and an idle worker ends soon after, so a cancelled or
finished transfer leaves no thread behind."""

from __future__ import annotations

import threading
import time

from docker_registry_v1.engine.bounded import IDLE_SECONDS, run_threads


def _names(count: int) -> list[str]:
    return run_threads([lambda: threading.current_thread().name] * count, count, threading.Event())


def test_back_to_back_batches_share_their_workers_then_the_workers_end() -> None:
    first = _names(1)
    second = _names(1)
    assert first == second  # the same thread took the next batch
    assert first[0].startswith("regv1-transfer")
    alive = [t for t in threading.enumerate() if t.name == first[0]]
    assert len(alive) == 1
    alive[0].join(IDLE_SECONDS * 20)
    assert not alive[0].is_alive()


def test_a_batch_waits_for_every_worker_and_returns_results_in_order() -> None:
    def slow(n: int) -> int:
        time.sleep(0.01 * (5 - n))
        return n

    jobs = [lambda n=n: slow(n) for n in range(5)]
    assert run_threads(jobs, 3, threading.Event()) == [0, 1, 2, 3, 4]
