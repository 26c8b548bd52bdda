"""Fixtures for the emulator's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain


@pytest.fixture
def chain() -> list[SeedImage]:
    return build_image_chain(3)


@pytest.fixture
def client(standalone: Standalone) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standalone.url, timeout=10) as c:
        yield c
