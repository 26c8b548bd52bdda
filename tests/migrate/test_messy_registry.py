"""The messy registry of issue 19, end to end: the emulator's ``messy`` preset (every
broken state a decade-old reference registry holds, each beside healthy tags, plus
healthy repositories and an untagged broken image) migrated over real sockets into
Debian's distribution.

The run moves every healthy tag (skopeo reads each back), charges each fault to the
tags that need the broken image and lists them with a reason naming the fault, exits
2; a rerun on the same journal moves nothing and exits 2 again. The expectations come
from the preset's own description (``MessyRegistry``), not from copied ids.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from click.testing import Result
from docker_registry_v1.emulator import MessyRegistry, Standalone
from regv1_runner import regv1
from system_tools import require_tool
from v2.v2registry import V2Registry

#: What a v2 registry cannot take: what the source cannot give, names v2 refuses, and
#: layers only a decompression bound stops. (``oci-name`` tags are fine for v2.)
FAILING_INTO_V2 = ("source", "v2-name", "decompression")


def report(result: Result) -> Any:
    assert result.exit_code == 2, result.output
    return json.loads(result.stdout)


def failed_tags(document: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["repository"], f["tag"]): f for f in document["failed"]}


def test_a_messy_registry_moves_every_healthy_tag_and_names_each_broken_one(
    messy_registry: tuple[Standalone, MessyRegistry], v2_fresh: V2Registry, tmp_path: Path
) -> None:
    source, messy = messy_registry
    host = source.url.removeprefix("http://").rstrip("/")
    journal = str(tmp_path / "journal.sqlite")
    run = ("migrate", host, f"docker://{v2_fresh.host}/old", "--journal", journal, "--json")

    first = report(regv1(*run))
    failed = failed_tags(first)
    expected = set(messy.failing_tags(*FAILING_INTO_V2))
    # A repository whose very name v2 refuses fails every one of its tags.
    refused = {p.repository for p in messy.problems if p.tag is None and p.scope == "v2-name"}
    assert refused
    assert {repository for repository, _ in failed if repository in refused} == refused
    assert {(r, t) for r, t in failed if r not in refused} == expected, sorted(failed)
    for repository, tag in expected:
        problem = messy.problem(repository, tag)
        assert problem is not None
        reason = failed[(repository, tag)]["reason"].lower()
        assert problem.reason.lower() in reason, (repository, tag, reason)
    for (repository, _), entry in failed.items():
        if repository in refused:
            assert "refuses" in entry["reason"], entry
    # The untagged broken image is nobody's problem.
    untagged = [p.image for p in messy.problems if p.tag is None and p.image is not None]
    assert untagged
    assert not {f["image"] for f in failed.values()} & set(untagged)

    # Repositories the source cannot even list (a tag list that errors, a listed name
    # that is not one) have no tags to fail: the report names them.
    unlisted = {
        p.repository
        for p in messy.problems
        if p.tag is None and p.image is None and p.scope == "source"
    }
    assert unlisted
    assert {p["repository"] for p in first["problems"]} == unlisted, first["problems"]
    assert first["summary"]["problems"] == len(unlisted)

    landed = [(h.repository, h.tag) for h in messy.healthy]
    # a lost ancestry file is an audit's problem: the chain is walked by the JSONs' parents
    landed += [
        (p.repository, p.tag) for p in messy.problems if p.scope in {"oci-name", "audit"} and p.tag
    ]
    skopeo = require_tool("skopeo")
    for repository, tag in landed:
        done = subprocess.run(
            [
                skopeo,
                "--insecure-policy",
                "inspect",
                "--tls-verify=false",
                f"docker://{v2_fresh.host}/old/{repository}:{tag}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (repository, tag, done.stderr)

    again = report(regv1(*run))
    assert set(failed_tags(again)) == set(failed)
    statuses = {t["source"]: t["status"] for t in again["tags"]}
    assert "copied" not in statuses.values(), statuses


def test_a_name_the_destination_refuses_comes_with_a_rename_that_works(
    messy_registry: tuple[Standalone, MessyRegistry], v2_fresh: V2Registry, tmp_path: Path
) -> None:
    source, messy = messy_registry
    host = source.url.removeprefix("http://").rstrip("/")
    (refused,) = [p.repository for p in messy.problems if p.scope == "v2-name"]
    dest = f"docker://{v2_fresh.host}/old"
    journal = str(tmp_path / "journal.sqlite")
    planned = regv1("migrate", host, dest, "--journal", journal, "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    tags = [t for t in json.loads(planned.stdout)["plan"] if t["source"].startswith(f"{refused}:")]
    assert tags
    assert tags[0]["state"] == "broken"
    hint = tags[0]["problem"].rpartition("; try --rename '")[2].rstrip("'")
    assert hint == f"^{refused}$={refused.lower()}", tags[0]["problem"]
    again = regv1(
        "migrate",
        host,
        dest,
        "--journal",
        journal,
        "--dry-run",
        "--json",
        "--rename",
        hint,
        "--include",
        f"^{refused}$",
    )
    assert again.exit_code == 0, again.output
    states = {t["source"]: t["state"] for t in json.loads(again.stdout)["plan"]}
    assert states
    assert set(states.values()) == {"copy"}, states
