"""``inventory``/``ainventory`` against a seeded emulator over loopback, checked by the seed."""

from __future__ import annotations

import json
import math
import time

import pytest
from docker_registry_v1 import (
    AsyncClient,
    BasicAuth,
    Client,
    InvalidInput,
    Inventory,
    InventoryListener,
    SearchUnavailable,
    Selection,
    ainventory,
    inventory,
)
from docker_registry_v1.emulator import Compat, Emulator, Standalone
from docker_registry_v1.emulator.pytest_plugin import EmulatorFactory
from docker_registry_v1.transfer import RetryPolicy
from migrate_support import SeededRegistry, seed_registry

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.2, jitter=0.1)
ALICE = BasicAuth("alice", "s3cret")

Seeded = tuple[Standalone, SeededRegistry]


def logged(registry: Emulator, expected: int, timeout: float = 5.0) -> int:
    """The number of requests the emulator logged, once it stops short of ``expected``
    growing (a response can reach the client just before its entry is written)."""
    deadline = time.monotonic() + timeout
    while len(registry.log.entries) < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(registry.log.entries)


def assert_matches_seed(found: Inventory, seed: SeededRegistry) -> None:
    assert [r.name for r in found.repositories] == list(seed.repositories)
    for record in found.repositories:
        assert dict(record.tags) == dict(seed.repositories[record.name])
        assert list(record.tags) == sorted(record.tags)
        assert record.untagged == seed.untagged.get(record.name, ())
    assert found.repository_count == len(seed.repositories)
    assert found.tag_count == seed.tag_count
    assert found.image_count == len(seed.tagged_images)
    assert found.untagged_count == sum(map(len, seed.untagged.values()))
    assert found.unique_bytes == seed.unique_bytes
    assert found.tagged_bytes == seed.tagged_bytes
    assert found.tagged_bytes > 2 * found.unique_bytes  # the base chains are shared
    expected_ids = seed.tagged_images | {i for ids in seed.untagged.values() for i in ids}
    assert set(found.images) == expected_ids
    for image_id, record in found.images.items():
        pushed = seed.images[image_id]
        assert record.parent == pushed.parent
        assert record.size == seed.size(image_id)
        assert record.created == json.loads(pushed.json_bytes)["created"]
        assert record.repositories == seed.shared_by(image_id)
        assert record.tags == seed.tags_using(image_id)
        assert found.chain(image_id) == seed.chains[image_id]


def test_inventory_matches_the_seed(seeded: Seeded) -> None:
    registry, seed = seeded
    with Client(registry.url) as client:
        found = inventory(client)
    assert_matches_seed(found, seed)
    assert found.repository_count >= 30
    assert found.tag_count >= 80
    most_shared = max(found.images.values(), key=lambda image: len(image.repositories))
    assert len(most_shared.repositories) == math.ceil(found.repository_count / 3)  # 3 bases
    assert found.search_available
    assert found.registry == f"{registry.url}/v1/"
    assert registry.log.find(path="/v1/images/*/layer") == []  # metadata only
    assert found.seconds > 0


def test_requests_are_counted_and_shared_work_is_asked_once(seeded: Seeded) -> None:
    registry, seed = seeded
    with Client(registry.url) as client:
        found = inventory(client, concurrency=1)
    repos = len(seed.repositories)
    # _ping, one search page; per repository its tags and its image list; one ancestry
    # per repository (its latest tag's chain holds its other tags); one JSON per image
    assert found.requests == 2 + 2 * repos + repos + len(found.images)
    assert logged(registry, found.requests) == found.requests
    jsons = [entry.path for entry in registry.log.find(path="/v1/images/*/json")]
    assert len(jsons) == len(set(jsons)) == len(found.images)


def test_concurrent_inventory_counts_what_it_sent(seeded: Seeded) -> None:
    registry, seed = seeded
    with Client(registry.url) as client:
        found = inventory(client, concurrency=8)
    assert_matches_seed(found, seed)
    assert logged(registry, found.requests) == found.requests
    jsons = [entry.path for entry in registry.log.find(path="/v1/images/*/json")]
    assert len(jsons) == len(set(jsons))  # claimed: never asked twice, even at once


@pytest.mark.anyio
async def test_async_inventory_equals_sync(seeded: Seeded) -> None:
    registry, seed = seeded
    async with AsyncClient(registry.url) as client:
        found = await ainventory(client, concurrency=6)
    assert_matches_seed(found, seed)
    assert logged(registry, found.requests) == found.requests
    with Client(registry.url) as client:
        again = inventory(client)
    assert again.repositories == found.repositories
    assert again.images == found.images


