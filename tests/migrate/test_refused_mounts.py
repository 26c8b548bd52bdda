"""`regv1 migrate` into distribution in token mode when the login may no longer read
the repositories that hold the shared blobs: the mounts are refused (401 with a
challenge for the ``from`` scope), the blobs are uploaded, and the journal keeps the
refusals, so neither the same run nor the next one asks those repositories again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from docker_registry_v1.cli import main
from migrate_checks import Seeded, log_size, mount_requests, uploaded_blobs
from system_tools import require_tool
from v2.v2registry import PASSWORD, USER, V2Registry

FIRST, SECOND, THIRD = "app0[12]$", "app0[45]$", "app0[78]$"
"""Three rounds of repositories on the same two base chains (bases 1 and 2)."""


def migrate(seeded: Seeded, registry: V2Registry, journal: Path, include: str) -> Any:
    result: Result = CliRunner().invoke(
        main,
        [
            "migrate",
            seeded.host,
            f"docker://{registry.host}",
            "--dest-creds",
            f"{USER}:{PASSWORD}",
            "--include",
            include,
            "--journal",
            str(journal),
            "--json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {tag["status"] for tag in report["tags"]} == {"copied"}
    return report


def repositories(report: Any) -> set[str]:
    return {tag["destination"].rsplit(":", 1)[0] for tag in report["tags"]}


def test_refused_mounts_fall_back_to_uploads_and_the_journal_keeps_them(
    seeded: Seeded, v2_token_fresh: V2Registry, tmp_path: Path
) -> None:
    registry, journal = v2_token_fresh, tmp_path / "j.sqlite"
    assert registry.issuer is not None
    first = repositories(migrate(seeded, registry, journal, FIRST))
    for repo in first:  # from now on the login may push there but not read
        registry.issuer.rules[repo] = {"push"}
    mark = log_size(registry)
    uploads = len(uploaded_blobs(registry))

    report = migrate(seeded, registry, journal, SECOND)
    asked = mount_requests(registry, mark)
    refused = [request for request in asked if request[1] in first]
    shared = seeded.unique_images(FIRST) & seeded.unique_images(SECOND)
    assert len(shared) == 6  # three base layers of each of the two base chains
    # Each shared layer was asked of its first-round repository once, refused, and
    # uploaded; the refusal held for the other repositories of the run too.
    assert len(refused) == len(shared)
    assert {answer for *_, answer in refused} == {401}
    assert len({(source, digest) for _, source, digest, _ in refused}) == len(refused)
    assert report["summary"]["blobs_mounted"] == 0
    assert len(uploaded_blobs(registry)) - uploads == report["summary"]["blobs_uploaded"]
    assert report["summary"]["blobs_uploaded"] == seeded.unique_blobs(SECOND)

    tag = report["tags"][0]["destination"]
    inspected = subprocess.run(
        [
            require_tool("skopeo"),
            "inspect",
            "--tls-verify=false",
            "--creds",
            f"{USER}:{PASSWORD}",
            f"docker://{registry.host}/{tag}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["Digest"] == report["tags"][0]["digest"]

    # The next run never asks the first-round repositories: it mounts from the second's.
    mark = log_size(registry)
    third = migrate(seeded, registry, journal, THIRD)
    asked = mount_requests(registry, mark)
    second = repositories(report)
    assert asked
    assert [request for request in asked if request[1] in first] == []
    assert {answer for *_, answer in asked} == {201}
    assert {source for _, source, _, _ in asked} <= second
    assert third["summary"]["blobs_mounted"] == len(asked)
