"""distribution's real answers validate against openapi/oci-distribution.yaml.

Two angles: schemathesis generates schema-valid requests for every operation
and checks status, content type, headers and body against the spec; a push
scenario sends the requests a migration makes and checks each answer the same
way. Only the response-conformance checks run: the server's leniency towards
bad input and its answers to undeclared methods are its business, not the spec's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as generic_checks
from schemathesis.specs.openapi import checks as openapi_checks
from schemathesis_items import parametrize_by_operation, schema_operation_ids, spec_operation_ids
from v2registry import V2Registry, run_registry
from v2wire import SCHEMA2, manifest_bytes, open_client, push_blob, sha256, with_digest

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "oci-distribution.yaml"
SCHEMA = schemathesis.openapi.from_path(SPEC_PATH)
SCHEMA.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])
CONFORMANCE = [
    generic_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]
ERROR_CODES = set(SCHEMA.raw_schema["components"]["schemas"]["ErrorCode"]["enum"])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_by_operation(metafunc)


def test_every_operation_of_the_spec_is_run_once() -> None:
    """Each item of the generated-requests test runs one operation: together, all 14."""
    operations = schema_operation_ids(SCHEMA)
    assert operations == spec_operation_ids(SPEC_PATH)
    assert len(set(operations)) == len(operations) == 14


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Registry]:
    """A registry of its own: the generated requests leave repositories behind."""
    with run_registry("none", tmp_path_factory.mktemp("v2-fuzzed")) as registry:
        yield registry


@SCHEMA.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_answers_the_spec_describes(
    case: schemathesis.Case, operation_id: str, fuzzed: V2Registry
) -> None:
    assert case.operation.definition.raw["operationId"] == operation_id
    case.call_and_validate(base_url=fuzzed.url, checks=CONFORMANCE)


def path_parameters(template: str, path: str) -> dict[str, str]:
    """Read a request path back into the template's parameters (``name`` may hold slashes)."""
    pattern = re.sub(
        r"\{(\w+)\}",
        lambda m: f"(?P<{m[1]}>.+)" if m[1] == "name" else f"(?P<{m[1]}>[^/]+)",
        template,
    )
    found = re.fullmatch(pattern, path)
    assert found is not None, (template, path)
    return found.groupdict()


def conforms(method: str, path: str, response: httpx.Response) -> httpx.Response:
    """Validate `response` as an answer of the spec's operation `method path`."""
    parameters = path_parameters(path, response.request.url.path)
    case = SCHEMA[path][method.upper()].Case(path_parameters=parameters)
    case.validate_response(response, checks=CONFORMANCE)
    if response.status_code >= 400 and method != "head":
        for error in response.json()["errors"]:
            assert error["code"] in ERROR_CODES, error
    return response


