"""Fixtures for the migrate tests: a seeded v1 emulator and real v2 registries.

The seeded source is the shared `migrate_support` registry (≥ 30 repositories,
≥ 80 tags, shared base chains). Registries are per test, so every count read from
distribution's request log belongs to that test alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_registry_v1.emulator.server import run_standalone
from migrate_checks import Seeded
from migrate_support import seed_registry
from v2.v2registry import V2Registry, run_registry


@pytest.fixture
def seeded() -> Iterator[Seeded]:
    with run_standalone() as emulator:
        seed = seed_registry(emulator.store, repos=30, tags_per_repo=3, base_chains=3, seed=14)
        yield Seeded(emulator, seed)


@pytest.fixture
def v2_fresh(tmp_path: Path) -> Iterator[V2Registry]:
    """A distribution registry of this test's own, without auth."""
    with run_registry("none", tmp_path / "v2") as registry:
        yield registry


@pytest.fixture
def v2_second(tmp_path: Path) -> Iterator[V2Registry]:
    """Another one, for comparing a clean run against a resumed one."""
    with run_registry("none", tmp_path / "v2-second") as registry:
        yield registry


@pytest.fixture
def v2_token_fresh(tmp_path: Path) -> Iterator[V2Registry]:
    with run_registry("token", tmp_path / "v2-token") as registry:
        yield registry


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default journals go under the test's directory, never the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
