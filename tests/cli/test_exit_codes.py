"""One exit status convention for every command, documented where people look for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from docker_registry_v1.cli.exitcodes import (
    EXIT_CLOSED_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
)
from regv1_runner import regv1

REGV1 = Path(sys.executable).with_name("regv1")
README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_values_are_the_convention() -> None:
    assert (EXIT_OK, EXIT_FAILED, EXIT_PARTIAL, EXIT_INTERRUPTED, EXIT_CLOSED_PIPE) == (
        0,
        1,
        2,
        130,
        141,
    )


@pytest.mark.parametrize("args", [[], ["inventory"]])
def test_help_documents_every_status(args: list[str]) -> None:
    text = regv1(*args, "--help").stdout
    table = text[text.index("Exit status:") :]
    for code, meaning in (
        (0, "all done"),
        (1, "nothing could start"),
        (2, "some items failed"),
        (130, "interrupted"),
        (141, "reader went away"),
    ):
        assert any(
            line.strip().startswith(str(code)) and meaning in line for line in table.splitlines()
        ), (code, table)


def test_inventory_help_says_problems_exit_0_unless_asked() -> None:
    flat = " ".join(regv1("inventory", "--help").stdout.split())
    assert "--fail-on-problems" in flat
    assert "exit status is 0 with problems too, unless --fail-on-problems (then 2)" in flat


def test_readme_has_the_table() -> None:
    text = README.read_text()
    for row in ("| 0 |", "| 1 |", "| 2 |", "| 130 |", "| 141 |"):
        assert row in text


@pytest.mark.parametrize(
    "args",
    [
        ["tags", "--no-such-option"],
        ["no-such-command"],
        ["metadata", "x/y:1", "--raw", "--json"],
        ["inventory"],  # a missing argument
    ],
)
def test_usage_errors_are_bad_input_and_exit_1(args: list[str]) -> None:
    """Click's own status for these is 2, which here means "some items failed"."""
    done = subprocess.run([str(REGV1), *args], capture_output=True, text=True, check=False)
    assert done.returncode == EXIT_FAILED, done.stderr
    assert done.stdout == ""
    assert "Error:" in done.stderr
    assert "Traceback" not in done.stderr
