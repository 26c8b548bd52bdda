"""Measure the client's RSS growth while a big layer is pushed and pulled.

Three processes: the emulator (``serve``, layers on disk), and one client process
per transfer (``client push|pull``), whose peak RSS (VmHWM) is reset after
imports and setup and read when the transfer is done. Run directly::

    .venv/bin/python tests/transfer/memory_probe.py --gib 2 --workdir /tmp/regv1-mem

It prints one JSON line per transfer: RSS growth in MiB, seconds, MiB/s.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import anyio
from docker_registry_v1 import AsyncClient, Client
from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.transfer import apull, apush, pull, push

MIB = 1 << 20
BLOCK = 4 * MIB


class PseudoRandom:
    """A readable stream of ``size`` incompressible bytes, made fast from SHA-256 blocks."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.counter = 0
        self.block = b""

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        if not self.block:
            seed = hashlib.sha256(self.counter.to_bytes(8, "big")).digest()
            self.block = (seed * (BLOCK // 32))[:BLOCK]
            self.block = (
                bytes(b ^ (self.counter & 0xFF) for b in self.block[:256]) + self.block[256:]
            )
            self.counter += 1
        want = self.left if size < 0 else min(size, self.left)
        chunk, self.block = self.block[:want], self.block[want:]
        self.left -= len(chunk)
        return chunk


def build_archive(path: Path, size: int) -> str:
    """A legacy ``docker save`` archive with one image whose layer is a ~``size``-byte tar."""
    image_id = hashlib.sha256(b"memory-probe").hexdigest()
    layer_path = path.with_suffix(".layer.tar")
    with tarfile.open(layer_path, "w", format=tarfile.PAX_FORMAT) as layer:
        info = tarfile.TarInfo("data/blob.bin")
        info.size = size
        layer.addfile(info, PseudoRandom(size))  # type: ignore[arg-type]
    document = json.dumps({"id": image_id, "created": "2014-10-13T21:19:18.674353812Z"}).encode()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in (
            (f"{image_id}/VERSION", b"1.0"),
            (f"{image_id}/json", document),
            ("repositories", json.dumps({"acme/big": {"latest": image_id}}).encode()),
        ):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
        archive.add(layer_path, f"{image_id}/layer.tar")
    layer_path.unlink()
    return image_id


def vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def client(action: str, url: str, path: Path, flavour: str) -> None:
    def sync_run() -> object:
        with Client(url) as c:
            if action == "push":
                return push(c, path, "acme/big", "latest")
            return pull(c, "acme/big", "latest", path)

    async def async_run() -> object:
        async with AsyncClient(url) as c:
            if action == "push":
                return await apush(c, path, "acme/big", "latest")
            return await apull(c, "acme/big", "latest", path)

    Path("/proc/self/clear_refs").write_text("5")
    before = vm_hwm_kib()
    started = time.monotonic()
    result = sync_run() if flavour == "sync" else anyio.run(async_run)
    seconds = time.monotonic() - started
    growth = (vm_hwm_kib() - before) / 1024
    moved = result.bytes_transferred  # type: ignore[attr-defined]
    print(
        json.dumps(
            {
                "action": action,
                "flavour": flavour,
                "bytes": moved,
                "rss_growth_mib": round(growth, 1),
                "seconds": round(seconds, 1),
                "mib_per_s": round(moved / MIB / seconds, 1),
            }
        ),
        flush=True,
    )


def serve(data_dir: Path) -> None:
    with run_standalone(data_dir=data_dir) as reg:
        print(reg.url, flush=True)
        sys.stdin.read()


def main() -> list[dict[str, object]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--flavour", choices=["sync", "async"], default="sync")
    args = parser.parse_args()
    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    archive = work / "big.tar"
    build_archive(archive, int(args.gib * 1024 * MIB))
    here = str(Path(__file__).resolve())
    server = subprocess.Popen(
        [sys.executable, here, "serve", str(work / "registry")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        reports = []
        for action, path in (("push", archive), ("pull", work / "pulled.tar")):
            done = subprocess.run(
                [sys.executable, here, "client", action, url, str(path), args.flavour],
                capture_output=True,
                text=True,
                check=True,
            )
            print(done.stdout, end="")
            reports.append(json.loads(done.stdout))
        return reports
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(30)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        client(sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(Path(sys.argv[2]))
    else:
        main()
