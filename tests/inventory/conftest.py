"""Inventory tests: a seeded registry, and the CLI's clean environment.

The environment is cleared as for ``tests/cli`` (no REGV1_* variables, empty
credential files), so the in-process ``regv1`` runs read nothing of the machine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.pytest_plugin import EmulatorFactory
from migrate_support import SeededRegistry, seed_registry

_CLEARED = ("REGV1_REGISTRY", "REGV1_USERNAME", "REGV1_PASSWORD", "REGISTRY_AUTH_FILE", "COLUMNS")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*_CLEARED, "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(name, raising=False)
    for name, directory in (
        ("XDG_RUNTIME_DIR", "runtime"),
        ("XDG_CONFIG_HOME", "config-home"),
        ("DOCKER_CONFIG", "docker-config"),
    ):
        (tmp_path / directory).mkdir()
        monkeypatch.setenv(name, str(tmp_path / directory))


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``-v`` reconfigures logging for the process; in-process runs must not leak it."""
    root, httpcore = logging.getLogger(), logging.getLogger("httpcore")
    handlers, level, httpcore_level = list(root.handlers), root.level, httpcore.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    httpcore.setLevel(httpcore_level)


@pytest.fixture
def seeded(emulator_factory: EmulatorFactory) -> tuple[Standalone, SeededRegistry]:
    """A standalone emulator holding the default seed (30 repositories, 90 tags)."""
    registry = emulator_factory()
    assert isinstance(registry, Standalone)
    return registry, seed_registry(registry.store)
