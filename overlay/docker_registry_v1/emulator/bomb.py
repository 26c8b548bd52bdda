"""Compression bombs: layers of a few KiB (bzip2) or MiB (gzip) that expand to many GiB.

A bomb is an honest v1 image: its payload checksum is right and its layer is a valid
compressed tar (one file of zeros), so only a bound on decompressed output (or on the
ratio) stops a client that unpacks it. Compressing gigabytes of zeros would take
seconds to minutes, so neither format is ever fed the whole output:

- bzip2 compresses each block independently, so one block of zeros is compressed once
  and its bits repeated inside a single stream (the stream CRC combines the block CRCs);
  a single stream, because some decoders stop after the first of concatenated streams.
- deflate output after a full flush does not refer back, so one flushed segment of zeros
  is repeated; the gzip trailer's CRC-32 is combined arithmetically (zlib's
  ``crc32_combine``) instead of hashing the zeros.

Building an 8 GiB bzip2 bomb takes 0.3-0.7 s (the repeated 40 MiB block is compressed once
per process, the last partial block each time); the gzip one about 0.1 s (its ~8 MiB copied).
"""

from __future__ import annotations

import bz2
import enum
import functools
import hashlib
import json
import struct
import tarfile
import zlib

from .seed import SeedImage, payload_checksum

GIB = 1 << 30
DEFAULT_BOMB_SIZE = 8 * GIB
#: Uncompressed bytes per repeated bzip2 block (one block after bzip2's run-length step).
_BZ2_BLOCK = 40 << 20
#: Uncompressed bytes per repeated deflate segment.
_DEFLATE_SEGMENT = 1 << 20
_TAR_BLOCK = 512
_BZ2_HEADER_BITS = 32  # "BZh9"
_BLOCK_MAGIC = 0x314159265359
_END_MAGIC = 0x177245385090
_MASK32 = 0xFFFFFFFF


class BombFormat(enum.Enum):
    """The compression of a bomb layer."""

    BZIP2 = "bzip2"
    GZIP = "gzip"


# -- bzip2 ---------------------------------------------------------------------------


def _bz2_block(data: bytes) -> tuple[str, int]:
    """The bits (as a ``0``/``1`` string) and CRC of the one block ``data`` compresses to."""
    stream = bz2.compress(data, 9)
    total = len(stream) * 8
    bits = format(int.from_bytes(stream, "big"), f"0{total}b")
    for pad in range(8):
        end = total - pad - 80
        if int(bits[end : end + 48], 2) == _END_MAGIC:
            break
    else:  # pragma: no cover - bz2 always ends a stream so
        raise AssertionError("no bzip2 end-of-stream marker")
    block = bits[_BZ2_HEADER_BITS:end]
    if int(block[:48], 2) != _BLOCK_MAGIC:  # pragma: no cover - format invariant
        raise AssertionError("no bzip2 block marker")
    crc = int(block[48:80], 2)
    if int(bits[end + 48 : end + 80], 2) != crc:  # pragma: no cover - chosen sizes fit
        raise AssertionError("piece did not fit in one bzip2 block")
    return block, crc


@functools.cache
def _bz2_zeros_block() -> tuple[str, int]:
    """The repeated block, compressed once per process (its input is not kept)."""
    return _bz2_block(bytes(_BZ2_BLOCK))


