"""Case 10: ``regv1 inventory`` of a seeded registry whose every request takes 20 ms more,
at the default concurrency against one request at a time.

The registry is the test suite's migration seed (30 repositories x 3 tags on 3 shared
base chains, ``tests/migrate_support.py``). Each run is a separate ``regv1 inventory
--format json`` process; the figure is the inventory's own wall time from its document
(``seconds``: interpreter start and imports excluded, they are the same for both), and
its request count is reported beside it. Layer sizes play no part: no layer is read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from docker_registry_v1.emulator.server import run_standalone

from .stats import Figure, absolute, compare

ROOT = Path(__file__).resolve().parent.parent
CASE = "10. registry inventory"
LATENCY = 0.020
DEFAULT_CONCURRENCY = 8


def _inventory(source: str, concurrency: int) -> tuple[float, float, int]:
    """Process wall time, the inventory's own seconds, and its requests."""
    regv1 = str(Path(sys.executable).parent / "regv1")
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own command, argv built here
        [regv1, "inventory", source, "-j", str(concurrency), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"regv1 inventory failed: {done.stderr[-2000:]}")
    document = json.loads(done.stdout)
    return wall, float(document["seconds"]), int(document["requests"])


def run(*, smoke: bool) -> list[Figure]:
    sys.path.insert(0, str(ROOT / "tests"))
    from migrate_support import seed_registry  # noqa: PLC0415 - the test suite's seed

    repos, reps = (6, 1) if smoke else (30, 5)
    latency = 0.002 if smoke else LATENCY
    with run_standalone() as emulator:
        seed = seed_registry(emulator.store, repos=repos, tags_per_repo=3, base_chains=3)
        emulator.faults.latency("*", latency)
        source = emulator.url.removeprefix("http://")
        runs: dict[int, list[tuple[float, float, int]]] = {DEFAULT_CONCURRENCY: [], 1: []}
        for _ in range(reps):  # interleaved, so drift hits both alike
            for concurrency, samples in runs.items():
                samples.append(_inventory(source, concurrency))
    what = (
        f"{repos} repositories, {seed.tag_count} tags, {len(seed.tagged_images)} images, "
        f"{latency * 1000:g} ms per request"
    )
    wide, serial = runs[DEFAULT_CONCURRENCY], runs[1]
    return [
        compare(
            CASE,
            f"regv1 inventory, {what}, concurrency {DEFAULT_CONCURRENCY} (default)",
            "s",
            [seconds for _, seconds, _ in wide],
            "concurrency 1 (one request at a time)",
            [seconds for _, seconds, _ in serial],
            higher_is_better=False,
            target=(">= 4x faster (ratio <= 0.25)", 0.25),
        ),
        absolute(
            CASE,
            f"requests, concurrency {DEFAULT_CONCURRENCY}",
            "requests",
            [float(n) for _, _, n in wide],
        ),
        absolute(CASE, "requests, concurrency 1", "requests", [float(n) for _, _, n in serial]),
        absolute(
            CASE,
            f"regv1 inventory process wall time, concurrency {DEFAULT_CONCURRENCY}",
            "s",
            [wall for wall, _, _ in wide],
        ),
        absolute(
            CASE,
            "regv1 inventory process wall time, concurrency 1",
            "s",
            [wall for wall, _, _ in serial],
        ),
    ]
