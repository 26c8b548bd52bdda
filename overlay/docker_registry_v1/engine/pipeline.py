"""One layer's read and conversion overlapped with its upload.

Done in series by one thread, a layer moves at the sum of the stages' costs: the v1
read (httpx parsing, the payload checksum), the conversion (ISA-L, the diff_id and
blob sha256) and the PATCH, which waits on the destination. Here the read and the
conversion run in a thread of their own, up to ``depth`` blocks ahead of the upload,
and the layer's thread only sends: hashlib and ISA-L release the GIL for whole blocks,
so the stages run on different cores. A third thread splitting the read from the
conversion measured no faster on two cores and cost 13 MiB more peak RSS with four
layers in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

import attrs

from ..formats.archive.compression import ExpansionLimits
from ..formats.compress import DEFAULT_LEVEL, EncodedLayer, LayerBlob

__all__ = ["DEPTH", "Cancelled", "PipelinedLayer", "ReadAhead"]

T = TypeVar("T")
DEPTH = 2
"""Items one stage may run ahead of the next."""


class Cancelled(Exception):  # noqa: N818 - a signal between stages, never seen by callers
    """Raised to a stage whose input was closed under it."""


@attrs.frozen
class _Failed:
    error: BaseException


_END = object()
_CLOSED = object()
_EMPTY = object()


def _settle(arrived: asyncio.Future[None]) -> None:
    if not arrived.done():  # a consumer cancelled while waiting has given up on it
        arrived.set_result(None)


def _wake(loop: asyncio.AbstractEventLoop, arrived: asyncio.Future[None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: no one waits any more
        loop.call_soon_threadsafe(_settle, arrived)


class _Channel:
    """A bounded hand-over between two threads that either side can close: a put or get
    waiting on the other side returns at once then (a `queue.Queue` cannot be closed,
    and a thread left waiting on one would never end). A consumer on an event loop
    does not wait in `get`: `take` registers a callback run when an item comes."""

    def __init__(self, depth: int) -> None:
        self._depth = depth
        self._items: deque[object] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._waiter: Callable[[], None] | None = None

    def _arrived(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter()

    def put(self, item: object) -> bool:
        """Hand over ``item``; ``False`` when the channel was closed instead."""
        with self._ready:
            while len(self._items) >= self._depth and not self._closed:
                self._ready.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._ready.notify_all()
            self._arrived()
            return True

    def get(self) -> object:
        """The next item, or `_CLOSED`."""
        with self._ready:
            while not self._items and not self._closed:
                self._ready.wait()
            return self._pop()

    def take(self, waiter: Callable[[], None]) -> object:
        """The next item, `_CLOSED`, or `_EMPTY` without waiting: then ``waiter`` is
        called (from the putting or closing thread) once there is more to take."""
        with self._ready:
            if not self._items and not self._closed:
                self._waiter = waiter
                return _EMPTY
            return self._pop()

    def _pop(self) -> object:
        if self._closed:
            return _CLOSED
        item = self._items.popleft()
        self._ready.notify_all()
        return item

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._items.clear()
            self._ready.notify_all()
            self._arrived()


class ReadAhead(Generic[T]):
    """Iterates ``source`` in a daemon thread, up to ``depth`` items ahead of the consumer.

    The consumer is a thread (``for item in ahead``) or a coroutine (``async for``: the
    items are handed to its event loop with no worker thread per item, which is what a
    relay of many chunks a second pays for otherwise). An error of the source is raised
    to the consumer in its place in the sequence.
    `close` (also on leaving a ``with``) stops the thread at its next item and closes
    the source there, so a half-read HTTP stream is released by the thread using it;
    a consumer still iterating gets `Cancelled`. The thread is a daemon for the reason
    `bounded` gives: an interrupted command must not wait for a socket read.
    """

    def __init__(
        self, source: Iterable[T], *, depth: int = DEPTH, name: str = "regv1-stage"
    ) -> None:
        self._source = source
        self._channel = _Channel(depth)
        self._finished = False
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        iterator = iter(self._source)
        try:
            for item in iterator:
                if not self._channel.put(item):
                    return
            self._channel.put(_END)
        except BaseException as error:  # handed to the consumer, raised there
            self._channel.put(_Failed(error))
        finally:
            close = getattr(iterator, "close", None)
            # Only a cancelled source is still open here, and its consumer has given up on
            # it: an error releasing it would reach no one but the thread's excepthook (a
            # traceback on the terminal of an interrupted command).
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        return self._deliver(self._channel.get(), StopIteration)

    def __aiter__(self) -> ReadAhead[T]:
        return self

    async def __anext__(self) -> T:
        if self._finished:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        while True:
            arrived: asyncio.Future[None] = loop.create_future()
            item = self._channel.take(functools.partial(_wake, loop, arrived))
            if item is not _EMPTY:
                return self._deliver(item, StopAsyncIteration)
            await arrived

    def _deliver(self, item: object, end: type[Exception]) -> T:
        if item is _END:
            self._finished = True
            raise end
        if item is _CLOSED:
            self._finished = True
            raise Cancelled
        if isinstance(item, _Failed):
            self._finished = True
            raise item.error
        return item  # type: ignore[return-value]  # only the source's items and markers

    def close(self) -> None:
        self._finished = True
        self._channel.close()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class PipelinedLayer:
    """A v1 layer's chunks as blob bytes, read and converted in a thread of their own.

    Iterate it (from the thread that uploads) for the blob's bytes, then read `blob`;
    it offers `streamed_digest`, so the upload takes the conversion's digest instead of
    hashing the bytes again. Always `close` it (or use ``with``): an upload that breaks
    off would leave the thread waiting for room otherwise.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        level: int = DEFAULT_LEVEL,
        limits: ExpansionLimits | None = None,
        where: str = "layer",
        depth: int = DEPTH,
    ) -> None:
        self._encoded = EncodedLayer(chunks, level=level, limits=limits, where=where)
        self._ahead = ReadAhead(self._encoded, depth=depth, name="regv1-convert")

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._ahead)

    @property
    def blob(self) -> LayerBlob:
        return self._encoded.blob

    def streamed_digest(self) -> str:
        """The blob's sha256, known once iterated."""
        return self._encoded.streamed_digest()

    def close(self) -> None:
        self._ahead.close()

    def __enter__(self) -> PipelinedLayer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
