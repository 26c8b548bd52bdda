"""The ``scale`` preset: a registry of thousands of repositories, seeded in seconds.

:func:`seed_scale` fills a store with ``repositories`` repositories (``team{k}/app{n}``,
several namespaces) of ``tags`` tags each. Every tag is an image of its own (one tiny
layer, a real tar, gzip or plain) on the top of one of ``bases`` shared base chains of
``base_depth`` images; repository ``n`` builds on base ``n % bases``, so a migration
meets each base many times and each tag once. ``created`` times increase with the
repository and the tag (``--newer-than`` and ``--last`` select by them). Everything is
derived from ``seed``: the same arguments give the same ids and bytes.

It exists to count requests and CPU per tag at registry scale, so what matters is that
seeding is fast: the images and repository records are built in memory and written to
the store in one pass (:meth:`Store.seed_bulk`), one save at the end.

:func:`source_kind` and :func:`count_source_requests` name the v1 routes a request log
holds (ping, search, tags, ancestry, json, layer, …), so a count that is off says which.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import random
import re
import tarfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

from .requestlog import LogEntry
from .seed import BASE_TIME, SeedImage, payload_checksum
from .store import RepositoryRecord, Store

#: Namespaces the repositories are spread over (``team0`` … ``team7``).
NAMESPACES = 8
#: ``created`` of the first tag image: the bases are older (they start at ``BASE_TIME``).
TAGS_START = 1420070400  # 2015-01-01T00:00:00Z
_DOCKER_VERSION = "1.6.2"


@attrs.frozen
class ScaleRegistry:
    """What :func:`seed_scale` stored, in the numbers a request formula needs."""

    #: R: repositories.
    repositories: int
    #: T: tags per repository (each tag its own image).
    tags: int
    #: B: base chains actually used (``min(bases, repositories)``).
    bases: int
    #: D: images per base chain.
    base_depth: int
    #: Bytes of every stored layer, each once.
    layer_bytes: int
    #: Payload bytes in each layer (the tar around it is larger).
    layer_size: int
    #: The ``seed`` argument (an image added later derives its bytes from it too).
    seed: int
    #: Repository names, in seeding order (repository ``n`` is ``names[n]``).
    names: tuple[str, ...]
    #: Tag names, the same in every repository; the last is ``latest``.
    tag_names: tuple[str, ...]
    #: repository → tag → image id.
    tips: Mapping[str, Mapping[str, str]]
    #: Base chains, base first: ``base_chains[b]`` are the ids of chain ``b``.
    base_chains: tuple[tuple[str, ...], ...]

    @property
    def tag_count(self) -> int:
        """R x T."""
        return self.repositories * self.tags

    @property
    def base_images(self) -> int:
        """B x D."""
        return self.bases * self.base_depth

    @property
    def unique_images(self) -> int:
        """R x T + B x D: every tag's own image and every base image, each once."""
        return self.tag_count + self.base_images

    def base_of(self, repository: str) -> int:
        """The base chain ``repository`` (``team{k}/app{n}``) builds on: ``n % B``."""
        return int(repository.rpartition("/app")[2]) % self.bases

    def to_json(self) -> str:
        """The counts and names (not the per-tag ids), for ``regv1 serve --describe``."""
        return json.dumps(
            {
                "repositories": self.repositories,
                "tags": self.tags,
                "bases": self.bases,
                "base_depth": self.base_depth,
                "unique_images": self.unique_images,
                "base_images": self.base_images,
                "layer_bytes": self.layer_bytes,
                "tag_names": list(self.tag_names),
                "names": list(self.names),
            },
            indent=2,
        )


def scale_name(index: int) -> str:
    """Repository ``index``'s name: ``team{index % 8}/app{index}``."""
    return f"team{index % NAMESPACES}/app{index}"


def scale_tag_names(count: int) -> tuple[str, ...]:
    """``v1`` … ``v{count-1}``, then ``latest``."""
    return (*(f"v{n}" for n in range(1, count)), "latest")


def _created(epoch: int) -> str:
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".000000000Z"


def _layer(name: str, payload: bytes, mtime: int, compress: bool) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo(f"data/{name}.bin")
        info.size, info.mtime, info.mode = len(payload), mtime, 0o644
        info.uname = info.gname = "root"
        archive.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, compresslevel=1, mtime=0) if compress else tar_bytes


def _image(
    key: str, parent: str | None, epoch: int, size: int, *, compress: bool, seed: int
) -> SeedImage:
    """One image: a ``size``-byte payload derived from ``key`` in a one-file tar layer."""
    image_id = hashlib.sha256(f"regv1-scale:{seed}:{key}".encode()).hexdigest()
    rng = random.Random(image_id)  # noqa: S311 - reproducible data, not secrets
    layer = _layer(key.replace("/", "-").replace(":", "-"), rng.randbytes(size), epoch, compress)
    document: dict[str, object] = {"id": image_id}
    if parent is not None:
        document["parent"] = parent
    document.update(
        {
            "created": _created(epoch),
            "container_config": {"Cmd": ["/bin/sh", "-c", f"#(nop) ADD file:{key} in /"]},
            "config": {"Cmd": ["app"], "Env": ["PATH=/usr/bin:/bin"]},
            "docker_version": _DOCKER_VERSION,
            "architecture": "amd64",
            "os": "linux",
            "Size": size,
        }
    )
    json_bytes = json.dumps(document, separators=(",", ":")).encode()
    return SeedImage(
        id=image_id,
        parent=parent,
        json_bytes=json_bytes,
        layer_bytes=layer,
        checksum=payload_checksum(json_bytes, layer),
    )


