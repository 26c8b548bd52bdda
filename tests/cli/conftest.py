"""CLI tests run with a clean environment: no REGV1_* variables, empty credential files.

``DOCKER_CONFIG``, ``XDG_RUNTIME_DIR`` and ``XDG_CONFIG_HOME`` point at fresh
directories so neither docker's nor podman's files of the machine are read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

_CLEARED = (
    "REGV1_REGISTRY",
    "REGV1_USERNAME",
    "REGV1_PASSWORD",
    "REGISTRY_AUTH_FILE",
    "COLUMNS",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Returns the (empty) ``DOCKER_CONFIG`` directory."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, directory in (
        ("XDG_RUNTIME_DIR", "runtime"),
        ("XDG_CONFIG_HOME", "config-home"),
        ("DOCKER_CONFIG", "docker-config"),
    ):
        (tmp_path / directory).mkdir()
        monkeypatch.setenv(name, str(tmp_path / directory))
    return tmp_path / "docker-config"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``-v`` reconfigures logging for the process; in-process runs must not leak it."""
    root, httpcore = logging.getLogger(), logging.getLogger("httpcore")
    handlers, level, httpcore_level = list(root.handlers), root.level, httpcore.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    httpcore.setLevel(httpcore_level)
