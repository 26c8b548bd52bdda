"""A registry-sized v1 seed for the inventory and migrate tests, with the answers it implies.

``seed_registry`` fills an emulator's store (directly, which is fast) or any v1
registry through a :class:`Client` (the ordinary push requests) with ``repos``
repositories of ``tags_per_repo`` tags each. Every repository builds on one of
``base_chains`` shared base chains, so most bytes are shared; each tag adds its
own image on top of the previous tag's (tags of one repository share too), the
last tag is an alias of the one before it (``latest``), and every fifth
repository's index image list names one image no tag reaches (untagged).
Everything is derived from ``seed``, so two calls push the same bytes.

:class:`SeededRegistry` records what was pushed and computes the expected
inventory figures from it, independently of the code under test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import random
import tarfile
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import attrs
from docker_registry_v1 import Client, IndexImage
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain, payload_checksum
from docker_registry_v1.emulator.store import Store
from docker_registry_v1.engine.access import write_access

__all__ = ["SeededRegistry", "seed_registry"]

#: Layers per shared base chain.
BASE_LAYERS = 3
_UNTAGGED_EVERY = 5
_CREATED = "2015-03-0{day}T10:00:{second:02d}.000000000Z"


@attrs.frozen
class SeededRegistry:
    """What :func:`seed_registry` pushed: tags per repository, every image, every chain."""

    #: repository → tag → image id, repositories and tags sorted.
    repositories: Mapping[str, Mapping[str, str]]
    #: image id → the image pushed (JSON and layer bytes).
    images: Mapping[str, SeedImage]
    #: image id → its chain, base first (itself last).
    chains: Mapping[str, tuple[str, ...]]
    #: repository → ids its index image list names that none of its tags reach.
    untagged: Mapping[str, tuple[str, ...]]

    @property
    def tag_count(self) -> int:
        return sum(len(tags) for tags in self.repositories.values())

    def tag_pairs(self) -> list[tuple[str, str, str]]:
        """``(repository, tag, image id)`` for every tag."""
        return [
            (repo, tag, image_id)
            for repo, tags in self.repositories.items()
            for tag, image_id in tags.items()
        ]

    def size(self, image_id: str) -> int:
        """The layer's size as stored (what ``X-Docker-Size`` says)."""
        return len(self.images[image_id].layer_bytes)

    def shared_by(self, image_id: str) -> tuple[str, ...]:
        """The repositories with a tag whose chain contains ``image_id``."""
        return tuple(
            sorted({repo for repo, _, tip in self.tag_pairs() if image_id in self.chains[tip]})
        )

    def tags_using(self, image_id: str) -> int:
        return sum(1 for _, _, tip in self.tag_pairs() if image_id in self.chains[tip])

    @property
    def tagged_images(self) -> set[str]:
        return {i for _, _, tip in self.tag_pairs() for i in self.chains[tip]}

    @property
    def unique_bytes(self) -> int:
        return sum(self.size(i) for i in self.tagged_images)

    @property
    def tagged_bytes(self) -> int:
        return sum(self.size(i) for _, _, tip in self.tag_pairs() for i in self.chains[tip])


def _layer(name: str, payload: bytes) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo(f"data/{name}.bin")
        info.size, info.mtime, info.mode = len(payload), 1425204000, 0o644
        archive.addfile(info, io.BytesIO(payload))
    return gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)  # random bytes: no gain


