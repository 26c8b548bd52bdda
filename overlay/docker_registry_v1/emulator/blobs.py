"""Layer storage that never holds a whole layer in memory.

Memory mode spools each layer into a ``SpooledTemporaryFile`` (small layers
stay in RAM, large ones move to an anonymous temporary file); directory mode
writes a temporary file next to the target, fsyncs it and renames it into
place, so a crash never leaves a half-written layer under its final name.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

#: Layers up to this size stay in memory in memory mode.
SPOOL_THRESHOLD = 1024 * 1024
CHUNK = 256 * 1024


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via temp file + fsync + rename (+ directory fsync)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Blob(Protocol):
    """A stored, immutable layer."""

    @property
    def size(self) -> int: ...

    def open(self) -> IO[bytes]:
        """A reader with its own position (several readers may run at once)."""
        ...


class LayerWriter(Protocol):
    """Receives a layer in chunks; ``finish`` turns it into a :class:`Blob`."""

    def write(self, data: bytes) -> None: ...

    def finish(self) -> Blob: ...

    def discard(self) -> None: ...


@runtime_checkable
class ChunkedBlob(Blob, Protocol):
    """A layer that streams its own chunks to the event loop (from a backend that is not
    a file, read ahead in a thread of its own): no reader copy, and no worker thread
    per chunk as a file's blocking reads need."""

    def chunks(self, start: int, length: int) -> AsyncIterator[bytes]:
        """At most ``length`` bytes from ``start``, in the chunks they arrive in."""
        ...


def iter_blob(blob: Blob, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    """Chunks of ``blob`` from ``start``, at most ``length`` bytes (all when ``None``),
    read with blocking calls (``blob.open()``)."""
    remaining = blob.size - start if length is None else length
    with blob.open() as reader:
        reader.seek(start)
        while remaining > 0:
            chunk = reader.read(min(CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def blob_body(blob: Blob, start: int, length: int) -> Iterator[bytes] | AsyncIterator[bytes]:
    """A response body of ``length`` bytes of ``blob`` from ``start``: the blob's own
    chunks when it streams them, else its reader's (the server runs those blocking
    reads in a worker thread)."""
    if isinstance(blob, ChunkedBlob):
        return blob.chunks(start, length)
    return iter_blob(blob, start, length)


class _SharedFileReader(io.RawIOBase):
    """An independent read position over a file object shared under a lock."""

    def __init__(self, shared: IO[bytes], lock: threading.Lock, size: int) -> None:
        self._shared = shared
        self._lock = lock
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        with self._lock:
            self._shared.seek(self._pos)
            data = self._shared.read(len(buffer))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class SpooledBlob:
    """A layer in a ``SpooledTemporaryFile``; freed when the last reference goes."""

    def __init__(self, spool: IO[bytes], size: int) -> None:
        self._spool = spool
        self._lock = threading.Lock()
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def open(self) -> IO[bytes]:
        return io.BufferedReader(_SharedFileReader(self._spool, self._lock, self._size))

    def __del__(self) -> None:
        self._spool.close()


class SpoolWriter:
    def __init__(self) -> None:
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_THRESHOLD)  # noqa: SIM115
        self._size = 0

    def write(self, data: bytes) -> None:
        self._spool.write(data)
        self._size += len(data)

    def finish(self) -> Blob:
        return SpooledBlob(self._spool, self._size)

    def discard(self) -> None:
        self._spool.close()


class FileBlob:
    def __init__(self, path: Path, size: int) -> None:
        self._path = path
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def open(self) -> IO[bytes]:
        return self._path.open("rb")


class FileWriter:
    """Writes next to ``target``; ``finish`` fsyncs and renames into place."""

    def __init__(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self._target = target
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        self._tmp = Path(tmp)
        self._handle = os.fdopen(fd, "wb")
        self._size = 0

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self._size += len(data)

    def finish(self) -> Blob:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self._tmp, self._target)
        _fsync_dir(self._target.parent)
        return FileBlob(self._target, self._size)

    def discard(self) -> None:
        self._handle.close()
        self._tmp.unlink(missing_ok=True)
