"""The deterministic image-chain builder and store seeding."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import httpx
import pytest
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import build_image_chain


def test_chain_is_deterministic_and_valid() -> None:
    chain = build_image_chain(3, seed=1, layer_size=300)
    assert chain == build_image_chain(3, seed=1, layer_size=300)
    assert {i.id for i in chain}.isdisjoint({i.id for i in build_image_chain(3, seed=2)})
    assert [i.parent for i in chain] == [None, chain[0].id, chain[1].id]
    for image in chain:
        doc = json.loads(image.json_bytes)
        assert doc["id"] == image.id
        assert doc.get("parent") == image.parent
        assert doc["container_config"]["Cmd"][:2] == ["/bin/sh", "-c"]
        digest = hashlib.sha256(image.json_bytes + b"\n" + image.layer_bytes).hexdigest()
        assert image.checksum == f"sha256:{digest}"
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(image.layer_bytes))) as tar:
            assert any(m.size == 300 for m in tar.getmembers())
    plain = build_image_chain(1, gzip=False)[0]
    assert tarfile.is_tarfile(io.BytesIO(plain.layer_bytes))
    assert "…" in repr(plain)


def test_chain_validation() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        build_image_chain(0)
    with pytest.raises(ValueError, match="negative"):
        build_image_chain(1, layer_size=-1)


def test_store_seed(standalone: Standalone, client: httpx.Client) -> None:
    chain = build_image_chain(2)
    standalone.store.seed("solo", "latest", chain)
    standalone.store.seed("solo", "latest", chain)
    assert client.get("/v1/repositories/library/solo/tags").json() == {"latest": chain[-1].id}
    listed = client.get("/v1/repositories/library/solo/images").json()
    assert [e["id"] for e in listed] == [i.id for i in chain]
    assert client.get("/v1/search", params={"q": "solo"}).json()["num_results"] == 1
    assert client.get(f"/v1/images/{chain[0].id}/layer").content == chain[0].layer_bytes
    with pytest.raises(ValueError, match="parent"):
        standalone.store.seed("ns/x", None, [build_image_chain(2, seed=3)[1]])