def _image(key: str, parent: SeedImage, size: int, rng: random.Random, second: int) -> SeedImage:
    """One image on top of ``parent``: a layer of ``size`` random bytes, docker-like JSON."""
    image_id = hashlib.sha256(f"regv1-migrate-seed:{key}".encode()).hexdigest()
    layer = _layer(key.replace("/", "-"), rng.randbytes(size))
    document = {
        "id": image_id,
        "parent": parent.id,
        "created": _CREATED.format(day=1 + second // 60 % 9, second=second % 60),
        "container_config": {"Cmd": ["/bin/sh", "-c", f"#(nop) ADD file:{key} in /"]},
        "config": {"Cmd": ["app"], "Env": ["PATH=/usr/bin:/bin"]},
        "docker_version": "1.6.2",
        "architecture": "amd64",
        "os": "linux",
        "Size": size,
    }
    json_bytes = json.dumps(document, separators=(",", ":")).encode()
    return SeedImage(
        id=image_id,
        parent=parent.id,
        json_bytes=json_bytes,
        layer_bytes=layer,
        checksum=payload_checksum(json_bytes, layer),
    )


def _name(index: int) -> str:
    if index % 6 == 0:
        return f"library/base{index:02d}"
    return f"team{index % 3}/app{index:02d}"


def _tag_names(count: int) -> list[str]:
    if count == 1:
        return ["latest"]
    return [f"1.{n}" for n in range(count - 1)] + ["latest"]


@attrs.define
class _Plan:
    #: repository → the images to push there, parents first (its index image list).
    pushes: dict[str, list[SeedImage]] = attrs.field(factory=dict)
    images: dict[str, SeedImage] = attrs.field(factory=dict)
    chains: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    repositories: dict[str, dict[str, str]] = attrs.field(factory=dict)
    untagged: dict[str, tuple[str, ...]] = attrs.field(factory=dict)

    def add(self, image: SeedImage) -> None:
        self.images[image.id] = image
        below = self.chains[image.parent] if image.parent is not None else ()
        self.chains[image.id] = (*below, image.id)


def _plan(
    repos: int, tags_per_repo: int, base_chains: int, layer_sizes: Sequence[int], seed: int
) -> _Plan:
    rng = random.Random(f"regv1-migrate-seed-{seed}")
    plan = _Plan()
    bases = [
        build_image_chain(BASE_LAYERS, seed=seed * 1000 + b, layer_size=layer_sizes[b % 2])
        for b in range(base_chains)
    ]
    for chain in bases:
        for image in chain:
            plan.add(image)
    sizes = itertools.cycle(layer_sizes)
    second = 0
    for index in range(repos):
        name, base = _name(index), bases[index % base_chains]
        images, tags, top = list(base), {}, base[-1]
        tag_names = _tag_names(tags_per_repo)
        for position, tag in enumerate(tag_names):
            if tag == "latest" and position > 0:
                tags[tag] = top.id  # an alias: two tags, one image
                break
            second += 1
            top = _image(f"{seed}/{name}/{tag}", top, next(sizes), rng, second)
            plan.add(top)
            images.append(top)
            tags[tag] = top.id
        if index % _UNTAGGED_EVERY == 0:
            second += 1
            stray = _image(f"{seed}/{name}/untagged", base[-1], next(sizes), rng, second)
            plan.add(stray)
            images.append(stray)
            plan.untagged[name] = (stray.id,)
        plan.repositories[name] = dict(sorted(tags.items()))
        plan.pushes[name] = images
    return plan


def _push_store(store: Store, plan: _Plan) -> None:
    for name, images in plan.pushes.items():
        store.seed(name, None, images)
        for tag, image_id in plan.repositories[name].items():
            store.set_tag(name, tag, image_id, {"last_update": 1425204000})


def _push_client(client: Client, plan: _Plan) -> None:
    """The ordinary v1 push requests: repository PUT, json/layer/checksum, tags, image list."""
    done: set[str] = set()
    for name, images in plan.pushes.items():
        access = write_access(client, name, [IndexImage(id=i.id) for i in images])
        for image in images:
            if image.id in done:
                continue
            client.image.add_metadata_raw(image.id, image.json_bytes, auth=access.auth)
            client.image.add_layer(image.id, image.layer_bytes, auth=access.auth)
            client.image.put_checksum(image.id, image.checksum, auth=access.auth)
            done.add(image.id)
        for tag, image_id in plan.repositories[name].items():
            client.repository.set_tag(name, image_id, tag, auth=access.auth)
        if access.indexed:
            checksums = [IndexImage(id=i.id, checksum=i.checksum) for i in images]
            client.repository.update_images(name, checksums, auth=access.auth)


def seed_registry(
    store_or_client: Store | Client,
    *,
    repos: int = 30,
    tags_per_repo: int = 3,
    base_chains: int = 3,
    layer_sizes: Sequence[int] = (2048, 3072, 1024, 4096),
    seed: int = 0,
) -> SeededRegistry:
    """Push the seed (see the module docstring) and return what was pushed."""
    if repos < 1 or tags_per_repo < 1 or base_chains < 1 or not layer_sizes:
        raise ValueError("repos, tags_per_repo, base_chains and layer_sizes must be positive")
    plan = _plan(repos, tags_per_repo, base_chains, layer_sizes, seed)
    if isinstance(store_or_client, Store):
        _push_store(store_or_client, plan)
    else:
        _push_client(store_or_client, plan)
    return SeededRegistry(
        repositories=MappingProxyType(dict(sorted(plan.repositories.items()))),
        images=MappingProxyType(plan.images),
        chains=MappingProxyType(plan.chains),
        untagged=MappingProxyType(plan.untagged),
    )
