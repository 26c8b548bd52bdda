"""Layer bodies for the v1 routes, streamed from a v2 blob and never held whole.

The emulator's routes read a layer as a `Blob`: a size known before the first byte and
a reader that seeks (a ``Range``) and then reads. Here the reader opens the blob only
at its first read, from the position it was moved to: an as-is blob asks its backend
for that offset; a blob to be served decompressed (a plain-tar v1 layer the migration
gzip-compressed) is inflated from its start and the bytes before the offset dropped,
in bounded steps whatever the layer's size.
"""

from __future__ import annotations

import contextlib
import io
import logging
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import IO

from ..core.errors import DockerRegistryError
from ..emulator.faults import ConnectionAbort
from ..emulator.storage import StorageError
from ..engine.pipeline import ReadAhead
from ..formats.errors import LayoutError

LOG = logging.getLogger(__name__)

#: Opens a blob's bytes from an offset: ``with opener(offset) as chunks: ...``.
Opener = Callable[[int], contextlib.AbstractContextManager[Iterator[bytes]]]

INFLATE_STEP = 1 << 20
"""Most bytes one inflate step gives out (a small compressed chunk may hold far more).
As large as a registry read: a gzip of incompressible data (most layers' bulk) comes out
of one step per chunk read, and a step that stops short copies what is left of its input."""
AHEAD = 4
"""Chunks a layer stream reads ahead of what was sent (at most 4 MiB of a registry's
1 MiB reads, or of inflate steps, held per stream)."""


class InflateError(ValueError):
    """A blob to be served decompressed is not gzip."""


FAILURES = (DockerRegistryError, LayoutError, OSError, InflateError)
"""What reading a layer from a backend may raise."""


def gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The decompressed bytes of a gzip stream (every member), at most `INFLATE_STEP`
    bytes a time; raises `InflateError` for bytes that are not gzip."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        for chunk in chunks:
            data = chunk
            while data:
                out = inflater.decompress(data, INFLATE_STEP)
                if out:
                    yield out
                if inflater.eof:
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31)
                else:
                    data = inflater.unconsumed_tail
        tail = inflater.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise InflateError(f"the blob is not gzip: {exc}") from exc


def skip(chunks: Iterable[bytes], count: int) -> Iterator[bytes]:
    """``chunks`` without their first ``count`` bytes."""
    for chunk in chunks:
        if count >= len(chunk):
            count -= len(chunk)
            continue
        yield chunk[count:] if count else chunk
        count = 0


@contextlib.contextmanager
def inflated(open_blob: Opener, offset: int) -> Iterator[Iterator[bytes]]:
    """The decompressed bytes of a gzip blob from ``offset`` of the *decompressed* stream."""
    with open_blob(0) as chunks:
        yield skip(gunzip(chunks), offset)


@contextlib.contextmanager
def zeros(size: int, offset: int) -> Iterator[Iterator[bytes]]:
    """``size`` zero bytes from ``offset`` (an empty layer's tar)."""

    def chunks() -> Iterator[bytes]:
        left = max(0, size - offset)
        while left:
            step = min(left, INFLATE_STEP)
            left -= step
            yield bytes(step)

    yield chunks()


class _LazyReader(io.RawIOBase):
    """A seekable reader that opens its stream at the first read, from where it stands;
    a seek after reading reopens it there."""

    def __init__(self, opener: Opener, size: int) -> None:
        self._opener = opener
        self._size = size
        self._pos = 0
        self._stack: contextlib.ExitStack | None = None
        self._chunks: Iterator[bytes] | None = None
        self._pending = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = max(0, base + offset)
        if target != self._pos:
            self._drop()
            self._pos = target
        return self._pos

    def _drop(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack, self._chunks, self._pending = None, None, b""

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._size:
            return 0
        try:
            if self._chunks is None:
                self._stack = contextlib.ExitStack()
                self._chunks = self._stack.enter_context(self._opener(self._pos))
            while not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    return 0
                self._pending = chunk
        except FAILURES as exc:
            raise StorageError(f"reading the layer failed: {exc}") from exc
        count = min(len(buffer), len(self._pending), self._size - self._pos)
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        self._pos += count
        return count

    def close(self) -> None:
        self._drop()
        super().close()


class StreamedBlob:
    """A `Blob` (emulator/blobs.py) over an opener: ``size`` is what the v1 side announces."""

    def __init__(self, size: int, opener: Opener) -> None:
        self._size = size
        self._opener = opener

    @property
    def size(self) -> int:
        return self._size

    def open(self) -> IO[bytes]:
        return io.BufferedReader(_LazyReader(self._opener, self._size), 256 << 10)

    async def chunks(self, start: int, length: int) -> AsyncIterator[bytes]:
        """The bytes ``[start, start + length)`` as the backend gives them (no copy but
        the last chunk's cut), to the event loop that sends them."""
        if length <= 0:
            return

        def received() -> Iterator[bytes]:
            with self._opener(start) as chunks:
                yield from chunks

        # The backend is read a few chunks ahead, in a thread that owns the response,
        # while the event loop sends: a proxy that waits for each send before the next
        # read leaves both sockets idle half the time.
        ahead = ReadAhead(received(), depth=AHEAD, name="regv1-face-layer")
        try:
            async for chunk in ahead:
                if len(chunk) >= length:
                    yield chunk[:length]
                    return
                length -= len(chunk)
                yield chunk
        except FAILURES as exc:
            # the status line went out already: all a server can do is cut the connection
            LOG.warning("a layer stream broke off: %s", exc)
            raise ConnectionAbort(f"the backend's layer stream broke off: {exc}") from exc
        finally:
            ahead.close()
