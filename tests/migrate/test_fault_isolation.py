"""Per-tag fault isolation: a legacy registry where two repositories hold healthy tags
beside broken ones, migrated over real sockets into Debian's distribution and into an
``oci:`` layout.

Each source-side fault is charged to the tags that need the broken image, never to the
run: an upload that never finished (``400 {"error": "Image is being uploaded, retry
later"}`` on its JSON, forever, as the reference registry answers), a lost layer
(404), corrupt image JSON, a tag pointing at an image the registry no longer has, a
layer failing its payload checksum, and (into ``oci:``) a tag that is valid for docker
but not as an OCI ref name. An untagged broken image blocks nothing. The run moves
every healthy tag, exits 2 and lists each failed tag with its image and reason; a
rerun on the same journal retries exactly the failed tags, moves nothing and exits 2
again.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner, Result
from docker_registry_v1.cli import main
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.engine.journal import Journal
from docker_registry_v1.formats.layout import OCILayout
from migrate_checks import uploaded_blobs
from system_tools import require_tool
from v2.v2registry import V2Registry

UPLOADING = b'{"error": "Image is being uploaded, retry later"}'


@attrs.frozen
class Messy:
    """The running source and what each broken tag must be reported with."""

    emulator: Standalone
    healthy: dict[str, str]
    """``REPO:TAG`` → tip image id of the tags that must land."""
    broken: dict[str, tuple[str, str]]
    """``REPO:TAG`` → (the image at fault, a fragment of the reason)."""
    untagged: str

    @property
    def host(self) -> str:
        return self.emulator.url.removeprefix("http://")


def _chain(seed: int) -> list[SeedImage]:
    return build_image_chain(2, seed=seed, layer_size=4096)


@pytest.fixture
def messy() -> Iterator[Messy]:
    with run_standalone() as emulator:
        store, faults = emulator.store, emulator.faults
        chains = {name: _chain(300 + n) for n, name in enumerate("abcdefghi")}
        store.seed("team/app", "1.0", chains["a"])
        store.set_tag("team/app", "_tmp", chains["a"][-1].id, {})
        store.seed("team/app", "uploading", chains["b"])
        store.seed("team/app", "nolayer", chains["c"])
        store.seed("team/web", "1.0", chains["d"])
        store.seed("team/web", "corrupt", chains["e"])
        store.seed("team/web", "gone", chains["f"])
        tip = chains["g"][-1]
        wrong = "sha256:" + "0" * 64  # stored and announced, but not the layer's
        store.seed("team/web", "sum", [*chains["g"][:-1], attrs.evolve(tip, checksum=wrong)])
        store.seed("team/web", None, chains["h"])  # untagged, and broken below
        store.seed("team/app-", "1.0", chains["i"])  # a v1 name, refused by v2 and OCI
        ids = {name: chain[-1].id for name, chain in chains.items()}
        faults.error(f"/v1/images/{ids['b']}/json", 400, body=UPLOADING, times=None)
        faults.error(f"/v1/images/{ids['c']}/layer", 404, times=None)
        faults.malformed_json(f"/v1/images/{ids['e']}/json")
        faults.error(f"/v1/images/{ids['f']}/*", 404, times=None)
        faults.error(f"/v1/images/{ids['h']}/json", 400, body=UPLOADING, times=None)
        yield Messy(
            emulator,
            healthy={
                "team/app:1.0": ids["a"],
                "team/app:_tmp": ids["a"],
                "team/web:1.0": ids["d"],
            },
            broken={
                "team/app:uploading": (ids["b"], "Image is being uploaded, retry later"),
                "team/app:nolayer": (ids["c"], "404"),
                "team/web:corrupt": (ids["e"], "is not valid"),  # found by the inventory
                "team/web:gone": (ids["f"], "404"),
                "team/web:sum": (ids["g"], "checksum"),
                "team/app-:1.0": (ids["i"], "refuses"),
            },
            untagged=ids["h"],
        )


def _migrate(messy: Messy, dest: str, journal: Path, *more: str) -> Result:
    return CliRunner().invoke(
        main,
        ["migrate", "--no-provenance", messy.host, dest, "--journal", str(journal), *more],
        catch_exceptions=False,
    )


def _report(result: Result) -> Any:
    assert result.exit_code == 2, result.output
    return json.loads(result.stdout)


def _check_failed(report: Any, expected: dict[str, tuple[str, str]]) -> None:
    failed = {f"{f['repository']}:{f['tag']}": f for f in report["failed"]}
    assert set(failed) == set(expected), report["failed"]
    for name, (image, fragment) in expected.items():
        assert failed[name]["image"] == image, failed[name]
        assert fragment in failed[name]["reason"], failed[name]
        assert failed[name]["reason"], failed[name]
    statuses = {t["source"]: t["status"] for t in report["tags"]}
    assert {n for n, s in statuses.items() if s == "failed"} == set(expected)
    assert report["summary"]["failed"] == len(expected)


def _settled_uploads(registry: V2Registry, expected: int) -> list[str]:
    """distribution's completed uploads once its request log shows the ``expected`` ones
    (it writes the log a moment after answering)."""
    deadline = time.monotonic() + 10
    while len(uploads := uploaded_blobs(registry)) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(uploads) == len(set(uploads)) == expected
    return uploads


def _skopeo_inspect(reference: str) -> dict[str, Any]:
    done = subprocess.run(
        [require_tool("skopeo"), "--insecure-policy", "inspect", "--tls-verify=false", reference],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    inspected: dict[str, Any] = json.loads(done.stdout)
    return inspected


def test_into_distribution_healthy_tags_land_and_each_broken_tag_is_listed(
    messy: Messy, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    dest, journal = f"docker://{v2_fresh.host}", tmp_path / "j.sqlite"
    report = _report(_migrate(messy, dest, journal, "--json"))
    _check_failed(report, messy.broken)
    copied = {t["source"]: t["digest"] for t in report["tags"] if t["status"] == "copied"}
    assert set(copied) == set(messy.healthy)
    for name, digest in copied.items():
        assert _skopeo_inspect(f"docker://{v2_fresh.host}/{name}")["Digest"] == digest
    with Journal(journal) as log:
        failures = log.failures(v2_fresh.url.rstrip("/"))
    assert {f"{repo}:{tag}" for repo, tag in failures} == set(messy.broken)
    uploads = _settled_uploads(v2_fresh, report["summary"]["blobs_uploaded"])

    # The table names each failed tag with its image and reason, and exits 2 again;
    # the rerun retries the failed tags (and only those) and moves nothing.
    again = _migrate(messy, dest, journal, "--format", "table")
    assert again.exit_code == 2, again.output
    lines = [line for line in again.stdout.splitlines() if line.startswith("failed: ")]
    assert len(lines) == len(messy.broken)
    for name, (image, fragment) in messy.broken.items():
        (line,) = [line for line in lines if line.startswith(f"failed: {name} -> ")]
        assert f"(image {image})" in line
        assert fragment in line
    time.sleep(0.5)  # as long as the first run's last line took at most
    assert uploaded_blobs(v2_fresh) == uploads  # nothing uploaded by the rerun
    third = _report(_migrate(messy, dest, journal, "--json"))
    _check_failed(third, messy.broken)
    assert third["summary"]["blobs_uploaded"] == third["summary"]["bytes_uploaded"] == 0
    assert third["summary"]["current"] == len(messy.healthy)
    assert messy.untagged not in json.dumps(third)


def test_into_an_oci_layout_a_tag_it_cannot_name_fails_alone(messy: Messy, tmp_path: Path) -> None:
    layout, journal = tmp_path / "layout", tmp_path / "j.sqlite"
    broken = {**messy.broken, "team/app:_tmp": (messy.healthy["team/app:_tmp"], "_tmp")}
    done = _migrate(messy, f"oci:{layout}", journal, "--json")
    report = _report(done)
    _check_failed(report, broken)
    events = [json.loads(line) for line in done.stderr.splitlines()]
    failed_events = {e["source"]: e["image"] for e in events if e.get("status") == "failed"}
    assert failed_events == {name: image for name, (image, _) in broken.items()}
    copied = {t["destination"]: t["digest"] for t in report["tags"] if t["status"] == "copied"}
    assert set(copied) == {"team/app:1.0", "team/web:1.0"}
    assert OCILayout(layout).refs() == copied
    for name, digest in copied.items():
        assert _skopeo_inspect(f"oci:{layout}:{name}")["Digest"] == digest

    again = _report(_migrate(messy, f"oci:{layout}", journal, "--json"))
    _check_failed(again, broken)
    assert again["summary"]["blobs_uploaded"] == again["summary"]["bytes_uploaded"] == 0
    assert OCILayout(layout).refs() == copied


def test_dry_run_lists_the_broken_tags_and_sends_nothing(
    messy: Messy, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    done = _migrate(
        messy, f"docker://{v2_fresh.host}", tmp_path / "j.sqlite", "--dry-run", "--json"
    )
    assert done.exit_code == 0, done.output
    plan = json.loads(done.stdout)
    states = {t["source"]: (t["state"], t["problem"]) for t in plan["plan"]}
    # what the inventory could not read is known before the run
    assert states["team/app:uploading"][0] == "broken"
    assert "Image is being uploaded" in states["team/app:uploading"][1]
    assert states["team/web:gone"][0] == "broken"
    assert states["team/app-:1.0"][0] == "broken"
    assert "which it refuses" in states["team/app-:1.0"][1]
    assert all(states[name] == ("copy", None) for name in messy.healthy)
    assert uploaded_blobs(v2_fresh) == []


def test_on_error_abort_starts_no_tag_after_a_broken_one(
    messy: Messy, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    done = _migrate(
        messy, f"docker://{v2_fresh.host}", tmp_path / "j.sqlite", "--on-error", "abort", "--json"
    )
    report = _report(done)
    assert report["summary"]["aborted"] is True
    statuses = {t["source"]: t["status"] for t in report["tags"]}
    # the plan knows these broken tags before anything starts: nothing else is attempted
    assert {n for n, s in statuses.items() if s == "failed"} == {
        "team/app:uploading",
        "team/web:corrupt",
        "team/web:gone",
        "team/app-:1.0",
    }
    assert set(statuses.values()) == {"failed", "pending"}
    assert uploaded_blobs(v2_fresh) == []


def test_help_documents_the_exit_statuses() -> None:
    shown = CliRunner().invoke(main, ["migrate", "--no-provenance", "--help"], terminal_width=120)
    assert shown.exit_code == 0
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    for status in ("0 every tag is done", "1 nothing could start", "2 the run finished with"):
        assert any(line.startswith(status) for line in lines), shown.stdout
    assert any(line.startswith("130 interrupted") for line in lines)
