"""The import-linter contracts of pyproject.toml (`make lint-imports`) hold for the package,
and they do catch a layer reaching up: the same check on a copy of the package with one
planted upward import fails, naming it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(overlay: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{overlay}{os.pathsep}{ROOT / 'generated'}"}
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    overlay = tmp_path / "overlay"
    shutil.copytree(
        ROOT / "overlay" / "docker_registry_v1",
        overlay / "docker_registry_v1",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return overlay


def test_the_package_keeps_every_contract() -> None:
    done = lint(ROOT / "overlay")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("formats/archive/names.py", "import docker_registry_v1.transfer", "Layers"),
        ("emulator/store.py", "import docker_registry_v1.oci.client", "emulator stands alone"),
        ("formats/layout.py", "import docker_registry_v1.v1.client", "File formats"),
        ("v1/services.py", "import docker_registry_v1.oci.client", "Layers"),
    ],
)
def test_a_planted_upward_import_breaks_a_contract(
    package_copy: Path, module: str, planted: str, contract: str
) -> None:
    path = package_copy / "docker_registry_v1" / module
    path.write_text(path.read_text() + f"\n{planted}  # planted by the test\n")
    done = lint(package_copy)
    assert done.returncode == 1, done.stdout + done.stderr
    broken = done.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    assert planted.split()[1] in broken
