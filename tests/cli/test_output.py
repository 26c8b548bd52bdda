"""Output styles: plain and whole when piped, tables on a terminal, one JSON document."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from cli_support import chain, netloc
from docker_registry_v1.cli import options, output
from docker_registry_v1.emulator import Standalone
from regv1_runner import document, regv1
from rich.console import Console

REGV1 = Path(sys.executable).with_name("regv1")
LONG_TAG = "t" * 99 + "1"
BOX_AND_ELLIPSIS = set("─│┃━┏┓┗┛┡┩└┘┌┐├┤┬┴┼╭╮╯╰…")


@pytest.fixture
def long_tags(standalone: Standalone) -> Standalone:
    standalone.store.seed("team/app", LONG_TAG, chain(2))
    standalone.store.seed("team/app", "1.0", chain(1, seed=5))
    return standalone


def _tty(monkeypatch: pytest.MonkeyPatch, width: int = 80) -> None:
    """Make regv1's stdout a terminal of ``width`` columns (as rich sees one)."""

    def console() -> Console:
        return Console(
            file=sys.stdout,
            force_terminal=True,
            width=width,
            highlight=False,
            soft_wrap=True,
            markup=False,
            emoji=False,
        )

    monkeypatch.setattr(output, "stdout_console", console)


def test_piped_tags_are_plain_and_whole(long_tags: Standalone) -> None:
    """The real ``regv1`` with stdout a pipe: tab-separated, nothing cut, no table."""
    assert len(LONG_TAG) == 100
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REGV1_")}
    result = subprocess.run(
        [str(REGV1), "tags", f"{netloc(long_tags.url)}/team/app"],
        capture_output=True,
        text=True,
        # rich alone would take either for a terminal; a pipe is still a pipe
        env=environment | {"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"1.0\t{chain(1, seed=5)[0].id}",
        f"{LONG_TAG}\t{chain(2)[-1].id}",
    ]
    assert not BOX_AND_ELLIPSIS & set(result.stdout)
    assert len(chain(2)[-1].id) == 64


def test_table_on_a_terminal_cuts_unless_no_trunc(
    long_tags: Standalone, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tty(monkeypatch)
    ref = f"{netloc(long_tags.url)}/team/app"
    tip = chain(2)[-1].id
    cut = regv1("tags", ref, "--format", "table")
    assert cut.exit_code == 0, cut.stderr
    assert tip[:12] in cut.stdout
    assert tip not in cut.stdout
    assert LONG_TAG not in cut.stdout
    assert "…" in cut.stdout
    assert max(len(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in cut.stdout.splitlines()) <= 80

    whole = regv1("tags", ref, "--format", "table", "--no-trunc")
    assert whole.exit_code == 0, whole.stderr
    assert tip in whole.stdout
    assert LONG_TAG in whole.stdout
    assert "…" not in whole.stdout
    assert "┃" in whole.stdout or "│" in whole.stdout  # still a table

    default = regv1("tags", ref)  # a terminal without --format: a table
    assert default.stdout == cut.stdout


def test_styles_off_a_terminal(long_tags: Standalone, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = f"{netloc(long_tags.url)}/team/app"
    tip = chain(2)[-1].id
    table = regv1("tags", ref, "--format", "table")  # asked for, but not a terminal: whole
    assert table.exit_code == 0, table.stderr
    assert tip in table.stdout
    assert LONG_TAG in table.stdout
    assert "…" not in table.stdout

    _tty(monkeypatch)
    plain = regv1("tags", ref, "--format", "plain")
    assert plain.stdout.splitlines()[1] == f"{LONG_TAG}\t{tip}"
    as_json = document(regv1("tags", ref, "--format", "json"))
    assert as_json == document(regv1("tags", ref, "--json"))
    assert as_json["tags"][LONG_TAG] == tip
    assert json.loads(regv1("tags", ref, "--json", "--format", "json").stdout) == as_json
    assert regv1("tags", ref, "--json", "--format", "table").exit_code == 1


def test_ancestry_and_search_follow_the_style(
    standalone: Standalone, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, tip = chain(2)
    standalone.store.seed("team/app", "1.0", [base, tip])
    ref = f"{netloc(standalone.url)}/team/app:1.0"
    assert regv1("ancestry", ref).stdout.splitlines() == [tip.id, base.id]
    searched = regv1("search", "app", "--registry", standalone.url)
    assert searched.stdout.splitlines()[0].split("\t")[0] == "team/app"
    _tty(monkeypatch)
    short = regv1("ancestry", ref)
    assert tip.id[:12] in short.stdout
    assert tip.id not in short.stdout
    assert tip.id in regv1("ancestry", ref, "--no-trunc").stdout


def test_plain_cells_stay_on_one_line() -> None:
    """Free text (search descriptions) cannot break a tab-separated line: tabs and
    newlines in a cell are shown as escapes."""
    settings = regv1_settings(output_format="plain")
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False)
    output.print_table(
        settings, console, [output.Column("A"), output.Column("B")], [("x\ty", "line\nbreak")]
    )
    assert buffer.getvalue() == "x\\ty\tline\\nbreak\n"


def regv1_settings(**changes: object) -> options.Settings:
    return attrs.evolve(options.NO_OPTIONS, **changes)
