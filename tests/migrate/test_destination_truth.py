"""The destination, not the journal, says what is done: reruns with a lost journal,
sharded runs with default journals, and a verify that had nothing to check."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from docker_registry_v1 import Client
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.engine.journal import Journal, default_journal_path
from docker_registry_v1.oci.client import OCIClient
from docker_registry_v1.transfer.migrate_plan import RegistrySide
from docker_registry_v1.transfer.migrate_verify import verify_migration
from migrate_checks import Seeded, mounted_blobs, uploaded_blobs
from regv1_runner import document, regv1
from v2.v2registry import V2Registry

REGV1 = Path(sys.executable).with_name("regv1")
FIRST = "app0[1-4]$"
"""Four repositories migrated first; ``app0`` adds four more sharing their base chains."""


def lose(journal: Path) -> None:
    """The state directory is gone: the journal and its WAL, shared memory and lock."""
    for path in journal.parent.glob(journal.name + "*"):
        path.unlink()
    assert not journal.exists()


def test_a_rerun_without_the_journal_finds_everything_current_and_sends_nothing(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    dest, journal = f"docker://{v2_fresh.host}", tmp_path / "j.sqlite"
    args = (
        "migrate",
        "--no-provenance",
        seeded.host,
        dest,
        "--journal",
        str(journal),
        "--include",
        FIRST,
        "--json",
    )
    first = document(regv1(*args))
    assert {tag["status"] for tag in first["tags"]} == {"copied"}
    gets, uploads = seeded.layer_gets(), uploaded_blobs(v2_fresh)
    assert sorted(gets) == sorted(seeded.unique_images(FIRST))
    lose(journal)

    again = document(regv1(*args))
    assert {tag["status"] for tag in again["tags"]} == {"current"}
    assert {t["destination"]: t["digest"] for t in again["tags"]} == {
        t["destination"]: t["digest"] for t in first["tags"]
    }
    assert seeded.layer_gets() == gets  # no layer read again
    assert uploaded_blobs(v2_fresh) == uploads  # nothing sent again
    summary = again["summary"]
    assert summary["images_read"] == summary["blobs_uploaded"] == summary["blobs_mounted"] == 0

    # What the destination revealed is in the new journal: the fast verify has it all.
    checked = document(
        regv1(
            "migrate",
            "--no-provenance",
            "--verify=fast",
            seeded.host,
            dest,
            "--journal",
            str(journal),
            "--json",
        )
    )
    assert checked["checked"] == len(first["tags"])
    assert checked["mismatches"] == []


def test_with_only_some_repositories_there_shared_layers_are_mounted_not_read(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    dest, journal = f"docker://{v2_fresh.host}", tmp_path / "j.sqlite"
    common = ("migrate", "--no-provenance", seeded.host, dest, "--journal", str(journal), "--json")
    document(regv1(*common, "--include", FIRST))
    lose(journal)
    first_gets, first_uploads = len(seeded.layer_gets()), len(uploaded_blobs(v2_fresh))
    first_mounts = len(mounted_blobs(v2_fresh))

    report = document(regv1(*common, "--include", "app0"))
    statuses = {tag["destination"]: tag["status"] for tag in report["tags"]}
    assert {name for name, status in statuses.items() if status == "current"} == {
        name for name in statuses if any(f"app0{n}:" in name for n in "1234")
    }
    assert {status for status in statuses.values()} == {"current", "copied"}
    shared = seeded.unique_images(FIRST) & seeded.unique_images("app0")
    new = seeded.unique_images("app0") - seeded.unique_images(FIRST)
    assert shared
    assert new
    # Only the images the destination lacked were read, each once.
    assert sorted(seeded.layer_gets()[first_gets:]) == sorted(new)
    uploads = uploaded_blobs(v2_fresh)
    assert len(uploads) == len(set(uploads)) == seeded.unique_blobs("app0")
    assert len(uploads) - first_uploads == report["summary"]["blobs_uploaded"]
    assert len(mounted_blobs(v2_fresh)) - first_mounts == report["summary"]["blobs_mounted"] > 0


def test_shards_on_one_machine_each_get_their_own_default_journal(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = f"docker://{v2_fresh.host}"
    state = tmp_path / "shards-state"
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    command = [
        str(REGV1),
        "migrate",
        "--no-provenance",
        seeded.host,
        dest,
        "--include",
        FIRST,
        "--json",
    ]
    # Both shards at once, as `parallel regv1 migrate … --shard {}/2 ::: 0 1` runs them.
    runs = [
        subprocess.Popen(
            [*command, "--shard", f"{index}/2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for index in range(2)
    ]
    done = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in done]
    reports = [json.loads(out) for out, _ in done]
    names = sorted(Path(report["journal"]).name for report in reports)
    assert len(set(names)) == 2
    assert names[0].endswith("-shard-0-of-2.sqlite")
    assert names[1].endswith("-shard-1-of-2.sqlite")
    assert sorted(path.name for path in (state / "docker-registry-v1").glob("*.sqlite")) == names
    assert sum(len(report["tags"]) for report in reports) == len(
        [pair for pair in seeded.seed.tag_pairs() if re.search(FIRST, pair[0])]
    )

    # While shard 0's journal is busy, shard 1 still runs; a second shard 0 is refused.
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    base = ("migrate", "--no-provenance", seeded.host, dest, "--include", FIRST, "--json")
    busy = Path(reports[0]["journal"])
    assert busy == default_journal_path(seeded.emulator.url, reports[0]["destination"], (0, 2))
    with Journal(busy):
        one = document(regv1(*base, "--shard", "1/2"))
        assert {tag["status"] for tag in one["tags"]} == {"current"}
        refused = regv1(*base, "--shard", "0/2")
        assert refused.exit_code == 1
        assert refused.stderr.startswith(f"error: journal {busy} is in use")
    # --verify with --shard reads that shard's journal.
    for index in range(2):
        checked = document(
            regv1("migrate", "--no-provenance", "--verify=fast", *base[1:], "--shard", f"{index}/2")
        )
        assert checked["journal"] == reports[index]["journal"]
        assert checked["checked"] == len(reports[index]["tags"]) > 0


def test_a_verify_that_checked_nothing_fails_naming_the_journal(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    dest, journal = f"docker://{v2_fresh.host}", tmp_path / "j.sqlite"
    document(
        regv1(
            "migrate",
            "--no-provenance",
            seeded.host,
            dest,
            "--journal",
            str(journal),
            "--include",
            "app01$",
            "--json",
        )
    )
    target = RegistrySide(OCIClient(v2_fresh.url))
    registry = target.registry
    other = tmp_path / "another-shard.sqlite"
    for mode in ("--verify", "--verify=fast"):
        for form in ("--json", "--format=table"):
            result = regv1(
                "migrate", "--no-provenance", mode, seeded.host, dest, "--journal", str(other), form
            )
            assert result.exit_code == 1
            assert result.stdout == ""
            assert result.stderr.splitlines() == [
                f"error: nothing verified: the journal {other} records no tag migrated into "
                f"{registry} (give the migration's --journal, or its --shard)"
            ]
    with Client(seeded.emulator.url) as source:
        with Journal(other) as empty:
            nothing = verify_migration(source, target, empty, fast=True, provenance=False)
        with Journal(journal) as real:
            something = verify_migration(source, target, real, fast=True, provenance=False)
    assert (nothing.checked, nothing.mismatches, nothing.ok) == (0, (), False)
    assert something.checked == len(seeded.seed.repositories["team1/app01"])
    assert something.ok


@pytest.mark.parametrize("kind", ["oci", "v1"])
def test_layouts_and_v1_registries_are_asked_too(seeded: Seeded, tmp_path: Path, kind: str) -> None:
    journal = tmp_path / "j.sqlite"
    with run_standalone() as v1_target:
        dest = f"oci:{tmp_path / 'layout'}" if kind == "oci" else v1_target.url[len("http://") :]
        args = (
            "migrate",
            "--no-provenance",
            seeded.host,
            dest,
            "--journal",
            str(journal),
            "--include",
            FIRST,
        )
        first = document(regv1(*args, "--json"))
        gets = seeded.layer_gets()
        lose(journal)
        again = document(regv1(*args, "--json"))
        writes = [e for e in v1_target.log.entries if e.method == "PUT"]
        assert {tag["status"] for tag in again["tags"]} == {"current"}
        assert [t["digest"] for t in again["tags"]] == [t["digest"] for t in first["tags"]]
        assert seeded.layer_gets() == gets
        assert again["summary"]["blobs_uploaded"] == again["summary"]["images_read"] == 0
        assert [e for e in v1_target.log.entries if e.method == "PUT"] == writes
