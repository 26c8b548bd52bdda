"""Helpers for the transfer tests: archives from seeded chains, log and store inspection."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docker_registry_v1 import BasicAuth
from docker_registry_v1.emulator import Emulator, Hub
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.formats.archive import ChainImage, write_loadable_archive
from docker_registry_v1.transfer import RetryPolicy

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.2, jitter=0.1)
ALICE = BasicAuth("alice", "s3cret")


def seed_chain(layers: int = 3, seed: int = 0, size: int = 4096) -> list[SeedImage]:
    return build_image_chain(layers, seed=seed, layer_size=size, gzip=False)


def save_archive(path: Path, repo: str, tag: str, chain: list[SeedImage]) -> Path:
    """A `docker save`-style archive (legacy + manifest.json) holding ``chain``."""
    images = [ChainImage(i.id, i.json_bytes, io.BytesIO(i.layer_bytes)) for i in chain]
    return write_loadable_archive(path, repo, tag, images).path


def archive_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def assert_chain_in(path: Path, chain: list[SeedImage]) -> None:
    members = archive_members(path)
    for image in chain:
        assert members[f"{image.id}/json"] == image.json_bytes
        assert members[f"{image.id}/layer.tar"] == image.layer_bytes


def stored_layer(reg: Emulator, image_id: str) -> bytes:
    blob = reg.store.layer(image_id)
    assert blob is not None
    with blob.open() as stream:
        return stream.read()


def base_url(reg: Emulator) -> str:
    return reg.index_url if isinstance(reg, Hub) else reg.url  # type: ignore[attr-defined]


Runner = Callable[..., Any]


def settled(reg: Emulator, timeout: float = 2.0) -> list[Any]:
    """The request log once it stops growing (a response may arrive before its entry)."""
    deadline = time.monotonic() + timeout
    previous = -1
    while True:
        entries = reg.log.entries
        if (entries and len(entries) == previous) or time.monotonic() > deadline:
            return entries
        previous = len(entries)
        time.sleep(0.05)
