"""``migrate --watch`` and ``--prune`` against the v1 emulator and Debian's distribution.

The watch runs as the real ``regv1`` script in a subprocess (``--watch 0.3s``, NDJSON
pass events on stdout), so the signals and exit statuses are the ones a service
manager sees. The source changes while it runs: a tag pushed shows up at the
destination a pass or two later; a tag deleted is reported, and left alone unless
``--prune`` is given; with ``--prune`` a tag whose manifest another staying tag shares
(the seed's ``latest`` is an alias of ``1.1``) is kept, and the report says which tag
holds it.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from docker_registry_v1.cli import main
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.engine.journal import Journal
from docker_registry_v1.formats.convert import ManifestFormat
from docker_registry_v1.formats.layout import OCILayout
from docker_registry_v1.formats.provenance import fallback_tag
from docker_registry_v1.oci.client import AsyncOCIClient, OCIClient
from docker_registry_v1.oci.errors import OCIError
from migrate_support import SeededRegistry, seed_registry
from v2.v2registry import V2Registry, run_registry

REGV1 = Path(sys.executable).with_name("regv1")
PASSES_WITHIN = 30.0
"""Seconds a pass may take to be reported on a loaded two-core machine."""
REPO, OTHER = "library/base00", "team1/app01"
INTERVAL = "0.3s"
"""Short, so that the passes a test waits for come quickly."""


@pytest.fixture
def small() -> Iterator[tuple[Standalone, SeededRegistry]]:
    """Two repositories of tags 1.0, 1.1 and latest (an alias of 1.1)."""
    with run_standalone() as emulator:
        seed = seed_registry(emulator.store, repos=2, tags_per_repo=3, base_chains=1, seed=20)
        assert seed.repositories[REPO]["latest"] == seed.repositories[REPO]["1.1"]
        yield emulator, seed


def _host(emulator: Standalone) -> str:
    return emulator.url.removeprefix("http://")


def _digest(registry: V2Registry, name: str, tag: str) -> str | None:
    with OCIClient(registry.url) as client:
        return client.manifest_digest(name, tag, accept=[ManifestFormat.DOCKER.value.manifest])


class Watch:
    """``regv1 migrate … --watch 0.3s --format json`` in a subprocess; its pass events."""

    def __init__(self, source: str, destination: str, journal: Path, *extra: str) -> None:
        command = [str(REGV1), "migrate", source, destination, "--journal", str(journal)]
        self.process = subprocess.Popen(
            [*command, "--watch", INTERVAL, "--format", "json", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr = ""
        threading.Thread(target=self._read, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()

    def next_pass(self) -> dict[str, Any]:
        try:
            event = self.events.get(timeout=PASSES_WITHIN)
        except queue.Empty:
            pytest.fail(f"no pass reported in {PASSES_WITHIN} s: {self.stderr[-2000:]}")
        assert event["event"] == "pass"
        return event

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=PASSES_WITHIN)

    def errors(self) -> str:
        """All of stderr, once the process has ended."""
        self._stderr_reader.join(timeout=PASSES_WITHIN)
        return self.stderr

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _plain_run(source: str, destination: str, journal: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        main, ["migrate", source, destination, "--journal", str(journal), "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_watch_moves_a_new_tag_reports_a_deleted_one_and_stops_cleanly_on_sigterm(
    small: tuple[Standalone, SeededRegistry], v2_fresh: V2Registry, tmp_path: Path
) -> None:
    emulator, seed = small
    journal = tmp_path / "watch.sqlite"
    watch = Watch(_host(emulator), f"docker://{v2_fresh.host}", journal)
    try:
        first = watch.next_pass()
        assert first["pass"] == 1
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["at"])
        assert first["moved"] == seed.tag_count
        assert (first["failed"], first["deleted_at_source"]) == (0, 0)
        before = _digest(v2_fresh, REPO, "1.0")
        assert before is not None
        emulator.store.set_tag(OTHER, "2.0", seed.repositories[OTHER]["1.0"], {})
        emulator.store.delete_tag(REPO, "1.0")
        moved, deleted = 0, []
        for _ in range(3):  # the change may fall on either side of a pass's start
            event = watch.next_pass()
            moved += event["moved"]
            deleted += event["deleted"]
            if moved and deleted:
                break
        assert moved == 1
        assert _digest(v2_fresh, OTHER, "2.0") == _digest(v2_fresh, OTHER, "1.0")
        assert deleted[0] == {
            "source": f"{REPO}:1.0",
            "destination": f"{REPO}:1.0",
            "digest": before,
            "pruned": None,
            "reason": None,
        }
        assert _digest(v2_fresh, REPO, "1.0") == before, "no --prune: it stays"
        quiet = watch.next_pass()  # reported again each pass, nothing else to do
        assert (quiet["moved"], quiet["failed"], quiet["deleted_at_source"]) == (0, 0, 1)
        assert watch.stop(signal.SIGTERM) == 0
    finally:
        watch.kill()
    assert "Traceback" not in watch.errors()
    rerun = _plain_run(_host(emulator), f"docker://{v2_fresh.host}", journal)
    assert rerun["summary"]["copied"] == 0
    assert rerun["summary"]["current"] == seed.tag_count
    assert rerun["summary"]["deleted_at_source"] == 1


def test_sigterm_during_a_pass_lets_it_finish_then_exits_0(
    small: tuple[Standalone, SeededRegistry], tmp_path: Path
) -> None:
    emulator, seed = small
    emulator.faults.latency("/v1/images/*/layer", 0.1)
    layout = tmp_path / "layout"
    watch = Watch(_host(emulator), f"oci:{layout}", tmp_path / "j.sqlite")
    try:
        started = time.monotonic()
        while not any(e.path.endswith("/layer") for e in emulator.log.entries):
            assert time.monotonic() - started < PASSES_WITHIN, watch.stderr
            time.sleep(0.05)
        assert watch.stop(signal.SIGTERM) == 0
    finally:
        watch.kill()
    finished = watch.next_pass()
    assert (finished["pass"], finished["moved"], finished["failed"]) == (1, seed.tag_count, 0)
    assert watch.events.empty(), "no second pass"
    assert len(OCILayout(layout).refs()) == seed.tag_count


def test_prune_deletes_what_is_gone_keeps_a_shared_manifest_and_ctrl_c_exits_130(
    small: tuple[Standalone, SeededRegistry], v2_fresh: V2Registry, tmp_path: Path
) -> None:
    emulator, seed = small
    journal = tmp_path / "prune.sqlite"
    destination = f"docker://{v2_fresh.host}"
    watch = Watch(_host(emulator), destination, journal, "--prune")
    try:
        assert watch.next_pass()["moved"] == seed.tag_count
        shared = _digest(v2_fresh, REPO, "1.1")
        assert shared == _digest(v2_fresh, REPO, "latest")
        before_10 = _digest(v2_fresh, REPO, "1.0")
        assert before_10 is not None
        with OCIClient(v2_fresh.url) as client:
            assert fallback_tag(shared) in set(client.tags(REPO)), "provenance is written"
        emulator.store.delete_tag(REPO, "1.0")
        emulator.store.delete_tag(REPO, "1.1")
        outcomes: dict[str, dict[str, Any]] = {}
        for _ in range(3):
            event = watch.next_pass()
            outcomes.update({d["source"]: d for d in event["deleted"]})
            if len(outcomes) == 2:
                break
        assert outcomes[f"{REPO}:1.0"]["pruned"] == "deleted"
        kept = outcomes[f"{REPO}:1.1"]
        assert kept["pruned"] == "kept"
        assert f"{REPO}:latest still points at the same manifest {shared}" in kept["reason"]
        assert _digest(v2_fresh, REPO, "1.0") is None
        assert _digest(v2_fresh, REPO, "1.1") == shared
        assert _digest(v2_fresh, REPO, "latest") == shared
        assert watch.stop(signal.SIGINT) == 130
    finally:
        watch.kill()
    assert "interrupted" in watch.errors()
    with Journal(journal) as log:
        recorded = {(m.repository, m.tag) for m in log.manifests(v2_fresh.url)}
    assert (REPO, "1.0") not in recorded, "the pruned tag is forgotten"
    assert (REPO, "1.1") in recorded, "the kept one is still reported"
    rerun = _plain_run(_host(emulator), destination, journal, "--prune")
    assert rerun["summary"]["copied"] == 0
    assert rerun["summary"]["pruned"] == 0
    assert [d["source"] for d in rerun["deleted_at_source"]] == [f"{REPO}:1.1"]
    # once latest goes too, both are pruned together: one digest delete
    emulator.store.delete_tag(REPO, "latest")
    last = _plain_run(_host(emulator), destination, journal, "--prune")
    assert {d["pruned"] for d in last["deleted_at_source"]} == {"deleted"}
    assert _digest(v2_fresh, REPO, "1.1") is None
    assert _digest(v2_fresh, REPO, "latest") is None
    # the manifests are gone, and so are their provenance fallback tags
    with OCIClient(v2_fresh.url) as client:
        left = set(client.tags(REPO))
    assert fallback_tag(shared) not in left, left
    assert fallback_tag(before_10) not in left, left


def test_prune_into_an_oci_layout_and_a_v1_registry(
    small: tuple[Standalone, SeededRegistry], tmp_path: Path
) -> None:
    emulator, _ = small
    layout = tmp_path / "layout"
    with run_standalone() as following:
        targets = [f"oci:{layout}", _host(following)]
        for n, target in enumerate(targets):
            _plain_run(_host(emulator), target, tmp_path / f"{n}.sqlite", "--include", REPO)
        journal = tmp_path / "0.sqlite"
        newest = ("--include", REPO, "--last", "1")
        aged = _plain_run(_host(emulator), targets[0], journal, *newest)
        assert aged["deleted_at_source"] == [], "a tag --last leaves out is not deleted"
        emulator.store.delete_tag(REPO, "1.0")
        gone = _plain_run(_host(emulator), targets[0], journal, *newest)
        assert [d["source"] for d in gone["deleted_at_source"]] == [f"{REPO}:1.0"]
        for n, target in enumerate(targets):
            pruned = _plain_run(
                _host(emulator), target, tmp_path / f"{n}.sqlite", "--include", REPO, "--prune"
            )
            assert [(d["source"], d["pruned"]) for d in pruned["deleted_at_source"]] == [
                (f"{REPO}:1.0", "deleted")
            ]
        assert set(OCILayout(layout).refs()) == {f"{REPO}:1.1", f"{REPO}:latest"}
        assert set(following.store.tags(REPO) or {}) == {"1.1", "latest"}


def test_prune_into_a_registry_without_deletes_reports_each_tag_and_fails_nothing(
    small: tuple[Standalone, SeededRegistry], tmp_path: Path
) -> None:
    emulator, _ = small
    journal = tmp_path / "j.sqlite"
    with run_registry("none", tmp_path / "v2", deletes=False) as registry:
        destination = f"docker://{registry.host}"
        _plain_run(_host(emulator), destination, journal, "--include", REPO)
        emulator.store.delete_tag(REPO, "1.0")
        narrow = _plain_run(_host(emulator), destination, journal, "--tags", "1\\.1|latest")
        assert narrow["deleted_at_source"] == [], "a tag --tags leaves out is not taken for deleted"
        result = CliRunner().invoke(
            main,
            ["migrate", _host(emulator), destination, "--journal", str(journal), "--prune"],
        )
        assert result.exit_code == 0, result.output
        assert (
            f"deleted at source: {REPO}:1.0 -> {REPO}:1.0 unsupported: the destination "
            "deletes nothing"
        ) in result.stdout
        assert "UNSUPPORTED" in result.stdout
        digest = _digest(registry, REPO, "1.0")
        assert digest is not None

        async def refused() -> None:  # the async client's twin, as the registry answers it
            async with AsyncOCIClient(registry.url) as client:
                with pytest.raises(OCIError) as caught:
                    await client.delete_manifest(REPO, digest)
            assert (caught.value.code, caught.value.error_code) == (405, "UNSUPPORTED")

        anyio.run(refused)
    with Journal(journal) as log:
        assert (REPO, "1.0") in {(m.repository, m.tag) for m in log.manifests(registry.url)}


def test_an_unreachable_pass_is_reported_and_the_watch_goes_on_until_bad_input_ends_it(
    small: tuple[Standalone, SeededRegistry], tmp_path: Path
) -> None:
    emulator, _ = small
    layout = tmp_path / "layout"
    watch = Watch(
        _host(emulator),
        f"oci:{layout}",
        tmp_path / "j.sqlite",
        "--include",
        REPO,
        "--retry-times",
        "0",
    )
    try:
        assert watch.next_pass()["moved"] == 3
        emulator.faults.error("/v1/search", 503, times=None)
        failed = watch.next_pass()
        assert "503" in failed["error"]
        emulator.faults.clear()
        started = time.monotonic()
        while (event := watch.next_pass()).get("error"):
            assert time.monotonic() - started < PASSES_WITHIN
        assert (event["moved"], event["current"]) == (0, 3)
        emulator.faults.error("/v1/search", 401, times=None)  # a refused login: bad input
        assert watch.process.wait(timeout=PASSES_WITHIN) == 1
    finally:
        watch.kill()
    assert "error: " in watch.errors()
    assert "Traceback" not in watch.errors()


def test_watch_refuses_what_it_cannot_repeat() -> None:
    for extra in (["--dry-run"], ["--verify"], ["--repair"]):
        result = CliRunner().invoke(
            main, ["migrate", "localhost:5000", "docker://localhost:5001", "--watch", "1s", *extra]
        )
        assert result.exit_code == 1
        assert "--watch and --prune migrate" in result.output
    result = CliRunner().invoke(
        main, ["migrate", "localhost:5000", "docker://localhost:5001", "--watch", "soon"]
    )
    assert result.exit_code == 1
    assert "not a duration such as 30s, 5m or 1h" in result.output
