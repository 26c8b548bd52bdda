"""Case 12: the read-only v1 face (``regv1 serve --backend docker://…``) against the v2
registry it reads, measured by the same client in the same run.

A seeded v1 emulator (a chain with gzip layers and one with plain-tar layers, the large
layer of each ``LAYER`` bytes of random data) is migrated into a fresh distribution 2.8
with provenance; the face runs as its own process, as users run it, over that registry.
Then, repetitions interleaved:

- layer GET: a gzip v1 layer (stored as is, so the face streams the v2 blob through)
  through the face against the same blob read straight from distribution, at 128 MiB and
  at 8 MiB (below the size from which the face reads a blob off the connection); a plain-tar
  v1 layer (stored gzip-compressed, so the face decompresses it on the way out) against
  the same blob read straight and decompressed by the client (the same work, the floor
  the face cannot beat), and against the blob read straight without decompressing;
- the floor under any Python proxy: the same blob through ``bench/relay.py``, a bare byte
  relay in its own process (recv_into/sendall, no HTTP), against distribution directly;
- request latency: tag list, image JSON and ancestry through the face (warm: within the
  face's 5 s cache TTL, the default) against a direct v2 manifest GET; then the same
  through a second face with ``--cache-ttl 0`` (every request asks the v2 registry for
  tags, manifest and provenance again), reported against the same baseline.
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from click.testing import CliRunner
from docker_registry_v1.cli import main as regv1_main
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.emulator.server import run_standalone

from .copy_case import MIB, _registry, copy_tools_available
from .stats import Figure, absolute, compare

CASE = "12. v1 face over v2"
ROOT = Path(__file__).resolve().parent.parent
LAYER, SMOKE_LAYER = 128 * MIB, 1 * MIB
MID_LAYER, SMOKE_MID_LAYER = 8 * MIB, 256 * 1024
"""A layer below `core.http.DIRECT_BODY` (32 MiB): its body takes httpx's path, and a
layer GET's fixed cost through the face weighs more (reported, no target)."""
REPS, SMOKE_REPS = 5, 1
CALLS, SMOKE_CALLS = 200, 3
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.manifest.v1+json"
)


