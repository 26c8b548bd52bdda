"""Run jobs a few at a time in threads and stop at the first failure.

The first error is raised as itself (not wrapped in a group). After an ordinary
failure it is raised once the other jobs have stopped: they poll ``stop`` between
chunks. An interrupt (Ctrl-C arriving in the waiting thread, or any
``BaseException``) sets ``stop`` and is re-raised at once: a job blocked in a socket
read only notices when the server next sends something, and Ctrl-C must not wait for
that. The workers are daemon threads for the same reason — a ``ThreadPoolExecutor``
would make the interpreter join them at exit, so an interrupted ``regv1 pull`` would
linger until every in-flight request answered.

A sync transfer run for an async caller (``transfer.threaded``) runs under a
:class:`CancelToken`: cancelling the awaiting task cancels the token, which sets the
``stop`` of every batch running under it and wakes its waiting thread, so the transfer
stops as promptly as after Ctrl-C, and :class:`TransferCancelled` unwinds it (cleaning
up as it goes) without waiting for a job stuck in a read. The workers run in a copy of
the caller's context, so a batch started inside a job runs under the same token.

A worker thread that finished its batch waits a moment (`IDLE_SECONDS`) for the next
batch before it ends: a migration runs one small batch per tag (its layers), thousands
of them back to back, and starting four threads per tag was a tenth of its CPU.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

__all__ = [
    "IDLE_SECONDS",
    "CancelToken",
    "Stopped",
    "TransferCancelled",
    "current_token",
    "run_threads",
]

T = TypeVar("T")


class Stopped(Exception):  # noqa: N818 - a signal between jobs, never seen by callers
    """Raised inside a job when another job has failed or the caller was interrupted."""


class TransferCancelled(BaseException):
    """Raised inside a sync transfer whose async caller was cancelled.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` of
    a transfer (a per-image error kept for the report, a retry loop) takes it for a
    failure to carry on after; the cleanup (``finally``, ``with``) still runs. The async
    caller never sees it: it gets its own cancellation."""


class CancelToken:
    """The stop request of one sync transfer run for an async caller; thread-safe.

    :meth:`check` raises :class:`TransferCancelled` once :meth:`cancel` was called; the
    transfer's HTTP requests and progress events call it. Batches of
    :func:`run_threads` started while the token is :meth:`active` are linked to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._linked: list[tuple[threading.Event, threading.Event]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop every linked batch and make every later :meth:`check` raise."""
        with self._lock:
            self._cancelled = True
            linked = list(self._linked)
        for stop, wake in linked:
            stop.set()
            wake.set()

    def check(self) -> None:
        """Raise :class:`TransferCancelled` when the transfer is to stop."""
        if self._cancelled:
            raise TransferCancelled

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make this the token of the batches started in this context."""
        reset = _TOKEN.set(self)
        try:
            yield
        finally:
            _TOKEN.reset(reset)

    @contextlib.contextmanager
    def _linking(self, stop: threading.Event, wake: threading.Event) -> Iterator[None]:
        pair = (stop, wake)
        with self._lock:
            self._linked.append(pair)
            cancelled = self._cancelled
        if cancelled:
            stop.set()
            wake.set()
        try:
            yield
        finally:
            with self._lock:
                self._linked.remove(pair)


_TOKEN: contextvars.ContextVar[CancelToken | None] = contextvars.ContextVar(
    "regv1_cancel_token", default=None
)


def current_token() -> CancelToken | None:
    """The token of the async caller this code runs for (``None``: a plain sync call); a
    runner of jobs other than :func:`run_threads` links its own stop event to it."""
    return _TOKEN.get()


class _Batch(Generic[T]):
    """The shared state of one ``run_threads`` call."""

    def __init__(self, jobs: Sequence[Callable[[], T]], stop: threading.Event) -> None:
        self.stop = stop
        self.count = len(jobs)
        self.results: dict[int, T] = {}
        self.failure: BaseException | None = None
        self.settled = threading.Event()
        self.ended = threading.Event()
        """Every worker of the batch has left it (the join of pooled threads)."""
        self.workers = 0
        self._lock = threading.Lock()
        self._queue = iter(enumerate(jobs))

    def _next(self) -> tuple[int, Callable[[], T]] | None:
        with self._lock:
            if self.stop.is_set():
                return None
            return next(self._queue, None)

    def left(self) -> None:
        """A worker has left the batch (and is free for another)."""
        with self._lock:
            self.workers -= 1
            if self.workers == 0:
                self.ended.set()

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


#: How long a worker thread with nothing to do waits for another batch before it ends:
#: long enough for the next tag of a migration, short enough that the threads of a
#: cancelled transfer are gone at once.
IDLE_SECONDS = 0.25


class _Worker:
    """A daemon thread running batches handed to it, one at a time; idle, it waits
    `IDLE_SECONDS` for the next, then ends."""

    _numbers = itertools.count()

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self._tasks: queue.SimpleQueue[tuple[Callable[[], None], Callable[[], None]]] = (
            queue.SimpleQueue()
        )
        self.thread = threading.Thread(
            target=self._loop, name=f"regv1-transfer-{next(self._numbers)}", daemon=True
        )

    def give(self, task: Callable[[], None], left: Callable[[], None]) -> None:
        self._tasks.put((task, left))

    def _loop(self) -> None:
        while True:
            try:
                task, left = self._tasks.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                if self._pool.retire(self):
                    return
                continue  # taken in the meantime: its task is on the way
            try:
                task()
            finally:
                self._pool.rest(self)  # free before the batch hears it ended: reused at once
                left()


class _Pool:
    """The idle workers of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []

    def run(self, task: Callable[[], None], left: Callable[[], None]) -> None:
        """``task`` in an idle worker, else in a new one; then ``left()`` there."""
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker(self)
            worker.give(task, left)
            worker.thread.start()
        else:
            worker.give(task, left)

    def rest(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)

    def retire(self, worker: _Worker) -> bool:
        """Whether the idle ``worker`` may end (no batch took it meanwhile)."""
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
                return True
            return False

    def forget(self) -> None:
        """After ``fork``: the child has none of the parent's threads."""
        self._lock = threading.Lock()
        self._idle = []


_POOL = _Pool()
os.register_at_fork(after_in_child=_POOL.forget)


def run_threads(jobs: Sequence[Callable[[], T]], limit: int, stop: threading.Event) -> list[T]:
    if not jobs:
        return []
    batch = _Batch(jobs, stop)
    token = current_token()
    batch.workers = min(limit, len(jobs))
    linked = token._linking(stop, batch.settled) if token else contextlib.nullcontext()
    with linked:
        try:
            for _ in range(batch.workers):
                _POOL.run(functools.partial(contextvars.copy_context().run, batch.work), batch.left)
            batch.settled.wait()
        except BaseException:
            stop.set()
            raise
        if token is not None:
            token.check()  # cancelled: unwind now, as after Ctrl-C, not once jobs notice
    batch.ended.wait()
    if stop.is_set():
        if batch.failure is not None:
            raise batch.failure
        raise Stopped
    return [batch.results[position] for position in range(len(jobs))]
