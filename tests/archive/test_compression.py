from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
from collections.abc import Callable

import pytest
from docker_registry_v1.formats.archive import (
    Compression,
    CorruptStreamError,
    DecompressionBombError,
    Expanded,
    ExpansionLimits,
    UnsupportedCompressionError,
    detect_compression,
    expand,
)

PAYLOAD = b"layer data " * 10_000


class _Trickle(io.RawIOBase):
    """A non-seekable source that hands out at most 3 bytes per read, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(3, len(buffer), len(self._data))
        buffer[:count] = self._data[:count]
        self._data = self._data[count:]
        return count


def _run(data: bytes, limits: ExpansionLimits | None = None) -> tuple[bytes, Expanded]:
    out = bytearray()
    result = expand(io.BytesIO(data), out.extend, limits=limits or ExpansionLimits(), where="t")
    return bytes(out), result


@pytest.mark.parametrize(
    ("compress", "kind"),
    [
        (gzip.compress, Compression.GZIP),
        (lzma.compress, Compression.XZ),
        (bz2.compress, Compression.BZIP2),
        (lambda data: data, Compression.NONE),
    ],
)
def test_each_format_is_detected_and_expanded(
    compress: Callable[[bytes], bytes], kind: Compression
) -> None:
    packed = compress(PAYLOAD)
    out, result = _run(packed)
    assert out == PAYLOAD
    assert result.compression is kind
    assert result.size == len(PAYLOAD)
    assert result.compressed_size == len(packed)
    assert result.sha256 == hashlib.sha256(PAYLOAD).hexdigest()


def test_multi_member_gzip_is_read_to_the_end() -> None:
    out, _ = _run(gzip.compress(b"first ") + gzip.compress(b"second"))
    assert out == b"first second"


def test_slow_non_seekable_source_is_sniffed_correctly() -> None:
    out = bytearray()
    result = expand(
        _Trickle(gzip.compress(PAYLOAD)),  # type: ignore[arg-type]
        out.extend,
        limits=ExpansionLimits(),
        where="t",
    )
    assert bytes(out) == PAYLOAD
    assert result.compression is Compression.GZIP


def test_empty_and_tiny_inputs() -> None:
    assert _run(b"")[0] == b""
    assert _run(b"ab")[0] == b"ab"


def test_zstd_is_refused_with_a_typed_error() -> None:
    with pytest.raises(UnsupportedCompressionError, match="zstd"):
        detect_compression(b"\x28\xb5\x2f\xfd\x00\x00")


def test_gzip_bomb_trips_the_ratio_limit() -> None:
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)
    assert len(bomb) < 100_000
    seen = 0

    def sink(chunk: bytes) -> None:
        nonlocal seen
        seen += len(chunk)

    limits = ExpansionLimits(max_ratio=100, ratio_grace_bytes=1 << 20)
    with pytest.raises(DecompressionBombError, match=r"expands more than 100:1") as caught:
        expand(io.BytesIO(bomb), sink, limits=limits, where="layer of image x")
    assert "layer of image x" in str(caught.value)
    assert seen <= 2 << 20  # stopped within a chunk of the grace allowance


def test_xz_bomb_trips_the_absolute_limit_even_without_a_ratio_breach() -> None:
    bomb = lzma.compress(bytes(8 << 20))
    limits = ExpansionLimits(max_ratio=1e9, max_bytes=4 << 20)
    with pytest.raises(DecompressionBombError, match=f"limit of {4 << 20} bytes"):
        expand(io.BytesIO(bomb), lambda _: None, limits=limits, where="t")


def test_plain_data_only_obeys_the_absolute_limit() -> None:
    limits = ExpansionLimits(max_ratio=2, max_bytes=1000, ratio_grace_bytes=0)
    with pytest.raises(DecompressionBombError, match="none data expands past"):
        _run(bytes(2000), limits)
    assert _run(bytes(900), limits)[0] == bytes(900)


@pytest.mark.parametrize(
    "damaged",
    [
        gzip.compress(PAYLOAD)[:-20],
        lzma.compress(PAYLOAD)[:50],
        bz2.compress(PAYLOAD)[:40],
        b"\x1f\x8b\x08" + b"\x00" * 5 + b"garbage" * 10,
    ],
)
def test_damaged_streams_raise_corrupt_stream(damaged: bytes) -> None:
    with pytest.raises(CorruptStreamError, match=r"^t: damaged"):
        _run(damaged)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_ratio"):
        ExpansionLimits(max_ratio=1)
    with pytest.raises(ValueError, match="max_bytes"):
        ExpansionLimits(max_bytes=-1)
