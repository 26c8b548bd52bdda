"""What the face tests share: the migrated world (`World`) and how it is built."""

from __future__ import annotations

from pathlib import Path

import attrs
import httpx
from click.testing import CliRunner
from docker_registry_v1.cli import main
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.oci.client import OCIClient
from oci_images import direct_image
from v2.v2registry import V2Registry

DIRECT = "direct/app"
"""Pushed straight to the v2 registry: no provenance, synthesized v1 ids."""


BIG_LAYER = 3 * 1024 * 1024 + 11


@attrs.frozen
class World:
    emulator: Standalone
    v2: V2Registry
    face: Standalone
    """The face over the registry."""
    layout_face: Standalone
    """The face over the OCI layout the same seed was migrated into."""
    seed: dict[str, dict[str, list[SeedImage]]]
    """v1 repository → tag → chain, base first."""
    direct_layer: bytes
    """The gzip layer of `DIRECT`'s image, as pushed."""

    @property
    def images(self) -> dict[str, SeedImage]:
        return {i.id: i for tags in self.seed.values() for c in tags.values() for i in c}


def seed_emulator(emulator: Standalone) -> dict[str, dict[str, list[SeedImage]]]:
    """gzip and plain-tar layers, a base chain shared by two repositories, four namespaces;
    ``big/*`` has layers of 3 MiB (read off the connection, with the threshold lowered)."""
    shared = build_image_chain(3, seed=31, layer_size=30_000, gzip=True)
    plain = build_image_chain(2, seed=32, layer_size=50_000, gzip=False)
    seed = {
        "team/app": {"1.0": shared, "latest": shared},
        "library/base": {"latest": shared[:2]},
        "other/tool": {"v1": plain, "old": plain[:1]},
        "big/gzip": {"1": build_image_chain(1, seed=33, layer_size=BIG_LAYER, gzip=True)},
        "big/plain": {"1": build_image_chain(1, seed=34, layer_size=BIG_LAYER, gzip=False)},
    }
    for repository, tags in seed.items():
        for tag, chain in tags.items():
            emulator.store.seed(repository, tag, chain)
    return seed


def migrate(source: str, destination: str, journal: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["migrate", source, destination, "--journal", str(journal), "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output


def push_direct(url: str, auth: httpx.Auth | None = None) -> bytes:
    """A one-layer image put straight into the v2 registry (as a v2 client would)."""
    config, layer, manifest = direct_image()
    with OCIClient(url, auth=auth) as client:
        client.upload_blob(DIRECT, config)
        client.upload_blob(DIRECT, layer)
        client.put_manifest(DIRECT, "1", manifest, "application/vnd.oci.image.manifest.v1+json")
    return layer
