"""Each schemathesis operation as a test item of its own, with a node id that names it.

schemathesis' ``parametrize()`` makes one item per API operation, but under pytest 9
every such item gets the same node id, the bare function name: reports cannot tell the
operations apart, and pytest-xdist, which schedules and reports items by node id, shows
the 29 operations as one test, so nobody can tell whether each ran. A module whose
``pytest_generate_tests`` calls :func:`parametrize_by_operation` gives every operation's
item the parameter ``operation_id`` (the spec's ``operationId``): its node id becomes
``test_x[GET /path][operationId]``, unique, and the same in every process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from schemathesis.generation.hypothesis.builder import ApiOperationMark
from schemathesis.schemas import APIOperation, BaseSchema

ROOT = Path(__file__).resolve().parents[1]


def spec_operation_ids(spec: Path) -> list[str]:
    """Every ``operationId`` in an OpenAPI document, in document order."""
    document = yaml.safe_load(spec.read_text())
    return [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]


def schema_operation_ids(schema: BaseSchema) -> list[str]:
    """The ``operationId`` of every operation a (filtered) schemathesis schema runs."""
    return [_identifier(result.ok()) for result in schema.get_all_operations()]


def _identifier(operation: APIOperation) -> str:
    identifier = operation.definition.raw.get("operationId")
    if not isinstance(identifier, str):
        raise pytest.UsageError(f"{operation.label} has no operationId in the spec")
    return identifier


def parametrize_by_operation(metafunc: pytest.Metafunc) -> None:
    """Parametrize a schemathesis test's item by the operation it runs."""
    if "operation_id" not in metafunc.fixturenames:
        return
    operation = ApiOperationMark.get(metafunc.definition.obj)
    if operation is None:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: operation_id is for schemathesis tests only"
        )
    metafunc.parametrize("operation_id", [_identifier(operation)])
