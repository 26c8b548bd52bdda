"""v1 layers become v2 blobs deterministically, with both digests from one streaming pass."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import random
import subprocess
import sys
import tarfile
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_registry_v1 import InvalidInput
from docker_registry_v1.formats import BLOCK, EncodedLayer, LayerBlob, LayerEncoder
from docker_registry_v1.formats.archive import (
    Compression,
    CorruptStreamError,
    DecompressionBombError,
    ExpansionLimits,
)
from docker_registry_v1.formats.archive.imageconfig import EMPTY_TAR
from docker_registry_v1.formats.compress import GZIP_HEADER


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(size: int, seed: int = 1) -> bytes:
    """A tar holding half random, half repetitive data: compressible, but not trivially."""
    rng = random.Random(seed)
    half = size // 2
    data = rng.randbytes(half) + (b"layer text line\n" * (size // 32 + 1))[: size - half]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("data.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def split(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """`data` in chunks cycling through `sizes`, as a network read loop hands them out."""
    start, index = 0, 0
    while start < len(data):
        size = sizes[index % len(sizes)]
        yield data[start : start + size]
        start += size
        index += 1


def encode(chunks: Iterator[bytes] | list[bytes], **options: object) -> tuple[bytes, LayerBlob]:
    layer = EncodedLayer(chunks, **options)  # type: ignore[arg-type]
    out = b"".join(layer)
    return out, layer.blob


PLAIN = layer_tar(3 * BLOCK + 12345)


def test_plain_tar_is_gzipped_and_both_digests_come_from_the_same_pass() -> None:
    out, blob = encode(split(PLAIN, [65536]))
    assert gzip.decompress(out) == PLAIN
    assert blob.diff_id == sha256(PLAIN)
    assert blob.plain_size == len(PLAIN)
    assert blob.digest == sha256(out)
    assert blob.size == len(out)
    assert blob.source is Compression.NONE
    assert not blob.empty


def test_the_gzip_header_is_fixed() -> None:
    out, _ = encode([PLAIN])
    assert out[:10] == GZIP_HEADER  # no name, mtime 0, XFL 0, OS 255
    assert zlib.decompress(out, wbits=31) == PLAIN


def test_same_input_gives_the_same_blob_however_it_is_chunked() -> None:
    digests = {
        encode(split(PLAIN, sizes))[1].digest
        for sizes in ([len(PLAIN)], [BLOCK], [511, 1], [65536], [7, 100_000, 3, BLOCK + 1])
    }
    assert len(digests) == 1


def test_same_input_gives_the_same_blob_in_another_process() -> None:
    program = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from test_compress import PLAIN, encode, split;"
        "print(encode(split(PLAIN, [40000]))[1].digest)"
    )
    here = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", program, here], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == encode([PLAIN])[1].digest


def test_levels_change_the_bytes_not_the_content() -> None:
    fast, fast_blob = encode([PLAIN], level=1)
    best, best_blob = encode([PLAIN], level=3)
    assert fast_blob.digest != best_blob.digest
    assert gzip.decompress(fast) == gzip.decompress(best) == PLAIN
    assert fast_blob.diff_id == best_blob.diff_id


@pytest.mark.parametrize("level", [-1, 4, 9])
def test_a_level_isal_lacks_is_refused_before_any_byte(level: int) -> None:
    with pytest.raises(InvalidInput, match="level"):
        LayerEncoder(level=level)


def test_gzip_layers_pass_through_unchanged() -> None:
    compressed = gzip.compress(PLAIN, compresslevel=9, mtime=12345)
    out, blob = encode(split(compressed, [3, 5000]))
    assert out == compressed
    assert blob.digest == sha256(compressed)
    assert blob.size == len(compressed)
    assert blob.diff_id == sha256(PLAIN)
    assert blob.source is Compression.GZIP


def test_multi_member_gzip_passes_through_with_the_diff_id_of_all_members() -> None:
    first, second = PLAIN[:5000], PLAIN[5000:]
    compressed = gzip.compress(first) + gzip.compress(second)
    out, blob = encode(split(compressed, [1000]))
    assert out == compressed
    assert blob.diff_id == sha256(PLAIN)


@pytest.mark.parametrize(
    ("pack", "kind"),
    [(lzma.compress, Compression.XZ), (bz2.compress, Compression.BZIP2)],
)
def test_xz_and_bzip2_layers_are_regzipped(pack: object, kind: Compression) -> None:
    packed = pack(PLAIN)  # type: ignore[operator]
    out, blob = encode(split(packed, [4096]))
    assert gzip.decompress(out) == PLAIN
    assert blob.source is kind
    assert blob.diff_id == sha256(PLAIN)
    assert blob.digest == encode([PLAIN])[1].digest  # the same blob as from the plain tar


@pytest.mark.parametrize(
    "layer",
    [b"", EMPTY_TAR, bytes(10240), gzip.compress(EMPTY_TAR, mtime=0)],
    ids=["nothing", "empty-tar", "zero-blocks", "gzipped-empty-tar"],
)
def test_empty_layers_are_recognised(layer: bytes) -> None:
    _, blob = encode([layer])
    assert blob.empty
    assert blob.diff_id == sha256(gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer)


def test_a_tiny_layer_shorter_than_the_sniffed_head_still_converts() -> None:
    out, blob = encode([b"a", b"b"])
    assert gzip.decompress(out) == b"ab"
    assert blob.diff_id == sha256(b"ab")


@pytest.mark.parametrize(
    "damaged",
    [
        gzip.compress(PLAIN)[:-100],  # truncated
        gzip.compress(PLAIN)[:20] + bytes(64),  # garbage deflate data
        gzip.compress(PLAIN) + b"trailing junk",  # not another member
    ],
    ids=["truncated", "garbage", "trailing"],
)
def test_damaged_gzip_is_a_typed_error(damaged: bytes) -> None:
    with pytest.raises(CorruptStreamError, match="layer 3"):
        encode([damaged], where="layer 3")


def test_a_decompression_bomb_stops_early() -> None:
    bomb = gzip.compress(bytes(8 * BLOCK))
    limits = ExpansionLimits(max_ratio=10, ratio_grace_bytes=BLOCK)
    with pytest.raises(DecompressionBombError, match="expands more than 10:1"):
        encode(split(bomb, [4096]), limits=limits)


def test_the_writer_style_api_matches_the_iterator() -> None:
    encoder = LayerEncoder()
    out = b"".join(encoder.feed(chunk) for chunk in split(PLAIN, [9999])) + encoder.finish()
    assert (out, encoder.blob) == encode([PLAIN])
    with pytest.raises(RuntimeError):
        encoder.feed(b"more")


def test_a_layer_is_never_held_in_memory() -> None:
    chunk = layer_tar(256 * 1024, seed=7)[:262144]
    total = 48 * BLOCK

    def source() -> Iterator[bytes]:
        for _ in range(total // len(chunk)):
            yield chunk

    tracemalloc.start()
    try:
        sent = 0
        layer = EncodedLayer(source())
        for piece in layer:
            sent += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert layer.blob.plain_size == total
    assert layer.blob.size == sent
    assert peak < 6 * BLOCK, peak  # a block of pending input and its output, not 48 MiB


def _zeros_compressed(kind: str, size: int) -> bytes:
    """``size`` zero bytes through one of the formats a v1 layer may use: a bomb."""
    compressor: bz2.BZ2Compressor | lzma.LZMACompressor | zlib._Compress
    if kind == "bzip2":
        compressor = bz2.BZ2Compressor(9)
    elif kind == "xz":
        compressor = lzma.LZMACompressor()
    else:
        compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(BLOCK)
    parts = [compressor.compress(block) for _ in range(size // BLOCK)]
    return b"".join([*parts, compressor.flush()])


@pytest.mark.parametrize("kind", ["bzip2", "xz", "gzip"])
def test_a_bomb_in_one_read_never_expands_in_memory(kind: str) -> None:
    """A few KiB that stand for 256 MiB arrive in one read: the encoder expands them a
    block at a time and stops at the limit, holding about one block (plus xz's 8 MiB
    dictionary), never the expansion."""
    bomb = _zeros_compressed(kind, 256 * BLOCK)
    assert len(bomb) < BLOCK
    tracemalloc.start()
    try:
        with pytest.raises(DecompressionBombError):
            encode([bomb])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * BLOCK, f"{peak / BLOCK:.1f} MiB held while refusing the bomb"