def _base_chains(bases: int, depth: int, layer_size: int, seed: int) -> list[list[SeedImage]]:
    chains = []
    for b in range(bases):
        chain: list[SeedImage] = []
        for d in range(depth):
            parent = chain[-1].id if chain else None
            epoch = BASE_TIME + (b * depth + d) * 3600
            chain.append(
                _image(f"base{b}/{d}", parent, epoch, layer_size, compress=d % 2 == 0, seed=seed)
            )
        chains.append(chain)
    return chains


def seed_scale(
    store: Store,
    *,
    repositories: int,
    tags: int = 4,
    bases: int = 8,
    base_depth: int = 3,
    layer_size: int = 512,
    seed: int = 0,
) -> ScaleRegistry:
    """Fill ``store`` as the module docstring says and describe what went in."""
    if repositories < 1 or tags < 1 or bases < 1 or base_depth < 1:
        raise ValueError("repositories, tags, bases and base_depth must be at least 1")
    if layer_size < 0:
        raise ValueError("layer_size must not be negative")
    used = min(bases, repositories)
    chains = _base_chains(used, base_depth, layer_size, seed)
    images: list[SeedImage] = [image for chain in chains for image in chain]
    names = tuple(scale_name(n) for n in range(repositories))
    tag_names = scale_tag_names(tags)
    records: dict[str, RepositoryRecord] = {}
    tips: dict[str, Mapping[str, str]] = {}
    updated = int(time.time())
    for n, name in enumerate(names):
        chain = chains[n % used]
        own: dict[str, str] = {}
        listed = [{"id": image.id, "checksum": image.checksum} for image in chain]
        for t, tag in enumerate(tag_names):
            image = _image(
                f"{name}:{tag}",
                chain[-1].id,
                TAGS_START + (n * tags + t) * 60,
                layer_size,
                compress=t % 2 == 0,
                seed=seed,
            )
            images.append(image)
            own[tag] = image.id
            listed.append({"id": image.id, "checksum": image.checksum})
        meta = {"last_update": updated}
        records[name] = RepositoryRecord(
            tags=dict(sorted(own.items())),
            tag_meta={tag: dict(meta) for tag in own},
            meta=dict(meta),
            index_list=json.dumps(listed, sort_keys=True).encode(),
            searchable=True,
        )
        tips[name] = MappingProxyType(own)
    store.seed_bulk(images, records)
    return ScaleRegistry(
        repositories=repositories,
        tags=tags,
        bases=used,
        base_depth=base_depth,
        layer_bytes=sum(len(image.layer_bytes) for image in images),
        layer_size=layer_size,
        seed=seed,
        names=names,
        tag_names=tag_names,
        tips=MappingProxyType(tips),
        base_chains=tuple(tuple(image.id for image in chain) for chain in chains),
    )


def add_scale_tag(store: Store, scale: ScaleRegistry, repository: str, tag: str) -> SeedImage:
    """Push one more tag into ``repository``: an image of its own on the repository's base
    top, created after every seeded image (a rerun must move exactly this tag)."""
    parent = scale.base_chains[scale.base_of(repository)][-1]
    epoch = TAGS_START + (scale.tag_count + 1) * 60
    image = _image(
        f"{repository}:{tag}", parent, epoch, scale.layer_size, compress=True, seed=scale.seed
    )
    store.seed(repository, tag, [image])
    return image


_IMAGE_ROUTE = re.compile(r"^/v1/images/[^/]+/(?P<what>[a-z]+)$")
_REPOSITORY_ROUTE = re.compile(r"^/v1/repositories/(?:[^/]+/)?[^/]+/(?P<rest>.*)$")


def source_kind(method: str, path: str) -> str:
    """The kind of a v1 request: ``ping``, ``search``, ``tags`` (a tag list), ``tag`` (one
    tag), ``images`` (an index image list), ``ancestry``, ``json``, ``layer``, … A method
    other than GET is prefixed (``PUT json``); an unknown route is ``other METHOD PATH``."""
    kind: str | None = None
    if path in ("/_ping", "/v1/_ping"):
        kind = "ping"
    elif path == "/v1/search":
        kind = "search"
    elif (image := _IMAGE_ROUTE.match(path)) is not None:
        kind = image["what"]
    elif (repository := _REPOSITORY_ROUTE.match(path)) is not None:
        rest = repository["rest"]
        if rest == "tags":
            kind = "tags"
        elif rest.startswith("tags/"):
            kind = "tag"
        elif rest in ("images", "json", "auth", "properties"):
            kind = rest
    if kind is None:
        return f"other {method} {path}"
    return kind if method == "GET" else f"{method} {kind}"


def count_source_requests(entries: Iterable[LogEntry]) -> Counter[str]:
    """The requests of an emulator's log (``emulator.log.entries``) by :func:`source_kind`."""
    return Counter(source_kind(entry.method, entry.path) for entry in entries)
