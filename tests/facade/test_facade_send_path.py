"""The one send path: short tracebacks, typed errors while a layer streams, explicit auth."""

from __future__ import annotations

import io
import traceback
from pathlib import Path

import docker_registry_v1
import httpx
import pytest
from docker_registry_v1 import (
    AsyncClient,
    BasicAuth,
    Client,
    DockerRegistryError,
    IncompleteBody,
    NotFound,
    RegistryConnectionError,
)
from docker_registry_v1.emulator import Hub, Standalone
from docker_registry_v1.emulator.seed import build_image_chain

PROJECT = Path(docker_registry_v1.__file__).resolve().parent


def _project_frames(error: BaseException) -> list[str]:
    frames = traceback.extract_tb(error.__traceback__)
    return [f"{f.filename}:{f.name}" for f in frames if Path(f.filename).is_relative_to(PROJECT)]


def test_a_404_from_list_tags_has_a_short_traceback(standalone: Standalone) -> None:
    with Client(standalone.url) as client, pytest.raises(NotFound) as caught:
        client.repository.list_tags("ns/missing")
    frames = _project_frames(caught.value)
    assert 1 <= len(frames) <= 8, frames
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


@pytest.mark.anyio
async def test_an_async_404_has_a_short_traceback(standalone: Standalone) -> None:
    async with AsyncClient(standalone.url) as client:
        with pytest.raises(NotFound) as caught:
            await client.repository.list_tags("ns/missing")
    frames = _project_frames(caught.value)
    assert 1 <= len(frames) <= 8, frames


def test_a_layer_cut_short_while_streaming_is_a_typed_error(standalone: Standalone) -> None:
    image = build_image_chain(1, seed=7, layer_size=50_000)[0]
    standalone.store.seed("ns/app", "1.0", [image])
    standalone.faults.drop_after("/v1/images/*/layer", 1000, times=None)
    received = bytearray()
    with (  # noqa: PT012 - the error comes from reading the body inside the stream
        Client(standalone.url) as client,
        pytest.raises(RegistryConnectionError) as caught,
        client.image.stream_layer(image.id) as response,
    ):
        for chunk in response.iter_raw():
            received += chunk
    assert isinstance(caught.value.__cause__, httpx.HTTPError)
    assert 0 < len(received) < len(image.layer_bytes)
    with Client(standalone.url) as client, pytest.raises(IncompleteBody, match="body ended"):
        client.image.get_layer(image.id, io.BytesIO())


@pytest.mark.anyio
async def test_an_async_layer_cut_short_is_a_typed_error(standalone: Standalone) -> None:
    image = build_image_chain(1, seed=8, layer_size=50_000)[0]
    standalone.store.seed("ns/app", "1.0", [image])
    standalone.faults.drop_after("/v1/images/*/layer", 1000, times=None)
    async with AsyncClient(standalone.url) as client:
        with pytest.raises(RegistryConnectionError):  # noqa: PT012
            async with client.image.stream_layer(image.id) as response:
                async for _ in response.aiter_raw():
                    pass


def test_each_call_sends_its_own_auth_only(private_registry: Standalone) -> None:
    private_registry.store.seed("ns/app", "1.0", build_image_chain(1, seed=9))
    with Client(private_registry.url) as client:
        assert "1.0" in client.repository.list_tags("ns/app", auth=BasicAuth("alice", "s3cret"))
        with pytest.raises(DockerRegistryError):
            client.repository.list_tags("ns/app")
    sent = [e.headers.get("authorization") for e in private_registry.log.entries]
    assert sent[0] is not None
    assert sent[-1] is None


def test_whether_a_registry_issues_tokens_is_decided_once(standalone: Standalone, hub: Hub) -> None:
    with Client(standalone.url) as plain, Client(hub.index_url) as index:
        assert plain.issues_tokens() is False
        assert plain.issues_tokens() is False
        assert index.issues_tokens() is True
    pings = [e for e in standalone.log.entries if e.path == "/v1/_ping"]
    assert len(pings) == 1


@pytest.mark.anyio
async def test_the_async_token_decision_matches(hub: Hub) -> None:
    async with AsyncClient(hub.index_url) as index:
        assert await index.issues_tokens() is True
