"""Interrupted migrations: kill -9 and rerun, faulty sources, a destination out of space."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import interruptible
from click.testing import CliRunner
from docker_registry_v1 import Client
from docker_registry_v1.cli import main
from docker_registry_v1.engine.journal import Journal
from docker_registry_v1.engine.sources import registry_origin
from docker_registry_v1.formats.compress import DEFAULT_LEVEL
from docker_registry_v1.formats.convert import ManifestFormat
from docker_registry_v1.oci.client import OCIClient
from docker_registry_v1.transfer.copy import BlobCache
from docker_registry_v1.transfer.inventory import inventory
from docker_registry_v1.transfer.migrate import migrate
from docker_registry_v1.transfer.migrate_plan import RegistrySide, plan_migration
from docker_registry_v1.transfer.retry import RetryPolicy
from docker_registry_v1.transfer.selection import Selection
from migrate_checks import SOME, Seeded, uploaded_blobs
from v2.v2registry import V2Registry

REGV1 = Path(sys.executable).with_name("regv1")
FAST = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05)
KILLS = 3
WAIT_FOR_UPLOADS = 60.0
"""Seconds one interrupted run may take to reach its kill point on a loaded machine."""


def destination_state(registry: V2Registry, names: list[str]) -> dict[str, str | None]:
    accept = [ManifestFormat.DOCKER.value.manifest]
    with OCIClient(registry.url) as client:
        return {name: client.manifest_digest(*name.split(":"), accept=accept) for name in names}


def run_api(
    seeded: Seeded, dest: OCIClient, journal: Path, pattern: str = ""
) -> dict[str, str | None]:
    """A whole migration through the API; destination tag → digest."""
    target = RegistrySide(dest)
    selection = Selection.parse(include=[pattern] if pattern else [])
    with Client(seeded.emulator.url) as source, Journal(journal) as log:
        plan = plan_migration(inventory(source), selection, target, journal=log)
        report = migrate(source, target, plan, journal=log, retry=FAST, provenance=False)
    return {outcome.destination: outcome.digest for outcome in report.outcomes}


def test_kill_9_at_random_points_then_rerun_equals_a_clean_run(
    seeded: Seeded, v2_fresh: V2Registry, v2_second: V2Registry, tmp_path: Path
) -> None:
    seeded.emulator.faults.latency("/v1/images/*/layer", 0.03)
    journal = tmp_path / "journal.sqlite"
    command = [
        str(REGV1),
        "migrate",
        "--no-provenance",
        seeded.host,
        f"docker://{v2_fresh.host}",
        "--journal",
        str(journal),
        "--json",
        "-j",
        "3",
        "--include",
        SOME,
    ]
    rng = random.Random(14)
    kills = []
    for _ in range(KILLS):
        before = len(uploaded_blobs(v2_fresh))
        point = before + rng.randint(3, 25)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_FOR_UPLOADS
        while len(uploaded_blobs(v2_fresh)) < point and process.poll() is None:
            assert time.monotonic() < deadline, "the run never reached its kill point"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills.append((point, process.returncode))
    assert all(code == -signal.SIGKILL for _, code in kills), kills
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert {tag["status"] for tag in final["tags"]} <= {"copied", "current"}

    uploads = uploaded_blobs(v2_fresh)
    assert len(uploads) == len(set(uploads)) == seeded.unique_blobs(SOME)
    names = sorted(tag["destination"] for tag in final["tags"])
    with OCIClient(v2_second.url) as clean_dest:
        clean = run_api(seeded, clean_dest, tmp_path / "clean.sqlite", SOME)
    assert destination_state(v2_fresh, names) == destination_state(v2_second, names) == clean
    assert {t["destination"]: t["digest"] for t in final["tags"]} == clean


def test_a_source_that_drops_connections_and_answers_503_bursts(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    faults = seeded.emulator.faults
    drops = faults.drop_after("/v1/images/*/layer", 700, times=6)
    bursts = faults.error("/v1/images/*/json", 503, times=8)
    layer_errors = faults.error("/v1/images/*/layer", 503, times=5)
    with OCIClient(v2_fresh.url) as dest:
        result = run_api(seeded, dest, tmp_path / "j.sqlite")
    assert drops.hits == 6
    assert bursts.hits == 8
    assert layer_errors.hits == 5
    assert all(digest is not None for digest in result.values())
    assert len(result) == seeded.seed.tag_count
    uploads = uploaded_blobs(v2_fresh)
    assert len(uploads) == len(set(uploads)) == seeded.unique_blobs()


class OutOfSpace(httpx.BaseTransport):
    """Distribution behind a storage fault: blob uploads into the ``full`` repositories
    answer 507 while ``full`` is set, as a registry whose disk filled up does."""

    def __init__(self, full: tuple[str, ...]) -> None:
        self._real = httpx.HTTPTransport()
        self.full = full
        self.refused = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/blobs/uploads/" in path and any(path.startswith(f"/v2/{r}/") for r in self.full):
            request.read()
            with self._lock:
                self.refused += 1
            return httpx.Response(
                507,
                json={"errors": [{"code": "UNKNOWN", "message": "no space left on device"}]},
            )
        return self._real.handle_request(request)

    def close(self) -> None:
        self._real.close()


def test_a_destination_out_of_space_fails_those_tags_and_a_rerun_completes(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    full = ("team1/app04", "library/base06")
    transport = OutOfSpace(full)
    journal = tmp_path / "j.sqlite"
    target = RegistrySide(OCIClient(v2_fresh.url, transport=transport, retry=FAST))
    with Client(seeded.emulator.url) as source, Journal(journal) as log:
        plan = plan_migration(inventory(source), Selection(), target, journal=log)
        report = migrate(source, target, plan, journal=log, retry=FAST, provenance=False)
        failed = {o.destination: o.reason for o in report.failures}
        assert {name.split(":")[0] for name in failed} == set(full)
        assert all("507" in (reason or "") for reason in failed.values()), failed
        assert len(failed) == 2 * len(seeded.seed.repositories["team1/app04"])
        assert not report.ok
        assert transport.refused > 0
        copied = [o for o in report.outcomes if o.status == "copied"]
        assert len(copied) == seeded.seed.tag_count - len(failed)
        assert log.failures(target.registry).keys() == {tuple(name.split(":")) for name in failed}

        transport.full = ()  # space freed
        plan = plan_migration(inventory(source), Selection(), target, journal=log)
        again = migrate(source, target, plan, journal=log, retry=FAST, provenance=False)
        assert again.ok
        assert {o.destination for o in again.outcomes if o.status == "copied"} == set(failed)
        assert log.failures(target.registry) == {}
    uploads = uploaded_blobs(v2_fresh)
    assert len(uploads) == len(set(uploads)) == seeded.unique_blobs()


def test_ctrl_c_prints_interrupted_exits_130_and_a_rerun_finishes(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    seeded.emulator.faults.latency("/v1/images/*/layer", 0.03)
    command = [
        str(REGV1),
        "migrate",
        "--no-provenance",
        seeded.host,
        f"docker://{v2_fresh.host}",
        "--journal",
        str(tmp_path / "j.sqlite"),
        "--include",
        SOME,
    ]
    process = interruptible.popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + WAIT_FOR_UPLOADS
    while len(uploaded_blobs(v2_fresh)) < 5 and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines() == ["interrupted"]
    done = subprocess.run(
        [*command, "--resume", "--json"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert {tag["status"] for tag in json.loads(done.stdout)["tags"]} == {"copied"}
    uploads = uploaded_blobs(v2_fresh)
    assert len(uploads) == len(set(uploads)) == seeded.unique_blobs(SOME)


BASES = "^library/base"
"""The five un-namespaced repositories: enough for the failure tests."""


def broken_image(seeded: Seeded) -> set[str]:
    """Make the source lose the layer of one tag's own image; the tags that need it."""
    tip = seeded.seed.repositories["library/base06"]["1.1"]
    seeded.emulator.faults.error(f"/v1/images/{tip}/layer", 404, times=None)
    return {f"{r}:{t}" for r, t, top in seeded.seed.tag_pairs() if tip in seeded.seed.chains[top]}


