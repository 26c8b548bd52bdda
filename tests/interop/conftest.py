"""Fixtures of the interoperability tests: an emulator behind a real nginx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_registry_v1.emulator import run_standalone
from interop_support import Fronted, nginx_front


@pytest.fixture
def nginx_registry(tmp_path: Path) -> Iterator[Fronted]:
    with run_standalone() as registry, nginx_front(registry.url, tmp_path / "nginx") as url:
        yield Fronted(registry, url)
