"""Progress of the phases with no bytes to count: inventory, plan, verify (and repair).

With ``--format json`` each phase sends NDJSON ``phase`` events on stderr: well-formed,
``done`` never going back, the last one finished with ``done == total``, a bounded
number of them. On a terminal each draws a bar. A pipe gets what it got before: the
report on stdout and nothing on stderr. The source is the emulator, the destination a
real distribution registry, both small enough for a few seconds in all.
"""

from __future__ import annotations

import io
import json
import os
import pty
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from docker_registry_v1 import AsyncClient, ainventory
from docker_registry_v1.cli import main
from docker_registry_v1.cli.progress import EVENTS_PER_SECOND, PhaseEvents
from docker_registry_v1.emulator.server import Standalone, run_standalone
from docker_registry_v1.transfer.phases import Phase, PhaseListener, PhaseState
from migrate_support import SeededRegistry, seed_registry
from v2.v2registry import V2Registry, run_registry

REPOS, TAGS = 6, 2
PHASE_KEYS = {"event", "phase", "done", "total", "seconds", "finished"}
COUNTS = {
    "inventory": {"images", "requests"},
    "plan": {"repositories", "tags_checked"},
    "verify": {"tags_checked", "blobs_checked"},
    "migrate": {"failed"},
}


@pytest.fixture(scope="module")
def source() -> Iterator[tuple[Standalone, SeededRegistry]]:
    with run_standalone() as emulator:
        seed = seed_registry(emulator.store, repos=REPOS, tags_per_repo=TAGS, base_chains=2, seed=5)
        yield emulator, seed


@pytest.fixture(scope="module")
def destination(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Registry]:
    with run_registry("none", tmp_path_factory.mktemp("v2")) as registry:
        yield registry


def host(source: tuple[Standalone, SeededRegistry]) -> str:
    return source[0].url.removeprefix("http://")


