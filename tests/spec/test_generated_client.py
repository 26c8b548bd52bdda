"""The generated low-level client drives every kind of operation over a real socket.

This is the layer under the facade: if the spec's parameters, bodies or statuses were
wrong, these calls would be sent wrongly or parsed wrongly against the emulator.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator

import httpx
import pytest
from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1_api import Client
from docker_registry_v1_api.api.index import (
    create_repository,
    list_repository_images,
    update_repository_images,
)
from docker_registry_v1_api.api.registry import (
    add_image_layer,
    add_image_metadata,
    delete_repository,
    delete_tag,
    get_image_ancestry,
    get_image_id,
    get_image_metadata,
    list_tags,
    ping,
    put_image_checksum,
    set_tag,
)
from docker_registry_v1_api.api.search import search
from docker_registry_v1_api.models import Error, ImageJson, SearchResults, TagMap
from docker_registry_v1_api.types import File


@pytest.fixture
def client() -> Iterator[Client]:
    with run_standalone() as reg, Client(base_url=reg.url, raise_on_unexpected_status=True) as c:
        yield c


def sent_json_bytes(body: ImageJson) -> bytes:
    """The bytes httpx puts on the wire for the generated `json=` body."""
    return httpx.Request("PUT", "http://x/", json=body.to_dict()).content


def test_push_then_read_back_through_generated_operations(client: Client) -> None:
    images = build_image_chain(2, seed=7)
    assert ping.sync_detailed(client=client).status_code == 200

    token = create_repository.sync_detailed(
        "demo", "app", client=client, body=[], x_docker_token="true"
    )
    assert token.status_code == 200
    assert "access=write" in token.headers["X-Docker-Token"]

    for image in images:
        body = ImageJson.from_dict(json.loads(image.json_bytes))
        wire = sent_json_bytes(body)
        put = add_image_metadata.sync_detailed(image.id, client=client, body=body)
        assert put.status_code == 200
        layer = add_image_layer.sync_detailed(
            image.id, client=client, body=File(payload=io.BytesIO(image.layer_bytes))
        )
        assert layer.status_code == 200
        checksum = "sha256:" + hashlib.sha256(wire + b"\n" + image.layer_bytes).hexdigest()
        done = put_image_checksum.sync_detailed(
            image.id, client=client, x_docker_checksum_payload=checksum
        )
        assert done.status_code == 200

    tip = images[-1].id
    assert set_tag.sync_detailed("demo", "app", "1.0", client=client, body=tip).status_code == 200
    final = update_repository_images.sync_detailed(
        "demo", "app", client=client, body=[], x_docker_token="true"
    )
    assert final.status_code == 204

    tags = list_tags.sync_detailed("demo", "app", client=client).parsed
    assert isinstance(tags, TagMap)
    assert tags["1.0"] == tip
    assert get_image_id.sync_detailed("demo", "app", "1.0", client=client).parsed == tip
    ancestry = get_image_ancestry.sync_detailed(tip, client=client).parsed
    assert ancestry == [images[1].id, images[0].id]
    meta = get_image_metadata.sync_detailed(tip, client=client)
    assert isinstance(meta.parsed, ImageJson)
    assert meta.parsed.parent == images[0].id
    assert int(meta.headers["X-Docker-Size"]) == len(images[-1].layer_bytes)

    listed = list_repository_images.sync_detailed(
        "demo", "app", client=client, x_docker_token="true"
    )
    assert listed.status_code == 200
    found = search.sync_detailed(client=client, q="demo").parsed
    assert isinstance(found, SearchResults)
    assert [r.name for r in found.results] == ["demo/app"]

    assert delete_tag.sync_detailed("demo", "app", "1.0", client=client).status_code == 200
    assert delete_repository.sync_detailed("demo", "app", client=client).status_code == 200
    gone = list_tags.sync_detailed("demo", "app", client=client)
    assert gone.status_code == 404
    assert isinstance(gone.parsed, Error)
    assert gone.parsed.error == "Repository not found"


def test_documented_errors_parse_into_the_error_schema(client: Client) -> None:
    missing = "f" * 64
    answer = get_image_metadata.sync_detailed(missing, client=client)
    assert answer.status_code == 404
    assert isinstance(answer.parsed, Error)
    assert answer.parsed.error == "Image not found"


async def _async_ping(client: Client) -> int:
    return int((await ping.asyncio_detailed(client=client)).status_code)


@pytest.mark.anyio
async def test_async_operations_use_the_same_modules(client: Client) -> None:
    assert await _async_ping(client) == 200
