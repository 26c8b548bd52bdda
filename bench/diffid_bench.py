"""What checking a push archive's layers against its diff_ids costs (``python -m
bench.diffid_bench [MIB]``): the first pass over an uncompressed ``docker save`` archive,
timed against reading the same layer bytes once, cold cache aside (the layer was just
written, as it is after ``docker save``)."""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path

from docker_registry_v1.formats.archive import (
    ChainImage,
    check_diff_ids,
    open_saved_archive,
    write_loadable_archive,
)

MIB = 1 << 20


def _layer(path: Path, mib: int) -> None:
    """A tar of ``mib`` MiB of incompressible bytes (a file in a layer, as docker writes)."""
    import tarfile  # noqa: PLC0415

    class Random:
        def __init__(self) -> None:
            self.left, self.n = mib * MIB, 0

        def read(self, size: int = -1) -> bytes:
            want = min(self.left, MIB if size < 0 else size)
            block = b"".join(
                hashlib.sha256(f"{self.n}.{i}".encode()).digest() for i in range(want // 32 + 1)
            )[:want]
            self.n += 1
            self.left -= want
            return block

    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("data.bin")
        info.size = mib * MIB
        tar.addfile(info, Random())  # type: ignore[arg-type]


def main(mib: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        layer = Path(scratch) / "layer.tar"
        _layer(layer, mib)
        document = b'{"id": "' + b"ab" * 32 + b'", "created": "2014-10-13T21:19:18Z"}'
        archive = write_loadable_archive(
            Path(scratch) / "app.tar", "team/app", "1.0", [ChainImage("ab" * 32, document, layer)]
        ).path
        with open_saved_archive(archive) as saved:
            started = time.perf_counter()
            checked = check_diff_ids(saved.chains, str(archive))
            check = time.perf_counter() - started
            started = time.perf_counter()
            with saved.chains[0].images[0].open_layer() as stream:
                while stream.read(MIB):
                    pass
            read = time.perf_counter() - started
        print(
            f"{mib} MiB layer ({checked} checked): diff_id pass {check:.2f} s "
            f"({mib / check:.0f} MiB/s), a plain read {read:.2f} s ({mib / read:.0f} MiB/s)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