@contextmanager
def _relay(upstream: str) -> Iterator[str]:
    """``bench/relay.py`` in front of ``upstream``, as its own process; its base URL."""
    process = subprocess.Popen(  # noqa: S603 - our own script, argv built here
        [sys.executable, "-m", "bench.relay", upstream],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("relay: "):
            raise RuntimeError(f"bench/relay.py did not start: {line}")
        yield "http://" + line.removeprefix("relay: ").strip()
    finally:
        process.kill()
        process.wait()


@contextmanager
def _face(backend: str, ttl: float) -> Iterator[str]:
    """``regv1 serve --backend`` as a process; its base URL once it listens."""
    regv1 = str(Path(sys.executable).parent / "regv1")
    argv = [regv1, "serve", "--port", "0", "--backend", backend, "--cache-ttl", str(ttl)]
    process = subprocess.Popen(  # noqa: S603 - our own command, argv built here
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("registry: "):
            process.kill()
            raise RuntimeError(f"regv1 serve --backend did not start: {line}{process.stderr}")
        yield line.removeprefix("registry: ").strip().rstrip("/")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read(client: httpx.Client, url: str, *, inflate: bool = False) -> float:
    """Seconds to take the whole body (1 MiB reads), decompressing it when asked."""
    started = time.perf_counter()
    unzip = zlib.decompressobj(wbits=31) if inflate else None
    with client.stream("GET", url) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(MIB):
            if unzip is not None:
                unzip.decompress(chunk)
    return time.perf_counter() - started


def _latency(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    response.raise_for_status()
    return time.perf_counter() - started


def _interleaved(calls: int, *variants: Callable[[], float]) -> list[list[float]]:
    """Each variant ``calls`` times, one of each per round (drift hits them alike)."""
    values: list[list[float]] = [[] for _ in variants]
    for _ in range(calls):
        for index, variant in enumerate(variants):
            values[index].append(variant())
    return values


def run(*, smoke: bool) -> list[Figure]:
    if not copy_tools_available():
        return []
    size = SMOKE_LAYER if smoke else LAYER
    reps, calls = (SMOKE_REPS, SMOKE_CALLS) if smoke else (REPS, CALLS)
    gzipped = build_image_chain(2, seed=1201, layer_size=size, gzip=True)
    plain = build_image_chain(2, seed=1202, layer_size=size, gzip=False)
    mid = build_image_chain(1, seed=1203, layer_size=SMOKE_MID_LAYER if smoke else MID_LAYER)
    with tempfile.TemporaryDirectory(prefix="regv1-bench-face-") as scratch:
        root = Path(scratch)
        with run_standalone() as emulator, _registry(root / "v2") as v2:
            emulator.store.seed("bench/gzipped", "latest", gzipped)
            emulator.store.seed("bench/plain", "latest", plain)
            emulator.store.seed("bench/mid", "latest", mid)
            journal = root / "journal.sqlite"
            env = {**os.environ, "XDG_STATE_HOME": str(root / "state")}
            done = CliRunner(env=env).invoke(
                regv1_main,
                ["migrate", emulator.url, f"docker://{v2.host}", "--journal", str(journal)],
                catch_exceptions=False,
            )
            if done.exit_code != 0:
                raise RuntimeError(f"regv1 migrate failed: {done.output[-2000:]}")
            backend = f"docker://{v2.host}"
            with (
                _face(backend, 5.0) as face,
                _face(backend, 0.0) as cold,
                _relay(v2.host) as relay,
                httpx.Client(timeout=120) as client,
            ):
                urls = (face, cold, v2.url, relay)
                return _measure(client, urls, (gzipped, plain, mid), reps, calls)


def _blob_of(client: httpx.Client, registry: str, repository: str, index: int) -> str:
    """The blob URL of the ``index``-th layer of ``repository:latest`` at the registry."""
    manifest = client.get(
        f"{registry}/v2/{repository}/manifests/latest", headers={"Accept": MANIFEST_TYPES}
    ).json()
    return f"{registry}/v2/{repository}/blobs/{manifest['layers'][index]['digest']}"


def _measure(
    client: httpx.Client,
    urls: tuple[str, str, str, str],
    chains: tuple[list[SeedImage], list[SeedImage], list[SeedImage]],
    reps: int,
    calls: int,
) -> list[Figure]:
    """``urls``: the face (5 s TTL), the face with no cache, distribution, the relay."""
    face, cold, registry, relay = urls
    gzipped, plain, mid = chains
    big_gzip = f"{face}/v1/images/{gzipped[0].id}/layer"
    big_plain = f"{face}/v1/images/{plain[0].id}/layer"
    gzip_blob = _blob_of(client, registry, "bench/gzipped", 0)
    plain_blob = _blob_of(client, registry, "bench/plain", 0)
    relayed_blob = gzip_blob.replace(registry, relay, 1)
    # One read of each first: the face learns the ids (its index walk) outside the timing.
    for url in (big_gzip, big_plain, gzip_blob, plain_blob, relayed_blob):
        _read(client, url)
    size_gzip = len(gzipped[0].layer_bytes)
    size_plain = len(plain[0].layer_bytes)
    face_gzip, direct_gzip, relayed, face_plain, direct_inflated, direct_plain = _interleaved(
        reps,
        lambda: _read(client, big_gzip),
        lambda: _read(client, gzip_blob),
        lambda: _read(client, relayed_blob),
        lambda: _read(client, big_plain),
        lambda: _read(client, plain_blob, inflate=True),
        lambda: _read(client, plain_blob),
    )

    mid_layer = f"{face}/v1/images/{mid[0].id}/layer"
    mid_blob = _blob_of(client, registry, "bench/mid", 0)
    for url in (mid_layer, mid_blob):
        _read(client, url)
    size_mid = len(mid[0].layer_bytes)
    face_mid, direct_mid = _interleaved(
        reps * 4,  # a small read: more of them for a stable median
        lambda: _read(client, mid_layer),
        lambda: _read(client, mid_blob),
    )

    def mib_s(seconds: list[float], size: int) -> list[float]:
        return [size / MIB / value for value in seconds]

    figures = [
        compare(
            CASE,
            f"layer GET, gzip v1 layer served as stored ({size_gzip / MIB:.0f} MiB)",
            "MiB/s",
            mib_s(face_gzip, size_gzip),
            "the same blob GET straight from distribution",
            mib_s(direct_gzip, size_gzip),
            target=(">= 0.8x", 0.8),
            paired=True,
        ),
        compare(
            CASE,
            f"layer GET, gzip v1 layer served as stored ({size_mid / MIB:.2g} MiB, below the "
            "32 MiB direct-read threshold)",
            "MiB/s",
            mib_s(face_mid, size_mid),
            "the same blob GET straight from distribution",
            mib_s(direct_mid, size_mid),
            paired=True,
        ),
        compare(
            CASE,
            f"layer GET, gzip v1 layer served as stored ({size_gzip / MIB:.0f} MiB), vs. a relay",
            "MiB/s",
            mib_s(face_gzip, size_gzip),
            "the same blob through bench/relay.py (bytes copied, no HTTP: a Python proxy's floor)",
            mib_s(relayed, size_gzip),
            paired=True,
        ),
        compare(
            CASE,
            "layer GET through bench/relay.py (no HTTP, bytes copied by a Python process)",
            "MiB/s",
            mib_s(relayed, size_gzip),
            "the same blob GET straight from distribution",
            mib_s(direct_gzip, size_gzip),
            paired=True,
        ),
        # Time ratios (the baseline's seconds over the face's): the face sends the plain
        # tar, the registry the smaller gzip blob, so bytes per second would flatter it.
        compare(
            CASE,
            f"layer GET, plain-tar v1 layer decompressed by the face ({size_plain / MIB:.0f} MiB)",
            "s",
            face_plain,
            "the same blob GET straight and decompressed by the client",
            direct_inflated,
            higher_is_better=False,
            target=("<= 1.25x the time (0.8x throughput)", 1.25),
            paired=True,
        ),
        compare(
            CASE,
            "layer GET, plain-tar v1 layer decompressed by the face, vs. no decompression",
            "s",
            face_plain,
            "the same blob GET straight, not decompressed",
            direct_plain,
            higher_is_better=False,
            paired=True,
        ),
    ]
    tip = gzipped[-1].id
    manifest = f"{registry}/v2/bench/gzipped/manifests/latest"
    accept = {"Accept": MANIFEST_TYPES}
    kinds = {
        "tag list": "/v1/repositories/bench/gzipped/tags",
        "image json": f"/v1/images/{tip}/json",
        "ancestry": f"/v1/images/{tip}/ancestry",
    }
    for base, label, target in ((face, "warm (5 s TTL)", 2.0), (cold, "--cache-ttl 0", None)):
        for kind, path in kinds.items():
            through, direct = _interleaved(
                calls,
                functools.partial(_latency, client, base + path),
                functools.partial(_latency, client, manifest, accept),
            )
            figures.append(
                compare(
                    CASE,
                    f"{kind} latency through the face, {label}",
                    "ms",
                    [value * 1000 for value in through],
                    "direct v2 manifest GET",
                    [value * 1000 for value in direct],
                    higher_is_better=False,
                    target=None if target is None else ("<= 2x", target),
                )
            )
    figures.append(
        absolute(
            CASE,
            "direct v2 manifest GET latency (the baseline above)",
            "ms",
            [statistics.median(direct) * 1000],
        )
    )
    return figures
