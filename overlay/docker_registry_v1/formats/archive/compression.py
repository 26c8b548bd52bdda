"""Streaming decompression of layers with a hard cap on how far they may expand.

Layers from a registry or an archive are untrusted: a few kilobytes of gzip can
expand to gigabytes. Everything here reads in bounded chunks, so memory stays
constant, and stops as soon as the output breaks the configured limits.
"""

from __future__ import annotations

import bz2
import enum
import gzip
import hashlib
import io
import lzma
import zlib
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Protocol

import attrs

from .errors import CorruptStreamError, DecompressionBombError, UnsupportedCompressionError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK_SIZE = 1 << 20

_GIB = 1 << 30
_MIB = 1 << 20


class Compression(enum.Enum):
    """Formats docker accepts for a layer, told apart by their magic bytes."""

    NONE = "none"
    GZIP = "gzip"
    XZ = "xz"
    BZIP2 = "bzip2"


_MAGIC: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b\x08", Compression.GZIP),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"BZh", Compression.BZIP2),
)
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_SNIFF_BYTES = 6


@attrs.frozen
class ExpansionLimits:
    """How far a compressed stream may expand before it counts as a bomb.

    `max_ratio` is checked only once the output passes `ratio_grace_bytes`, so
    tiny highly compressible layers (an empty tar gzips 30:1) never trip it.
    """

    max_ratio: float = attrs.field(default=512.0, validator=attrs.validators.gt(1))
    max_bytes: int = attrs.field(default=64 * _GIB, validator=attrs.validators.ge(0))
    ratio_grace_bytes: int = attrs.field(default=64 * _MIB, validator=attrs.validators.ge(0))


@attrs.frozen
class Expanded:
    """What streaming one layer through `expand` found out about it."""

    compression: Compression
    compressed_size: int
    size: int
    sha256: str


def detect_compression(head: bytes) -> Compression:
    """Name the compression of a stream from its first bytes."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith(_ZSTD_MAGIC):
        raise UnsupportedCompressionError(
            "zstd-compressed data is not supported (no stdlib decoder)"
        )
    return Compression.NONE


class _CountingReader(io.RawIOBase):
    """Replays sniffed bytes, then the source, counting everything handed out."""

    def __init__(self, head: bytes, source: IO[bytes]) -> None:
        super().__init__()
        self._head = head
        self._source = source
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            count = min(len(view), len(self._head))
            view[:count] = self._head[:count]
            self._head = self._head[count:]
        else:
            data = self._source.read(len(view))
            count = len(data)
            view[:count] = data
        self.consumed += count
        return count


def _read_head(source: IO[bytes]) -> bytes:
    head = b""
    while len(head) < _SNIFF_BYTES:
        more = source.read(_SNIFF_BYTES - len(head))
        if not more:
            break
        head += more
    return head


class _Decoder(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _decoder(kind: Compression, raw: _CountingReader) -> _Decoder:
    buffered = io.BufferedReader(raw)
    if kind is Compression.GZIP:
        return gzip.GzipFile(fileobj=buffered, mode="rb")
    if kind is Compression.XZ:
        return lzma.LZMAFile(buffered, mode="rb")
    if kind is Compression.BZIP2:
        return bz2.BZ2File(buffered, mode="rb")
    return buffered


def expand(
    source: IO[bytes],
    sink: Callable[[bytes], object],
    *,
    limits: ExpansionLimits,
    where: str,
) -> Expanded:
    """Decompress `source` (any supported format, or none) into `sink` chunk by chunk.

    `where` names the stream in error messages. Raises `DecompressionBombError` once
    the output breaks `limits`, `CorruptStreamError` on damaged input.
    """
    head = _read_head(source)
    kind = detect_compression(head)
    raw = _CountingReader(head, source)
    digest = hashlib.sha256()
    size = 0
    decoder = _decoder(kind, raw)
    damage: tuple[type[Exception], ...] = (EOFError, zlib.error, lzma.LZMAError)
    if kind is not Compression.NONE:
        damage += (OSError,)  # gzip and bz2 report bad data as OSError
    while True:
        try:
            chunk = decoder.read(CHUNK_SIZE)
        except damage as exc:
            raise CorruptStreamError(f"{where}: damaged {kind.value} data ({exc})") from exc
        if not chunk:
            break
        size += len(chunk)
        _check_limits(limits, kind, size, raw.consumed, where)
        digest.update(chunk)
        sink(chunk)
    return Expanded(
        compression=kind, compressed_size=raw.consumed, size=size, sha256=digest.hexdigest()
    )


def _check_limits(
    limits: ExpansionLimits, kind: Compression, size: int, consumed: int, where: str
) -> None:
    if size > limits.max_bytes:
        raise DecompressionBombError(
            f"{where}: {kind.value} data expands past the limit of {limits.max_bytes} bytes "
            "(refused as a decompression bomb)"
        )
    if (
        kind is not Compression.NONE
        and size > limits.ratio_grace_bytes
        and size > limits.max_ratio * max(consumed, 1)
    ):
        raise DecompressionBombError(
            f"{where}: {kind.value} data expands more than {limits.max_ratio:g}:1 "
            f"({consumed} bytes gave {size} so far; refused as a decompression bomb)"
        )
