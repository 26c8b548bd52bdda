"""A program the suite drives is skipped when missing, except under CI=true, where it fails."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from system_tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
MISSING = "regv1-no-such-program"


def _listed() -> set[str]:
    script = (ROOT / "tools" / "install-system-deps.sh").read_text()
    return set(re.findall(r'^\s+"(\S+) \S+"', script, re.M))


def test_a_present_tool_gives_its_path() -> None:
    path = require_tool("sh")
    assert Path(path).name == "sh"
    assert Path(path).exists()


def test_a_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=MISSING):
        require_tool(MISSING)


def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{MISSING} is not installed.*CI=true"):
        require_tool(MISSING)


def test_install_script_lists_every_tool_the_tests_require() -> None:
    """Every program a test asks ``require_tool`` for has its line in the install script."""
    required = {
        name
        for path in (ROOT / "tests").rglob("*.py")
        for name in re.findall(r'require_tool\("([^"]+)"\)', path.read_text())
    }
    # Go, like Python and Node, is a toolchain the script's header expects, not a Debian
    # package (Debian's is too old for go-containerregistry: tests/v2/referrers_server.py).
    assert required - {"sh", "go"} <= _listed()
    assert {"skopeo", "podman"} <= _listed()


def test_install_script_returns_at_once_when_all_is_present() -> None:
    """With every listed program on the machine the script has nothing to do."""
    for program in sorted(_listed()):
        require_tool(program)
    done = subprocess.run(
        ["bash", str(ROOT / "tools" / "install-system-deps.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
