"""The third-party v1 clients the suite already runs (tests/interop) read a migrated
repository through the face: npm ``docker-registry-client`` (``createClientV1``) under
node, and the PyPI ``docker-registry-client`` (its v1 path)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import docker_registry_client as drc
import pytest
from face_support import World
from interop.interop_support import run_npm_client

REPO = "library/base"
TAG = "latest"


def _chain(world: World) -> list[Any]:
    return world.seed[REPO][TAG]


@pytest.fixture(scope="module")
def npm_results(world: World) -> dict[str, Any]:
    chain = _chain(world)
    config = {
        "name": f"{world.face.url.removeprefix('http://')}/{REPO}",
        "index": world.face.url,
        "tip": chain[-1].id,
        "base": chain[0].id,
        "term": "base",
    }
    return run_npm_client(config)


def test_npm_client_reads_through_the_face(world: World, npm_results: dict[str, Any]) -> None:
    chain = _chain(world)
    tip, base = chain[-1], chain[0]
    expected = {
        "ping": {},
        "listRepoTags": {TAG: tip.id},
        "getImgAncestry": [i.id for i in reversed(chain)],
        "getImgJson": json.loads(tip.json_bytes),
        "getImgLayerStream": {
            "status": 200,
            "sha256": hashlib.sha256(base.layer_bytes).hexdigest(),
            "size": len(base.layer_bytes),
        },
        "search": {
            "num_results": 1,
            "query": "base",
            "results": [{"description": "", "name": REPO}],
        },
    }
    for operation, value in expected.items():
        outcome = npm_results[operation]
        assert outcome["ok"], (operation, outcome.get("error"))
        assert outcome["value"] == value, operation


def test_pypi_client_reads_through_the_face(world: World) -> None:
    chain = world.seed["other/tool"]["v1"]
    client = drc.DockerRegistryClient(world.face.url, api_version=1)
    base_client = client._base_client  # its v1 calls live there
    assert base_client.check_status() == {}
    assert sorted(client.repository("other/tool").tags()) == ["old", "v1"]
    assert base_client.get_image_layer(chain[-1].id) == json.loads(chain[-1].json_bytes)
    assert base_client.get_image_ancestry(chain[-1].id) == [i.id for i in reversed(chain)]
    assert base_client.search("tool")["results"] == [{"description": "", "name": "other/tool"}]
    assert "other/tool" in set(client.repositories())
