"""The PyPI package ``docker-registry-client`` 0.5.2 (its v1 path) against the emulator:
standalone (REF), behind the emulator's ``--user`` front, and behind a real nginx."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker_registry_client as drc
import pytest
from docker_registry_v1.emulator import Standalone, run_standalone
from docker_registry_v1.emulator.seed import SeedImage
from interop_support import PASSWORD, REPO, TAG, USER, nginx_front, seed

NAMESPACE, NAME = REPO.split("/")
MODES = ("standalone", "user", "nginx")


class Target:
    def __init__(self, registry: Standalone, url: str, chain: list[SeedImage], auth: bool):
        self.registry = registry
        self.url = url
        self.chain = chain
        self.credentials: dict[str, str] = {"username": USER, "password": PASSWORD} if auth else {}

    def client(self) -> Any:
        return drc.DockerRegistryClient(self.url, api_version=1, **self.credentials)


@pytest.fixture(params=MODES)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    mode = str(request.param)
    users = {USER: PASSWORD} if mode == "user" else None
    with run_standalone(users=users) as registry:
        chain = seed(registry)
        if mode == "nginx":
            with nginx_front(registry.url, tmp_path / "nginx") as url:
                yield Target(registry, url, chain, auth=True)
        else:
            yield Target(registry, registry.url, chain, auth=mode == "user")


def _ping(t: Target) -> None:
    assert t.client()._base_client.check_status() == {}


def _search(t: Target) -> None:
    client = t.client()
    assert list(client.repositories()) == [REPO]
    assert client._base_client.search("app")["num_results"] == 1


def _tags(t: Target) -> None:
    assert t.client().repository(REPO).tags() == [TAG]


def _image_json(t: Target) -> None:
    tip = t.chain[-1]
    assert t.client()._base_client.get_image_layer(tip.id) == json.loads(tip.json_bytes)


def _ancestry(t: Target) -> None:
    tip = t.chain[-1]
    assert t.client()._base_client.get_image_ancestry(tip.id) == [i.id for i in reversed(t.chain)]


def _tag_untag(t: Target) -> None:
    repository = t.client().repository(REPO)
    assert repository.tag("extra", t.chain[0].id) is True
    assert t.registry.store.tags(REPO) == {TAG: t.chain[-1].id, "extra": t.chain[0].id}
    assert repository.untag("extra") is True
    assert t.registry.store.tags(REPO) == {TAG: t.chain[-1].id}


def _delete_repository(t: Target) -> None:
    assert t.client()._base_client.delete_repository(NAMESPACE, NAME) is True
    assert t.registry.store.tags(REPO) is None


def _layer(t: Target) -> None:
    body = t.client()._base_client.get_images_layer(t.chain[0].id)
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(t.chain[0].layer_bytes).hexdigest()


OPERATIONS: dict[str, Callable[[Target], None]] = {
    "ping": _ping,
    "search": _search,
    "tags": _tags,
    "image json": _image_json,
    "ancestry": _ancestry,
    "tag/untag": _tag_untag,
    "delete repository": _delete_repository,
    "layer": _layer,
}
BROKEN = {
    "layer": "the client JSON-decodes every answer, so a layer tar raises a JSONDecodeError",
}


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(
            name, marks=pytest.mark.xfail(strict=True, raises=ValueError, reason=BROKEN[name])
        )
        if name in BROKEN
        else name
        for name in OPERATIONS
    ],
)
def test_pypi_client_v1(target: Target, operation: str) -> None:
    OPERATIONS[operation](target)
