"""The check that every collected test was reported (tests/every_test_ran.py) can fail.

Each case runs pytest in a subprocess on a tiny test directory of its own (its own
``pytest.ini``, so this project's options do not apply, and no plugin but the check
and pytest-xdist), with and without two
pytest-xdist workers, and looks at the exit code and the check's verdict.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[1]

TESTS = """
def test_one():
    assert 1 + 1 == 2

def test_two():
    assert "a" * 2 == "aa"

def test_three():
    assert [3] == [3]
"""

# What the check guards against: an item that is run by nobody, and an item whose
# node id another item has too (so one report stands for both).
SWALLOW_ONE = """
def pytest_runtest_protocol(item, nextitem):
    if item.name == "test_two":
        return True  # handled: no setup, call or teardown report is ever made
"""

DUPLICATE_ONE = """
def pytest_collection_modifyitems(items):
    items.append(items[0])
"""

MODES = {"plain": [], "xdist": ["-p", "xdist.plugin", "-n", "2"]}


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Only the plugins the case needs: pytest starts in a fraction of a second.
    env = os.environ | {
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")])
        ),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "every_test_ran", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tiny_suite(tmp_path: Path, conftest: str = "") -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_tiny.py").write_text(TESTS)
    (tmp_path / "conftest.py").write_text(conftest)
    return tmp_path


@pytest.mark.parametrize("mode", MODES)
def test_a_run_where_every_test_is_reported_passes(tmp_path: Path, mode: str) -> None:
    result = run_pytest(tiny_suite(tmp_path), *MODES[mode])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every test ran: 3 collected, 3 reported" in result.stdout
    assert "3 passed" in result.stdout


@pytest.mark.parametrize("mode", MODES)
def test_a_collected_test_never_reported_fails_the_run(tmp_path: Path, mode: str) -> None:
    result = run_pytest(tiny_suite(tmp_path, SWALLOW_ONE), *MODES[mode])
    # pytest itself sees nothing wrong: two passed, none failed.
    assert "2 passed" in result.stdout
    assert "failed" not in result.stdout.splitlines()[-1]
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "every test ran: NO" in result.stdout
    assert "collected, never reported: test_tiny.py::test_two" in result.stdout
    assert "test_one" not in result.stdout.partition("every test ran: NO")[2]


def test_a_node_id_collected_twice_fails_the_run(tmp_path: Path) -> None:
    result = run_pytest(tiny_suite(tmp_path, DUPLICATE_ONE), *MODES["plain"])
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "collected more than once: test_tiny.py::test_one" in result.stdout


def test_a_run_stopped_early_is_not_counted_against(tmp_path: Path) -> None:
    directory = tiny_suite(tmp_path)
    (directory / "test_tiny.py").write_text(TESTS.replace("1 + 1 == 2", "1 + 1 == 3"))
    result = run_pytest(directory, "-x", *MODES["plain"])
    assert result.returncode == pytest.ExitCode.TESTS_FAILED
    assert "1 failed" in result.stdout
    assert "every test ran" not in result.stdout
