"""The async entry points of the whole-image transfers: each runs the sync transfer in a
worker thread, on sync twins of its async clients.

A whole-image transfer is written once, with threads (``pull``, ``push``, ``mirror``,
``copy``, ``inventory``); ``apull`` and the others are thin wrappers around it, so the
two cannot drift apart. The event loop stays free meanwhile: the transfer's requests,
file writes and compression all happen in threads.

Cancelling the awaiting task stops the transfer: the run's :class:`CancelToken` is
cancelled, which stops its thread batches at once (``bounded``), and every HTTP request
of the twins and every progress event raises ``TransferCancelled`` from then on. The
task then waits, shielded, until the worker thread has unwound — its cleanup removes
any partial archive or spool file — and only then re-raises the cancellation, so a
cancelled transfer leaves nothing behind. A request already waiting for its answer in
the worker thread itself (not in a batch) is waited for, within the client's timeout.

Progress listeners are called from the worker thread and from the transfer's own
threads, never from the event loop: a listener that touches loop objects must hand over
with ``anyio.from_thread`` (which works from the worker thread running the transfer).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar, cast, overload

import anyio
import anyio.to_thread

from ..core.progress import AssemblyListener, PlannedLayer, ProgressListener, SilentProgress
from ..engine.bounded import CancelToken, TransferCancelled

if TYPE_CHECKING:  # the client module imports the transfer package
    from ..oci.client import AsyncOCIClient, OCIClient
    from ..v1.client import AsyncClient, Client
    from .inventory import InventoryListener

__all__ = ["Worker", "run_in_worker"]

T = TypeVar("T")


class _CheckedProgress(ProgressListener):
    """A progress listener whose every event is a cancellation point of the transfer."""

    def __init__(self, inner: ProgressListener, token: CancelToken) -> None:
        self._inner = inner
        self._token = token

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        self._token.check()
        self._inner.planned(layers)

    def advanced(self, image_id: str, nbytes: int) -> None:
        self._token.check()
        self._inner.advanced(image_id, nbytes)

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        self._token.check()
        self._inner.finished(image_id, skipped=skipped)


class _CheckedAssembly(_CheckedProgress, AssemblyListener):
    """:class:`_CheckedProgress` of a listener that also follows an archive's assembly."""

    def __init__(self, inner: ProgressListener, token: CancelToken) -> None:
        super().__init__(inner, token)
        assert isinstance(inner, AssemblyListener)
        self._assembly = inner

    def assembling(self, total: int) -> None:
        self._token.check()
        self._assembly.assembling(total)

    def assembled(self, nbytes: int) -> None:
        self._token.check()
        self._assembly.assembled(nbytes)


class _CheckedInventory:
    """An inventory listener (or none) whose reports are cancellation points."""

    def __init__(self, inner: InventoryListener | None, token: CancelToken) -> None:
        self._inner = inner
        self._token = token

    def progressed(self, done: int, total: int, requests: int) -> None:
        self._token.check()
        if self._inner is not None:
            self._inner.progressed(done, total, requests)


class Worker:
    """What the sync transfer run by :func:`run_in_worker` gets: sync twins of the async
    clients (closed when the run ends) and progress listeners checked for cancellation."""

    def __init__(self, token: CancelToken, stack: contextlib.ExitStack) -> None:
        self.token = token
        self._stack = stack

    @overload
    def twin(self, client: AsyncClient) -> Client: ...

    @overload
    def twin(self, client: AsyncOCIClient) -> OCIClient: ...

    def twin(self, client: AsyncClient | AsyncOCIClient) -> Client | OCIClient:
        """The sync twin of ``client`` for this run (see ``AsyncClient._sync_twin``)."""
        twin = self._stack.enter_context(client._sync_twin(self.token.check))
        return cast("Client | OCIClient", twin)

    def progress(self, listener: ProgressListener | None) -> ProgressListener:
        """``listener`` (or a silent one) with every event a cancellation point."""
        inner = listener or SilentProgress()
        if isinstance(inner, AssemblyListener):
            return _CheckedAssembly(inner, self.token)
        return _CheckedProgress(inner, self.token)

    def inventory_progress(self, listener: InventoryListener | None) -> InventoryListener:
        """The same for an inventory's listener: its reports become cancellation points
        too (its requests are checked by the twin already)."""
        return _CheckedInventory(listener, self.token)


async def run_in_worker(work: Callable[[Worker], T]) -> T:
    """``work(worker)`` in a worker thread; its result, or its error as it is.

    Cancellation (of the awaiting task) cancels the run's token and waits, shielded from
    further cancellation, until the thread has unwound; then it is re-raised."""
    token = CancelToken()
    finished = threading.Event()
    lock = threading.Lock()
    state = {"started": False, "abandoned": False}

    def run() -> T:
        with lock:
            if state["abandoned"]:  # cancelled before this thread got to it
                raise TransferCancelled
            state["started"] = True
        try:
            with token.active(), contextlib.ExitStack() as stack:
                return work(Worker(token, stack))
        finally:
            finished.set()

    try:
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        token.cancel()
        with lock:
            state["abandoned"] = True
            started = state["started"]
        if started:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(finished.wait)
        raise
