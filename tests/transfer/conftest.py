"""Fixtures for the transfer tests: each test runs with the sync and the async API."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from docker_registry_v1 import AsyncClient, Client, transfer
from transfer_support import Runner


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(flavour: str) -> Runner:
    """``run(operation, url, *args, auth=…, **kwargs)``: the sync or async transfer function.

    ``operation`` is ``"pull"``, ``"push"`` or ``"mirror"``; a client (two for mirror)
    is made for the call and closed after it.
    """

    def sync_call(operation: str, url: str | tuple[str, str], *args: Any, **kwargs: Any) -> Any:
        auth = kwargs.pop("auth", None)
        if operation == "mirror":
            assert isinstance(url, tuple)
            with Client(url[0], auth=auth) as source, Client(url[1], auth=auth) as target:
                return transfer.mirror(source, args[0], target, args[1], **kwargs)
        with Client(str(url), auth=auth) as client:
            return getattr(transfer, operation)(client, *args, **kwargs)

    def async_call(operation: str, url: str | tuple[str, str], *args: Any, **kwargs: Any) -> Any:
        auth = kwargs.pop("auth", None)

        async def main() -> Any:
            if operation == "mirror":
                assert isinstance(url, tuple)
                async with (
                    AsyncClient(url[0], auth=auth) as source,
                    AsyncClient(url[1], auth=auth) as target,
                ):
                    return await transfer.amirror(source, args[0], target, args[1], **kwargs)
            async with AsyncClient(str(url), auth=auth) as client:
                return await getattr(transfer, "a" + operation)(client, *args, **kwargs)

        return anyio.run(main)

    return sync_call if flavour == "sync" else async_call
