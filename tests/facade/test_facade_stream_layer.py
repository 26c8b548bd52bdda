"""`image.stream_layer`: the layer response before its body, with an optional Range."""

from __future__ import annotations

import io

import httpx
import pytest
from docker_registry_v1 import (
    AsyncClient,
    Client,
    IncompleteBody,
    InvalidInput,
    RegistryConnectionError,
)
from docker_registry_v1.emulator import Compat, Standalone
from docker_registry_v1.emulator.pytest_plugin import EmulatorFactory
from docker_registry_v1.emulator.seed import build_image_chain
from ports import unused_port

LAYER = "/v1/images/*/layer"


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


def _short_ranged_layer(emulator_factory: EmulatorFactory) -> tuple[str, str, bytes]:
    """The reference server announces one byte more than a ``bytes=N-`` answer carries."""
    registry = emulator_factory(compat=Compat(reference_ranges=True))
    assert isinstance(registry, Standalone)
    image = build_image_chain(1, seed=7, layer_size=8192)[0]
    registry.store.seed("ns/app", "1.0", [image])
    return registry.url, image.id, image.layer_bytes


def _closed_port() -> str:
    # outside the ephemeral range: no other test's server lands there
    return f"http://127.0.0.1:{unused_port()}"


def _drain(client: Client, image_id: str, range_: str | None, into: bytearray) -> None:
    with client.image.stream_layer(image_id, range_=range_) as response:
        for chunk in response.iter_raw():
            into += chunk


async def _adrain(client: AsyncClient, image_id: str, range_: str | None, into: bytearray) -> None:
    async with client.image.stream_layer(image_id, range_=range_) as response:
        async for chunk in response.aiter_raw():
            into += chunk


def test_short_body_raises_a_typed_error(emulator_factory: EmulatorFactory) -> None:
    url, image_id, layer = _short_ranged_layer(emulator_factory)
    received = bytearray()
    with Client(url) as client:
        with pytest.raises(RegistryConnectionError) as caught:
            _drain(client, image_id, "bytes=100-", received)
        assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
        assert caught.value.method == "GET"
        assert caught.value.url.endswith(f"/v1/images/{image_id}/layer")
        assert bytes(received) == layer[100:]  # every byte there was, then the typed error
    with Client(_closed_port()) as refused, pytest.raises(RegistryConnectionError) as caught:
        _drain(refused, image_id, None, bytearray())
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.anyio
async def test_async_short_body_raises_a_typed_error(emulator_factory: EmulatorFactory) -> None:
    url, image_id, layer = _short_ranged_layer(emulator_factory)
    received = bytearray()
    async with AsyncClient(url) as client:
        with pytest.raises(RegistryConnectionError) as caught:
            await _adrain(client, image_id, "bytes=100-", received)
        assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
        assert bytes(received) == layer[100:]
    async with AsyncClient(_closed_port()) as refused:
        with pytest.raises(RegistryConnectionError) as caught:
            await _adrain(refused, image_id, None, bytearray())
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


LARGE = 3_000_000
"""Past `small_direct_body`'s threshold: the body is read off the connection."""


@pytest.mark.usefixtures("small_direct_body")
def test_get_layer_writes_a_large_layer_and_counts_it(standalone: Standalone) -> None:
    image = build_image_chain(1, seed=8, layer_size=LARGE)[0]
    standalone.store.seed("ns/big", "1.0", [image])
    with Client(standalone.url) as client:
        written = io.BytesIO()
        assert client.image.get_layer(image.id, written) == len(image.layer_bytes)
        assert written.getvalue() == image.layer_bytes
        standalone.faults.drop_after(LAYER, 2_000_000, times=1)
        cut = io.BytesIO()
        with pytest.raises(IncompleteBody) as caught:
            client.image.get_layer(image.id, cut)
    assert f"body ended after 2000000 of {len(image.layer_bytes)} bytes" in str(caught.value)
    assert cut.getvalue() == image.layer_bytes[:2_000_000]  # every byte that came, kept


@pytest.mark.usefixtures("small_direct_body")
@pytest.mark.anyio
async def test_async_get_layer_writes_a_large_layer_and_counts_it(standalone: Standalone) -> None:
    image = build_image_chain(1, seed=9, layer_size=LARGE)[0]
    standalone.store.seed("ns/big", "1.0", [image])
    async with AsyncClient(standalone.url) as client:
        written = io.BytesIO()
        assert await client.image.get_layer(image.id, written) == len(image.layer_bytes)
        assert written.getvalue() == image.layer_bytes
        standalone.faults.drop_after(LAYER, 2_000_000, times=1)
        with pytest.raises(IncompleteBody):
            await client.image.get_layer(image.id, io.BytesIO())
