"""Trust content, not names: a hostile v1 registry that serves a genuine image's ids with
other layer bytes must not poison a later copy or migration of the genuine image that
shares the same cache or journal.

The worst case for the store is modelled: both registries give each image only a tarsum
checksum (common in old registries, and one this client cannot verify), the hostile one
the very same strings, so the id and checksum a fact is keyed by are identical. Only
the source a fact was learned from tells them apart; the genuine image's bytes must be
read and land, as its config's diff_ids and skopeo's own digest checks prove.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.pytest_plugin import EmulatorFactory
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from regv1_runner import regv1
from test_engine_matrix import inspect, netloc, skopeo
from v2registry import V2Registry


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("REGV1_REGISTRY", "REGV1_USERNAME", "REGV1_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "docker-config").mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def tarsum_only(image: SeedImage) -> SeedImage:
    return attrs.evolve(
        image,
        checksum="tarsum+sha256:" + hashlib.sha256(b"tarsum:" + image.id.encode()).hexdigest(),
    )


def diff_id(image: SeedImage) -> str:
    return "sha256:" + hashlib.sha256(gzip.decompress(image.layer_bytes)).hexdigest()


@attrs.frozen
class Pair:
    genuine: Standalone
    hostile: Standalone
    chain: list[SeedImage]
    forged: list[SeedImage]


@pytest.fixture
def pair(emulator_factory: EmulatorFactory) -> Pair:
    genuine, hostile = emulator_factory("standalone"), emulator_factory("standalone")
    assert isinstance(genuine, Standalone)
    assert isinstance(hostile, Standalone)
    chain = [tarsum_only(image) for image in build_image_chain(3, seed=91, layer_size=40_000)]
    other = build_image_chain(3, seed=92, layer_size=40_000)
    # The same ids, JSON and checksum strings; other layer bytes.
    forged = [
        attrs.evolve(image, layer_bytes=fake.layer_bytes)
        for image, fake in zip(chain, other, strict=True)
    ]
    genuine.store.seed("acme/app", "1.0", chain)
    hostile.store.seed("acme/app", "1.0", forged)
    return Pair(genuine, hostile, chain, forged)


def layer_digests(reference: str) -> list[str]:
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", reference))
    return [layer["digest"] for layer in raw["layers"]]


def genuine_bytes_landed(reference: str, pair: Pair, tmp_path: Path) -> dict[str, Any]:
    seen = inspect(reference)
    assert seen["diff_ids"] == [diff_id(image) for image in pair.chain]
    assert seen["diff_ids"] != [diff_id(image) for image in pair.forged]
    # skopeo verifies every blob it reads against its digest and the config's diff_ids.
    skopeo("copy", "--src-tls-verify=false", reference, f"oci:{tmp_path / 'check'}:x")
    return seen


def test_a_copy_after_a_hostile_registry_lands_the_genuine_bytes(
    pair: Pair, v2_open: V2Registry, tmp_path: Path
) -> None:
    cache = str(tmp_path / "cache.sqlite")
    bad = f"docker://{v2_open.host}/poison/copy:hostile"
    good = f"docker://{v2_open.host}/poison/copy:genuine"
    first = regv1(
        "copy", f"{netloc(pair.hostile.url)}/acme/app:1.0", bad, "--cache", cache, "--json"
    )
    assert first.exit_code == 0, first.output
    second = regv1(
        "copy", f"{netloc(pair.genuine.url)}/acme/app:1.0", good, "--cache", cache, "--json"
    )
    assert second.exit_code == 0, second.output
    done = json.loads(second.stdout)
    # Nothing the hostile registry taught was reused: every genuine layer was read.
    assert done["bytes"] == sum(len(image.layer_bytes) for image in pair.chain)
    genuine_bytes_landed(good, pair, tmp_path)
    assert set(layer_digests(good)).isdisjoint(layer_digests(bad))


def test_a_migration_after_a_hostile_registry_lands_the_genuine_bytes(
    pair: Pair, v2_open: V2Registry, tmp_path: Path
) -> None:
    journal = str(tmp_path / "journal.sqlite")
    first = regv1(
        "migrate",
        netloc(pair.hostile.url),
        f"docker://{v2_open.host}/poison-hostile",
        "--journal",
        journal,
        "--json",
    )
    assert first.exit_code == 0, first.output
    second = regv1(
        "migrate",
        netloc(pair.genuine.url),
        f"docker://{v2_open.host}/poison-genuine",
        "--journal",
        journal,
        "--json",
    )
    assert second.exit_code == 0, second.output
    good = f"docker://{v2_open.host}/poison-genuine/acme/app:1.0"
    bad = f"docker://{v2_open.host}/poison-hostile/acme/app:1.0"
    genuine_bytes_landed(good, pair, tmp_path)
    assert set(layer_digests(good)).isdisjoint(layer_digests(bad))
