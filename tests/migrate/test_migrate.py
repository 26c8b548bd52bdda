"""`regv1 migrate` from a seeded v1 emulator into a real distribution registry and an OCI layout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.engine.journal import Journal
from migrate_checks import SOME, Seeded, mounted_blobs, uploaded_blobs
from regv1_runner import document, regv1
from system_tools import skopeo
from v2.v2registry import PASSWORD, USER, V2Registry


def expected_destinations(seeded: Seeded, pattern: str = "") -> set[str]:
    return {
        f"{repo if '/' in repo else 'library/' + repo}:{tag}"
        for repo, tag, _ in seeded.seed.tag_pairs()
        if re.search(pattern, repo)
    }


def test_a_registry_moves_deduplicated_and_skopeo_reads_it(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite"
    dest = f"docker://{v2_fresh.host}"
    assert seeded.seed.tag_count >= 80
    assert len(seeded.seed.repositories) >= 30

    planned = document(
        regv1(
            "migrate",
            "--no-provenance",
            seeded.host,
            dest,
            "--dry-run",
            "--journal",
            str(journal),
            "--json",
        )
    )
    assert planned["tags"] == seeded.seed.tag_count
    assert planned["unique_images"] == len(seeded.unique_images())
    assert planned["bytes_to_move"] == sum(seeded.seed.size(i) for i in seeded.unique_images())
    assert uploaded_blobs(v2_fresh) == []

    report = document(
        regv1("migrate", "--no-provenance", seeded.host, dest, "--journal", str(journal), "--json")
    )
    outcomes = {tag["destination"]: tag for tag in report["tags"]}
    assert set(outcomes) == expected_destinations(seeded)
    assert {tag["status"] for tag in report["tags"]} == {"copied"}
    # Each unique v1 image read once; each blob uploaded once, mounted elsewhere.
    gets = seeded.layer_gets()
    assert sorted(gets) == sorted(seeded.unique_images())
    uploads = uploaded_blobs(v2_fresh)
    assert len(uploads) == len(set(uploads)) == seeded.unique_blobs()
    assert report["summary"]["blobs_uploaded"] == len(uploads)
    assert report["summary"]["blobs_mounted"] == len(mounted_blobs(v2_fresh)) > 0
    assert report["summary"]["bytes_read"] == planned["bytes_to_move"]

    some = sorted(outcomes)[:: len(outcomes) // 2][:2]
    for name in some:
        inspected = json.loads(
            skopeo("inspect", "--tls-verify=false", f"docker://{v2_fresh.host}/{name}")
        )
        assert inspected["Digest"] == outcomes[name]["digest"]
        skopeo(
            "copy",
            "--src-tls-verify=false",
            f"docker://{v2_fresh.host}/{name}",
            f"oci:{tmp_path / 'skopeo'}:{name.replace('/', '-')}",
        )

    for mode in ("--verify", "--verify=fast"):
        checked = document(
            regv1(
                "migrate",
                "--no-provenance",
                mode,
                seeded.host,
                dest,
                "--journal",
                str(journal),
                "--json",
            )
        )
        assert checked["checked"] == seeded.seed.tag_count
        assert checked["mismatches"] == []
    assert checked["layers_streamed"] == 0

    again = document(
        regv1("migrate", "--no-provenance", seeded.host, dest, "--journal", str(journal), "--json")
    )
    assert {tag["status"] for tag in again["tags"]} == {"current"}
    assert uploaded_blobs(v2_fresh) == uploads


def test_verify_reports_a_tag_that_points_elsewhere(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    journal = str(tmp_path / "j.sqlite")
    dest = f"docker://{v2_fresh.host}"
    document(
        regv1(
            "migrate", seeded.host, dest, "--journal", journal, "--json", "--include", "app0[12]$"
        )
    )
    tags = seeded.seed.repositories["team1/app01"]
    assert tags["1.0"] != tags["1.1"]
    # Point one migrated tag at another tag's manifest behind the migration's back.
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"docker://{v2_fresh.host}/team1/app01:1.1",
        f"docker://{v2_fresh.host}/team1/app01:1.0",
    )
    result = regv1("migrate", "--verify=fast", seeded.host, dest, "--journal", journal)
    assert result.exit_code == 2
    moved = next(line for line in result.stdout.splitlines() if line.startswith("team1/app01\t"))
    repository, tag, what, digest, why = moved.split("\t")
    assert (repository, tag, what) == ("team1/app01", "1.0", "manifest changed")
    assert why == f"the tag points at {digest}, not at the manifest of {tags['1.0'][:12]}"
    assert "verified 6 tags: 1 mismatches in 1 tags" in result.stdout


def test_into_an_oci_layout_shared_blobs_are_written_once(seeded: Seeded, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    report = document(
        regv1(
            "migrate",
            "--no-provenance",
            seeded.host,
            f"oci:{layout}",
            "--journal",
            str(tmp_path / "j"),
            "--json",
            "--include",
            "app0[1-5]$",
        )
    )
    copied = [tag for tag in report["tags"] if tag["status"] == "copied"]
    assert len(copied) == len(report["tags"]) >= 12
    blobs = list((layout / "blobs" / "sha256").iterdir())
    assert report["summary"]["blobs_uploaded"] == len(blobs) - len(
        {tag["digest"] for tag in copied}
    )
    first = copied[0]
    inspected = json.loads(skopeo("inspect", f"oci:{layout}:{first['destination']}"))
    assert inspected["Digest"] == first["digest"]
    checked = document(
        regv1(
            "migrate",
            "--no-provenance",
            "--verify",
            seeded.host,
            f"oci:{layout}",
            "--journal",
            str(tmp_path / "j"),
            "--json",
        )
    )
    assert checked["mismatches"] == []
    assert checked["checked"] == len(copied)


def test_into_a_token_registry_with_dest_creds(
    seeded: Seeded, v2_token_fresh: V2Registry, tmp_path: Path
) -> None:
    report = document(
        regv1(
            "migrate",
            "--no-provenance",
            seeded.host,
            f"docker://{v2_token_fresh.host}/moved",
            "--dest-creds",
            f"{USER}:{PASSWORD}",
            "--include",
            "app0[147]$",
            "--journal",
            str(tmp_path / "j"),
            "--json",
        )
    )
    assert {tag["status"] for tag in report["tags"]} == {"copied"}
    assert all(tag["destination"].startswith("moved/") for tag in report["tags"])
    assert report["summary"]["blobs_mounted"] > 0
    uploads = uploaded_blobs(v2_token_fresh)
    assert len(uploads) == len(set(uploads))


def test_a_second_run_on_the_same_journal_is_refused(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    path = tmp_path / "busy.sqlite"
    with Journal(path):
        result = regv1("migrate", seeded.host, f"docker://{v2_fresh.host}", "--journal", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: journal ")
    assert f"in use by process {__import__('os').getpid()}" in result.stderr
    assert uploaded_blobs(v2_fresh) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rename", "^team1=Bad_Name"], "becomes 'Bad_Name"),
        (["--shard", "3/3"], "--shard"),
        (["--include", "("], "--include"),
    ],
)
def test_bad_input_fails_before_anything_is_sent(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path, args: list[str], message: str
) -> None:
    result = regv1(
        "migrate", seeded.host, f"docker://{v2_fresh.host}", "--journal", str(tmp_path / "j"), *args
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not [line for line in v2_fresh.log_lines() if "/blobs/" in line or "/manifests/" in line]


def test_shards_cover_the_plan_exactly_once(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    dest = f"docker://{v2_fresh.host}"
    seen: list[str] = []
    for index in range(3):
        report = document(
            regv1(
                "migrate",
                seeded.host,
                dest,
                "--shard",
                f"{index}/3",
                "--include",
                SOME,
                "--journal",
                str(tmp_path / f"shard-{index}"),
                "--json",
            )
        )
        assert {tag["status"] for tag in report["tags"]} == {"copied"}
        seen += [tag["destination"] for tag in report["tags"]]
    assert sorted(seen) == sorted(expected_destinations(seeded, SOME))


def test_into_a_second_v1_registry_each_image_moves_once(seeded: Seeded, tmp_path: Path) -> None:
    journal = str(tmp_path / "v1.sqlite")
    with run_standalone() as target:
        dest = target.url.removeprefix("http://")
        report = document(regv1("migrate", seeded.host, dest, "--journal", journal, "--json"))
        assert {tag["status"] for tag in report["tags"]} == {"copied"}
        assert sorted(seeded.layer_gets()) == sorted(seeded.unique_images())
        puts = [
            e.path for e in target.log.entries if e.method == "PUT" and e.path.endswith("/layer")
        ]
        assert sorted(p.split("/")[3] for p in puts) == sorted(seeded.unique_images())
        for repo, tag, image_id in seeded.seed.tag_pairs():
            assert target.store.tags(repo)[tag] == image_id
        checked = document(
            regv1("migrate", "--verify", seeded.host, dest, "--journal", journal, "--json")
        )
        assert checked["mismatches"] == []
        assert checked["layers_streamed"] == len(seeded.unique_images())
        again = document(regv1("migrate", seeded.host, dest, "--journal", journal, "--json"))
        assert {tag["status"] for tag in again["tags"]} == {"current"}