@pytest.mark.parametrize("shape", ["paged", "hub"])
def test_search_is_read_over_every_page(emulator_factory: EmulatorFactory, shape: str) -> None:
    registry = emulator_factory(compat=Compat(search=shape))  # type: ignore[arg-type]
    seed = seed_registry(registry.store, repos=31, tags_per_repo=1, base_chains=2)
    with Client(registry.url) as client:  # type: ignore[attr-defined]
        found = inventory(client, page_size=7)
    assert [r.name for r in found.repositories] == list(seed.repositories)
    pages = sorted(e.query for e in registry.log.find(path="/v1/search"))
    assert len(pages) == 5  # ceil(31 / 7)
    assert all("n=7" in query for query in pages)


def test_reference_search_answers_at_once(emulator_factory: EmulatorFactory) -> None:
    registry = emulator_factory(compat=Compat(search="reference"))
    seed = seed_registry(registry.store, repos=12, tags_per_repo=2)
    with Client(registry.url) as client:  # type: ignore[attr-defined]
        found = inventory(client, page_size=5)
    assert [r.name for r in found.repositories] == list(seed.repositories)
    assert len(registry.log.find(path="/v1/search")) == 1  # no paging fields: one answer


def test_search_disabled_is_named_and_repositories_can_be_given(seeded: Seeded) -> None:
    registry, seed = seeded
    registry.faults.html_error("/v1/search", 404, times=None)  # REF without a search backend
    with Client(registry.url) as client:
        with pytest.raises(SearchUnavailable) as caught:
            inventory(client)
        assert "search disabled" in str(caught.value)
        assert "--repos-from" in str(caught.value)
        found = inventory(client, repositories=reversed(list(seed.repositories)))
    assert_matches_seed(found, seed)
    assert not found.search_available


