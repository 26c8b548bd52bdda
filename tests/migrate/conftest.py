"""Fixtures for the migrate tests: a seeded v1 emulator and real v2 registries.

The seeded source is the shared `migrate_support` registry (≥ 30 repositories,
≥ 80 tags, shared base chains). Registries are per test, so every count read from
distribution's request log belongs to that test alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.server import run_standalone
from migrate_support import SeededRegistry, seed_registry
from v2.v2registry import V2Registry, run_registry

_UPLOADED = re.compile(
    r'http\.request\.method=PUT .*http\.request\.uri="/v2/(?P<name>[^"]+?)/blobs/uploads/'
    r'[^"]*[?&]digest=sha256%3A(?P<hex>[0-9a-f]{64})[^"]*".*http\.response\.status=201'
)
_MOUNTED = re.compile(
    r'http\.request\.method=POST .*http\.request\.uri="/v2/[^"]+?/blobs/uploads/\?mount='
    r'sha256%3A(?P<hex>[0-9a-f]{64})[^"]*".*http\.response\.status=201'
)

SOME = "app[01]"
"""About half the seeded repositories, for the tests that run a migration several times."""


@attrs.frozen
class Seeded:
    """The running source emulator and what was seeded into it."""

    emulator: Standalone
    seed: SeededRegistry

    @property
    def host(self) -> str:
        return self.emulator.url.removeprefix("http://")

    def tips(self, pattern: str = "") -> set[str]:
        """The tagged images of the repositories ``pattern`` finds (``re.search``)."""
        return {tip for repo, _, tip in self.seed.tag_pairs() if re.search(pattern, repo)}

    def unique_images(self, pattern: str = "") -> set[str]:
        return {image for tip in self.tips(pattern) for image in self.seed.chains[tip]}

    def unique_blobs(self, pattern: str = "") -> int:
        """Layer blobs (one per unique image) plus one config per distinct tagged image."""
        return len(self.unique_images(pattern)) + len(self.tips(pattern))

    def layer_gets(self) -> list[str]:
        """Image ids of the layer GETs the source answered."""
        return [
            entry.path.split("/")[3]
            for entry in self.emulator.log.entries
            if entry.method == "GET"
            and entry.path.endswith("/layer")
            and entry.status in {200, 206}
        ]


def uploaded_blobs(registry: V2Registry) -> list[str]:
    """Digests of every blob upload distribution completed (201 to the final PUT)."""
    found = (_UPLOADED.search(line) for line in registry.log_lines())
    return [f"sha256:{match['hex']}" for match in found if match]


def mounted_blobs(registry: V2Registry) -> list[str]:
    found = (_MOUNTED.search(line) for line in registry.log_lines())
    return [f"sha256:{match['hex']}" for match in found if match]


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
