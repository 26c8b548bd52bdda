"""v1 layers as v2 blobs: deterministic gzip and both digests in one streaming pass.

A v2 manifest names a layer by the sha256 of its compressed bytes, the config by
the sha256 of the uncompressed tar (its diff_id). Plain-tar layers are gzipped
here; gzip layers pass through unchanged; xz and bzip2 layers (which docker
once loaded but v2 registries do not take) are decompressed and gzipped.

Deterministic compression is what lets a re-run or a second repository find the
blob already there. The same input gives the same bytes because every input is
fixed here: the gzip header is written by this module (no file name, mtime 0,
XFL 0, OS 255 "unknown" as Go's compress/gzip writes it), the deflate library
is ISA-L through `isal` at a pinned version (see pyproject's ``copy`` extra) and
a fixed level, and input reaches the compressor in `BLOCK`-sized pieces: ISA-L's
output, unlike zlib's, depends on how its input is split, and the source's chunk
sizes are the network's choice. ISA-L was the fastest deterministic choice by far
(bench/gzip_bench.py) and releases the GIL while it compresses, as hashlib does
for large buffers, so layers converted in worker threads use every core.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

import attrs
from isal import isal_zlib

from ..core.errors import InvalidInput
from ..core.http import DamagedStreamError, Inflate
from .archive.compression import Compression, ExpansionLimits, _check_limits, detect_compression
from .archive.errors import CorruptStreamError

BLOCK = 1 << 20
"""Bytes per compressor call; part of the output's identity, so never change it lightly."""
DEFAULT_LEVEL = 1
"""ISA-L level 1: about zlib 6's ratio at several times zlib 1's speed."""
LEVELS = range(isal_zlib.ISAL_BEST_SPEED, isal_zlib.ISAL_BEST_COMPRESSION + 1)
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_SNIFF_BYTES = 6
_ISAL_ERROR = cast("type[Exception]", isal_zlib.error)  # isal's stub types the class as an instance


