"""`Client.pull`/`push` and their async twins reach the transfer functions from a client."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_registry_v1 import AsyncClient, Client
from docker_registry_v1.emulator import Hub
from transfer_support import ALICE, FAST, assert_chain_in, save_archive, seed_chain


def test_client_push_then_pull(hub: Hub, tmp_path: Path) -> None:
    chain = seed_chain(2, seed=3)
    archive = save_archive(tmp_path / "in.tar", "acme/web", "2.0", chain)
    with Client(hub.index_url, auth=ALICE) as client:
        pushed = client.push(archive, "acme/web", retry=FAST)
        pulled = client.pull("acme/web", "2.0", tmp_path / "out.tar", retry=FAST)
    assert pushed.tags == ("2.0",)
    assert pulled.image_id == chain[-1].id
    assert_chain_in(tmp_path / "out.tar", chain)


@pytest.mark.anyio
async def test_async_client_push_then_pull(hub: Hub, tmp_path: Path) -> None:
    chain = seed_chain(2, seed=4)
    archive = save_archive(tmp_path / "in.tar", "acme/api", "3.0", chain)
    async with AsyncClient(hub.index_url, auth=ALICE) as client:
        pushed = await client.push(archive, "acme/api", "3.0", retry=FAST)
        pulled = await client.pull("acme/api", "3.0", tmp_path / "out.tar", concurrency=2)
    assert list(pushed.pushed) == [image.id for image in chain]
    assert pulled.image_id == chain[-1].id
    assert_chain_in(tmp_path / "out.tar", chain)
