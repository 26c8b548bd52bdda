"""Case 9: ``regv1 migrate`` of a seeded v1 registry (every request 20 ms slower) into a
local distribution 2.8, against the per-tag pipeline a user has without it: ``regv1
pull`` of each tag to an archive, then ``skopeo copy docker-archive:… docker://…``, one
tag after another.

The registry is the test suite's migration seed (``tests/migrate_support.py``): 30
repositories x 3 tags on 3 shared base chains, layers of 1-8 MiB. Each route goes into
a fresh registry and runs as separate processes measured from outside as case 7 does
(wall time, peak RSS, the largest file under their temp, cache and state directories).
Bytes read from the source come from the emulator's request log (every layer GET it
answered, at the size it served), set against the unique layer bytes of the tagged
images; blob uploads come from distribution's request log.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.server import run_standalone

from .copy_case import MIB, _measure, _registry, copy_tools_available
from .stats import Figure, absolute, compare

if TYPE_CHECKING:
    from v2registry import V2Registry  # tests/v2, put on the path by _registry

ROOT = Path(__file__).resolve().parent.parent
CASE = "9. registry migrate"
LATENCY = 0.020
_UPLOADED = re.compile(
    r'http\.request\.method=PUT .*http\.request\.uri="/v2/[^"]+?/blobs/uploads/'
    r'[^"]*[?&]digest=sha256%3A[0-9a-f]{64}[^"]*".*http\.response\.status=201'
)
_MOUNTED = re.compile(
    r'http\.request\.method=POST .*http\.request\.uri="/v2/[^"]+?/blobs/uploads/\?mount='
    r".*http\.response\.status=201"
)


def _layer_bytes_read(emulator: Standalone, sizes: dict[str, int]) -> int:
    """What the source's layer GETs served: whole layers, or the rest after a ``Range``."""
    total = 0
    for entry in emulator.log.entries:
        if entry.method != "GET" or not entry.path.endswith("/layer"):
            continue
        size = sizes[entry.path.split("/")[3]]
        if entry.status == 200:
            total += size
        elif entry.status == 206:
            start = re.match(r"bytes=(\d+)-", entry.headers.get("range", ""))
            total += size - int(start.group(1)) if start else size
    return total


def _counts(registry: V2Registry) -> tuple[int, int]:
    """(blob uploads completed, mounts) in distribution's request log."""
    lines = registry.log_lines()
    return (
        sum(1 for line in lines if _UPLOADED.search(line)),
        sum(1 for line in lines if _MOUNTED.search(line)),
    )


