"""`regv1 migrate` into distribution in token mode when the login may no longer read
the repositories that hold the shared blobs: the mounts are refused (401 with a
challenge for the ``from`` scope), the blobs are uploaded, and the journal keeps the
refusals, so neither the same run nor the next one asks those repositories again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result
from docker_registry_v1 import Client
from docker_registry_v1.cli import main
from docker_registry_v1.engine.journal import Journal
from docker_registry_v1.oci.client import OCIClient
from docker_registry_v1.transfer.inventory import inventory
from docker_registry_v1.transfer.migrate import MigrationReport, migrate
from docker_registry_v1.transfer.migrate_plan import RegistrySide, plan_migration
from docker_registry_v1.transfer.selection import Selection
from migrate_checks import Seeded, log_size, mount_requests, uploaded_blobs
from system_tools import require_tool
from v2.mountproxy import MountRefusingTransport
from v2.v2registry import PASSWORD, USER, V2Registry

FIRST, SECOND, THIRD = "app0[12]$", "app0[45]$", "app0[78]$"
"""Three rounds of repositories on the same two base chains (bases 1 and 2)."""


def regv1_migrate(seeded: Seeded, registry: V2Registry, journal: Path, include: str) -> Any:
    result: Result = CliRunner().invoke(
        main,
        [
            "migrate",
            "--no-provenance",
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
    first = repositories(regv1_migrate(seeded, registry, journal, FIRST))
    for repo in first:  # from now on the login may push there but not read
        registry.issuer.rules[repo] = {"push"}
    mark = log_size(registry)
    uploads = len(uploaded_blobs(registry))

    report = regv1_migrate(seeded, registry, journal, SECOND)
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
    third = regv1_migrate(seeded, registry, journal, THIRD)
    asked = mount_requests(registry, mark)
    second = repositories(report)
    assert asked
    assert [request for request in asked if request[1] in first] == []
    assert {answer for *_, answer in asked} == {201}
    assert {source for _, source, _, _ in asked} <= second
    assert third["summary"]["blobs_mounted"] == len(asked)


def run_api(seeded: Seeded, dest: OCIClient, journal: Path, pattern: str) -> MigrationReport:
    target = RegistrySide(dest)
    with Client(seeded.emulator.url) as source, Journal(journal) as log:
        plan = plan_migration(
            inventory(source), Selection.parse(include=[pattern]), target, journal=log
        )
        report = migrate(source, target, plan, journal=log, provenance=False)
    assert report.ok, report.failures
    return report


def repos_of(report: MigrationReport) -> set[str]:
    return {outcome.destination.rsplit(":", 1)[0] for outcome in report.outcomes}


@pytest.mark.parametrize("answer", [403, 202])
def test_a_registry_refusing_mounts_gets_uploads_and_is_not_asked_twice(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path, answer: int
) -> None:
    journal, transport = tmp_path / "j.sqlite", MountRefusingTransport(answer)
    with OCIClient(v2_fresh.url, transport=transport) as dest:
        first = repos_of(run_api(seeded, dest, journal, FIRST))
        assert transport.requests("POST", "mount=") == []
        seen = len(transport.seen)
        report = run_api(seeded, dest, journal, SECOND)
        second = repos_of(report)
        during = transport.seen[seen:]
    mounts = [url for method, url in during if method == "POST" and "mount=" in url]
    shared = seeded.unique_images(FIRST) & seeded.unique_images(SECOND)
    # One request per shared layer and target repository, each from a first-round one.
    assert len(mounts) == len(set(mounts)) == len(shared)
    assert all(any(f"from={quote(r, safe='')}" in url for r in first) for url in mounts)
    assert report.blobs_mounted == 0
    assert report.blobs_uploaded == seeded.unique_blobs(SECOND)
    posts = [url for method, url in during if method == "POST" and "mount=" not in url]
    cancelled = [url for method, url in during if method == "DELETE"]
    if answer == 403:
        assert len(posts) == report.blobs_uploaded
    else:  # each 202 session took an upload (any not taken was cancelled at close)
        assert len(posts) == report.blobs_uploaded - len(shared) + len(cancelled)
    assert all(any(f"/v2/{repo}/" in url for repo in second) for url in posts)

    with OCIClient(v2_fresh.url, transport=transport) as dest:
        seen = len(transport.seen)
        third = run_api(seeded, dest, journal, THIRD)
        later = [url for method, url in transport.seen[seen:] if "mount=" in url]

    def from_round(repos: set[str]) -> list[str]:
        return [url for url in later if any(f"from={quote(r, safe='')}" in url for r in repos)]

    assert len(later) == len(set(later))  # nothing asked twice in a run
    assert third.blobs_mounted == 0
    if answer == 403:  # the first round's repositories refused access: never asked again
        assert from_round(first) == []
        assert later
        assert from_round(second) == later
    else:  # a 202 holds for its target only: each new repository asks once
        assert from_round(first)
