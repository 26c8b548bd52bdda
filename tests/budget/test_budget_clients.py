"""How clients find and hold their budget, over real sockets to the emulator: one shared
budget per origin, a ``budget=`` of a client's own, a streamed layer holding its place
until closed, and a paused host sending nothing from any client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from docker_registry_v1 import AsyncClient, Client, HostBudget, OCIClient, shared_budget
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.server import run_standalone
from migrate_support import SeededRegistry, seed_registry


@pytest.fixture
def seeded() -> Iterator[tuple[Standalone, SeededRegistry]]:
    with run_standalone() as emulator:
        yield emulator, seed_registry(emulator.store, repos=2, tags_per_repo=1, base_chains=1)


def test_clients_of_one_origin_share_one_budget(
    seeded: tuple[Standalone, SeededRegistry],
) -> None:
    emulator, _ = seeded
    shared = shared_budget(emulator.url, rate=50)
    with Client(emulator.url) as one, Client(emulator.url + "/v1/") as two:
        one.ping()
        two.with_options(retry=None).ping()
        two.ping()
    assert shared.requests == 3
    assert shared_budget(emulator.url + "/v1/_ping") is shared  # keyed by scheme://host:port
    with OCIClient(emulator.url) as oci:
        assert oci.budget is None  # it uses the shared one too


def test_a_budget_of_its_own_is_used_for_the_clients_origin(
    seeded: tuple[Standalone, SeededRegistry],
) -> None:
    emulator, _ = seeded
    own = HostBudget(rate=100)
    with Client(emulator.url, budget=own) as client:
        assert client.budget is own
        client.ping()
        client.repository.list_tags("library/base00")
    assert own.requests == 2
    assert shared_budget(emulator.url).requests == 0


def test_a_streamed_layer_holds_its_connection_until_closed(
    seeded: tuple[Standalone, SeededRegistry],
) -> None:
    emulator, seed = seeded
    image_id = next(iter(seed.images))
    budget = HostBudget(max_connections=1)
    sent = threading.Event()
    with Client(emulator.url, budget=budget) as client:
        with client.image.stream_layer(image_id) as response:
            assert budget.in_flight == 1
            waiter = threading.Thread(target=lambda: (client.ping(), sent.set()))
            waiter.start()
            assert not sent.wait(0.5)  # the one connection is the layer's
            assert response.read()
        assert sent.wait(5)
        waiter.join()
    assert budget.in_flight == 0


def test_a_paused_host_gets_nothing_from_any_client_until_the_pause_ends(
    seeded: tuple[Standalone, SeededRegistry],
) -> None:
    emulator, _ = seeded
    emulator.faults.error("/v1/_ping", 503, retry_after=1, times=1)
    budget = shared_budget(emulator.url)
    with Client(emulator.url) as first, Client(emulator.url) as second:
        emulator.log.clear()
        refused = threading.Thread(target=first.ping)  # 503 Retry-After: 1, then again
        refused.start()
        deadline = time.monotonic() + 5
        while budget.pauses == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert budget.pauses == 1
        second.ping()  # another client, asked while the host is paused
        refused.join()
    pings = sorted(entry.started for entry in emulator.log.entries)
    assert len(pings) == 3
    assert pings[1] - pings[0] >= 0.95  # both waited for the pause (1 s after the 503)
    assert pings[2] - pings[0] >= 0.95


@pytest.mark.anyio
async def test_the_async_client_waits_for_the_budget_without_blocking_the_loop(
    seeded: tuple[Standalone, SeededRegistry],
) -> None:
    emulator, _ = seeded
    budget = HostBudget(rate=10)
    started = time.monotonic()
    async with AsyncClient(emulator.url, budget=budget) as client:
        for _ in range(4):
            await client.ping()
    assert time.monotonic() - started >= 0.29  # 1 at once, then one per 0.1 s
    assert budget.requests == 4
