"""What the facade puts on the wire and how it reads odd answers, against the emulator.

Covers the seed's section-7 behaviours with valid ids, the cases the seed never
tested, and the weaknesses the facade fixes (streaming, checksums, endpoint lists,
redirects, error mapping). Every test runs with Client and AsyncClient.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from docker_registry_v1 import (
    Access,
    AsyncClient,
    BadRequest,
    BasicAuth,
    Conflict,
    ImageMetadata,
    IncompleteBody,
    InvalidResponse,
    NotFound,
    ServerError,
    Unauthorized,
    UploadInProgress,
)
from docker_registry_v1.emulator import Compat, fingerprint
from facade_support import ALICE, chain, port_of, settled

Connect = Callable[..., Any]
BASIC_FP = f"Basic {fingerprint(':'.join(ALICE))}"


# ---------------------------------------------------------------- hub token requests


def test_read_token_request_and_parsing(connect: Connect, hub: Any) -> None:
    hub.store.seed("foo/bar", "latest", chain(1))
    client = connect(hub.index_url.rstrip("/"))  # no /v1 and no slash: same requests
    token = client.hub.get_read_token("foo/bar")
    (entry,) = settled(hub)
    assert (entry.method, entry.path) == ("GET", "/v1/repositories/foo/bar/images")
    assert entry.role == "index"
    assert entry.headers["x-docker-token"] == "true"
    assert "content-length" not in entry.headers
    assert entry.body_size == 0
    assert entry.authorization is None
    assert token.access is Access.READ
    assert token.repository == "foo/bar"
    assert token.host == f"127.0.0.1:{port_of(hub.registry_url)}"
    assert not token.token.lower().startswith("token ")


def test_read_token_with_auth_sends_basic_to_the_index_only(connect: Connect, hub: Any) -> None:
    hub.store.seed("foo/bar", "latest", chain(1))
    client = connect(hub.index_url)
    token = client.hub.get_read_token_with_auth("foo/bar", auth=BasicAuth(*ALICE))
    client.repository.list_tags("foo/bar", auth=token)
    index, registry = settled(hub)
    assert (index.role, index.authorization) == ("index", BASIC_FP)
    assert registry.role == "registry"
    assert registry.authorization == f"Token {fingerprint(token.token)}"


def test_read_token_error_carries_code_and_url(connect: Connect, hub: Any) -> None:
    client = connect(hub.index_url)
    with pytest.raises(NotFound) as caught:
        client.hub.get_read_token("nosuch/repo")
    assert caught.value.code == 404
    assert "/v1/repositories/nosuch/repo/images returned 404" in str(caught.value)
    assert caught.value.method == "GET"


def test_standalone_delete_token_explains_the_missing_token(
    connect: Connect, standalone: Any
) -> None:
    standalone.store.seed("foo/bar", "latest", chain(1))
    client = connect(standalone.url)
    with pytest.raises(InvalidResponse, match="standalone reference registry") as caught:
        client.hub.get_delete_token("foo/bar")
    assert caught.value.code == 200


def test_standalone_token_prefix_is_stripped(connect: Connect, standalone: Any) -> None:
    client = connect(standalone.url)
    token = client.hub.get_write_token("foo/bar")
    assert token.token.startswith("signature=")
    client.repository.list_tags("foo/bar", auth=token)
    assert settled(standalone)[-1].authorization == f"Token {fingerprint(token.token)}"


def test_unreachable_endpoint_fails_over_to_the_next(connect: Connect, hub: Any) -> None:
    hub.store.seed("foo/bar", "latest", chain(1))
    hub.endpoints = ["127.0.0.1:1", "{registry}"]
    client = connect(hub.index_url)
    token = client.hub.get_read_token("foo/bar")
    assert [str(e) for e in token.endpoints] == [
        "http://127.0.0.1:1",
        f"http://127.0.0.1:{port_of(hub.registry_url)}",
    ]
    assert client.repository.get_image_id("foo/bar", "latest", auth=token) == chain(1)[0].id
    assert token.host == f"127.0.0.1:{port_of(hub.registry_url)}"


def test_garbage_endpoints_are_dropped(connect: Connect, hub: Any) -> None:
    hub.store.seed("foo/bar", "latest", chain(1))
    hub.endpoints = ["user@evil.example", "evil.example/path", "ftp://x", "{registry}"]
    token = connect(hub.index_url).hub.get_read_token("foo/bar")
    assert [e.netloc for e in token.endpoints] == [f"127.0.0.1:{port_of(hub.registry_url)}"]


# ---------------------------------------------------------------- push: streaming and checksums


def _push(client: Any, image: Any, layer: Any, auth: Any) -> None:
    client.image.add_metadata_raw(image.id, image.json_bytes, auth=auth)
    upload = client.image.add_layer(image.id, layer, metadata_json=image.json_bytes, auth=auth)
    assert upload.size == len(image.layer_bytes)
    assert upload.checksum == image.checksum
    client.image.put_checksum(image.id, upload.checksum, auth=auth)


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 700):
        yield data[start : start + 700]


def test_push_streams_files_and_iterators(connect: Connect, private_registry: Any) -> None:
    client = connect(private_registry.url, auth=BasicAuth(*ALICE))
    base, tip = chain(2, seed=5)
    _push(client, base, io.BytesIO(base.layer_bytes), None)
    _push(client, tip, _chunks(tip.layer_bytes), None)
    client.repository.set_tag("me/app", tip.id, "v1")
    entries = settled(private_registry)
    file_put, iterator_put = [e for e in entries if e.path.endswith("/layer")]
    assert file_put.headers["content-length"] == str(len(base.layer_bytes))
    assert iterator_put.headers.get("transfer-encoding") == "chunked"
    checksum_put = next(e for e in entries if e.path.endswith("/checksum"))
    assert checksum_put.headers["x-docker-checksum-payload"] == base.checksum
    raw = client.image.get_metadata_raw(tip.id)
    assert raw.json_bytes == tip.json_bytes
    assert raw.size == len(tip.layer_bytes)
    assert raw.checksum == tip.checksum
    sink = io.BytesIO()
    client.image.get_layer(tip.id, sink)
    assert sink.getvalue() == tip.layer_bytes


def test_model_metadata_round_trip_and_conflict(connect: Connect, standalone: Any) -> None:
    client = connect(standalone.url)
    image_id = hashlib.sha256(b"model").hexdigest()
    meta = ImageMetadata(id=image_id, comment="lgtm", created="2014-10-13T21:19:18.674353812Z")
    sent = client.image.add_metadata(image_id, meta)
    assert settled(standalone)[-1].body == sent
    assert settled(standalone)[-1].headers["content-type"] == "application/json"
    with pytest.raises(UploadInProgress):
        client.image.get_metadata(image_id)
    upload = client.image.add_layer(image_id, b"", metadata_json=sent)
    client.image.put_checksum(image_id, upload.checksum)
    assert client.image.get_metadata(image_id) == meta
    assert client.image.get_layer(image_id, io.BytesIO()) == 0
    with pytest.raises(Conflict):
        client.image.add_metadata(image_id, meta)


def test_wrong_checksum_is_a_checksum_mismatch(connect: Connect, standalone: Any) -> None:
    client = connect(standalone.url)
    image = chain(1, seed=9)[0]
    client.image.add_metadata_raw(image.id, image.json_bytes)
    client.image.add_layer(image.id, image.layer_bytes)
    with pytest.raises(BadRequest, match="Checksum mismatch"):
        client.image.put_checksum(image.id, "sha256:" + "0" * 64)


def test_empty_layer_from_reference_server(connect: Connect, emulator_factory: Any) -> None:
    registry = emulator_factory(compat=Compat(reference_ranges=True))
    client = connect(registry.url)
    image_id = hashlib.sha256(b"empty").hexdigest()
    sent = client.image.add_metadata(image_id, ImageMetadata(id=image_id))
    upload = client.image.add_layer(image_id, io.BytesIO(b""), metadata_json=sent)
    client.image.put_checksum(image_id, upload.checksum)
    sink = io.BytesIO()
    assert client.image.get_layer(image_id, sink) == 0
    assert settled(registry)[-1].status == 416


def test_final_push_put_and_index_list(connect: Connect, standalone: Any) -> None:
    client = connect(standalone.url)
    image = chain(1, seed=3)[0]
    client.hub.get_write_token("me/app")
    client.repository.update_images("me/app", [image.id])
    assert [i.id for i in client.repository.list_images("me/app")] == [image.id]
    final = next(e for e in settled(standalone) if e.path == "/v1/repositories/me/app/images")
    assert (final.method, final.status) == ("PUT", 204)


# ---------------------------------------------------------------- reading odd answers


def test_server_error_is_typed(connect: Connect, standalone: Any) -> None:
    standalone.faults.error("/v1/repositories/*/tags", status=500)
    client = connect(standalone.url, retry=None)  # a 5xx would be retried: see it once
    with pytest.raises(ServerError) as caught:
        client.repository.list_tags("foo/bar")
    error = caught.value
    assert (error.code, error.method) == (500, "GET")
    assert error.url == standalone.url + "/v1/repositories/foo/bar/tags"


def test_html_error_pages_become_short_text(connect: Connect, standalone: Any) -> None:
    standalone.faults.html_error("/v1/repositories/*/tags", status=404)
    with pytest.raises(NotFound) as caught:
        connect(standalone.url).repository.list_tags("foo/bar")
    assert caught.value.message is None
    assert caught.value.excerpt
    assert "<" not in caught.value.excerpt
    assert len(caught.value.excerpt) <= 200


def test_malformed_json_is_invalid_response(connect: Connect, standalone: Any) -> None:
    standalone.store.seed("foo/bar", "latest", chain(1))
    standalone.faults.malformed_json("/v1/repositories/*/tags")
    with pytest.raises(InvalidResponse) as caught:
        connect(standalone.url).repository.list_tags("foo/bar")
    assert caught.value.code == 200


def test_truncated_layer_raises(connect: Connect, standalone: Any) -> None:
    image = chain(1, seed=4)[0]
    standalone.store.seed("foo/bar", "latest", [image])
    standalone.faults.wrong_length("/v1/images/*/layer", extra=50)
    with pytest.raises(IncompleteBody, match="body ended after"):
        connect(standalone.url).image.get_layer(image.id, io.BytesIO())


def test_layer_redirect_drops_credentials_across_origins(
    connect: Connect, private_registry: Any
) -> None:
    image = chain(1, seed=6)[0]
    private_registry.store.seed("foo/bar", "latest", [image])
    cdn = private_registry.add_cdn()
    private_registry.faults.redirect("/v1/images/*/layer", cdn, role="standalone")
    sink = io.BytesIO()
    connect(private_registry.url).image.get_layer(image.id, sink, auth=BasicAuth(*ALICE))
    assert sink.getvalue() == image.layer_bytes
    first, second = settled(private_registry)
    assert (first.status, first.authorization) == (302, BASIC_FP)
    assert second.role == "cdn"
    assert second.authorization is None


def test_tag_list_form_and_string_page(connect: Connect, emulator_factory: Any) -> None:
    registry = emulator_factory(compat=Compat(tag_list_as_list=True, search="hub"))
    image = chain(1)[0]
    registry.store.seed("foo/bar", "latest", [image])
    client = connect(registry.url)
    tags = client.repository.list_tags("foo/bar")
    assert dict(tags) == {"latest": image.id[:8]}
    assert tags.short_ids
    assert client.search.query("foo").page == 1


def test_search_paging_and_form_escaping(connect: Connect, standalone: Any) -> None:
    standalone.compat = Compat(search="paged")
    for number in range(3):
        standalone.store.seed(f"team/app{number}", "latest", chain(1, seed=number))
    client = connect(standalone.url)
    names = [r.name for r in client.search.iter_results("app", num=1)]
    assert sorted(names) == ["team/app0", "team/app1", "team/app2"]
    pages = [e.query for e in settled(standalone) if e.path == "/v1/search"]
    assert pages == [f"q=app&n=1&page={page}" for page in (1, 2, 3)]
    client.search.query("my app", 2, 3)
    assert settled(standalone)[-1].query == "q=my+app&n=3&page=2"


def test_search_without_paging_stops_after_one_page(
    connect: Connect, emulator_factory: Any
) -> None:
    registry = emulator_factory(compat=Compat(search="reference"))
    registry.store.seed("team/app", "latest", chain(1))
    client = connect(registry.url)
    results = client.search.query("app")
    assert (results.num_pages, results.page, results.num_results) == (None, None, 1)
    assert [r.name for r in client.search.iter_results("app")] == ["team/app"]


def test_every_request_identifies_itself(connect: Connect, private_registry: Any) -> None:
    client = connect(private_registry.url, auth=BasicAuth(*ALICE))
    client.ping()
    client.search.query("x")
    for entry in settled(private_registry):
        assert entry.headers["user-agent"].startswith("docker-registry-v1/")
        assert "if-modified-since" not in entry.headers


def test_ping_and_users(connect: Connect, emulator_factory: Any) -> None:
    private_registry = emulator_factory(users=dict([ALICE]), compat=Compat(users="accounts"))
    client = connect(private_registry.url)
    ping = client.ping()
    assert ping.standalone is True
    assert ping.body == {}
    client.users.login(auth=BasicAuth(*ALICE))
    with pytest.raises(Unauthorized):
        client.users.login(auth=BasicAuth("alice", "wrong"))
    alice = BasicAuth(*ALICE)
    client.users.create("bob_1", "hunter22", "bob@example.com", auth=alice)
    with pytest.raises(BadRequest, match="already exists"):
        client.users.create("alice", "x", "a@example.com", auth=alice)
    client.users.update("alice", email="new@example.com", auth=alice)
    update = settled(private_registry)[-1]
    assert (update.method, update.path, update.status) == ("PUT", "/v1/users/alice/", 204)


# ---------------------------------------------------------------- native async


@pytest.mark.anyio
async def test_concurrent_calls_keep_their_own_credentials(hub: Any) -> None:
    hub.store.seed("team/one", "latest", chain(1, seed=1))
    hub.store.seed("team/two", "latest", chain(1, seed=2))
    async with AsyncClient(hub.index_url) as client:
        one, two = await asyncio.gather(
            client.hub.get_read_token("team/one"), client.hub.get_read_token("team/two")
        )
        tags = await asyncio.gather(
            *(
                client.repository.list_tags(repo, auth=token)
                for _ in range(5)
                for repo, token in (("team/one", one), ("team/two", two))
            )
        )
    assert len(tags) == 10
    for entry in settled(hub):
        if entry.role == "registry":
            token = one if "/team/one/" in entry.path else two
            assert entry.authorization == f"Token {fingerprint(token.token)}"


@pytest.mark.anyio
async def test_async_sources_and_sinks(standalone: Any) -> None:
    image = chain(1, seed=8)[0]

    async def produce() -> AsyncIterator[bytes]:
        for start in range(0, len(image.layer_bytes), 500):
            yield image.layer_bytes[start : start + 500]

    class AsyncSink:
        def __init__(self) -> None:
            self.data = bytearray()

        async def write(self, chunk: bytes) -> None:
            self.data += chunk

    async with AsyncClient(standalone.url) as client:
        await client.image.add_metadata_raw(image.id, image.json_bytes)
        upload = await client.image.add_layer(image.id, produce(), metadata_json=image.json_bytes)
        await client.image.put_checksum(image.id, upload.checksum or "")
        sink = AsyncSink()
        await client.image.get_layer(image.id, sink)
        file_copy = io.BytesIO()
        await client.image.get_layer(image.id, file_copy)
    assert bytes(sink.data) == image.layer_bytes == file_copy.getvalue()
