"""Fixtures for the facade tests: every client-level test runs against Client and AsyncClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from docker_registry_v1 import AsyncClient, Client
from docker_registry_v1.emulator.pytest_plugin import (  # noqa: F401 - fixtures
    emulator_factory,
    hub,
    private_registry,
    standalone,
)
from facade_support import Blocking


@pytest.fixture(params=["sync", "async"])
def connect(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``connect(base_url, **options)``: a Client, or an AsyncClient driven through a portal.

    The async client runs on one event loop in a helper thread for the whole test, so
    its pooled connections and per-call context work exactly as in async code.
    """
    if request.param == "sync":
        clients: list[Client] = []

        def make_sync(url: str, **options: Any) -> Client:
            clients.append(Client(url, **options))
            return clients[-1]

        yield make_sync
        for client in clients:
            client.close()
        return
    with start_blocking_portal("asyncio") as portal:
        async_clients: list[AsyncClient] = []

        def make_async(url: str, **options: Any) -> Any:
            async_clients.append(AsyncClient(url, **options))
            return Blocking(async_clients[-1], portal)

        yield make_async
        for client in async_clients:
            portal.call(client.aclose)