def _route_migrate(
    emulator: Standalone, source: str, workdir: Path, sizes: dict[str, int], rep: int
) -> dict[str, float]:
    regv1 = str(Path(sys.executable).parent / "regv1")
    scratch = workdir / f"migrate-{rep}"
    emulator.log.clear()
    with _registry(workdir / f"v2-migrate-{rep}") as registry:
        argv = [regv1, "migrate", source, f"docker://{registry.host}"]
        run = _measure(argv, scratch, [scratch], registry)
        uploads, mounts = _counts(registry)
    shutil.rmtree(workdir / f"v2-migrate-{rep}", ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return {
        "seconds": run.seconds,
        "rss": run.peak / MIB,
        "largest": run.largest / MIB,
        "read": _layer_bytes_read(emulator, sizes),
        "uploads": uploads,
        "mounts": mounts,
    }


def _route_per_tag(
    emulator: Standalone, source: str, tags: list[tuple[str, str]], workdir: Path
) -> dict[str, float]:
    regv1 = str(Path(sys.executable).parent / "regv1")
    skopeo = shutil.which("skopeo") or "skopeo"
    scratch = workdir / "per-tag"
    archive = scratch / "image.tar"
    seconds = rss = largest = 0.0
    emulator.log.clear()
    with _registry(workdir / "v2-per-tag") as registry:
        for repo, tag in tags:
            pulled = _measure(
                [regv1, "pull", f"{source}/{repo}:{tag}", "-o", str(archive)],
                scratch,
                [scratch],
                registry,
            )
            pushed = _measure(
                [
                    skopeo,
                    "--insecure-policy",
                    "copy",
                    "--quiet",
                    "--dest-tls-verify=false",
                    f"docker-archive:{archive}",
                    f"docker://{registry.host}/{repo}:{tag}",
                ],
                scratch,
                [scratch],
                registry,
            )
            archive.unlink()
            seconds += pulled.seconds + pushed.seconds
            rss = max(rss, pulled.peak / MIB, pushed.peak / MIB)
            largest = max(largest, pulled.largest / MIB, pushed.largest / MIB)
        uploads, _ = _counts(registry)
    shutil.rmtree(scratch, ignore_errors=True)
    return {"seconds": seconds, "rss": rss, "largest": largest, "uploads": uploads}


def migrate_cases(workdir: Path, *, smoke: bool) -> list[Figure]:
    sys.path.insert(0, str(ROOT / "tests"))
    from migrate_support import seed_registry  # noqa: PLC0415 - the test suite's seed

    repos = 2 if smoke else 30
    layer_sizes = (64 * 1024, 128 * 1024) if smoke else (1 * MIB, 3 * MIB, 5 * MIB, 8 * MIB)
    latency = 0.002 if smoke else LATENCY
    reps = 1 if smoke else 3
    with run_standalone() as emulator:
        seed = seed_registry(
            emulator.store, repos=repos, tags_per_repo=3, base_chains=3, layer_sizes=layer_sizes
        )
        sizes = {image_id: seed.size(image_id) for image_id in seed.images}
        emulator.faults.latency("*", latency)
        source = emulator.url.removeprefix("http://").rstrip("/")
        ours = [_route_migrate(emulator, source, workdir, sizes, rep) for rep in range(reps)]
        theirs = _route_per_tag(
            emulator, source, [(repo, tag) for repo, tag, _ in seed.tag_pairs()], workdir
        )
    unique = seed.unique_bytes

    def each(key: str, scale: float = 1.0) -> list[float]:
        return [run[key] / scale for run in ours]

    blobs = len(seed.tagged_images) + len({tip for _, _, tip in seed.tag_pairs()})
    what = (
        f"{repos} repositories, {seed.tag_count} tags, {len(seed.tagged_images)} images "
        f"({unique / MIB:.0f} MiB unique), {latency * 1000:g} ms per source request"
    )
    return [
        compare(
            CASE,
            f"regv1 migrate, {what}",
            "s",
            each("seconds"),
            "regv1 pull + skopeo copy docker-archive:, tag by tag",
            [theirs["seconds"]],
            higher_is_better=False,
            target=(">= 5x faster (ratio <= 0.2)", 0.2),
        ),
        absolute(
            CASE,
            "regv1 migrate bytes read from the source / unique layer bytes",
            "x",
            each("read", unique),
            1.05,
            "<= 1.05x",
            worst=True,
        ),
        absolute(
            CASE, "regv1 migrate client peak RSS", "MiB", each("rss"), 150, "<= 150 MiB", worst=True
        ),
        absolute(
            CASE,
            "regv1 migrate largest temp file",
            "MiB",
            each("largest"),
            64,
            "<= 64 MiB",
            worst=True,
        ),
        absolute(
            CASE,
            f"regv1 migrate blob uploads (unique blobs: {blobs})",
            "blobs",
            each("uploads"),
            float(blobs),
            f"<= {blobs} (each blob once)",
            worst=True,
        ),
        absolute(CASE, "regv1 migrate cross-repository mounts", "mounts", each("mounts")),
        absolute(CASE, "pull + skopeo blob uploads", "blobs", [float(theirs["uploads"])]),
        absolute(CASE, "pull + skopeo peak RSS", "MiB", [theirs["rss"]]),
        absolute(CASE, "pull + skopeo largest staged file", "MiB", [theirs["largest"]]),
    ]


def run(*, smoke: bool) -> list[Figure]:
    """Three repetitions of ``regv1 migrate``, one of the per-tag pipeline (it takes minutes)."""
    if not copy_tools_available():
        return []
    # On disk, not the run's tmpfs: two registries hold the whole seed each.
    with tempfile.TemporaryDirectory(prefix="regv1-migrate-case-") as scratch:
        return migrate_cases(Path(scratch), smoke=smoke)
