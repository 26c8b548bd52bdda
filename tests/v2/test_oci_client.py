"""OCIClient and AsyncOCIClient against a real distribution 2.8 (open and htpasswd modes)."""

from __future__ import annotations

import hashlib
import json
import os

import anyio
import httpx
import pytest
from docker_registry_v1 import BasicAuth, InvalidInput, RetryPolicy
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.oci.auth import SCOPES
from docker_registry_v1.oci.client import AsyncOCIClient, OCIClient
from docker_registry_v1.oci.errors import (
    DigestMismatch,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    NotAV2Registry,
    OCIError,
    OCIUnauthorized,
)
from v2registry import PASSWORD, USER, V2Registry

SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def client_for(registry: V2Registry) -> OCIClient:
    auth = None if registry.credentials is None else BasicAuth(USER, PASSWORD)
    return OCIClient(registry.url, auth=auth)


@pytest.fixture(params=["v2_open", "v2_basic"])
def v2(request: pytest.FixtureRequest) -> V2Registry:
    registry: V2Registry = request.getfixturevalue(request.param)
    return registry


def manifest_for(config: bytes, layers: list[bytes]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": SCHEMA2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
                for layer in layers
            ],
        }
    ).encode()


def test_blobs_manifest_and_tags_round_trip(v2: V2Registry) -> None:
    name = f"client/{v2.mode}/team/app"
    small = os.urandom(1000)
    big = os.urandom(3 * (1 << 20) + 17)
    with client_for(v2) as client:
        assert client.ping() == "registry/2.0"
        assert client.blob_size(name, sha256(small)) is None
        assert client.upload_blob(name, small, digest=sha256(small)).digest == sha256(small)
        streamed = client.upload_blob(name, (big[i : i + 65536] for i in range(0, len(big), 65536)))
        assert streamed.digest == sha256(big)
        assert streamed.size == len(big)
        assert client.blob_size(name, sha256(small)) == len(small)
        assert client.blob_size(name, sha256(big)) == len(big)
        manifest = manifest_for(small, [big])
        assert client.put_manifest(name, "1.0", manifest, SCHEMA2) == sha256(manifest)
        client.put_manifest(name, "latest", manifest, SCHEMA2)
        got = client.get_manifest(name, "1.0")
        assert (got.data, got.media_type, got.digest) == (manifest, SCHEMA2, sha256(manifest))
        assert client.manifest_digest(name, sha256(manifest)) == sha256(manifest)
        assert client.manifest_digest(name, "nope") is None
        assert sorted(client.tags(name)) == ["1.0", "latest"]
        assert name in list(client.catalog(page_size=1))


def test_a_mount_from_another_repository(v2_open: V2Registry) -> None:
    data = os.urandom(5000)
    with client_for(v2_open) as client:
        client.upload_blob("mount/base", data)
        assert client.mount_blob("mount/app", sha256(data), "mount/base").mounted is True
        assert client.blob_size("mount/app", sha256(data)) == len(data)
        missing = sha256(b"never uploaded")
        assert client.mount_blob("mount/app", missing, "mount/base").mounted is False
        assert client.blob_size("mount/app", missing) is None


def test_a_streamed_blob_that_hashes_differently_is_never_committed(v2_open: V2Registry) -> None:
    data = os.urandom(2 << 20)
    wrong = sha256(b"something else")
    with (
        client_for(v2_open) as client,
        pytest.raises(DigestMismatch, match="nothing was committed"),
    ):
        client.upload_blob("client/mismatch", iter([data]), digest=wrong)
    with client_for(v2_open) as client:
        assert client.blob_size("client/mismatch", sha256(data)) is None


def test_rejected_manifests_are_typed_errors_naming_the_image(v2_open: V2Registry) -> None:
    name = "client/rejected"
    with client_for(v2_open) as client:
        unknown_blobs = manifest_for(b"{}", [b"no such layer"])
        with pytest.raises(ManifestBlobUnknown, match=f"manifest {name}:1.0") as caught:
            client.put_manifest(name, "1.0", unknown_blobs, SCHEMA2)
        assert caught.value.error_code == "MANIFEST_BLOB_UNKNOWN"
        with pytest.raises(ManifestInvalid) as invalid:
            client.put_manifest(name, "1.0", b'{"schemaVersion": 2}', SCHEMA2)
        assert invalid.value.code == 400
        with pytest.raises(ManifestUnknown):
            client.get_manifest(name, "1.0")
        with pytest.raises(NameUnknown):  # nothing was tagged: the repository does not exist
            list(client.tags(name))


def test_a_v1_registry_is_not_a_v2_registry(standalone: Standalone) -> None:
    with OCIClient(standalone.url) as client, pytest.raises(NotAV2Registry, match="GET /v2/"):
        client.ping()


@pytest.mark.parametrize(
    ("name", "field"),
    [("Team/App", "name"), ("a..b", "name"), ("ok", "reference")],
)
def test_bad_names_and_references_never_reach_the_wire(name: str, field: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"sent {request.url}")

    client = OCIClient("http://registry.test", transport=httpx.MockTransport(refuse))
    with pytest.raises(InvalidInput) as caught:
        client.put_manifest(name, "bad tag!" if field == "reference" else "1", b"{}", SCHEMA2)
    assert caught.value.field == field


