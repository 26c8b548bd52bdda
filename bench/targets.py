"""What the cases run against: layer files, the server that serves them, the seeded flows.

``nginx`` serves every throughput and per-call case when it is installed; the
emulator stands in when it is not (the smoke run always uses the emulator, so
``make test`` needs no system packages). The pull case always runs against the
emulator, whose fault switch injects the latency.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
from docker_registry_v1 import Client
from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain

from .nginx import ImageHeaders, run_nginx

MIB = 1 << 20
GIB = 1 << 30
BLOCK = 16 * MIB
TAGS_REPO = "bench/meta"
PULL_REPO = "bench/pull"


def image_id(label: str) -> str:
    return hashlib.sha256(f"regv1-bench:{label}".encode()).hexdigest()


def write_layer(path: Path, size: int) -> None:
    """``size`` incompressible bytes: one random block, repeated."""
    block = os.urandom(min(BLOCK, size))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        left = size
        while left > 0:
            left -= out.write(block[: min(left, len(block))])


def scratch_root(need: int) -> tuple[Path, str]:
    """A private directory in RAM (``/dev/shm``) when it has room, else on disk."""
    shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp inside it, removed after the run
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > need:
        return Path(tempfile.mkdtemp(prefix="regv1-bench-", dir=shm)), "tmpfs (/dev/shm)"
    return Path(tempfile.mkdtemp(prefix="regv1-bench-")), "disk (/dev/shm too small)"


@attrs.define
class Target:
    """One running server with the bench's layers, tags and image JSON in place."""

    kind: str
    base: str
    layers: dict[int, str]  # size -> image id of a stored layer
    sources: dict[int, Path]  # size -> a local file of that size, for PUTs
    meta_id: str
    root: Path

    @property
    def put_json(self) -> bool:
        return self.kind == "emulator"

    def layer_url(self, image: str) -> str:
        return f"{self.base}v1/images/{image}/layer"

    def announce(self, image: str) -> None:
        """Before a PUT of a fresh layer: the emulator wants the image JSON first."""
        if self.put_json:
            body = json.dumps({"id": image}).encode()
            url = f"{self.base}v1/images/{image}/json"
            headers = {"Content-Type": "application/json"}
            httpx.put(url, content=body, headers=headers).raise_for_status()

    def forget(self, image: str) -> None:
        """Free the RAM an uploaded layer took (nginx stores it as a plain file)."""
        if self.kind == "nginx":
            shutil.rmtree(self.root / "v1" / "images" / image, ignore_errors=True)


def _meta_image() -> SeedImage:
    return build_image_chain(1, seed=7, layer_size=512)[0]


@contextlib.contextmanager
def nginx_target(root: Path, sizes: list[int]) -> Iterator[Target]:
    meta = _meta_image()
    images = root / "v1" / "images"
    layers = {size: image_id(f"layer-{size}") for size in sizes}
    for size, layer in layers.items():
        write_layer(images / layer / "layer", size)
    (images / meta.id).mkdir(parents=True)
    (images / meta.id / "json").write_bytes(meta.json_bytes)
    (images / meta.id / "layer").write_bytes(meta.layer_bytes)
    tags = root / "v1" / "repositories" / TAGS_REPO / "tags"
    tags.parent.mkdir(parents=True)
    tags.write_text(json.dumps({"latest": meta.id}))
    headers = {meta.id: ImageHeaders(len(meta.layer_bytes), meta.checksum)}
    sources = {size: images / layer / "layer" for size, layer in layers.items()}
    with run_nginx(root, headers) as base:
        yield Target("nginx", base, layers, sources, meta.id, root)


@contextlib.contextmanager
def emulator_target(root: Path, sizes: list[int]) -> Iterator[Target]:
    meta = _meta_image()
    sources = {size: root / "sources" / f"layer-{size}" for size in sizes}
    for size, path in sources.items():
        write_layer(path, size)
    with run_standalone(data_dir=root / "emulator") as reg:
        reg.store.seed(TAGS_REPO, "latest", [meta])
        layers = {size: image_id(f"layer-{size}") for size in sizes}
        with Client(reg.url) as client:
            for size, layer in layers.items():
                document = json.dumps({"id": layer}).encode()
                client.image.add_metadata_raw(layer, document)
                with open(sources[size], "rb") as source:
                    upload = client.image.add_layer(layer, source, metadata_json=document)
                assert upload.checksum is not None
                client.image.put_checksum(layer, upload.checksum)
        yield Target("emulator", reg.url + "/", layers, sources, meta.id, root)


@contextlib.contextmanager
def pull_emulator(root: Path, layers: int, layer_size: int, latency: float) -> Iterator[str]:
    """A standalone emulator holding a ``layers``-image chain, every request delayed."""
    with run_standalone(data_dir=root / "pull-emulator") as reg:
        chain = build_image_chain(layers, seed=11, layer_size=layer_size, gzip=False)
        reg.store.seed(PULL_REPO, "latest", chain)
        reg.faults.latency("*", latency)
        yield reg.url + "/"