def _bzip2(head: bytes, zeros: int, tail: bytes) -> bytes:
    """One bzip2 stream of ``head`` + ``zeros`` zero bytes + ``tail``."""
    blocks: list[tuple[str, int]] = [_bz2_block(head)]
    middle, rest = divmod(zeros, _BZ2_BLOCK)
    if middle:
        blocks.extend([_bz2_zeros_block()] * middle)
    blocks.append(_bz2_block(bytes(rest) + tail))
    combined = 0
    for _, crc in blocks:
        combined = (((combined << 1) | (combined >> 31)) & _MASK32) ^ crc
    bits = "".join(block for block, _ in blocks)
    bits += format(_END_MAGIC, "048b") + format(combined, "032b")
    bits += "0" * (-len(bits) % 8)
    return b"BZh9" + int(bits, 2).to_bytes(len(bits) // 8, "big")


# -- gzip ----------------------------------------------------------------------------


def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    row = 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of ``A + B`` from ``crc32(A)``, ``crc32(B)`` and ``len(B)`` (zlib's algorithm)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def _zeros_crc(length: int) -> int:
    """CRC-32 of ``length`` zero bytes, by doubling (never hashing more than 1 MiB)."""
    units, rest = divmod(length, _DEFLATE_SEGMENT)
    result = 0
    power_crc, power_len = zlib.crc32(bytes(_DEFLATE_SEGMENT)), _DEFLATE_SEGMENT
    while units:
        if units & 1:
            result = crc32_combine(result, power_crc, power_len)
        power_crc, power_len = crc32_combine(power_crc, power_crc, power_len), power_len * 2
        units >>= 1
    return crc32_combine(result, zlib.crc32(bytes(rest)), rest)


def _gzip(head: bytes, zeros: int, tail: bytes) -> bytes:
    """One gzip member of ``head`` + ``zeros`` zero bytes + ``tail``."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)]
    middle, rest = divmod(zeros, _DEFLATE_SEGMENT)
    if middle:
        segment = deflate.compress(bytes(_DEFLATE_SEGMENT)) + deflate.flush(zlib.Z_FULL_FLUSH)
        parts.append(segment * middle)
    parts.append(deflate.compress(bytes(rest) + tail) + deflate.flush(zlib.Z_FINISH))
    size = len(head) + zeros + len(tail)
    crc = crc32_combine(zlib.crc32(head), _zeros_crc(zeros), zeros)
    crc = crc32_combine(crc, zlib.crc32(tail), len(tail))
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff"
    return header + b"".join(parts) + struct.pack("<II", crc, size & _MASK32)


# -- the layer -----------------------------------------------------------------------


def check_bomb_size(size: int) -> int:
    """``size`` if a bomb can expand to exactly that many bytes, else ``ValueError``."""
    if size < 4 * _TAR_BLOCK or size % _TAR_BLOCK:
        raise ValueError("the bomb size must be a multiple of 512 bytes, at least 2048")
    return size


def bomb_layer(fmt: BombFormat, size: int = DEFAULT_BOMB_SIZE) -> bytes:
    """A compressed tar of exactly ``size`` bytes (a multiple of 512, at least 2 KiB):
    one header, one file of zeros, the two end blocks."""
    check_bomb_size(size)
    info = tarfile.TarInfo("zeros.img")
    info.size = size - 3 * _TAR_BLOCK
    info.mode = 0o644
    info.mtime = 1413235158
    info.uname = info.gname = "root"
    head = info.tobuf(format=tarfile.GNU_FORMAT)
    zeros = size - len(head) - 2 * _TAR_BLOCK
    tail = bytes(2 * _TAR_BLOCK)
    if fmt is BombFormat.BZIP2:
        return _bzip2(head, zeros, tail)
    return _gzip(head, zeros, tail)


def bomb_image(
    fmt: BombFormat, size: int = DEFAULT_BOMB_SIZE, *, image_id: str | None = None
) -> SeedImage:
    """A base image whose layer is :func:`bomb_layer`, with a correct payload checksum."""
    layer = bomb_layer(fmt, size)
    ident = image_id or hashlib.sha256(f"regv1-bomb:{fmt.value}:{size}".encode()).hexdigest()
    document = {
        "id": ident,
        "created": "2015-01-15T10:00:00.000000000Z",
        "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ADD file:zeros.img in /"]},
        "docker_version": "1.3.0",
        "architecture": "amd64",
        "os": "linux",
        "Size": size,
    }
    json_bytes = json.dumps(document, separators=(",", ":")).encode()
    return SeedImage(
        id=ident,
        parent=None,
        json_bytes=json_bytes,
        layer_bytes=layer,
        checksum=payload_checksum(json_bytes, layer),
    )
