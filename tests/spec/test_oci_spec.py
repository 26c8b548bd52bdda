"""The OCI Distribution spec covers what a migration needs, as the issue lists it.

The table below is transcribed from issue 13 and ../shared/reference/v2-migration.md,
so that dropping an operation, a status or a header from the spec fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi" / "oci-distribution.yaml"
UPLOAD = "/v2/{name}/blobs/uploads/{session}"
MANIFEST = "/v2/{name}/manifests/{reference}"

# (method, path) -> (operationId, statuses)
OPERATIONS: dict[tuple[str, str], tuple[str, set[str]]] = {
    ("get", "/v2/"): ("check_api", {"200", "401", "404"}),
    ("head", "/v2/{name}/blobs/{digest}"): ("blob_exists", {"200", "307", "400", "401", "404"}),
    ("get", "/v2/{name}/blobs/{digest}"): ("get_blob", {"200", "307", "400", "401", "404"}),
    ("post", "/v2/{name}/blobs/uploads/"): (
        "start_upload",
        {"201", "202", "400", "401", "403", "404", "405", "429"},
    ),
    ("get", UPLOAD): ("get_upload_status", {"204", "400", "401", "404"}),
    ("patch", UPLOAD): ("upload_chunk", {"202", "400", "401", "404", "416"}),
    ("put", UPLOAD): ("complete_upload", {"201", "400", "401", "404", "416"}),
    ("delete", UPLOAD): ("cancel_upload", {"204", "400", "401", "404"}),
    ("head", MANIFEST): ("manifest_exists", {"200", "400", "401", "404"}),
    ("get", MANIFEST): ("get_manifest", {"200", "400", "401", "404"}),
    ("put", MANIFEST): ("put_manifest", {"201", "400", "401", "404", "413"}),
    ("delete", MANIFEST): ("delete_manifest", {"202", "400", "401", "404", "405"}),
    ("get", "/v2/{name}/tags/list"): ("list_tags", {"200", "400", "401", "404"}),
    ("get", "/v2/_catalog"): ("list_repositories", {"200", "400", "401"}),
}

# (method, path, status) -> headers the answer must declare
HEADERS: dict[tuple[str, str, str], set[str]] = {
    ("get", "/v2/", "200"): {"Docker-Distribution-Api-Version"},
    ("head", "/v2/{name}/blobs/{digest}", "200"): {"Content-Length", "Docker-Content-Digest"},
    ("get", "/v2/{name}/blobs/{digest}", "200"): {"Content-Length", "Docker-Content-Digest"},
    ("get", "/v2/{name}/blobs/{digest}", "307"): {"Location"},
    ("post", "/v2/{name}/blobs/uploads/", "201"): {"Location", "Docker-Content-Digest"},
    ("post", "/v2/{name}/blobs/uploads/", "202"): {"Location", "Docker-Upload-UUID", "Range"},
    ("patch", UPLOAD, "202"): {"Location", "Docker-Upload-UUID", "Range"},
    ("get", UPLOAD, "204"): {"Location", "Range"},
    ("put", UPLOAD, "201"): {"Location", "Docker-Content-Digest"},
    ("head", MANIFEST, "200"): {"Content-Type", "Docker-Content-Digest"},
    ("get", MANIFEST, "200"): {"Docker-Content-Digest"},
    ("put", MANIFEST, "201"): {"Location", "Docker-Content-Digest"},
    ("get", "/v2/{name}/tags/list", "200"): {"Link"},
    ("get", "/v2/_catalog", "200"): {"Link"},
}

OCI_ERROR_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
}

MANIFEST_TYPES = {
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
}

METHODS = {"get", "head", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"][name]
    return found


def test_every_operation_is_there_with_its_statuses(spec: dict[str, Any]) -> None:
    found = {
        (method, path): (operation["operationId"], set(operation["responses"]))
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }
    assert found == OPERATIONS


def test_answers_declare_their_headers(spec: dict[str, Any]) -> None:
    for (method, path, status), expected in HEADERS.items():
        response = resolve(spec, spec["paths"][path][method]["responses"][status])
        assert expected <= set(response.get("headers", {})), (method, path, status)


def test_every_401_carries_a_challenge(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                response = resolve(spec, operation["responses"]["401"])
                assert "WWW-Authenticate" in response["headers"], (method, path)


def test_security_schemes_are_basic_and_bearer(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["basicAuth"] == {**schemes["basicAuth"], "type": "http", "scheme": "basic"}
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert "scope" in schemes["bearerAuth"]["description"]
    assert spec["security"] == [{}, {"basicAuth": []}, {"bearerAuth": []}]


def test_error_codes_include_the_specs_and_the_body_has_its_shape(spec: dict[str, Any]) -> None:
    assert set(schema(spec, "ErrorCode")["enum"]) >= OCI_ERROR_CODES
    info = schema(spec, "ErrorInfo")
    assert set(info["properties"]) == {"code", "message", "detail"}
    assert info["properties"]["code"]["anyOf"][0] == {"$ref": "#/components/schemas/ErrorCode"}
    errors = schema(spec, "ErrorResponse")
    assert errors["required"] == ["errors"]
    assert errors["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ErrorInfo"}


def test_manifests_use_their_media_types(spec: dict[str, Any]) -> None:
    item = spec["paths"][MANIFEST]
    assert set(item["put"]["requestBody"]["content"]) == MANIFEST_TYPES
    assert set(item["get"]["responses"]["200"]["content"]) == MANIFEST_TYPES
    assert set(schema(spec, "ManifestMediaType")["enum"]) == MANIFEST_TYPES


def test_uploads_take_the_three_post_forms_and_follow_location(spec: dict[str, Any]) -> None:
    post = spec["paths"]["/v2/{name}/blobs/uploads/"]["post"]
    assert {p["name"] for p in post["parameters"] if p["in"] == "query"} == {
        "digest",
        "mount",
        "from",
    }
    for method in ("get", "patch", "put", "delete"):
        assert spec["paths"][UPLOAD][method]["x-follow-location"] is True
    patch_headers = {p["name"] for p in spec["paths"][UPLOAD]["patch"]["parameters"]}
    assert patch_headers == {"Content-Range", "Content-Length"}
    put_query = [p for p in spec["paths"][UPLOAD]["put"]["parameters"] if p["in"] == "query"]
    assert [(p["name"], p["required"]) for p in put_query] == [("digest", True)]


def test_listings_page_with_n_and_last(spec: dict[str, Any]) -> None:
    for path in ("/v2/{name}/tags/list", "/v2/_catalog"):
        parameters = [resolve(spec, p) for p in spec["paths"][path]["get"]["parameters"]]
        assert {p["name"] for p in parameters} == {"n", "last"}
    link = re.compile(spec["components"]["headers"]["Link"]["schema"]["pattern"])
    assert link.match('</v2/_catalog?last=b&n=1>; rel="next"')


def test_name_parameter_keeps_its_slashes(spec: dict[str, Any]) -> None:
    name = spec["components"]["parameters"]["Name"]
    assert name["x-unescaped-slashes"] is True
    assert name["schema"] == {"$ref": "#/components/schemas/RepositoryName"}


COMPONENT = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"


def test_name_pattern_is_the_oci_grammar(spec: dict[str, Any]) -> None:
    name = schema(spec, "RepositoryName")
    assert name["pattern"] == f"^{COMPONENT}(/{COMPONENT})*$"
    pattern = re.compile(name["pattern"])
    for good in ("busybox", "library/busybox", "team/sub/app", "a.b_c__d---e", "0/1/2/3/4"):
        assert pattern.match(good), good
    for bad in ("Team/app", "a..b", "a/", "/a", "a//b", "a_", "-a", "a___b", "a:b", "", "a/.b"):
        assert not pattern.match(bad), bad


NAME_PATTERN = re.compile(
    yaml.safe_load(SPEC_PATH.read_text())["components"]["schemas"]["RepositoryName"]["pattern"]
)


@given(st.lists(st.from_regex(f"^{COMPONENT}$", fullmatch=True), min_size=1, max_size=4))
def test_any_depth_of_valid_components_is_a_name(components: list[str]) -> None:
    assert NAME_PATTERN.match("/".join(components))


def test_tag_and_digest_patterns(spec: dict[str, Any]) -> None:
    tag = re.compile(schema(spec, "Tag")["pattern"])
    assert tag.pattern == "^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
    for good in ("latest", "1.36.1", "_x", "A-b.c_d", "a" * 128):
        assert tag.match(good), good
    for bad in (".x", "-x", "a" * 129, "a/b", "", "a:b"):
        assert not tag.match(bad), bad
    digest = re.compile(schema(spec, "Digest")["pattern"])
    assert digest.match("sha256:" + "e" * 64)
    assert not digest.match("sha256:" + "E" * 64)
    assert not digest.match("md5:" + "e" * 32)
    reference = spec["components"]["parameters"]["Reference"]["schema"]["anyOf"]
    assert reference == [
        {"$ref": "#/components/schemas/Tag"},
        {"$ref": "#/components/schemas/Digest"},
    ]
