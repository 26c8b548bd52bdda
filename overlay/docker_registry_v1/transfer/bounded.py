"""Run jobs a few at a time and stop at the first failure: threads for sync, tasks for async.

The first error is raised as itself (not wrapped in a group), after the other
jobs have stopped: thread jobs poll ``stop`` between chunks, async jobs are
cancelled.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

import anyio

__all__ = ["Stopped", "run_tasks", "run_threads"]

T = TypeVar("T")


class Stopped(Exception):  # noqa: N818 - a signal between jobs, never seen by callers
    """Raised inside a job when another job has failed."""


def run_threads(jobs: Sequence[Callable[[], T]], limit: int, stop: threading.Event) -> list[T]:
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="regv1-transfer") as pool:
        futures = [pool.submit(job) for job in jobs]
        wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f.done() and f.exception() is not None), None)
        if failed is not None:
            stop.set()
            for future in futures:
                future.cancel()
            wait(futures)
            error = failed.exception()
            assert error is not None
            raise error
        return [future.result() for future in futures]


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
