"""The OpenAPI spec run against the emulator over a real loopback socket (schemathesis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from docker_registry_v1.emulator import Hub, Standalone, run_hub, run_standalone
from docker_registry_v1.emulator.seed import build_image_chain
from hypothesis import settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case
from schemathesis_items import parametrize_by_operation, schema_operation_ids, spec_operation_ids

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi" / "registry-v1.yaml"
schema = schemathesis.openapi.from_path(
    SPEC, config=SchemathesisConfig.from_path(ROOT / "schemathesis.toml")
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_by_operation(metafunc)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Standalone]:
    with run_standalone() as reg:
        yield reg


#: Served by a hub's index only: what its registry asks (REF standalone has no such route).
HUB_INDEX_ONLY = "check_layer_access"
STANDALONE_SCHEMA = schema.exclude(operation_id=HUB_INDEX_ONLY)
# (``include`` does not narrow this schema; excluding every other operation does)
HUB_INDEX_SCHEMA = schema.exclude(operation_id_regex=f"^(?!{HUB_INDEX_ONLY}$)")


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    with run_hub(users={"alice": "s3cret"}) as running:
        running.store.seed("ns/r", "latest", build_image_chain(2))
        yield running


def test_every_operation_of_the_spec_is_run_once() -> None:
    """Each test item below runs one operation: together, every operation in the spec."""
    standalone = schema_operation_ids(STANDALONE_SCHEMA)
    assert standalone + schema_operation_ids(HUB_INDEX_SCHEMA) == [
        *[i for i in spec_operation_ids(SPEC) if i != HUB_INDEX_ONLY],
        HUB_INDEX_ONLY,
    ]
    assert len(set(standalone)) == len(standalone) == 29


@STANDALONE_SCHEMA.parametrize()
@settings(deadline=None)
def test_emulator_conforms_to_spec(case: Case, operation_id: str, emulator: Standalone) -> None:
    assert case.operation.definition.raw["operationId"] == operation_id
    case.call_and_validate(base_url=emulator.url)


@HUB_INDEX_SCHEMA.parametrize()
@settings(deadline=None)
def test_hub_index_conforms_to_spec(case: Case, operation_id: str, hub: Hub) -> None:
    assert operation_id == HUB_INDEX_ONLY
    case.call_and_validate(base_url=hub.index_url)
