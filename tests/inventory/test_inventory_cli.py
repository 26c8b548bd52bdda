"""``regv1 inventory`` in-process against a seeded emulator: every format, the same facts."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from docker_registry_v1.cli.progress import PhaseBars
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.transfer.phases import PhaseState
from migrate_support import SeededRegistry, seed_registry
from regv1_runner import regv1
from rich.console import Console

Seeded = tuple[Standalone, SeededRegistry]


def host(registry: Standalone) -> str:
    return registry.url.removeprefix("http://")


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def one_error_line(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def logged(registry: Standalone, expected: int, timeout: float = 5.0) -> int:
    """The emulator's request count once it reaches ``expected`` (or stops short of it):
    a response can reach the client just before its log entry is written."""
    deadline = time.monotonic() + timeout
    while len(registry.log.entries) < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(registry.log.entries)


def expected_tag_rows(seed: SeededRegistry) -> list[dict[str, Any]]:
    return [
        {
            "repository": repo,
            "tag": tag,
            "image_id": tip,
            "layers": len(seed.chains[tip]),
            "bytes": sum(seed.size(i) for i in seed.chains[tip]),
            "created": json.loads(seed.images[tip].json_bytes)["created"],
        }
        for repo, tag, tip in seed.tag_pairs()
    ]


def test_json_ndjson_and_csv_agree_with_the_seed(seeded: Seeded) -> None:
    registry, seed = seeded
    document = json.loads(ok(regv1("inventory", host(registry), "--format", "json")))
    assert logged(registry, document["requests"]) == document["requests"]
    records = [
        json.loads(line)
        for line in ok(regv1("inventory", host(registry), "--format", "ndjson")).splitlines()
    ]
    table = list(
        csv.DictReader(io.StringIO(ok(regv1("inventory", host(registry), "--format", "csv"))))
    )

    tag_rows = expected_tag_rows(seed)
    assert len(tag_rows) >= 80
    assert document["tags"] == tag_rows
    assert [
        {k: v for k, v in r.items() if k != "kind"} for r in records if r["kind"] == "tag"
    ] == tag_rows
    assert table == [{k: str(v) for k, v in row.items()} for row in tag_rows]
    assert list(table[0]) == ["repository", "tag", "image_id", "layers", "bytes", "created"]

    images = {image["id"]: image for image in document["images"]}
    assert [
        {k: v for k, v in r.items() if k != "kind"} for r in records if r["kind"] == "image"
    ] == document["images"]
    for image_id in seed.tagged_images:
        image = images[image_id]
        assert image["parent"] == seed.images[image_id].parent
        assert image["size"] == seed.size(image_id)
        assert image["repositories"] == list(seed.shared_by(image_id))
        assert image["shared_by"] == len(seed.shared_by(image_id))
        assert image["tags"] == seed.tags_using(image_id)

    totals = {
        "repositories": len(seed.repositories),
        "tags": seed.tag_count,
        "images": len(seed.tagged_images),
        "untagged": sum(map(len, seed.untagged.values())),
        "unique_bytes": seed.unique_bytes,
        "tagged_bytes": seed.tagged_bytes,
        "problems": 0,
    }
    assert document["totals"] == totals
    assert document["problems"] == []
    assert [r for r in records if r["kind"] == "problem"] == []
    (last,) = [r for r in records if r["kind"] == "totals"]
    assert {k: last[k] for k in totals} == totals
    assert [r["name"] for r in document["repositories"]] == list(seed.repositories)
    for row in document["repositories"]:
        assert row["tags"] == dict(seed.repositories[row["name"]])
        assert row["untagged"] == list(seed.untagged.get(row["name"], ()))
    assert document["search_available"] is True
    assert last["requests"] > 0
    assert registry.log.find(path="/v1/images/*/layer") == []


def test_table_shows_repositories_shared_images_and_totals(seeded: Seeded) -> None:
    registry, seed = seeded
    text = ok(regv1("inventory", host(registry), "--format", "table", "--no-trunc"))
    assert "REPOSITORY" in text
    assert "images shared by the most repositories" in text
    most_shared = max(
        seed.tagged_images, key=lambda i: (len(seed.shared_by(i)), seed.tags_using(i))
    )
    assert most_shared in text
    flat = " ".join(text.split())
    assert (
        f"{len(seed.repositories)} repositories, {seed.tag_count} tags, "
        f"{len(seed.tagged_images)} images, {sum(map(len, seed.untagged.values()))} untagged"
    ) in flat
    assert "stored once;" in flat
    assert "sharing saves" in flat
    assert re.search(r"\d+ requests in \d+\.\d s", flat)


def test_a_pipe_gets_one_line_per_repository(seeded: Seeded) -> None:
    registry, seed = seeded
    lines = ok(regv1("inventory", host(registry))).splitlines()
    assert [line.split("\t")[0] for line in lines] == list(seed.repositories)
    for line in lines:
        name, tags, images, _, untagged = line.split("\t")
        assert int(tags) == len(seed.repositories[name])
        assert int(images) == len(
            {i for tip in seed.repositories[name].values() for i in seed.chains[tip]}
        )
        assert int(untagged) == len(seed.untagged.get(name, ()))


def test_search_disabled_is_one_line_and_repos_from_works(seeded: Seeded, tmp_path: Path) -> None:
    registry, seed = seeded
    registry.faults.html_error("/v1/search", 404, times=None)
    one_error_line(regv1("inventory", host(registry)), "search disabled", "--repos-from FILE")
    names = list(seed.repositories)
    listing = tmp_path / "repos.txt"
    listing.write_text(
        "# every repository of the old registry\n\n"
        + "\n".join(f"{name}  # kept" if n % 2 else name for n, name in enumerate(names))
        + "\n"
    )
    document = json.loads(
        ok(regv1("inventory", host(registry), "--repos-from", str(listing), "--json"))
    )
    assert [r["name"] for r in document["repositories"]] == names
    assert document["tags"] == expected_tag_rows(seed)
    assert document["search_available"] is False
    piped = json.loads(
        ok(
            regv1(
                "inventory",
                host(registry),
                "--repos-from",
                "-",
                "--json",
                input=listing.read_text(),
            )
        )
    )
    assert piped["tags"] == document["tags"]


def test_one_repository_from_source(seeded: Seeded) -> None:
    registry, seed = seeded
    document = json.loads(ok(regv1("inventory", f"{host(registry)}/team1/app01", "--json")))
    assert [r["name"] for r in document["repositories"]] == ["team1/app01"]
    assert len(document["tags"]) == len(seed.repositories["team1/app01"])
    assert registry.log.find(path="/v1/search") == []


def test_filters_narrow_repositories_and_tags(seeded: Seeded) -> None:
    registry, seed = seeded
    document = json.loads(
        ok(
            regv1(
                "inventory",
                host(registry),
                "--include",
                "^team1/",
                "--include",
                "^library/",
                "--exclude",
                "app04$",
                "--tags",
                r"1\.\d+",
                "--json",
            )
        )
    )
    names = [r["name"] for r in document["repositories"]]
    assert names == [
        n for n in seed.repositories if re.match("team1/|library/", n) and not n.endswith("app04")
    ]
    assert {row["tag"] for row in document["tags"]} == {"1.0", "1.1"}
    assert document["totals"]["untagged"] == 0  # not looked for under a tag filter
    assert registry.log.find(path="/v1/repositories/*/images") == []


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--include", "("], ["--include"]),
        (["--tags", "*"], ["--tags"]),
        (["-j", "0"], []),
    ],
)
def test_bad_options_fail_before_any_request(
    standalone: Standalone, args: list[str], fragments: list[str]
) -> None:
    result = regv1("inventory", host(standalone), *args)
    if fragments:
        one_error_line(result, *fragments)
    else:
        assert result.exit_code == 1  # a usage error is bad input
    assert standalone.log.entries == []


def test_source_forms_that_are_refused(standalone: Standalone, tmp_path: Path) -> None:
    one_error_line(regv1("inventory", f"{host(standalone)}/team/app:1.0"), "leave out the :TAG")
    listing = tmp_path / "repos.txt"
    listing.write_text("team/app\n")
    one_error_line(
        regv1("inventory", f"{host(standalone)}/team/app", "--repos-from", str(listing)),
        "not both",
    )
    listing.write_text("# nothing here\n\n")
    one_error_line(
        regv1("inventory", host(standalone), "--repos-from", str(listing)), "no repository names"
    )
    listing.write_text("team/ok\nbad//name\n")
    one_error_line(regv1("inventory", host(standalone), "--repos-from", str(listing)), "bad//name")
    assert standalone.log.entries == []


def test_private_registry_takes_credentials(private_registry: Standalone) -> None:
    seed = seed_registry(private_registry.store, repos=4, tags_per_repo=2)
    one_error_line(regv1("inventory", host(private_registry)), "401", "no credentials were sent")
    document = json.loads(
        ok(
            regv1(
                "inventory",
                host(private_registry),
                "-u",
                "alice",
                "--password-stdin",
                "--json",
                input="s3cret\n",
            )
        )
    )
    assert document["tags"] == expected_tag_rows(seed)
    assert "s3cret" not in json.dumps(document)


def test_the_progress_bar_follows_repositories_and_requests() -> None:
    buffer = io.StringIO()
    bars = PhaseBars(Console(file=buffer, force_terminal=True, width=120, color_system=None))
    bars.phase_started(PhaseState("inventory", 0, None, {"images": 0, "requests": 1}, 0.0))
    bars.phase_advanced(PhaseState("inventory", 0, 30, {"images": 0, "requests": 2}, 0.5))
    bars.phase_finished(PhaseState("inventory", 30, 30, {"images": 40, "requests": 77}, 2.0))
    text = buffer.getvalue()
    assert "inventory: repositories read" in text
    assert "30/30 40 images, 77 requests (38/s)" in text
