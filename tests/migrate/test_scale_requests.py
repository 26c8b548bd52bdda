"""Exact request counts per kind on both sides of a migration of 100 repositories x 4 tags
(the size the suite's time allows; ``make bench`` runs 500 and 2,000).

The source's counts come from the emulator's own request log, the destination's from a
counting proxy in front of a real distribution; the expected counts are the formulas of
``scale_formulas`` (functions of the seed's description). Three runs on one journal: a
fresh one, a rerun with nothing new, and a rerun after one tag was added (only that tag
moves). Each phase's differences are collected first and asserted together, so a failure
names every kind that is off in every phase.

The CLI runs as a subprocess: the emulator and the proxy then have this process's
interpreter to themselves, and the client its own (two cores, three busy servers).
"""

from __future__ import annotations

import pprint
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import scale_formulas as formulas
from docker_registry_v1.emulator.scale import (
    ScaleRegistry,
    add_scale_tag,
    count_source_requests,
    seed_scale,
)
from docker_registry_v1.emulator.server import Standalone, run_standalone
from v2.counting_proxy import CountingProxy, counting_proxy
from v2.v2registry import run_registry

REGV1 = Path(sys.executable).parent / "regv1"
REPOSITORIES = 100
NEW_TAG = "v9"


@pytest.fixture
def scaled() -> Iterator[tuple[Standalone, ScaleRegistry]]:
    with run_standalone() as emulator:
        yield emulator, seed_scale(emulator.store, repositories=REPOSITORIES)


def _migrate(emulator: Standalone, proxy: CountingProxy, journal: Path) -> None:
    source = emulator.url.removeprefix("http://").rstrip("/")
    argv = [
        str(REGV1),
        "migrate",
        "--no-provenance",
        source,
        f"docker://{proxy.host}",
        "--journal",
        str(journal),
    ]
    argv += ["--repositories", "16"]  # many small tags: latency-bound, not layer-bound
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def _phase(
    emulator: Standalone, proxy: CountingProxy, journal: Path
) -> tuple[Counter[str], Counter[str]]:
    """Run once; (source counts, destination counts) of that run alone."""
    emulator.log.clear()
    mark = proxy.mark()
    _migrate(emulator, proxy, journal)
    return count_source_requests(emulator.log.entries), proxy.counts(mark)


def test_scale_migration_sends_the_formula_requests_per_kind(
    scaled: tuple[Standalone, ScaleRegistry], tmp_path: Path
) -> None:
    emulator, scale = scaled
    assert scale.tag_count == REPOSITORIES * 4
    journal = tmp_path / "journal.sqlite"
    off: dict[str, dict[str, tuple[int, int]]] = {}
    with (
        run_registry("none", tmp_path / "v2") as registry,
        counting_proxy(registry.host) as proxy,
    ):
        source, dest = _phase(emulator, proxy, journal)
        off["fresh source"] = formulas.off_by_kind(formulas.source_fresh(scale), source)
        off["fresh destination"] = formulas.off_by_kind(formulas.dest_fresh(scale), dest)
        source, dest = _phase(emulator, proxy, journal)
        off["rerun source"] = formulas.off_by_kind(formulas.source_rerun(scale), source)
        off["rerun destination"] = formulas.off_by_kind(formulas.dest_rerun(scale), dest)

        repository = scale.names[5]
        added = add_scale_tag(emulator.store, scale, repository, NEW_TAG)
        source, dest = _phase(emulator, proxy, journal)
        off["new tag source"] = formulas.off_by_kind(formulas.source_one_new_tag(scale), source)
        off["new tag destination"] = formulas.off_by_kind(formulas.dest_one_new_tag(scale), dest)

        with httpx.Client(base_url=f"http://{registry.host}") as v2:
            listed = v2.get(f"/v2/{repository}/tags/list").json()["tags"]
            manifest = v2.get(
                f"/v2/{repository}/manifests/{NEW_TAG}",
                headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            )
            other = v2.get(f"/v2/{scale.names[-1]}/tags/list").json()["tags"]
    assert sorted(listed) == sorted([*scale.tag_names, NEW_TAG])
    assert manifest.status_code == 200
    assert len(manifest.json()["layers"]) == scale.base_depth + 1
    assert added.id not in scale.tips[repository].values()
    assert sorted(other) == sorted(scale.tag_names)
    failing = {phase: diff for phase, diff in off.items() if diff}
    assert not failing, "kind: (expected, seen) per phase\n" + pprint.pformat(failing)