@attrs.frozen
class LayerBlob:
    """What one pass over a v1 layer found: everything a v2 manifest and config need."""

    digest: str
    """sha256 of the blob's bytes, as sent (the manifest's layer digest)."""
    size: int
    diff_id: str
    """sha256 of the uncompressed tar (the config's ``rootfs.diff_ids`` entry)."""
    plain_size: int
    source: Compression
    """How the layer arrived; `Compression.GZIP` layers were sent unchanged."""
    empty: bool
    """Only zero bytes (an empty tar) or nothing: the image adds no layer."""

    def row(self) -> tuple[str, int, str, int, str, int]:
        """The blob as SQL values (digest, size, diff_id, plain_size, source, empty): the
        blob cache and the migration journal store a blob the same way."""
        return (
            self.digest,
            self.size,
            self.diff_id,
            self.plain_size,
            self.source.value,
            int(self.empty),
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> LayerBlob:
        """The blob stored as :meth:`row`."""
        digest, size, diff_id, plain_size, source, empty = row
        return cls(
            digest=digest,
            size=size,
            diff_id=diff_id,
            plain_size=plain_size,
            source=Compression(source),
            empty=bool(empty),
        )


def _decoder(kind: Compression) -> object:
    if kind is Compression.GZIP:
        return isal_zlib.decompressobj(isal_zlib.MAX_WBITS | 16)
    if kind is Compression.XZ:
        return lzma.LZMADecompressor()
    return bz2.BZ2Decompressor()


class _Members:
    """Incremental decompression of one or more concatenated members of one format: the
    core's piecewise decoder (:class:`~docker_registry_v1.core.http.Inflate`, the one the
    clients undo a ``Content-Encoding`` with), its errors told as a damaged layer."""

    def __init__(self, kind: Compression, where: str) -> None:
        self._kind = kind
        self._where = where
        self._inflate = Inflate(
            lambda: _decoder(kind),
            errors=(_ISAL_ERROR, lzma.LZMAError, OSError, EOFError),
            another=lambda data: detect_compression(data[:_SNIFF_BYTES]) is kind,
            piece=BLOCK,
        )

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """The plain bytes ``data`` (and what the decoder holds back) expand to, in pieces
        of at most `BLOCK`: a few KiB of bzip2 can stand for gigabytes, so nothing here
        holds more than one piece, and the caller checks its limits between pieces."""
        try:
            yield from self._inflate.pieces(data)
        except DamagedStreamError as exc:
            if exc.trailing:
                raise CorruptStreamError(
                    f"{self._where}: data after the end of the {self._kind.value} stream"
                ) from None
            raise CorruptStreamError(
                f"{self._where}: damaged {self._kind.value} data ({exc})"
            ) from exc

    def finish(self) -> None:
        if not self._inflate.eof:
            raise CorruptStreamError(f"{self._where}: {self._kind.value} data ends too early")


def _joined(parts: list[bytes]) -> bytes:
    """``b"".join`` without the copy when only one part holds bytes (the usual case)."""
    full = [part for part in parts if part]
    return full[0] if len(full) == 1 else b"".join(full)


class _DeterministicGzip:
    """Gzip with a fixed header and fixed-size compressor calls (see the module's notes)."""

    def __init__(self, level: int) -> None:
        self._deflate = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        self._pending = bytearray()
        self._started = False

    def _header(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return GZIP_HEADER

    def compress(self, data: bytes) -> bytes:
        self._crc = isal_zlib.crc32(data, self._crc)
        self._size += len(data)
        out = [self._header()]
        with memoryview(data) as view:
            start = 0
            if self._pending:
                start = min(BLOCK - len(self._pending), len(view))
                self._pending += view[:start]
                if len(self._pending) < BLOCK:
                    return out[0]
                out.append(self._deflate.compress(self._pending))
                self._pending.clear()
            # Whole blocks go to the compressor straight from the caller's buffer: input
            # that already comes in `BLOCK`s (``iter_layer(block=BLOCK)``) is never copied.
            whole = start + (len(view) - start) // BLOCK * BLOCK
            out.extend(
                self._deflate.compress(view[offset : offset + BLOCK])
                for offset in range(start, whole, BLOCK)
            )
            self._pending += view[whole:]
        return _joined(out)

    def finish(self) -> bytes:
        tail = self._deflate.compress(bytes(self._pending)) + self._deflate.flush()
        self._pending.clear()
        trailer = struct.pack("<II", self._crc, self._size & 0xFFFFFFFF)
        return self._header() + tail + trailer


class LayerEncoder:
    """Writer-style conversion of one layer: `feed` chunks, then `finish`, then read `blob`.

    Each call returns the blob bytes ready so far (possibly empty); memory stays
    at about one `BLOCK` whatever the layer's size.
    """

    def __init__(
        self,
        *,
        level: int = DEFAULT_LEVEL,
        limits: ExpansionLimits | None = None,
        where: str = "layer",
    ) -> None:
        if level not in LEVELS:
            raise InvalidInput(
                "level", f"must be {LEVELS.start}-{LEVELS.stop - 1} (ISA-L), not {level}"
            )
        self._level = level
        self._limits = limits or ExpansionLimits()
        self._where = where
        self._head = b""
        self._source: Compression | None = None
        self._members: _Members | None = None
        self._gzip: _DeterministicGzip | None = None
        self._blob_hash = hashlib.sha256()
        self._plain_hash = hashlib.sha256()
        self._blob_size = 0
        self._consumed = 0
        self._plain_size = 0
        self._all_zero = True
        self._blob: LayerBlob | None = None

    def feed(self, chunk: bytes) -> bytes:
        if self._blob is not None:
            raise RuntimeError("feed after finish")
        if self._source is None:
            self._head += chunk
            if len(self._head) < _SNIFF_BYTES:
                return b""
            chunk, self._head = self._head, b""
            self._start(chunk)
        return self._take(chunk)

    def finish(self) -> bytes:
        if self._blob is not None:
            raise RuntimeError("finish called twice")
        out = b""
        if self._source is None:
            self._start(self._head)
            out = self._take(self._head)
        if self._members is not None:
            self._members.finish()
        if self._gzip is not None:
            out += self._emit(self._gzip.finish())
        assert self._source is not None
        self._blob = LayerBlob(
            digest="sha256:" + self._blob_hash.hexdigest(),
            size=self._blob_size,
            diff_id="sha256:" + self._plain_hash.hexdigest(),
            plain_size=self._plain_size,
            source=self._source,
            empty=self._all_zero,
        )
        return out

    @property
    def blob(self) -> LayerBlob:
        if self._blob is None:
            raise RuntimeError("the layer is not finished yet")
        return self._blob

    def _start(self, head: bytes) -> None:
        self._source = detect_compression(head[:_SNIFF_BYTES])
        if self._source is not Compression.NONE:
            self._members = _Members(self._source, self._where)
        if self._source is not Compression.GZIP:
            self._gzip = _DeterministicGzip(self._level)

    def _take(self, chunk: bytes) -> bytes:
        kind = self._source
        assert kind is not None
        self._consumed += len(chunk)
        if self._members is None:  # a plain tar: gzipped here
            assert self._gzip is not None
            return self._emit(self._gzip.compress(self._plain(chunk)))
        if self._gzip is None:  # gzip goes out as it came: its plain bytes are only counted
            for plain in self._members.pieces(chunk):
                self._plain(plain)
            return self._emit(chunk)
        gzip = self._gzip
        return self._emit(
            _joined([gzip.compress(self._plain(plain)) for plain in self._members.pieces(chunk)])
        )

    def _plain(self, plain: bytes) -> bytes:
        """Count and hash one piece of the layer's plain bytes, within the limits."""
        self._plain_hash.update(plain)
        self._plain_size += len(plain)
        if self._all_zero and plain:
            self._all_zero = plain.count(0) == len(plain)
        if self._source is not Compression.NONE:
            assert self._source is not None
            _check_limits(self._limits, self._source, self._plain_size, self._consumed, self._where)
        return plain

    def _emit(self, data: bytes) -> bytes:
        self._blob_hash.update(data)
        self._blob_size += len(data)
        return data


class EncodedLayer:
    """Iterator-style conversion: iterate for the blob's bytes, then read `blob`."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        level: int = DEFAULT_LEVEL,
        limits: ExpansionLimits | None = None,
        where: str = "layer",
    ) -> None:
        self._chunks = chunks
        self._encoder = LayerEncoder(level=level, limits=limits, where=where)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            out = self._encoder.feed(chunk)
            if out:
                yield out
        tail = self._encoder.finish()
        if tail:
            yield tail

    @property
    def blob(self) -> LayerBlob:
        return self._encoder.blob

    def streamed_digest(self) -> str:
        """The blob's sha256, known once iterated: an upload commits it without hashing
        the bytes again."""
        return self._encoder.blob.digest
