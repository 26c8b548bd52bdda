"""Run jobs a few at a time and stop at the first failure: threads for sync, tasks for async.

The first error is raised as itself (not wrapped in a group). After an ordinary
failure it is raised once the other jobs have stopped: thread jobs poll ``stop``
between chunks, async jobs are cancelled. An interrupt (Ctrl-C arriving in the
waiting thread, or any ``BaseException``) sets ``stop`` and is re-raised at once:
a job blocked in a socket read only notices when the server next sends
something, and Ctrl-C must not wait for that. The workers are daemon threads for
the same reason — a ``ThreadPoolExecutor`` would make the interpreter join them
at exit, so an interrupted ``regv1 pull`` would linger until every in-flight
request answered.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio

__all__ = ["Stopped", "run_tasks", "run_threads"]

T = TypeVar("T")


class Stopped(Exception):  # noqa: N818 - a signal between jobs, never seen by callers
    """Raised inside a job when another job has failed or the caller was interrupted."""


class _Batch(Generic[T]):
    """The shared state of one ``run_threads`` call."""

    def __init__(self, jobs: Sequence[Callable[[], T]], stop: threading.Event) -> None:
        self.stop = stop
        self.count = len(jobs)
        self.results: dict[int, T] = {}
        self.failure: BaseException | None = None
        self.settled = threading.Event()
        self._lock = threading.Lock()
        self._queue = iter(enumerate(jobs))

    def _next(self) -> tuple[int, Callable[[], T]] | None:
        with self._lock:
            if self.stop.is_set():
                return None
            return next(self._queue, None)

    def work(self) -> None:
        while (item := self._next()) is not None:
            position, job = item
            try:
                value = job()
            except BaseException as error:
                with self._lock:
                    if self.failure is None and not isinstance(error, Stopped):
                        self.failure = error
                self.stop.set()
                self.settled.set()
                return
            with self._lock:
                self.results[position] = value
                if len(self.results) == self.count:
                    self.settled.set()


def run_threads(jobs: Sequence[Callable[[], T]], limit: int, stop: threading.Event) -> list[T]:
    if not jobs:
        return []
    batch = _Batch(jobs, stop)
    workers = [
        threading.Thread(target=batch.work, name=f"regv1-transfer-{n}", daemon=True)
        for n in range(min(limit, len(jobs)))
    ]
    try:
        for worker in workers:
            worker.start()
        batch.settled.wait()
    except BaseException:
        stop.set()
        raise
    for worker in workers:
        worker.join()
    if stop.is_set():
        if batch.failure is not None:
            raise batch.failure
        raise Stopped
    return [batch.results[position] for position in range(len(jobs))]


async def run_tasks(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    results: dict[int, T] = {}
    errors: list[BaseException] = []
    gate = anyio.Semaphore(limit)

    async with anyio.create_task_group() as group:

        async def one(position: int, job: Callable[[], Awaitable[T]]) -> None:
            async with gate:
                try:
                    results[position] = await job()
                except Exception as error:  # re-raised below, unwrapped
                    errors.append(error)
                    group.cancel_scope.cancel()

        for position, job in enumerate(jobs):
            group.start_soon(one, position, job)
    if errors:
        raise errors[0]
    return [results[position] for position in range(len(jobs))]
