"""Gzip throughput of the deflate implementations a v1 → v2 copy could use.

``python bench/gzip_bench.py [--mib 64] [--repeat 3]``: compresses MiB of mixed
data (a third random, a third text, a third tar-like zero-padded records) in
1 MiB chunks, gzip-wrapped, on one thread, and prints MiB/s and the ratio of
each; then runs the chosen one, and the whole `LayerEncoder` pass (deflate,
CRC and both sha256s), on two threads at once to show whether they release the
GIL (near 2x the work per second on two idle cores means they do).
"""

from __future__ import annotations

import argparse
import functools
import random
import threading
import time
import zlib
from collections.abc import Callable
from importlib.metadata import version
from typing import Protocol

from docker_registry_v1.formats import LayerEncoder
from isal import isal_zlib
from zlib_ng import zlib_ng

MIB = 1 << 20
CHUNK = MIB


class Deflater(Protocol):
    def compress(self, data: bytes | memoryview, /) -> bytes: ...
    def flush(self) -> bytes: ...


Compressor = Callable[[], Deflater]


def mixed_data(size: int, seed: int = 13) -> bytes:
    """Reproducible data that compresses like real layers: neither all-random nor all-text."""
    rng = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
    words = [rng.randbytes(rng.randint(2, 9)).hex() for _ in range(2000)]
    third = size // 3
    text = bytearray()
    while len(text) < third:
        text += " ".join(rng.choices(words, k=64)).encode() + b"\n"
    records = bytearray()
    while len(records) < third:
        name = rng.choice(words).encode()
        records += name.ljust(100, b"\0") + rng.randbytes(24) + bytes(388)
    data = rng.randbytes(size - 2 * third) + bytes(text[:third]) + bytes(records[:third])
    return data


def implementations() -> dict[str, tuple[str, Compressor]]:
    return {
        "zlib-6": (f"stdlib zlib {zlib.ZLIB_RUNTIME_VERSION}", lambda: zlib.compressobj(6, 8, 31)),
        "zlib-1": (f"stdlib zlib {zlib.ZLIB_RUNTIME_VERSION}", lambda: zlib.compressobj(1, 8, 31)),
        "zlib-ng-1": (
            f"zlib-ng {version('zlib-ng')}",
            lambda: zlib_ng.compressobj(1, zlib_ng.DEFLATED, 31),
        ),
        "isal-1": (
            f"isal {version('isal')}",
            lambda: isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31),
        ),
    }


def compress(make: Compressor, data: bytes) -> int:
    compressor = make()
    view = memoryview(data)
    out = 0
    for start in range(0, len(data), CHUNK):
        out += len(compressor.compress(view[start : start + CHUNK]))
    return out + len(compressor.flush())


def encode(data: bytes) -> int:
    """The conversion a copy runs per plain-tar layer, fed in 64 KiB network-sized chunks."""
    encoder = LayerEncoder()
    view = memoryview(data)
    for start in range(0, len(data), 65536):
        encoder.feed(bytes(view[start : start + 65536]))
    encoder.finish()
    return encoder.blob.size


def on_two_threads(work: Callable[[], object]) -> None:
    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = mixed_data(args.mib * MIB)
    print(f"{args.mib} MiB mixed data, 1 MiB chunks, gzip wrapper, best of {args.repeat}")
    for label, (library, make) in implementations().items():
        ratio = compress(make, data) / len(data)
        seconds = best_of(args.repeat, functools.partial(compress, make, data))
        print(f"  {label:10} {args.mib / seconds:8.0f} MiB/s  ratio {ratio:.3f}  ({library})")
    _, make = implementations()["isal-1"]
    for label, work in (
        ("isal-1", functools.partial(compress, make, data)),
        ("LayerEncoder", functools.partial(encode, data)),
    ):
        one = best_of(args.repeat, work)
        two = best_of(args.repeat, functools.partial(on_two_threads, work))
        print(
            f"  {label:12} one thread {args.mib / one:6.0f} MiB/s, "
            f"two threads {2 * one / two:.2f}x the work per second"
        )


if __name__ == "__main__":
    main()
