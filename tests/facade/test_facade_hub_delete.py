"""The Hub delete flow: a delete token, the registry delete, the index confirmation."""

from __future__ import annotations

import pytest
from docker_registry_v1 import AsyncClient, BasicAuth, Client, InvalidInput
from docker_registry_v1.emulator import Hub
from docker_registry_v1.emulator.seed import build_image_chain

ALICE = BasicAuth("alice", "s3cret")


def _check_confirmation(hub: Hub, endpoint: str) -> None:
    confirm = hub.log.last(method="DELETE", role="index")
    assert confirm is not None
    assert confirm.status == 200
    assert "x-docker-token" not in confirm.headers
    assert confirm.headers["x-docker-endpoints"] == endpoint
    assert confirm.headers["authorization"].startswith("Basic ")
    registry_delete = hub.log.last(method="DELETE", role="registry")
    assert registry_delete is not None
    assert registry_delete.headers["authorization"].startswith("Token ")
    assert not hub.store.repository_exists("team/app")


def test_delete_flow_ends_with_the_index_confirmation(hub: Hub) -> None:
    hub.store.seed("team/app", "1.0", build_image_chain(1))
    with Client(hub.index_url, auth=ALICE) as client:
        token = client.hub.get_delete_token("team/app", auth=ALICE)
        client.repository.delete("team/app", auth=token)
        endpoint = str(token.endpoint)
        client.hub.confirm_delete("team/app", endpoints=[endpoint])
    _check_confirmation(hub, endpoint)


@pytest.mark.anyio
async def test_async_delete_flow_and_bad_endpoints(hub: Hub) -> None:
    hub.store.seed("team/app", "1.0", build_image_chain(1))
    async with AsyncClient(hub.index_url, auth=ALICE) as client:
        token = await client.hub.get_delete_token("team/app", auth=ALICE)
        await client.repository.delete("team/app", auth=token)
        before = len(hub.log.entries)
        for bad in ("http://one-string/", ["a\r\nX-Evil: 1"]):
            with pytest.raises(InvalidInput) as caught:
                await client.hub.confirm_delete("team/app", endpoints=bad)
            assert caught.value.field == "endpoints"
        assert len(hub.log.entries) == before
        endpoint = str(token.endpoint)
        await client.hub.confirm_delete("team/app", endpoints=[endpoint])
    _check_confirmation(hub, endpoint)
