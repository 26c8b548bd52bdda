"""Layers stream through the server: its peak RSS stays small whatever the layer size.

Default run: a 64 MiB layer. Full check (about 1 GiB, ~30 s):
    .venv/bin/python -m pytest tests/emulator/test_memory.py --emulator-rss-mib=1024 -s
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

RSS_LIMIT_KIB = 100 * 1024
CHUNK = b"\xa5" * (1024 * 1024)
IMAGE = "ab" * 32


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    argv = [sys.executable, "-m", "docker_registry_v1.emulator", "--port", "0"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip().removeprefix("registry: ")
    yield process, url
    process.terminate()
    process.wait(10)


def test_layer_round_trip_keeps_rss_low(
    server: tuple[subprocess.Popen[str], str], request: pytest.FixtureRequest
) -> None:
    process, url = server
    mib: int = request.config.getoption("--emulator-rss-mib")
    raw = json.dumps({"id": IMAGE}).encode()
    upload = hashlib.sha256(raw + b"\n")

    def body() -> Iterator[bytes]:
        for _ in range(mib):
            upload.update(CHUNK)
            yield CHUNK

    with httpx.Client(base_url=url, timeout=120) as client:
        assert client.put(f"/v1/images/{IMAGE}/json", content=raw).status_code == 200
        assert client.put(f"/v1/images/{IMAGE}/layer", content=body()).status_code == 200
        checksum = f"sha256:{upload.hexdigest()}"
        done = client.put(
            f"/v1/images/{IMAGE}/checksum", headers={"X-Docker-Checksum-Payload": checksum}
        )
        assert done.status_code == 200
        download = hashlib.sha256(raw + b"\n")
        size = 0
        with client.stream("GET", f"/v1/images/{IMAGE}/layer") as answer:
            for chunk in answer.iter_raw():
                download.update(chunk)
                size += len(chunk)
    assert (size, f"sha256:{download.hexdigest()}") == (mib * len(CHUNK), checksum)
    peak = _peak_rss_kib(process.pid)
    print(f"\nemulator peak RSS after a {mib} MiB layer PUT + GET: {peak / 1024:.1f} MiB")
    assert peak < RSS_LIMIT_KIB
