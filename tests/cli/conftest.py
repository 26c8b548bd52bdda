"""CLI tests run with a clean environment: no REGV1_* variables, an empty DOCKER_CONFIG."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("REGV1_REGISTRY", "REGV1_USERNAME", "REGV1_PASSWORD", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    return config_dir


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``-v`` reconfigures logging for the process; in-process runs must not leak it."""
    root, httpcore = logging.getLogger(), logging.getLogger("httpcore")
    handlers, level, httpcore_level = list(root.handlers), root.level, httpcore.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    httpcore.setLevel(httpcore_level)