def test_given_names_keep_their_spelling_and_duplicates_go(standalone: Standalone) -> None:
    seed = seed_registry(standalone.store, repos=7, tags_per_repo=1)
    library = [name for name in seed.repositories if name.startswith("library/")]
    short = library[0].removeprefix("library/")
    with Client(standalone.url) as client:
        found = inventory(client, repositories=[short, library[0], "team1/app01"])
    assert [r.name for r in found.repositories] == [short, "team1/app01"]
    assert dict(found.repositories[0].tags) == dict(seed.repositories[library[0]])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"repositories": ["team/ok", "bad//name"]}, "repository"),
        ({"repositories": ["team/ok", "host.example.com:5000/team/app"]}, "repository"),
        ({"repositories": "team/app"}, "repositories"),
        ({"concurrency": 0}, "concurrency"),
        ({"page_size": 101}, "page_size"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    standalone: Standalone, kwargs: dict[str, object], field: str
) -> None:
    with Client(standalone.url) as client, pytest.raises(InvalidInput) as caught:
        inventory(client, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert standalone.log.entries == []


def test_transient_errors_are_retried_and_counted(seeded: Seeded) -> None:
    registry, seed = seeded
    registry.faults.error("/v1/images/*/json", 503, times=4)
    registry.faults.error("/v1/repositories/*/tags", 502, times=3)
    registry.faults.drop_after("/v1/images/*/ancestry", 0, times=2)
    with Client(registry.url) as client:
        found = inventory(client, retry=FAST)
    assert_matches_seed(found, seed)
    assert logged(registry, found.requests) == found.requests


def test_registry_without_index_lists(seeded: Seeded) -> None:
    registry, seed = seeded
    registry.faults.error("/v1/repositories/*/images", 404, times=None)
    with Client(registry.url) as client:
        found = inventory(client)
    assert all(record.untagged == () for record in found.repositories)
    assert found.untagged_count == 0
    assert found.unique_bytes == seed.unique_bytes
    assert set(found.images) == seed.tagged_images


def test_hub_reads_with_a_token_per_repository(emulator_factory: EmulatorFactory) -> None:
    hub = emulator_factory("hub", users={"alice": "s3cret"})
    seed = seed_registry(hub.store, repos=8, tags_per_repo=2, base_chains=2)
    with Client(hub.index_url, auth=ALICE) as client:  # type: ignore[attr-defined]
        found = inventory(client)
    assert_matches_seed(found, seed)
    token_requests = [
        e for e in hub.log.find(path="/v1/repositories/*/images") if "x-docker-token" in e.headers
    ]
    assert len(token_requests) == len(seed.repositories)
    registry_reads = hub.log.find(role="registry")
    assert registry_reads
    assert all((e.authorization or "").startswith("Token ") for e in registry_reads)


def test_abbreviated_tag_ids_are_resolved(emulator_factory: EmulatorFactory) -> None:
    registry = emulator_factory(compat=Compat(tag_list_as_list=True))
    seed = seed_registry(registry.store, repos=6, tags_per_repo=3)
    with Client(registry.url) as client:  # type: ignore[attr-defined]
        found = inventory(client)
    assert_matches_seed(found, seed)


class Recorder(InventoryListener):
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def progressed(self, done: int, total: int, requests: int) -> None:
        self.calls.append((done, total, requests))


def test_progress_reports_repositories_and_requests(seeded: Seeded) -> None:
    registry, seed = seeded
    recorder = Recorder()
    with Client(registry.url) as client:
        found = inventory(client, progress=recorder, concurrency=4)
    total = len(seed.repositories)
    assert recorder.calls[0] == (0, total, 2)  # _ping and the one search page
    assert sorted(done for done, _, _ in recorder.calls) == list(range(total + 1))
    assert all(t == total for _, t, _ in recorder.calls)
    assert max(r for _, _, r in recorder.calls) <= found.requests
    assert isinstance(recorder, InventoryListener)


def test_chain_of_an_unknown_image_is_a_key_error(standalone: Standalone) -> None:
    seed_registry(standalone.store, repos=2, tags_per_repo=1)
    with Client(standalone.url) as client:
        found = inventory(client)
    with pytest.raises(KeyError):
        found.chain("0" * 64)


def test_shards_of_an_inventory_cover_it_once(seeded: Seeded) -> None:
    registry, seed = seeded
    with Client(registry.url) as client:
        parts = [
            inventory(client, selection=Selection.parse(shard=f"{index}/3")) for index in range(3)
        ]
    names = [record.name for part in parts for record in part.repositories]
    assert sorted(names) == list(seed.repositories)  # every repository, and only once
    assert all(part.repository_count for part in parts)
    assert sum(part.tag_count for part in parts) == seed.tag_count


def test_selection_narrows_before_reading(seeded: Seeded) -> None:
    registry, seed = seeded
    selection = Selection.parse(include=["^team2/"], tags="latest")
    with Client(registry.url) as client:
        found = inventory(client, selection=selection)
    chosen = [name for name in seed.repositories if name.startswith("team2/")]
    assert [record.name for record in found.repositories] == chosen
    assert all(list(record.tags) == ["latest"] for record in found.repositories)
    needed = {i for name in chosen for i in seed.chains[seed.repositories[name]["latest"]]}
    assert found.unique_bytes == sum(seed.size(i) for i in needed)
    assert found.image_count == len(needed)
    asked = {e.path.split("/")[4] for e in registry.log.find(path="/v1/repositories/*/*/tags")}
    assert asked == {name.split("/")[1] for name in chosen}


@pytest.mark.anyio
async def test_async_pages_tokens_and_abbreviated_ids(emulator_factory: EmulatorFactory) -> None:
    hub = emulator_factory(
        "hub", users={"alice": "s3cret"}, compat=Compat(search="paged", tag_list_as_list=True)
    )
    seed = seed_registry(hub.store, repos=10, tags_per_repo=3, base_chains=2)
    async with AsyncClient(hub.index_url, auth=ALICE) as client:  # type: ignore[attr-defined]
        found = await ainventory(client, page_size=3, retry=FAST)
    assert_matches_seed(found, seed)
    assert len(hub.log.find(path="/v1/search")) == 4  # ceil(10 / 3)
    assert logged(hub, found.requests) == found.requests


def test_a_stale_index_entry_is_kept_with_nothing_known(standalone: Standalone) -> None:
    seed = seed_registry(standalone.store, repos=3, tags_per_repo=2)
    stale = "ab" * 32  # listed, never uploaded
    entries = [{"id": stale}]
    standalone.store.put_index_list(
        "team1/app01", json.dumps(entries).encode(), entries, create=False
    )
    with Client(standalone.url) as client:
        found = inventory(client)
    (record,) = [r for r in found.repositories if r.name == "team1/app01"]
    assert stale in record.untagged
    image = found.images[stale]
    assert (image.parent, image.created, image.size, image.repositories, image.tags) == (
        None,
        None,
        None,
        (),
        0,
    )
    assert found.unique_bytes == seed.unique_bytes
