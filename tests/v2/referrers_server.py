"""A registry with the OCI 1.1 referrers API, for the provenance tests.

Debian's distribution 2.8 has no referrers API (it gets the fallback tag), and
``crane registry serve`` does not switch go-containerregistry's on, so
tests/v2/referrers_registry/ holds a tiny Go main that does. It is built here with the
Go toolchain from the project's own go.mod/go.sum (modules from the Go module proxy,
then the module cache), into build/referrers-registry/, once per content of those
files; a clean clone builds it on first use, as clients/build.py builds the Go client.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from system_tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).resolve().parent / "referrers_registry"
BUILD = ROOT / "build" / "referrers-registry"
BUILD_TIMEOUT = 600.0  # a cold module cache downloads go-containerregistry first


def _source_hash() -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (SOURCE / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build() -> Path:
    """The server binary, built when its sources changed since the last build."""
    binary = BUILD / f"registry-{_source_hash()}"
    if binary.exists():
        return binary
    go = require_tool("go")
    BUILD.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f"{binary.name}.{os.getpid()}.partial")
    done = subprocess.run(
        [go, "build", "-mod=readonly", "-o", str(partial), "."],
        cwd=SOURCE,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"go build of the referrers registry failed:\n{done.stderr}")
    partial.replace(binary)  # atomic: parallel workers may build it at once
    return binary


@contextmanager
def referrers_registry() -> Iterator[str]:
    """Start the in-memory registry on a free loopback port; yields its base URL."""
    binary = build()
    process = subprocess.Popen(
        [str(binary), "-port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        address = process.stdout.readline().strip()
        if not address:
            raise RuntimeError("the referrers registry did not start")
        url = f"http://{address}"
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/v2/").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the referrers registry does not answer /v2/")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    # `make test` builds it before pytest, so no test worker waits for the Go build.
    print(build())
