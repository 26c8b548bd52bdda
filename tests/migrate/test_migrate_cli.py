"""`regv1 migrate`'s options: sources narrowed by file or name, logins, output forms."""

from __future__ import annotations

import json
from pathlib import Path

from docker_registry_v1.emulator.server import run_standalone
from migrate_checks import Seeded, uploaded_blobs
from migrate_support import seed_registry
from regv1_runner import regv1
from v2.v2registry import V2Registry


def test_repos_from_a_file_or_stdin_and_one_repository_as_source(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    dest = f"docker://{v2_fresh.host}"
    listing = tmp_path / "repos.txt"
    listing.write_text("# the two to move\nteam1/app01\n\nteam2/app02  # and this one\n")
    for args, stdin in (([str(listing)], None), (["-"], listing.read_text())):
        result = regv1(
            "migrate", seeded.host, dest, "--dry-run", "--json", "--repos-from", *args, input=stdin
        )
        assert result.exit_code == 0, result.output
        planned = json.loads(result.stdout)
        assert {t["source"].split(":")[0] for t in planned["plan"]} == {
            "team1/app01",
            "team2/app02",
        }
    one = regv1("migrate", f"{seeded.host}/team1/app01", dest, "--dry-run", "--json")
    assert {t["source"] for t in json.loads(one.stdout)["plan"]} == {
        f"team1/app01:{tag}" for tag in seeded.seed.repositories["team1/app01"]
    }


def test_dry_run_shows_the_plan_and_what_the_destination_has(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    dest, journal = f"docker://{v2_fresh.host}/moved", str(tmp_path / "j")
    args = ("migrate", seeded.host, dest, "--journal", journal, "--include", "app0[14]$")
    assert regv1(*args, "--tags", r"1\.0", "--json").exit_code == 0
    result = regv1(*args, "--dry-run", "--format", "plain")
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]
    states = {row[1]: row[2] for row in rows}
    assert states == {
        f"moved/team1/{repo}:{tag}": "current" if tag == "1.0" else "copy"
        for repo in ("app01", "app04")
        for tag in seeded.seed.repositories[f"team1/{repo}"]
    }
    headline = result.stdout.splitlines()[-1]
    assert headline.startswith("plan: 2 repositories, 6 tags (4 to copy, 2 already current")
    skip = regv1(*args, "--dry-run", "--json", "--skip-existing-tags")
    assert json.loads(skip.stdout)["existing"] == 2


def test_json_progress_goes_to_stderr_as_ndjson(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    result = regv1(
        "migrate",
        seeded.host,
        f"docker://{v2_fresh.host}",
        "--include",
        "app0[14]$",
        "--journal",
        str(tmp_path / "j"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stderr.splitlines()]
    events = [e for e in events if e["event"] != "phase"]  # tests/cli/test_phase_progress.py
    assert events[0] == {
        "event": "started",
        "tags": 6,
        "bytes": json.loads(result.stdout)["summary"]["bytes_read"],
    }
    assert [e["destination"] for e in events if e["event"] == "tag"] != []
    assert sum(e["event"] == "tag" for e in events) == 6
    started = {e["image_id"] for e in events if e["event"] == "layer_started"}
    assert started == {e["image_id"] for e in events if e["event"] == "layer_finished"}


def test_the_source_login_comes_from_creds(v2_fresh: V2Registry, tmp_path: Path) -> None:
    with run_standalone(users={"alice": "s3cret"}, private=["team1/app01"]) as private:
        seed_registry(private.store, repos=2, tags_per_repo=2, base_chains=1, seed=3)
        host, dest = private.url.removeprefix("http://"), f"docker://{v2_fresh.host}"
        common = ("migrate", f"{host}/team1/app01", dest, "--journal", str(tmp_path / "j"))
        refused = regv1(*common)
        assert refused.exit_code == 1
        assert refused.stderr.startswith("error: ")
        assert "s3cret" not in refused.output
        done = regv1(*common, "--creds", "alice:s3cret", "--json")
        assert done.exit_code == 0, done.output
        assert {t["status"] for t in json.loads(done.stdout)["tags"]} == {"copied"}
        assert "s3cret" not in done.output
    assert len(uploaded_blobs(v2_fresh)) == len(set(uploaded_blobs(v2_fresh))) > 0


def test_the_default_journal_is_one_file_per_pair_under_the_state_directory(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    args = ("migrate", seeded.host, f"docker://{v2_fresh.host}", "--include", "app01$", "--json")
    first = regv1(*args)
    assert first.exit_code == 0, first.output
    journals = list((tmp_path / "state" / "docker-registry-v1").glob("migrate-*.sqlite"))
    assert [path.name for path in journals] == [Path(json.loads(first.stdout)["journal"]).name]
    assert seeded.host.replace(":", "_") in journals[0].name
    again = regv1(*args, "--resume")
    assert {t["status"] for t in json.loads(again.stdout)["tags"]} == {"current"}
    other = regv1(
        "migrate", seeded.host, f"oci:{tmp_path / 'layout'}", "--include", "app01$", "--json"
    )
    assert other.exit_code == 0, other.output
    assert len(list((tmp_path / "state" / "docker-registry-v1").glob("migrate-*.sqlite"))) == 2


def test_a_narrow_selection_reads_only_its_repositories(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    args = ("migrate", seeded.host, f"docker://{v2_fresh.host}", "--dry-run", "--json")
    result = regv1(*args, "--include", "app01$", "--journal", str(tmp_path / "j"))
    assert result.exit_code == 0, result.output
    tag_lists = {
        entry.path for entry in seeded.emulator.log.entries if entry.path.endswith("/tags")
    }
    assert tag_lists == {"/v1/repositories/team1/app01/tags"}

    seeded.emulator.faults.html_error("/v1/search", 404, times=None)
    refused = regv1(*args, "--include", "app01$", "--journal", str(tmp_path / "k"))
    assert refused.exit_code == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "search disabled" in lines[0]
    assert "--repos-from" in lines[0]
