"""`image.stream_layer`: the layer response before its body, with an optional Range."""

from __future__ import annotations

import pytest
from docker_registry_v1 import AsyncClient, Client, InvalidInput
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import build_image_chain


def test_ranged_stream_returns_the_rest_of_the_layer(standalone: Standalone) -> None:
    image = build_image_chain(1, seed=5, layer_size=8192)[0]
    standalone.store.seed("ns/app", "1.0", [image])
    with Client(standalone.url) as client:
        with client.image.stream_layer(image.id) as whole:
            assert whole.status_code == 200
            assert whole.headers["Accept-Ranges"] == "bytes"
            assert whole.read() == image.layer_bytes
        with client.image.stream_layer(image.id, range_="bytes=100-") as rest:
            assert rest.status_code == 206
            assert rest.headers["Content-Range"].startswith("bytes 100-")
            assert rest.read() == image.layer_bytes[100:]
    entry = standalone.log.last(method="GET", path=f"/v1/images/{image.id}/layer")
    assert entry is not None
    assert entry.headers["range"] == "bytes=100-"
    assert entry.headers["accept-encoding"] == "identity"


@pytest.mark.anyio
async def test_async_stream_and_bad_ranges(standalone: Standalone) -> None:
    image = build_image_chain(1, seed=6)[0]
    standalone.store.seed("ns/app", "1.0", [image])
    before = len(standalone.log.entries)
    async with AsyncClient(standalone.url) as client:
        async with client.image.stream_layer(image.id, range_="bytes=0-9") as head:
            assert head.status_code == 206
            assert await head.aread() == image.layer_bytes[:10]
        for bad in ("bytes=-5", "items=0-1", "bytes=1-2\r\nX: y"):
            with pytest.raises(InvalidInput) as caught:
                client.image.stream_layer(image.id, range_=bad)
            assert caught.value.field == "range_"
    assert len(standalone.log.entries) == before + 1
