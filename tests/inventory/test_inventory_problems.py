"""Inventory of a registry with broken things in it: every fault is a problem, not an end.

The messy preset (``emulator.messy``) holds each broken state of a reference registry
0.9.1 beside healthy tags; these tests read it over real sockets, with the library and
with ``regv1 inventory`` in every format, and check each planted fault comes back with
its repository, tag, image and kind, while every healthy tag is read whole.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from docker_registry_v1 import (
    Client,
    Inventory,
    Problem,
    ProblemKind,
    RetryPolicy,
    inventory,
)
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.messy import Fault, MessyRegistry
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1.emulator.store import Breakage
from ports import unused_port
from regv1_runner import regv1

Messy = tuple[Standalone, MessyRegistry]

#: Faults only a layer read shows (a lost layer, a checksum that no longer matches):
#: an inventory reads metadata only, so these tags look healthy to it.
_LAYER_FAULTS = {Fault.MISSING_LAYER, Fault.CHECKSUM_MISMATCH}
#: One request, no retries: the tag list that answers 500 fails at once.
_FAST = RetryPolicy(attempts=1)


#: After the first run in a test has shown the retried 500 tag list ends as a problem, the
#: other formats ask each request once (the retries' waits are 3.5 s a run).
ONCE = ("--retry-times", "0")


def host(registry: Standalone) -> str:
    return registry.url.removeprefix("http://")


Key = tuple[str, str | None, str | None, str]


def expected(described: MessyRegistry) -> set[Key]:
    """(repository, tag, image at fault, kind) of every planted fault the source shows
    without reading a layer; names only v2 refuses are no problem of a v1 source."""
    return {
        (p.repository, p.tag, p.broken_image, p.fault.value)
        for p in described.problems
        if p.scope in {"source", "audit"} and p.fault not in _LAYER_FAULTS
    }


def keys(rows: list[dict[str, Any]]) -> set[Key]:
    return {(r["repository"], r["tag"] or None, r["image"] or None, r["problem"]) for r in rows}


def assert_healthy_complete(found: Inventory, described: MessyRegistry) -> None:
    tags = {r.name: r.tags for r in found.repositories}
    for healthy in described.healthy:
        assert tags[healthy.repository][healthy.tag] == healthy.image
        assert found.chain(healthy.image) == tuple(reversed(healthy.chain))
        assert found.problems_of(healthy.repository, healthy.tag) == ()
        for image_id in healthy.chain:
            assert found.images[image_id].size is not None
            assert image_id not in found.broken


def test_every_source_fault_is_a_problem_and_the_rest_is_read(messy_registry: Messy) -> None:
    registry, described = messy_registry
    with Client(registry.url) as client:
        found = inventory(client, retry=_FAST)

    got = {(p.repository, p.tag, p.image, p.kind.value) for p in found.problems}
    assert got == expected(described)
    assert all(isinstance(p, Problem) for p in found.problems)
    by_key = {(p.repository, p.tag, p.image): p for p in found.problems}
    for planted in described.problems:
        problem = by_key.get((planted.repository, planted.tag, planted.broken_image))
        if problem is not None:
            assert planted.reason in problem.message.lower(), (planted, problem)

    assert_healthy_complete(found, described)
    # the untagged broken image is listed, charged to no tag, and in its repository's list
    (untagged,) = [p for p in found.problems if p.tag is None and p.image is not None]
    assert untagged.kind is ProblemKind.IN_PROGRESS
    (web,) = [r for r in found.repositories if r.name == untagged.repository]
    assert untagged.image in web.untagged
    # a repository whose tags cannot be listed, or whose name is invalid, is not "read"
    names = {r.name for r in found.repositories}
    assert "legacy/broken-tags" not in names
    assert "legacy/deep/er" not in names
    assert "Legacy/OldApp" in names  # fine for v1; only a v2 destination refuses it
    # every broken image behind a tag is known by id, for a migration plan to charge
    for problem in found.problems:
        if problem.tag is not None:
            assert problem.image in found.broken
    assert registry.log.find(path="/v1/images/*/layer") == []


def test_a_broken_shared_image_is_charged_to_every_tag_that_needs_it(
    standalone: Standalone,
) -> None:
    base, middle, tip = build_image_chain(3, seed=7, layer_size=256)
    store = standalone.store
    store.seed("team/one", "latest", [base, middle, tip])
    store.seed("team/two", "v1", [base, middle])
    store.force_tag("team/two", "v2", middle.id)
    healthy = build_image_chain(1, seed=8, layer_size=256)
    store.seed("team/two", "ok", healthy)
    store.break_image(middle.id, Breakage.IN_PROGRESS)

    with Client(standalone.url) as client:
        found = inventory(client, retry=_FAST)

    assert {(p.repository, p.tag, p.image, p.kind) for p in found.problems} == {
        ("team/one", "latest", middle.id, ProblemKind.IN_PROGRESS),
        ("team/two", "v1", middle.id, ProblemKind.IN_PROGRESS),
        ("team/two", "v2", middle.id, ProblemKind.IN_PROGRESS),
    }
    (charged,) = found.problems_of("team/one", "latest")
    assert f"an ancestor of {tip.id}" in charged.message
    assert "being uploaded" in charged.message
    assert found.problems_of("team/two", "ok") == ()
    assert found.chain(healthy[0].id) == (healthy[0].id,)
    assert set(found.broken) == {middle.id}


def test_answers_no_preset_holds_are_charged_too(standalone: Standalone) -> None:
    """A 5xx that outlasts the retries, an ancestry that is not JSON, an index image list
    that errors, a named repository that is not there: each is a problem of what it
    touches, and the rest is read."""
    store = standalone.store
    (flaky,) = build_image_chain(1, seed=21, layer_size=128)
    (garbled,) = build_image_chain(1, seed=22, layer_size=128)
    healthy = build_image_chain(2, seed=23, layer_size=128)
    store.seed("team/flaky", "latest", [flaky])
    store.seed("team/garbled", "latest", [garbled])
    store.seed("team/fine", "latest", healthy)
    faults = standalone.faults
    faults.error(f"/v1/images/{flaky.id}/json", 500, times=None)
    faults.malformed_json(f"/v1/images/{garbled.id}/ancestry")
    faults.error("/v1/repositories/team/fine/images", 500, times=None)
    named = ["team/flaky", "team/garbled", "team/fine", "team/absent"]

    with Client(standalone.url) as client:
        found = inventory(client, repositories=named, retry=_FAST)

    assert {(p.repository, p.tag, p.image, p.kind) for p in found.problems} == {
        ("team/absent", None, None, ProblemKind.MISSING_REPOSITORY),
        ("team/fine", None, None, ProblemKind.UNREADABLE),
        ("team/flaky", "latest", flaky.id, ProblemKind.UNREADABLE),
        ("team/garbled", "latest", garbled.id, ProblemKind.CORRUPT_ANCESTRY),
    }
    assert "500" in found.problems_of("team/flaky", "latest")[0].message
    assert "index image list" in found.problems_of("team/fine")[0].message
    assert [r.name for r in found.repositories] == ["team/fine", "team/flaky", "team/garbled"]
    assert found.chain(healthy[-1].id) == (healthy[0].id, healthy[1].id)
    assert found.problems_of("team/fine", "latest") == ()


def _table(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_cli_lists_every_problem_in_every_format_and_exits_0(
    messy_registry: Messy, tmp_path: Path
) -> None:
    registry, described = messy_registry
    want = expected(described)
    address = host(registry)

    document = json.loads(_table(regv1("inventory", address, "--format", "json")))
    assert keys(document["problems"]) == want
    assert document["totals"]["problems"] == len(want)
    rows = {(r["repository"], r["tag"]): r["image_id"] for r in document["tags"]}
    for healthy in described.healthy:
        assert rows[(healthy.repository, healthy.tag)] == healthy.image

    lines = _table(regv1("inventory", address, *ONCE, "--format", "ndjson")).splitlines()
    records = [json.loads(line) for line in lines]
    problems = [r for r in records if r["kind"] == "problem"]
    assert keys(problems) == want
    assert [{k: v for k, v in r.items() if k != "kind"} for r in problems] == document["problems"]
    assert records[-1]["kind"] == "totals"
    assert records[-1]["problems"] == len(want)

    problems_file = tmp_path / "problems.csv"
    tags_csv = regv1(
        "inventory", address, *ONCE, "--format", "csv", "--problems-csv", str(problems_file)
    )
    tag_rows = list(csv.DictReader(io.StringIO(_table(tags_csv))))
    assert list(tag_rows[0]) == ["repository", "tag", "image_id", "layers", "bytes", "created"]
    assert {(r["repository"], r["tag"]) for r in tag_rows} >= {
        (h.repository, h.tag) for h in described.healthy
    }
    assert tags_csv.stderr == ""
    with problems_file.open(newline="") as stream:
        problem_rows = list(csv.DictReader(stream))
    assert list(problem_rows[0]) == ["repository", "tag", "image", "problem", "message"]
    assert keys(problem_rows) == want

    without_file = regv1("inventory", address, *ONCE, "--format", "csv")
    assert without_file.exit_code == 0
    (warning,) = without_file.stderr.splitlines()
    assert warning.startswith(f"warning: {len(want)} problems found")
    assert "--problems-csv FILE" in warning

    table = _table(regv1("inventory", address, *ONCE, "--format", "table", "--no-trunc"))
    section = table[table.index("problems (broken in the source registry") :]
    for repository, tag, image, kind in want:
        line = next(
            line
            for line in section.splitlines()
            if f" {repository} " in line
            and f" {tag or ''} " in line
            and (image or "") in line
            and f" {kind} " in line
        )
        assert line.startswith("│")
    assert f"{len(want)} problems" in table

    piped = regv1("inventory", address, *ONCE)  # a pipe: repository rows; problems on stderr
    assert piped.exit_code == 0
    assert "problem" not in piped.stdout
    assert piped.stderr.startswith(f"warning: {len(want)} problems found")

    # --retry-times 0 asks the failing tag list once; the default asks it 4 times.
    broken = "/v1/repositories/legacy/broken-tags/tags"
    for options, asked in ((ONCE, 1), ((), 4)):
        registry.log.clear()
        assert regv1("inventory", address, *options, "--json").exit_code == 0
        assert sum(1 for entry in registry.log.entries if entry.path == broken) == asked


def test_fail_on_problems_exits_2_and_a_clean_registry_exits_0(
    messy_registry: Messy, standalone: Standalone
) -> None:
    registry, described = messy_registry
    failed = regv1("inventory", host(registry), "--json", "--fail-on-problems")
    assert failed.exit_code == 2, failed.stderr
    assert keys(json.loads(failed.stdout)["problems"]) == expected(described)

    store = standalone.store
    store.seed("team/clean", "latest", build_image_chain(2, seed=3, layer_size=128))
    clean = regv1("inventory", host(standalone), "--json", "--fail-on-problems")
    assert clean.exit_code == 0, clean.stderr
    assert json.loads(clean.stdout)["problems"] == []


def test_server_strings_in_problems_are_escaped(standalone: Standalone, tmp_path: Path) -> None:
    """A dangling tag whose name is a formula, another whose name drives the terminal:
    the CSV cell is neutralised, the table shows the escape, JSON keeps the exact value."""
    store = standalone.store
    store.seed("team/app", "latest", build_image_chain(1, seed=11, layer_size=128))
    gone = "ab" * 32
    formula, escape = '=HYPERLINK("http://x.test","y")', "evil\x1b]0;pwned\x07"
    store.force_tag("team/app", formula, gone)
    store.force_tag("team/app", escape, gone)
    address = host(standalone)

    problems_file = tmp_path / "problems.csv"
    regv1("inventory", address, "--format", "csv", "--problems-csv", str(problems_file))
    with problems_file.open(newline="") as stream:
        tags = {row["tag"]: row for row in csv.DictReader(stream)}
    assert f"'{formula}" in tags
    assert tags[f"'{formula}"]["problem"] == "dangling-tag"

    table = _table(regv1("inventory", address, "--format", "table", "--no-trunc"))
    assert "\x1b" not in table
    assert "\x07" not in table
    assert "evil\\x1b]0;pwned\\x07" in table

    document = json.loads(_table(regv1("inventory", address, "--json")))
    assert {p["tag"] for p in document["problems"]} == {formula, escape}


def test_one_missing_repository_named_in_source_is_an_error(standalone: Standalone) -> None:
    result = regv1("inventory", f"{host(standalone)}/team/nothing")
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert "404" in line


@pytest.mark.parametrize("output", ["--json", "--format=csv"])
def test_an_unreachable_source_exits_1_with_one_error_line(output: str) -> None:
    started = time.monotonic()
    result = regv1("inventory", f"127.0.0.1:{unused_port()}", output, "--timeout", "2")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60


def test_a_problems_file_in_a_missing_folder_fails_before_any_request(
    standalone: Standalone, tmp_path: Path
) -> None:
    target = tmp_path / "absent" / "problems.csv"
    result = regv1("inventory", host(standalone), "--problems-csv", str(target))
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: --problems-csv ")
    assert "folder does not exist" in line
    assert standalone.log.entries == []
    assert not target.parent.exists()
