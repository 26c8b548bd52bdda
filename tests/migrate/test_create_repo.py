"""``--create-repo-cmd``: destination repositories that must be made before a push.

Over real sockets, from the v1 emulator into Debian's distribution: a recording script
is the command. When it runs it writes down the repository it was given (as ``{repo}``
and in the environment) and how many blob requests for that repository distribution
had logged so far, which must be none: the command runs before the repository's first
blob. The script fails for one repository: only that repository's tags fail, with the
end of the script's stderr (escaped), the others land, the run exits 2. A rerun calls
the command only for the repository it failed for; one more calls nothing.

`RepositoryCreation` itself (no HTTP): one call however many tags of a repository ask at
once, a success recorded in the journal so a later run never calls again, a timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from docker_registry_v1 import CreateRepositoryError, repository_command
from docker_registry_v1.cli import main
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.engine.journal import Journal
from docker_registry_v1.transfer.migrate_create import RepositoryCreation
from migrate_checks import Seeded
from migrate_support import seed_registry
from v2.v2registry import V2Registry

_SCRIPT = """\
#!/bin/sh
blobs=$(grep -c "http.request.uri=\\"/v2/$1/blobs/" "$REC_REGISTRY_LOG")
printf '%s|%s|%s|%s\\n' "$1" "$REGV1_REPOSITORY" "$REGV1_REGISTRY" "$blobs" >> "$REC_LOG"
if [ "$1" = "$REC_FAIL" ]; then
    echo "first line, not shown" >&2
    echo "upload of the last 3 lines" >&2
    echo "aws: error" >&2
    printf 'denied: \\033[31mno project\\033[0m for %s\\n' "$1" >&2
    exit 3
fi
"""


@pytest.fixture
def small() -> Iterator[Seeded]:
    """Three repositories of two tags each: enough for one to fail beside the others."""
    with run_standalone() as emulator:
        seed = seed_registry(emulator.store, repos=3, tags_per_repo=2, base_chains=1, seed=20)
        yield Seeded(emulator, seed)


@pytest.fixture
def recorder(tmp_path: Path, v2_fresh: V2Registry, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The recording script; its log is ``calls.log`` beside it."""
    script = tmp_path / "create-repo.sh"
    script.write_text(_SCRIPT)
    monkeypatch.setenv("REC_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("REC_REGISTRY_LOG", str(v2_fresh.log_path))
    monkeypatch.setenv("REC_FAIL", "")
    return script


def _calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "calls.log"
    return [line.split("|") for line in log.read_text().splitlines()] if log.exists() else []


def _migrate(seeded: Seeded, v2: V2Registry, tmp_path: Path, script: Path, *more: str) -> Result:
    return CliRunner().invoke(
        main,
        [
            "migrate",
            seeded.host,
            f"docker://{v2.host}/made",
            "--journal",
            str(tmp_path / "journal.sqlite"),
            "--dest-tls-verify=false",
            "--create-repo-cmd",
            f"sh {script} {{repo}}",
            "--format",
            "json",
            *more,
        ],
        catch_exceptions=False,
    )


def _landed(report: Any) -> dict[str, set[str]]:
    """Destination repository → statuses of its tags."""
    found: dict[str, set[str]] = {}
    for tag in report["tags"]:
        found.setdefault(tag["destination"].rpartition(":")[0], set()).add(tag["status"])
    return found


def test_the_command_runs_once_per_new_repository_before_its_first_blob(
    small: Seeded,
    v2_fresh: V2Registry,
    recorder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    planned = _migrate(small, v2_fresh, tmp_path, recorder, "--dry-run")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    repositories = {t["destination"].rpartition(":")[0] for t in plan["plan"]}
    assert len(repositories) == 3
    assert set(plan["create_repo_cmd_for"]) == repositories
    assert _calls(tmp_path) == []  # a dry run runs nothing

    failing = sorted(repositories)[1]
    monkeypatch.setenv("REC_FAIL", failing)
    first = _migrate(small, v2_fresh, tmp_path, recorder)
    assert first.exit_code == 2, first.output
    report = json.loads(first.stdout)
    calls = _calls(tmp_path)
    assert sorted(call[0] for call in calls) == sorted(repositories)  # once each
    for name, env_name, registry, blobs_before in calls:
        assert env_name == name
        assert registry == v2_fresh.host
        assert blobs_before == "0", calls  # nothing of it had been sent yet
    log = v2_fresh.log_path.read_text()
    for name in repositories - {failing}:
        assert f'http.request.uri="/v2/{name}/blobs/' in log  # so the zeros say something
    assert f'http.request.uri="/v2/{failing}/' not in log.replace(
        f'http.request.uri="/v2/{failing}/tags/list"', ""
    )
    landed = _landed(report)
    assert landed[failing] == {"failed"}
    assert all(landed[name] == {"copied"} for name in repositories - {failing})
    reasons = {f["reason"] for f in report["failed"]}
    assert reasons == {
        f"creating repository {failing} failed: the command exited with 3: upload of the "
        f"last 3 lines | aws: error | denied: \\x1b[31mno project\\x1b[0m for {failing}"
    }
    assert "\x1b" not in first.output

    monkeypatch.setenv("REC_FAIL", "")
    second = _migrate(small, v2_fresh, tmp_path, recorder)
    assert second.exit_code == 0, second.output
    assert [call[0] for call in _calls(tmp_path)[len(calls) :]] == [failing]
    assert _landed(json.loads(second.stdout))[failing] == {"copied"}

    before = len(_calls(tmp_path))
    third = _migrate(small, v2_fresh, tmp_path, recorder)
    assert third.exit_code == 0, third.output
    assert len(_calls(tmp_path)) == before


def test_a_layout_destination_refuses_the_command(small: Seeded, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["migrate", small.host, f"oci:{tmp_path / 'layout'}", "--create-repo-cmd", "true"],
    )
    assert result.exit_code == 1, result.output
    assert "--create-repo-cmd needs a docker:// DEST" in result.output
    assert "Traceback" not in result.output


def test_one_call_per_repository_however_many_tags_ask(tmp_path: Path) -> None:
    calls: list[str] = []
    gate = threading.Event()

    def create(repository: str) -> None:
        gate.wait(5)
        calls.append(repository)
        if repository == "bad":
            raise OSError("no such project")

    with Journal(tmp_path / "j.sqlite") as journal:
        creation = RepositoryCreation(create, journal, "reg.test", frozenset({"a", "bad"}))
        errors: list[str] = []

        def tag(repository: str) -> None:
            try:
                creation.ensure(repository)
            except CreateRepositoryError as error:
                errors.append(str(error))

        threads = [threading.Thread(target=tag, args=(name,)) for name in ["a", "bad", "old"] * 4]
        for thread in threads:
            thread.start()
        time.sleep(0.1)
        gate.set()
        for thread in threads:
            thread.join(10)
        assert sorted(calls) == ["a", "bad"]  # "old" is not new: never made
        assert errors == ["creating repository bad failed: no such project"] * 4
        assert journal.was_created("reg.test", "a")
        assert not journal.was_created("reg.test", "bad")
        assert not journal.was_created("other.test", "a")

    with Journal(tmp_path / "j.sqlite") as journal:
        again = RepositoryCreation(create, journal, "reg.test", frozenset({"a", "bad"}))
        again.ensure("a")  # recorded: not called
        with pytest.raises(CreateRepositoryError):
            again.ensure("bad")
        assert sorted(calls) == ["a", "bad", "bad"]


def test_a_command_that_runs_too_long_is_stopped_with_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    create = repository_command(
        f"echo making {{repo}} >&2; (sleep 0.6; touch {marker}) & sleep 30",
        "reg.test",
        timeout=0.2,
    )
    started = time.monotonic()
    with pytest.raises(CreateRepositoryError) as failed:
        create("team/app's")
    assert time.monotonic() - started < 5
    assert str(failed.value) == (
        "creating repository team/app's failed: the command timed out after 0.2 s: "
        "making team/app's"
    )
    time.sleep(0.8)
    assert not marker.exists()
