"""The 17 examples of the Go package's documentation, each run with Client and AsyncClient.

*PrivateRegistry* variants: a standalone emulator behind Basic auth, credentials
passed per call. *DockerHub* variants: the hub emulator (index and registry on
different ports, tokens enforced, Basic refused by the registry), token first.
Besides the results, each test checks on the emulator's request log where the
requests went and which credential they carried.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from docker_registry_v1 import Access, BasicAuth, ImageMetadata, NotFound
from docker_registry_v1.emulator import fingerprint
from facade_support import ALICE, chain, port_of, settled

Connect = Callable[..., Any]

BASIC_FP = f"Basic {fingerprint(':'.join(ALICE))}"


def _private(connect: Connect, registry: Any) -> tuple[Any, BasicAuth]:
    images = chain()
    registry.store.seed("library/ubuntu", "latest", images)
    registry.store.seed("library/mysql", "5.6", chain(1, seed=1))
    registry.store.seed("foo/bar", "0.9", chain(1, seed=2))
    registry.log.clear()
    return connect(registry.url + "/v1/"), BasicAuth(*ALICE)


def _hub(connect: Connect, hub: Any) -> Any:
    hub.store.seed("library/ubuntu", "latest", chain())
    hub.store.seed("library/mysql", "5.6", chain(1, seed=1))
    hub.store.seed("foo/bar", "0.9", chain(1, seed=2))
    hub.log.clear()
    return connect(hub.index_url)


def _only_basic(registry: Any) -> None:
    entries = settled(registry)
    assert entries
    assert {e.authorization for e in entries} == {BASIC_FP}


def _token_requests_at_registry(hub: Any, token: Any) -> list[Any]:
    registry_port = port_of(hub.registry_url)
    at_registry = [e for e in settled(hub) if e.role == "registry"]
    assert at_registry
    for entry in at_registry:
        assert entry.port == registry_port
        assert entry.authorization == f"Token {fingerprint(token.token)}"
        assert entry.headers["host"] == f"127.0.0.1:{registry_port}"
    assert not any(e.authorization.startswith("Basic") for e in at_registry if e.authorization)
    return at_registry


# ------------------------------------------------------------------ ImageService.GetAncestry


def test_get_ancestry_private_registry(connect: Connect, private_registry: Any) -> None:
    client, auth = _private(connect, private_registry)
    images = chain()
    ancestry = client.image.get_ancestry(images[-1].id, auth=auth)
    assert ancestry == [images[1].id, images[0].id]
    _only_basic(private_registry)


def test_get_ancestry_docker_hub(connect: Connect, hub: Any) -> None:
    client = _hub(connect, hub)
    auth = client.hub.get_read_token("ubuntu")
    images = chain()
    assert client.image.get_ancestry(images[-1].id, auth=auth) == [images[1].id, images[0].id]
    _token_requests_at_registry(hub, auth)


# ------------------------------------------------------------------ ImageService.GetLayer


def test_get_layer_private_registry(connect: Connect, private_registry: Any) -> None:
    client, auth = _private(connect, private_registry)
    image = chain()[-1]
    buffer = io.BytesIO()
    written = client.image.get_layer(image.id, buffer, auth=auth)
    assert buffer.getvalue() == image.layer_bytes
    assert written == len(image.layer_bytes)
    _only_basic(private_registry)
    layer_get = private_registry.log.last(method="GET", path=f"/v1/images/{image.id}/layer")
    assert layer_get.body_size == 0
    assert "content-length" not in layer_get.headers


def test_get_layer_docker_hub(connect: Connect, hub: Any) -> None:
    client = _hub(connect, hub)
    auth = client.hub.get_read_token("ubuntu")
    image = chain()[0]
    buffer = io.BytesIO()
    client.image.get_layer(image.id, buffer, auth=auth)
    assert buffer.getvalue() == image.layer_bytes
    _token_requests_at_registry(hub, auth)


# ------------------------------------------------------------------ ImageService.GetMetadata


def test_get_metadata_private_registry(connect: Connect, private_registry: Any) -> None:
    client, auth = _private(connect, private_registry)
    image = chain()[-1]
    meta = client.image.get_metadata(image.id, auth=auth)
    assert isinstance(meta, ImageMetadata)
    assert meta.id == image.id
    assert meta.parent == chain()[0].id
    assert meta.container_config is not None
    assert meta.container_config.cmd == ["/bin/sh", "-c", '#(nop) CMD ["bash"]']
    assert meta.created is not None
    assert meta.created.endswith("Z")
    assert len(meta.created.split(".")[1]) == 10  # nine digits and the Z, kept as text
    _only_basic(private_registry)


def test_get_metadata_docker_hub(connect: Connect, hub: Any) -> None:
    client = _hub(connect, hub)
    auth = client.hub.get_read_token("ubuntu")
    image = chain()[0]
    meta = client.image.get_metadata(image.id, auth=auth)
    assert meta.id == image.id
    assert meta.parent is None
    assert meta.size == 2048
    _token_requests_at_registry(hub, auth)


# ------------------------------------------------------------------ RepositoryService.Delete


def test_delete_private_registry(connect: Connect, private_registry: Any) -> None:
    client, auth = _private(connect, private_registry)
    client.repository.delete("foo/bar", auth=auth)
    with pytest.raises(NotFound):
        client.repository.list_tags("foo/bar", auth=auth)
    entry = private_registry.log.find(method="DELETE")[0]
    assert entry.path == "/v1/repositories/foo/bar/"
    _only_basic(private_registry)


def test_delete_docker_hub(connect: Connect, hub: Any) -> None:
    client = _hub(connect, hub)
    token = client.hub.get_delete_token("foo/bar", auth=BasicAuth(*ALICE))
    assert token.access is Access.DELETE
    client.repository.delete("foo/bar", auth=token)
    index_delete, registry_delete = hub.log.find(method="DELETE")
    assert index_delete.role == "index"
    assert index_delete.path == registry_delete.path == "/v1/repositories/foo/bar/"
    assert index_delete.authorization == BASIC_FP
    assert index_delete.headers["x-docker-token"] == "true"
    assert index_delete.headers["content-length"] == "2"  # the `[]` body
    _token_requests_at_registry(hub, token)


# ------------------------------------------------------------------ RepositoryService.DeleteTag


def test_delete_tag_private_registry(connect: Connect, private_registry: Any) -> None:
    client, auth = _private(connect, private_registry)
    client.repository.set_tag("foo/bar", chain(1, seed=2)[0].id, "1.0", auth=auth)
    client.repository.delete_tag("foo/bar", "1.0", auth=auth)
    assert "1.0" not in client.repository.list_tags("foo/bar", auth=auth)
    entry = private_registry.log.last(method="DELETE")
    assert entry.path == "/v1/repositories/foo/bar/tags/1.0"
    assert entry.body_size == 0
    _only_basic(private_registry)


# ------------------------------------------------------------------ RepositoryService.GetImageID


def test_get_image_id_private_registry(connect: Connect, private_registry: Any) -> None:
    client, auth = _private(connect, private_registry)
    assert client.repository.get_image_id("ubuntu", "latest", auth=auth) == chain()[-1].id
    assert private_registry.log.last().path == "/v1/repositories/library/ubuntu/tags/latest"
    _only_basic(private_registry)


def test_get_image_id_docker_hub(connect: Connect, hub: Any) -> None:
    client = _hub(connect, hub)
    auth = client.hub.get_read_token("ubuntu")
    assert client.repository.get_image_id("ubuntu", "latest", auth=auth) == chain()[-1].id
    _token_requests_at_registry(hub, auth)


# ------------------------------------------------------------------ RepositoryService.ListTags


def test_list_tags_private_registry(connect: Connect, private_registry: Any) -> None:
    client, auth = _private(connect, private_registry)
    tags = client.repository.list_tags("ubuntu", auth=auth)
    assert dict(tags.items()) == {"latest": chain()[-1].id}
    _only_basic(private_registry)


def test_list_tags_docker_hub(connect: Connect, hub: Any) -> None:
    client = _hub(connect, hub)
    auth = client.hub.get_read_token("ubuntu")
    tags = client.repository.list_tags("ubuntu", auth=auth)
    assert [f"{tag} = {image_id}" for tag, image_id in tags.items()] == [
        f"latest = {chain()[-1].id}"
    ]
    _token_requests_at_registry(hub, auth)


# ------------------------------------------------------------------ RepositoryService.SetTag


def test_set_tag_private_registry(connect: Connect, private_registry: Any) -> None:
    client, auth = _private(connect, private_registry)
    image_id = chain(1, seed=2)[0].id
    client.repository.set_tag("foo/bar", image_id, "1.0", auth=auth)
    assert client.repository.get_image_id("foo/bar", "1.0", auth=auth) == image_id
    put = private_registry.log.find(method="PUT")[0]
    assert put.path == "/v1/repositories/foo/bar/tags/1.0"
    assert put.body == f'"{image_id}"'.encode()
    _only_basic(private_registry)


def test_set_tag_docker_hub(connect: Connect, hub: Any) -> None:
    client = _hub(connect, hub)
    token = client.hub.get_write_token("foo/bar", auth=BasicAuth(*ALICE))
    assert token.access is Access.WRITE
    image_id = chain(1, seed=2)[0].id
    client.repository.set_tag("foo/bar", image_id, "1.0", auth=token)
    index_put = hub.log.find(method="PUT", role="index")[0]
    assert index_put.path == "/v1/repositories/foo/bar/"
    assert index_put.body == b"[]"
    assert index_put.authorization == BASIC_FP
    assert index_put.headers["x-docker-token"] == "true"
    (registry_put,) = _token_requests_at_registry(hub, token)
    assert registry_put.body == f'"{image_id}"'.encode()


# ------------------------------------------------------------------ SearchService.Query


def test_search_private_registry(connect: Connect, private_registry: Any) -> None:
    # Go's example searches anonymously; a registry behind Basic auth needs credentials.
    client, auth = _private(connect, private_registry)
    results = client.search.query("mysql", 1, 25, auth=auth)
    assert [result.name for result in results.results] == ["library/mysql"]
    entry = private_registry.log.last()
    assert (entry.path, entry.query) == ("/v1/search", "q=mysql&n=25&page=1")
    _only_basic(private_registry)


def test_search_docker_hub(connect: Connect, hub: Any) -> None:
    client = _hub(connect, hub)
    results = client.search.query("mysql", 1, 25)
    assert [result.name for result in results.results] == ["library/mysql"]
    assert results.page == 1
    (entry,) = hub.log.entries
    assert entry.role == "index"
    assert entry.authorization is None
