"""The OpenAPI spec run against the emulator over a real loopback socket (schemathesis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from docker_registry_v1.emulator import Standalone, run_standalone
from hypothesis import settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case

ROOT = Path(__file__).resolve().parents[2]
schema = schemathesis.openapi.from_path(
    ROOT / "openapi" / "registry-v1.yaml",
    config=SchemathesisConfig.from_path(ROOT / "schemathesis.toml"),
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Standalone]:
    with run_standalone() as reg:
        yield reg


@schema.parametrize()
@settings(deadline=None)
def test_emulator_conforms_to_spec(case: Case, emulator: Standalone) -> None:
    case.call_and_validate(base_url=emulator.url)
