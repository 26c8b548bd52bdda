"""The spec covers the whole v1 reference, and the generated client covers the spec.

The tables below are transcribed from ../shared/reference/v1-protocol.md (section c)
so that dropping an endpoint or a documented status from the spec fails here.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker_registry_v1 import InvalidInput, RepositoryName
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi" / "registry-v1.yaml"
GENERATED = ROOT / "generated"

# (method, path) -> (operationId, statuses the reference lists for it)
REFERENCE: dict[tuple[str, str], tuple[str, set[str]]] = {
    # registry (R1-R12)
    ("get", "/v1/_ping"): ("ping", {"200"}),
    ("get", "/v1/images/{image_id}/layer"): (
        "get_image_layer",
        {"200", "206", "302", "304", "400", "401", "404", "416"},
    ),
    ("put", "/v1/images/{image_id}/layer"): (
        "add_image_layer",
        {"200", "401", "404", "409", "412"},
    ),
    ("get", "/v1/images/{image_id}/json"): (
        "get_image_metadata",
        {"200", "304", "400", "401", "404"},
    ),
    ("put", "/v1/images/{image_id}/json"): (
        "add_image_metadata",
        {"200", "400", "401", "409"},
    ),
    ("put", "/v1/images/{image_id}/checksum"): (
        "put_image_checksum",
        {"200", "400", "401", "404", "409", "412", "500"},
    ),
    ("get", "/v1/images/{image_id}/ancestry"): (
        "get_image_ancestry",
        {"200", "304", "400", "401", "404"},
    ),
    ("get", "/v1/repositories/{namespace}/{repository}/tags"): (
        "list_tags",
        {"200", "401", "404"},
    ),
    ("get", "/v1/repositories/{namespace}/{repository}/tags/{tag}"): (
        "get_image_id",
        {"200", "401", "404"},
    ),
    ("put", "/v1/repositories/{namespace}/{repository}/tags/{tag}"): (
        "set_tag",
        {"200", "400", "401", "404"},
    ),
    ("delete", "/v1/repositories/{namespace}/{repository}/tags/{tag}"): (
        "delete_tag",
        {"200", "401", "404"},
    ),
    # R12 and I2 share one path and method (tagged registry, x-roles names both).
    ("delete", "/v1/repositories/{namespace}/{repository}/"): (
        "delete_repository",
        {"200", "202", "400", "401", "403", "404"},
    ),
    # index (I1-I10)
    ("put", "/v1/repositories/{namespace}/{repository}/"): (
        "create_repository",
        {"200", "201", "400", "401", "403"},
    ),
    ("put", "/v1/repositories/{namespace}/{repository}/images"): (
        "update_repository_images",
        {"204", "400", "401", "403"},
    ),
    ("get", "/v1/repositories/{namespace}/{repository}/images"): (
        "list_repository_images",
        {"200", "401", "404"},
    ),
    ("put", "/v1/repositories/{namespace}/{repository}/auth"): (
        "authorize_token",
        {"200", "403", "404"},
    ),
    # I11: what a token-mode reference registry asks its index about parents
    ("get", "/v1/repositories/{namespace}/{repository}/layer/{image_id}/access"): (
        "check_layer_access",
        {"200", "401"},
    ),
    ("get", "/v1/users/"): ("check_login", {"200", "401", "403"}),
    ("post", "/v1/users/"): ("create_user", {"201", "400", "401"}),
    ("put", "/v1/users/{username}/"): ("update_user", {"204", "400", "401", "403", "404"}),
    ("get", "/v1/search"): ("search", {"200", "404", "500"}),
}

# Reference-server-only routes (R14-R17, R19, I5, the root ping and the tags alias of R12).
REFERENCE_SERVER_ONLY = {
    ("get", "/_ping"),
    ("get", "/"),
    ("get", "/v1/images/{image_id}/files"),
    ("get", "/v1/repositories/{namespace}/{repository}/json"),
    ("get", "/v1/repositories/{namespace}/{repository}/tags/{tag}/json"),
    ("get", "/v1/repositories/{namespace}/{repository}/properties"),
    ("put", "/v1/repositories/{namespace}/{repository}/properties"),
    ("delete", "/v1/repositories/{namespace}/{repository}/images"),
    ("delete", "/v1/repositories/{namespace}/{repository}/tags"),
}

HTTP_METHODS = {"get", "put", "post", "delete", "head", "options", "patch", "trace"}
ROLE_TAGS = {"registry", "index", "search", "users"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): op
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    }


def test_spec_is_openapi_31(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1.")


@pytest.mark.parametrize(
    ("key", "expected"),
    [pytest.param(key, value, id=f"{key[0]} {key[1]}") for key, value in sorted(REFERENCE.items())],
)
def test_every_reference_endpoint_has_its_operation(
    spec: dict[str, Any], key: tuple[str, str], expected: tuple[str, set[str]]
) -> None:
    ops = operations(spec)
    assert key in ops, f"{key[0].upper()} {key[1]} is missing from the spec"
    operation_id, statuses = expected
    op = ops[key]
    assert op["operationId"] == operation_id
    missing = statuses - set(op["responses"])
    assert not missing, f"{operation_id} does not document {sorted(missing)}"
    for status, response in op["responses"].items():
        described = response.get("description") or response.get("$ref")
        assert described, f"{operation_id} {status} has no meaning attached"


def test_reference_server_extras_are_marked(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    for key in REFERENCE_SERVER_ONLY:
        assert key in ops, f"{key} is missing"
        assert ops[key].get("x-reference-server-only") is True, key
    marked = {key for key, op in ops.items() if op.get("x-reference-server-only")}
    assert marked == REFERENCE_SERVER_ONLY


def test_spec_has_nothing_beyond_the_reference(spec: dict[str, Any]) -> None:
    assert set(operations(spec)) == set(REFERENCE) | REFERENCE_SERVER_ONLY


def test_operations_are_named_and_tagged(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for op in operations(spec).values()]
    assert len(ids) == len(set(ids))
    for key, op in operations(spec).items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", op["operationId"]), key
        assert op.get("summary"), key
        assert op["tags"], key
        assert set(op["tags"]) <= ROLE_TAGS, key


def test_trailing_slashes_match_real_servers(spec: dict[str, Any]) -> None:
    slashed = {path for path in spec["paths"] if path.endswith("/") and path != "/"}
    assert slashed == {
        "/v1/repositories/{namespace}/{repository}/",
        "/v1/users/",
        "/v1/users/{username}/",
    }


def test_path_parameters_are_separate_and_constrained(spec: dict[str, Any]) -> None:
    params = spec["components"]["parameters"]
    for name in ("Namespace", "Repository", "Tag", "ImageId"):
        schema = params[name]["schema"]
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        pattern = re.compile(schema["pattern"])
        assert not pattern.search("a/b"), f"{name} must not accept a slash"
        assert not pattern.fullmatch(".."), f"{name} must not accept '..'"
    for path in spec["paths"]:
        assert "{name}" not in path, path
        assert "{repo}" not in path, path


def test_header_contracts(spec: dict[str, Any]) -> None:
    headers = set(spec["components"]["headers"])
    assert {
        "X-Docker-Token",
        "X-Docker-Endpoints",
        "X-Docker-Size",
        "X-Docker-Checksum-Payload",
        "X-Docker-Registry-Standalone",
        "Accept-Ranges",
        "Content-Range",
        "Location",
    } <= headers
    ops = operations(spec)
    checksum = ops[("put", "/v1/images/{image_id}/checksum")]
    names = {p["name"] for p in checksum["parameters"]}
    assert "X-Docker-Checksum-Payload" in names
    layer = ops[("get", "/v1/images/{image_id}/layer")]
    assert any(p.get("$ref", "").endswith("/Range") for p in layer["parameters"])
    schemes = spec["components"]["securitySchemes"]
    assert schemes["basicAuth"]["scheme"] == "basic"
    assert schemes["tokenAuth"]["name"] == "Authorization"


def test_search_page_may_be_a_string(spec: dict[str, Any]) -> None:
    page = spec["components"]["schemas"]["SearchResults"]["properties"]["page"]
    assert {alt["type"] for alt in page["oneOf"]} == {"integer", "string"}
    params = {p["name"]: p for p in spec["paths"]["/v1/search"]["get"]["parameters"] if "name" in p}
    for name in ("n", "page"):
        assert "default" not in params[name]["schema"], f"{name} would be sent on every call"


@pytest.mark.parametrize("key", sorted(set(REFERENCE) | REFERENCE_SERVER_ONLY), ids=str)
def test_each_operation_has_a_generated_module(spec: dict[str, Any], key: tuple[str, str]) -> None:
    op = operations(spec)[key]
    module = importlib.import_module(
        f"docker_registry_v1_api.api.{op['tags'][0]}.{op['operationId']}"
    )
    for name in ("build_request", "parse_response", "sync_detailed", "asyncio_detailed"):
        assert callable(getattr(module, name)), f"{module.__name__}.{name}"
    assert inspect.iscoroutinefunction(module.asyncio_detailed)


def test_every_generated_file_says_it_is_generated() -> None:
    files = sorted(GENERATED.rglob("*.py"))
    assert len(files) > 40
    for path in files:
        head = path.read_text(encoding="utf-8").splitlines()[:2]
        assert head[0].startswith("# @generated by "), path
        assert "make generate" in head[1], path


@functools.cache
def _spec_parameters() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return dict(loaded["components"]["parameters"])


@settings(max_examples=300, derandomize=True, deadline=None)
@given(part=st.text(alphabet="aZ09_.-/:é ", max_size=8))
def test_facade_name_rules_match_the_spec(part: str) -> None:
    """The facade accepts a namespace or repository part exactly when the spec does."""
    params = _spec_parameters()
    for param, build in (
        ("Namespace", lambda p: f"{p}/repo"),
        ("Repository", lambda p: f"ns/{p}"),
    ):
        schema = params[param]["schema"]
        by_spec = (
            schema["minLength"] <= len(part) <= schema["maxLength"]
            and re.fullmatch(schema["pattern"], part) is not None
        )
        try:
            RepositoryName.parse(build(part))
            by_facade = True
        except InvalidInput:
            by_facade = False
        assert by_facade == by_spec, (param, part)