def test_a_push_scenario_conforms(v2_any: V2Registry) -> None:
    name = f"conformance/{v2_any.mode}/app"
    upload = "/v2/{name}/blobs/uploads/{session}"
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    layer = b"not really a tar, the registry does not look"
    with open_client(v2_any, name, "conformance/elsewhere") as client:
        conforms("get", "/v2/", client.get("/v2/"))
        anonymous = httpx.get(f"{v2_any.url}/v2/{name}/tags/list")
        conforms("get", "/v2/{name}/tags/list", anonymous)

        started = conforms(
            "post", "/v2/{name}/blobs/uploads/", client.post(f"/v2/{name}/blobs/uploads/")
        )
        location = started.headers["Location"]
        chunk = client.patch(
            location,
            content=layer[:10],
            headers={"Content-Type": "application/octet-stream", "Content-Range": "0-9"},
        )
        conforms("patch", upload, chunk)
        assert chunk.headers["Range"] == "0-9"
        status = conforms("get", upload, client.get(chunk.headers["Location"]))
        assert status.status_code == 204
        assert status.headers["Range"] == "0-9"
        # Only the newest Location is valid: distribution signs the offset into `_state`.
        stale = client.patch(location, content=b"x", headers={"Content-Range": "10-10"})
        conforms("patch", upload, stale)
        assert stale.status_code == 404
        assert stale.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
        done = client.put(
            with_digest(status.headers["Location"], sha256(layer)), content=layer[10:]
        )
        conforms("put", upload, done)
        assert done.status_code == 201

        blob = f"/v2/{name}/blobs/{sha256(layer)}"
        conforms("head", "/v2/{name}/blobs/{digest}", client.head(blob))
        conforms("get", "/v2/{name}/blobs/{digest}", client.get(blob))
        missing = client.get(f"/v2/{name}/blobs/{sha256(b'missing')}")
        assert conforms("get", "/v2/{name}/blobs/{digest}", missing).status_code == 404

        # A manifest naming a blob the repository lacks is refused, then accepted.
        manifest = manifest_bytes(config, [layer])
        headers = {"Content-Type": SCHEMA2}
        refused = client.put(f"/v2/{name}/manifests/1.0", content=manifest, headers=headers)
        conforms("put", "/v2/{name}/manifests/{reference}", refused)
        assert refused.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
        push_blob(client, name, config)
        for tag in ("1.0", "2.0", "3.0"):
            stored = client.put(f"/v2/{name}/manifests/{tag}", content=manifest, headers=headers)
            conforms("put", "/v2/{name}/manifests/{reference}", stored)
            assert stored.headers["Docker-Content-Digest"] == sha256(manifest)
        accept = {"Accept": SCHEMA2}
        by_digest = f"/v2/{name}/manifests/{sha256(manifest)}"
        got = conforms(
            "get", "/v2/{name}/manifests/{reference}", client.get(by_digest, headers=accept)
        )
        assert got.content == manifest
        conforms(
            "head",
            "/v2/{name}/manifests/{reference}",
            client.head(f"/v2/{name}/manifests/1.0", headers=accept),
        )

        page = conforms(
            "get", "/v2/{name}/tags/list", client.get(f"/v2/{name}/tags/list", params={"n": 2})
        )
        # distribution 2.8 ignores `n` and `last` on tags/list (paging came with 3.0):
        # every tag in one unsorted answer, no Link. The catalog pages.
        assert sorted(page.json()["tags"]) == ["1.0", "2.0", "3.0"]
        assert "Link" not in page.headers

        mounted = client.post(
            "/v2/conformance/elsewhere/blobs/uploads/",
            params={"mount": sha256(layer), "from": name},
        )
        conforms("post", "/v2/{name}/blobs/uploads/", mounted)
        assert mounted.status_code == 201

        declined = client.post(
            "/v2/conformance/elsewhere/blobs/uploads/",
            params={"mount": sha256(b"missing"), "from": name},
        )
        conforms("post", "/v2/{name}/blobs/uploads/", declined)
        assert declined.status_code == 202
        # distribution 2.8 appends a chunk wherever its Content-Range says it goes (no
        # 416): the answer's Range is the only truth about what the registry holds.
        gap = client.patch(
            declined.headers["Location"], content=b"abc", headers={"Content-Range": "5-7"}
        )
        assert conforms("patch", upload, gap).headers["Range"] == "0-2"
        conforms("delete", upload, client.delete(gap.headers["Location"]))

        by_tag = client.delete(f"/v2/{name}/manifests/3.0")
        assert conforms("delete", "/v2/{name}/manifests/{reference}", by_tag).status_code == 400
        gone = client.delete(by_digest)
        assert conforms("delete", "/v2/{name}/manifests/{reference}", gone).status_code == 202
        unknown = client.get(by_digest, headers=accept)
        conforms("get", "/v2/{name}/manifests/{reference}", unknown)
        assert unknown.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"

        catalog = conforms("get", "/v2/_catalog", client.get("/v2/_catalog", params={"n": 1}))
        assert len(catalog.json()["repositories"]) == 1
        assert catalog.headers["Link"].endswith('; rel="next"')