def test_failed_tags_are_listed_with_their_reason_and_exit_2(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    broken = broken_image(seeded)
    done = CliRunner().invoke(
        main,
        [
            "migrate",
            "--no-provenance",
            seeded.host,
            f"docker://{v2_fresh.host}",
            "--journal",
            str(tmp_path / "j.sqlite"),
            "--format",
            "table",
            "--include",
            BASES,
        ],
        catch_exceptions=False,
    )
    assert done.exit_code == 2, done.output
    lines = done.stdout.splitlines()
    failed = [line for line in lines if line.startswith("failed: ")]
    assert {line.split()[1] for line in failed} == broken
    assert all("404" in line for line in failed)
    assert re.search(rf"failures\s*│\s*{len(broken)}\s*│", done.stdout), done.stdout
    summary = " ".join(done.stdout.split())
    tags = sum(len(t) for r, t in seeded.seed.repositories.items() if r.startswith("library/"))
    assert f"{tags} ({tags - len(broken)} copied" in summary


def test_on_error_abort_stops_and_reports_the_rest_pending(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    broken = broken_image(seeded)
    done = CliRunner().invoke(
        main,
        [
            "migrate",
            "--no-provenance",
            seeded.host,
            f"docker://{v2_fresh.host}",
            "--repositories",
            "1",
            "--journal",
            str(tmp_path / "j.sqlite"),
            "--on-error",
            "abort",
            "--json",
            "--include",
            BASES,
        ],
        catch_exceptions=False,
    )
    assert done.exit_code == 2, done.output
    report = json.loads(done.stdout)
    assert report["summary"]["aborted"] is True
    statuses = {tag["destination"]: tag["status"] for tag in report["tags"]}
    failed = {name for name, status in statuses.items() if status == "failed"}
    assert len(failed) == 1  # one repository at a time: nothing else was under way
    assert failed <= broken
    assert "pending" in statuses.values()


def test_a_blob_the_journal_knows_but_the_registry_lost_is_sent_again(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    repo = "team1/app01"
    tags = seeded.seed.repositories[repo]
    base = seeded.seed.chains[tags["1.0"]][0]  # in 1.0's chain and 1.1's
    journal = tmp_path / "j.sqlite"
    target = RegistrySide(OCIClient(v2_fresh.url))
    with Client(seeded.emulator.url) as source, Journal(journal) as log:
        first = Selection.parse(include=[f"^{repo}$"], tags=r"1\.0")
        plan = plan_migration(inventory(source, selection=first), first, target, journal=log)
        assert migrate(source, target, plan, journal=log, retry=FAST, provenance=False).ok
        key = BlobCache.key(base, seeded.seed.images[base].checksum, DEFAULT_LEVEL)
        known = log.layer(key, registry_origin(source))
        assert known is not None
        lost = known.digest
        gone = httpx.delete(f"{v2_fresh.url}/v2/{repo}/blobs/{lost}")
        assert gone.status_code == 202
        second = Selection.parse(include=[f"^{repo}$"], tags=r"1\.1")
        plan = plan_migration(inventory(source, selection=second), second, target, journal=log)
        report = migrate(source, target, plan, journal=log, retry=FAST, provenance=False)
    assert report.ok
    assert uploaded_blobs(v2_fresh).count(lost) == 2
    assert seeded.layer_gets().count(base) == 2


def test_after_kill_9_the_rerun_continues_the_journals_plan_before_reading_anything(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    """The killed run's remaining tags go first, from the journal's plan and its JSONs:
    the rerun's first requests to the old registry are layers, not search, tag lists,
    ancestries or JSONs (those come after, for the ordinary pass that finds what changed)."""
    seeded.emulator.faults.latency("/v1/images/*/layer", 0.03)
    journal = tmp_path / "journal.sqlite"
    command = [str(REGV1), "migrate", "--no-provenance", seeded.host, f"docker://{v2_fresh.host}"]
    command += ["--journal", str(journal), "--json", "-j", "2", "--include", SOME]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + WAIT_FOR_UPLOADS
    while process.poll() is None:
        assert time.monotonic() < deadline, "the run never wrote a manifest"
        manifests = [e for e in seeded.emulator.log.entries if e.path.endswith("/layer")]
        if len(uploaded_blobs(v2_fresh)) >= 6 and manifests:
            break
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    seeded.emulator.log.clear()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "continuing the last run:" in done.stderr
    kinds = [
        "layer" if e.path.endswith("/layer") else e.path.rsplit("/", 1)[-1]
        for e in seeded.emulator.log.entries
        if e.path != "/v1/_ping"
    ]
    assert "layer" in kinds
    first_layer = kinds.index("layer")
    assert kinds[:first_layer] == [], kinds[: first_layer + 1]
    final = json.loads(done.stdout)
    assert {tag["status"] for tag in final["tags"]} <= {"copied", "current"}
    assert "copied" in {tag["status"] for tag in final["tags"]}
    uploads = uploaded_blobs(v2_fresh)
    assert len(uploads) == len(set(uploads)) == seeded.unique_blobs(SOME)