def test_wrong_credentials_are_unauthorized(v2_basic: V2Registry) -> None:
    with OCIClient(v2_basic.url, auth=BasicAuth(USER, "wrong")) as client:
        assert client.ping() == "registry/2.0"  # a 401 challenge still says v2
        with pytest.raises(OCIUnauthorized) as caught:
            client.blob_size("client/secret", sha256(b""))
    assert "wrong" not in str(caught.value)
    assert caught.value.code == 401


def test_basic_credentials_stay_with_the_registry_host() -> None:
    seen: list[tuple[str, str | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("Authorization")))
        if request.url.host == "registry.test" and "Authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="registry"'})
        if request.url.path == "/v2/":
            return httpx.Response(200)
        if request.method != "PUT":
            return httpx.Response(
                202, headers={"Location": "http://storage.test/upload?_state=abc"}
            )
        return httpx.Response(201, headers={"Docker-Content-Digest": sha256(b"x" * 10)})

    transport = httpx.MockTransport(answer)
    with OCIClient("http://registry.test", auth=BasicAuth("u", "p"), transport=transport) as client:
        client.upload_blob("a/b", iter([b"x" * 10]))
    assert seen[0] == ("registry.test", None)  # the challenge is learnt first
    assert any(host == "registry.test" and auth is not None for host, auth in seen)
    assert all(auth is None for host, auth in seen if host == "storage.test")
    assert len([host for host, _ in seen if host == "storage.test"]) == 2


def test_the_digest_is_appended_to_the_location_query() -> None:
    urls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        if request.method == "PUT":
            return httpx.Response(201)
        return httpx.Response(202, headers={"Location": "/v2/a/b/blobs/uploads/u1?_state=s%3D1"})

    with OCIClient("http://registry.test", transport=httpx.MockTransport(answer)) as client:
        done = client.upload_blob("a/b", iter([b"data"]))
    assert urls[-1] == (
        f"http://registry.test/v2/a/b/blobs/uploads/u1?_state=s%3D1&digest={done.digest}".replace(
            ":", "%3A"
        ).replace("http%3A", "http:")
    )


def test_server_errors_are_retried_on_repeatable_steps() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            return httpx.Response(
                503, json={"errors": [{"code": "UNAVAILABLE", "message": "busy"}]}
            )
        return httpx.Response(200, headers={"Content-Length": "4"})

    with OCIClient(
        "http://registry.test",
        transport=httpx.MockTransport(answer),
        retry=RetryPolicy(base_delay=0, jitter=0),
    ) as client:
        assert client.blob_size("a/b", sha256(b"data")) == 4
    assert calls == 3


def test_error_bodies_become_typed_errors() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"errors": [{"code": "NAME_INVALID", "message": "invalid name"}]}
        )

    transport = httpx.MockTransport(answer)
    with (
        OCIClient("http://registry.test", transport=transport) as client,
        pytest.raises(OCIError, match="invalid name") as caught,
    ):
        client.put_manifest("team/app", "1", b"{}", SCHEMA2)
    assert isinstance(caught.value, NameInvalid)
    assert caught.value.error_code == "NAME_INVALID"


def test_the_async_client_does_the_same(v2_basic: V2Registry) -> None:
    name = "client/async/app"
    data = os.urandom(2 << 20)

    async def chunks() -> object:
        for start in range(0, len(data), 1 << 16):
            yield data[start : start + (1 << 16)]

    async def main() -> None:
        async with AsyncOCIClient(v2_basic.url, auth=BasicAuth(USER, PASSWORD)) as client:
            assert await client.ping() == "registry/2.0"
            uploaded = await client.upload_blob(name, chunks())  # type: ignore[arg-type]
            assert uploaded.digest == sha256(data)
            config = b"{}"
            await client.upload_blob(name, config)
            manifest = manifest_for(config, [data])
            assert await client.put_manifest(name, "v1", manifest, SCHEMA2) == sha256(manifest)
            assert [tag async for tag in client.tags(name)] == ["v1"]
            assert (await client.get_manifest(name, "v1")).data == manifest

    anyio.run(main)


def test_every_request_names_the_token_scopes_it_needs() -> None:
    scopes: list[tuple[str, tuple[str, ...]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        scopes.append((request.method, request.extensions.get(SCOPES, ())))
        if request.method == "HEAD":
            return httpx.Response(404)
        if request.url.path.endswith("/_catalog"):
            return httpx.Response(200, json={"repositories": []})
        return httpx.Response(201)

    with OCIClient("http://registry.test", transport=httpx.MockTransport(answer)) as client:
        client.blob_size("team/app", sha256(b""))
        assert client.mount_blob("team/app", sha256(b""), "base/img").mounted is True
        assert list(client.catalog()) == []
    assert scopes == [
        ("HEAD", ("repository:team/app:pull",)),
        ("POST", ("repository:team/app:pull,push", "repository:base/img:pull")),
        ("GET", ("registry:catalog:*",)),
    ]
