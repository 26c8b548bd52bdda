"""Edge cases of `oci.referrers` that no real registry here answers: paging, a broken
fallback index, another tool's referrers, artifacts that are not ours. A mock transport
plays a registry without the referrers API (404) or with a paged one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import anyio
import httpx
import pytest
from docker_registry_v1.formats.archive.compression import Compression
from docker_registry_v1.formats.provenance import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Image,
    Layer,
    Provenance,
    Source,
    Stored,
    artifact_descriptor,
    artifact_manifest,
    encode,
    fallback_tag,
)
from docker_registry_v1.oci.client import AsyncOCIClient, OCIClient
from docker_registry_v1.oci.errors import EndlessPagingError, ReferrersError
from docker_registry_v1.oci.referrers import Mechanism, attach, read_provenance, referrers

SUBJECT = "sha256:" + "a" * 64
NAME = "team/app"
OTHER_TOOL = {
    "mediaType": MANIFEST_MEDIA_TYPE,
    "digest": "sha256:" + "b" * 64,
    "size": 10,
    "artifactType": "application/vnd.example.sbom",
}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def record(image_id: str = "c" * 64) -> Provenance:
    layer = Layer(Compression.NONE, Stored.GZIP, 10, sha256(b"blob"), sha256(b"tar"))
    return Provenance(
        Source("http://old.example:5000", NAME, "1.0"),
        (Image(image_id, b'{"id":"x"}', ("sha256:" + "d" * 64,), layer),),
    )


def artifact(subject: str = SUBJECT, image_id: str = "c" * 64) -> tuple[bytes, bytes]:
    document = encode(record(image_id))
    descriptor = {"mediaType": MANIFEST_MEDIA_TYPE, "digest": subject, "size": 100}
    return artifact_manifest(descriptor, document, record().source), document


class Registry:
    """Manifests and blobs by digest or tag, no referrers API unless ``pages`` is set."""

    def __init__(self) -> None:
        self.manifests: dict[str, bytes] = {}
        self.blobs: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.pages: Callable[[httpx.Request], httpx.Response] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/referrers/" in path:
            if self.pages is None:
                return httpx.Response(404)
            return self.pages(request)
        if "/manifests/" in path:
            reference = path.rsplit("/", 1)[1]
            if request.method == "PUT":
                self.puts.append(reference)
                self.manifests[reference] = request.read()
                return httpx.Response(
                    201, headers={"Docker-Content-Digest": sha256(request.read())}
                )
            data = self.manifests.get(reference)
            if data is None:
                body = {"errors": [{"code": "MANIFEST_UNKNOWN"}]}
                return httpx.Response(404, json=body)
            headers = {"Docker-Content-Digest": sha256(data), "Content-Type": MANIFEST_MEDIA_TYPE}
            return httpx.Response(
                200, content=b"" if request.method == "HEAD" else data, headers=headers
            )
        if "/blobs/uploads/" in path:
            digest = request.url.params.get("digest")
            if digest is not None:
                self.blobs[digest] = request.read()
                return httpx.Response(201, headers={"Docker-Content-Digest": digest})
            return httpx.Response(202, headers={"Location": f"/v2/{NAME}/blobs/uploads/1"})
        if "/blobs/" in path:
            digest = path.rsplit("/", 1)[1]
            data = self.blobs.get(digest)
            if data is None:
                return httpx.Response(404)
            headers = {"Content-Length": str(len(data))}
            return httpx.Response(
                200, content=b"" if request.method == "HEAD" else data, headers=headers
            )
        return httpx.Response(200, json={})


def client(registry: Registry) -> OCIClient:
    return OCIClient("http://registry.test", transport=httpx.MockTransport(registry), retry=None)


def test_the_fallback_index_keeps_another_tools_referrers_and_is_not_rewritten() -> None:
    registry = Registry()
    registry.manifests[fallback_tag(SUBJECT)] = json.dumps(
        {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [OTHER_TOOL]}
    ).encode()
    manifest, document = artifact()
    with client(registry) as oci:
        subject = {"mediaType": MANIFEST_MEDIA_TYPE, "digest": SUBJECT, "size": 100}
        assert attach(oci, NAME, subject, manifest, [document]) is Mechanism.FALLBACK
        listed = referrers(oci, NAME, SUBJECT)
        assert listed[0] == OTHER_TOOL
        assert listed[1] == artifact_descriptor(manifest)
        puts = len(registry.puts)
        assert attach(oci, NAME, subject, manifest, [document]) is Mechanism.FALLBACK
        assert len(registry.puts) == puts  # the artifact HEADed, the index left alone
        assert oci.referrers_api is False
        assert read_provenance(oci, NAME, SUBJECT) == [record()]


def test_a_broken_fallback_index_is_a_referrers_error() -> None:
    registry = Registry()
    registry.manifests[fallback_tag(SUBJECT)] = b"[1, 2"
    with client(registry) as oci, pytest.raises(ReferrersError, match="not JSON"):
        referrers(oci, NAME, SUBJECT)


def test_artifacts_of_another_type_or_subject_are_passed_over() -> None:
    registry = Registry()
    elsewhere, document = artifact(subject="sha256:" + "e" * 64)
    registry.manifests[sha256(elsewhere)] = elsewhere
    registry.blobs[sha256(document)] = document
    foreign = json.dumps(
        {"schemaVersion": 2, "artifactType": "application/vnd.example", "layers": []}
    ).encode()
    registry.manifests[sha256(foreign)] = foreign
    entries = [
        artifact_descriptor(elsewhere),
        {**artifact_descriptor(foreign), "artifactType": None},
    ]
    registry.manifests[fallback_tag(SUBJECT)] = json.dumps({"manifests": entries}).encode()
    with client(registry) as oci:
        assert read_provenance(oci, NAME, SUBJECT) == []


def test_a_paged_listing_is_followed_and_a_loop_ends_it() -> None:
    registry = Registry()
    first = {**OTHER_TOOL, "digest": "sha256:" + "1" * 64}
    second = {**OTHER_TOOL, "digest": "sha256:" + "2" * 64}

    def pages(request: httpx.Request) -> httpx.Response:
        last = request.url.params.get("last")
        body = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE}
        if last is None:
            link = f'</v2/{NAME}/referrers/{SUBJECT}?last=1>; rel="next"'
            return httpx.Response(200, json={**body, "manifests": [first]}, headers={"Link": link})
        return httpx.Response(200, json={**body, "manifests": [second]})

    registry.pages = pages
    with client(registry) as oci:
        assert referrers(oci, NAME, SUBJECT) == [first, second]
        assert oci.referrers_api is True

    def loop(request: httpx.Request) -> httpx.Response:
        link = f'</v2/{NAME}/referrers/{SUBJECT}?last=1>; rel="next"'
        return httpx.Response(200, json={"manifests": [first]}, headers={"Link": link})

    registry.pages = loop
    with client(registry) as oci, pytest.raises(EndlessPagingError):
        referrers(oci, NAME, SUBJECT)


def test_the_async_client_lists_referrers_too() -> None:
    registry = Registry()
    registry.pages = lambda request: httpx.Response(200, json={"manifests": [OTHER_TOOL]})

    async def main() -> list[dict[str, object]] | None:
        transport = httpx.MockTransport(registry)
        async with AsyncOCIClient("http://registry.test", transport=transport) as oci:
            return await oci.referrers(NAME, SUBJECT)

    assert anyio.run(main) == [OTHER_TOOL]
    registry.pages = None

    async def absent() -> list[dict[str, object]] | None:
        transport = httpx.MockTransport(registry)
        async with AsyncOCIClient("http://registry.test", transport=transport) as oci:
            return await oci.referrers(NAME, SUBJECT)

    assert anyio.run(absent) is None