def regv1(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def phases(result: Result) -> list[dict[str, Any]]:
    """Every ``phase`` event on stderr (each line must be JSON)."""
    events = [json.loads(line) for line in result.stderr.splitlines()]
    return [event for event in events if event["event"] == "phase"]


def checked(events: list[dict[str, Any]], phase: str, seconds: float) -> dict[str, Any]:
    """The phase's events are well-formed, in order, bounded in number; its last one."""
    mine = [event for event in events if event["phase"] == phase]
    assert mine, f"no {phase} events"
    for event in mine:
        assert set(event) == PHASE_KEYS | COUNTS[phase], event
        assert isinstance(event["done"], int)
        assert isinstance(event["total"], int)
        assert 0 <= event["done"] <= event["total"]
    dones = [event["done"] for event in mine]
    assert dones == sorted(dones)
    for name in COUNTS[phase]:
        values = [event[name] for event in mine]
        assert values == sorted(values), name
    assert [event["finished"] for event in mine] == [False] * (len(mine) - 1) + [True]
    last = mine[-1]
    assert last["done"] == last["total"] > 0
    assert len(mine) <= 2 + EVENTS_PER_SECOND * (seconds + 1)
    return last


def timed(*args: str) -> tuple[Result, float]:
    started = time.monotonic()
    result = regv1(*args)
    return result, time.monotonic() - started


def test_inventory_sends_phase_events_with_json(
    source: tuple[Standalone, SeededRegistry],
) -> None:
    result, seconds = timed("inventory", host(source), "--format", "json")
    document = json.loads(result.stdout)
    events = phases(result)
    assert {event["phase"] for event in events} == {"inventory"}
    last = checked(events, "inventory", seconds)
    assert last["total"] == REPOS
    assert last["images"] == len(document["images"])
    assert last["requests"] == document["requests"]
    assert events[0]["done"] == 0  # the start, once the listing gave the total

    legacy, seconds = timed("inventory", host(source), "--json")  # the old spelling
    assert checked(phases(legacy), "inventory", seconds)["total"] == REPOS


def test_migrate_verify_and_repair_send_each_phase(
    source: tuple[Standalone, SeededRegistry], destination: V2Registry, tmp_path: Path
) -> None:
    tags = REPOS * TAGS
    dest, journal = f"docker://{destination.host}/phases", str(tmp_path / "journal.sqlite")
    common = (host(source), dest, "--journal", journal, "--json")

    first, seconds = timed("migrate", *common)
    events = phases(first)
    assert [e["phase"] for e in events if e["finished"]] == ["inventory", "plan", "migrate"]
    assert checked(events, "inventory", seconds)["total"] == REPOS
    plan = checked(events, "plan", seconds)
    assert (plan["total"], plan["repositories"], plan["tags_checked"]) == (REPOS, REPOS, 0)
    migrated = checked(events, "migrate", seconds)
    assert (migrated["total"], migrated["failed"]) == (tags, 0)

    rerun, seconds = timed("migrate", *common)
    plan = checked(phases(rerun), "plan", seconds)  # every tag is there now: each checked
    assert plan["total"] == REPOS + tags
    assert (plan["repositories"], plan["tags_checked"]) == (REPOS, tags)

    verified, seconds = timed("migrate", "--verify=fast", *common)
    events = phases(verified)
    assert {event["phase"] for event in events} == {"verify"}
    verify = checked(events, "verify", seconds)
    blobs = json.loads(verified.stdout)["blobs_checked"]
    assert (verify["tags_checked"], verify["blobs_checked"]) == (tags, blobs)
    assert verify["total"] == tags + blobs

    repaired, seconds = timed("migrate", "--repair", *common)
    events = phases(repaired)
    order = ["verify", "inventory", "plan", "migrate"]
    assert [e["phase"] for e in events if e["finished"]] == order
    for phase in order:
        checked(events, phase, seconds)
    assert json.loads(repaired.stdout)["repair"]["blobs_checked"] == blobs


class _Recorder(PhaseListener):
    def __init__(self) -> None:
        self.states: list[tuple[str, PhaseState]] = []

    def phase_started(self, state: PhaseState) -> None:
        self.states.append(("started", state))

    def phase_advanced(self, state: PhaseState) -> None:
        self.states.append(("advanced", state))

    def phase_finished(self, state: PhaseState) -> None:
        self.states.append(("finished", state))


def test_events_are_bounded_per_phase_and_the_last_always_goes_out() -> None:
    """Twenty thousand updates from four threads in well under a second: a handful of
    events, each done at least the one before, the last the whole; the listener saw
    every state in order."""
    sent: list[dict[str, Any]] = []
    recorder = _Recorder()

    class Both(PhaseListener):
        def __init__(self) -> None:
            self.events = PhaseEvents(sent.append)

        def phase_started(self, state: PhaseState) -> None:
            recorder.phase_started(state)
            self.events.phase_started(state)

        def phase_advanced(self, state: PhaseState) -> None:
            recorder.phase_advanced(state)
            self.events.phase_advanced(state)

        def phase_finished(self, state: PhaseState) -> None:
            recorder.phase_finished(state)
            self.events.phase_finished(state)

    started = time.monotonic()
    phase = Phase(Both(), "plan", 20_000, counts=("tags_checked",)).start()

    def work() -> None:
        for _ in range(5_000):
            phase.advance(1, tags_checked=1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.finish()
    seconds = time.monotonic() - started
    assert len(sent) <= 2 + EVENTS_PER_SECOND * (seconds + 1)
    assert sent[0]["done"] == 0
    assert sent[-1] == {
        "event": "phase",
        "phase": "plan",
        "done": 20_000,
        "total": 20_000,
        "tags_checked": 20_000,
        "seconds": sent[-1]["seconds"],
        "finished": True,
    }
    dones = [state.done for _, state in recorder.states]
    assert dones == [*range(20_001), 20_000]
    assert [kind for kind, _ in recorder.states[:: len(recorder.states) - 1]] == [
        "started",
        "finished",
    ]


@pytest.mark.anyio
async def test_the_async_inventory_reports_its_phase_from_the_worker_thread(
    source: tuple[Standalone, SeededRegistry],
) -> None:
    recorder = _Recorder()
    async with AsyncClient(source[0].url) as client:
        found = await ainventory(client, phases=recorder)
    kinds = [kind for kind, _ in recorder.states]
    assert kinds[0] == "started"
    assert kinds[-1] == "finished"
    assert set(kinds[1:-1]) == {"advanced"}
    last = recorder.states[-1][1]
    assert (last.phase, last.done, last.total) == ("inventory", REPOS, REPOS)
    assert dict(last.counts) == {"images": len(found.images), "requests": found.requests}
    assert [state.done for _, state in recorder.states] == sorted(
        state.done for _, state in recorder.states
    )


def test_a_phase_with_nothing_to_do_sends_nothing() -> None:
    sent: list[dict[str, Any]] = []
    Phase(PhaseEvents(sent.append), "verify", 0).start().finish()
    unknown = Phase(PhaseEvents(sent.append), "inventory").start()  # total not known yet
    assert sent == []
    unknown.set_total(3)
    assert [event["total"] for event in sent] == [3]


def test_a_pipe_gets_the_output_it_had(
    source: tuple[Standalone, SeededRegistry], tmp_path: Path
) -> None:
    """No --format: the repository rows (a plan table) on stdout, nothing on stderr; the
    record streams (ndjson, csv) keep an empty stderr too."""
    listed = regv1("inventory", host(source))
    assert listed.stderr == ""
    assert len(listed.stdout.splitlines()) == REPOS
    assert all(line.count("\t") == 4 for line in listed.stdout.splitlines())
    for machine in ("ndjson", "csv"):  # record streams: their stderr stays empty
        assert regv1("inventory", host(source), "--format", machine).stderr == ""
    planned = regv1(
        "migrate", host(source), f"oci:{tmp_path / 'layout'}", "--dry-run", "--journal",
        str(tmp_path / "j.sqlite"),
    )  # fmt: skip
    assert planned.stderr == ""
    assert planned.stdout.splitlines()[-1].startswith(f"plan: {REPOS} repositories")
    assert "phase" not in planned.stdout


def _on_a_terminal(*args: str) -> tuple[str, str]:
    """Run regv1 (in this process) with stderr on a pseudo-terminal; (stdout, what the
    terminal got). A thread drains the terminal so that the bars never block on it."""
    controller, terminal = pty.openpty()
    screen = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's last end was closed
                return
            if not chunk:
                return
            screen.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout = io.StringIO()
    try:
        with (
            os.fdopen(terminal, "w", encoding="utf-8") as stderr,
            pytest.MonkeyPatch.context() as patch,
        ):
            assert stderr.isatty()
            patch.setenv("TERM", "xterm")
            patch.setenv("COLUMNS", "160")
            patch.setattr(sys, "stdout", stdout)
            patch.setattr(sys, "stderr", stderr)
            main.main(list(args), prog_name="regv1", standalone_mode=False)
        reader.join(timeout=30)
        assert not reader.is_alive()
    finally:
        os.close(controller)
    return stdout.getvalue(), screen.decode(errors="replace")


def test_a_terminal_gets_a_bar_per_phase(
    source: tuple[Standalone, SeededRegistry], tmp_path: Path
) -> None:
    stdout, screen = _on_a_terminal("inventory", host(source))
    assert len(stdout.splitlines()) == REPOS  # stdout is a pipe: its rows as ever
    assert "\x1b[?25l" in screen  # a live display: the cursor hidden while it redraws
    assert "inventory: repositories read" in screen
    assert f"{REPOS}/{REPOS}" in screen
    assert "requests (" in screen
    assert "/s)" in screen
    assert "images" in screen

    layout = f"oci:{tmp_path / 'layout'}"
    journal = str(tmp_path / "j.sqlite")
    _, screen = _on_a_terminal("migrate", host(source), layout, "--dry-run", "--journal", journal)
    assert "inventory: repositories read" in screen
    assert "plan: repositories listed, tags checked" in screen
