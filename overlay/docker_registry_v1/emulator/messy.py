"""The ``messy`` preset: a registry as a reference registry 0.9.1 looks after ten years.

:func:`seed_messy` fills a store so that every broken state of issue 19 appears at
least once, each next to healthy tags in the same repository, beside healthy
repositories and one untagged broken image. It returns a :class:`MessyRegistry`: what
is broken where (repository, tag, image, the request that shows it and REF's answer
to it), so tests of inventory and migrate assert per-tag outcomes without copying ids.

A tag is either in ``healthy`` (every destination can take it: v1, v2, ``oci:``) or in
``problems``. ``PlantedFault.scope`` says who fails it:

- ``source``: the source cannot deliver it; every copy of that tag must fail;
- ``v2-name``: the name is fine for v1 but not for v2 registries (nor OCI layouts);
- ``oci-name``: only an ``oci:`` layout refuses the name (an OCI ref name);
- ``decompression``: the bytes are honest; only a bound on decompression stops it
  (copies that never unpack the layer, v1 to v1, succeed).

Repository-level problems (a tag list that errors, a name) have ``tag`` ``None``; so
has the untagged broken image, which must never block anything.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Literal

import attrs

from .bomb import DEFAULT_BOMB_SIZE, BombFormat, bomb_image, check_bomb_size
from .seed import SeedImage, build_image_chain
from .store import Breakage, Store, split_repository

Scope = Literal["source", "audit", "v2-name", "oci-name", "decompression"]
"""Where a fault fails tags: ``source`` every run reading the source; ``audit`` only an
inventory (the old registry cannot serve the tag to ``docker pull``, but a migration
walks its chain by the JSONs' ``parent`` and moves it whole); ``v2-name`` and
``oci-name`` a destination refusing the name or tag; ``decompression`` a run inflating
the layer."""

IN_PROGRESS_ERROR = "Image is being uploaded, retry later"
NOT_FOUND_ERROR = "Image not found"


class Fault(enum.Enum):
    """What is wrong, as a report should name it."""

    IN_PROGRESS = "in-progress"
    MISSING_JSON = "missing-json"
    MISSING_LAYER = "missing-layer"
    MISSING_ANCESTRY = "missing-ancestry"
    CORRUPT_JSON = "corrupt-json"
    CHECKSUM_MISMATCH = "checksum-mismatch"
    DANGLING_TAG = "dangling-tag"
    BROKEN_PARENT = "broken-parent"
    TAG_LIST_ERROR = "tag-list-error"
    INVALID_NAME = "invalid-name"
    OCI_INVALID_TAG = "oci-invalid-tag"
    COMPRESSION_BOMB = "compression-bomb"


#: A word (case-insensitive) a report of each fault is expected to contain.
REASON_KEYWORDS: dict[Fault, str] = {
    Fault.IN_PROGRESS: "being uploaded",
    Fault.MISSING_JSON: "not found",
    Fault.MISSING_LAYER: "not found",
    Fault.MISSING_ANCESTRY: "not found",
    Fault.CORRUPT_JSON: "json",
    Fault.CHECKSUM_MISMATCH: "checksum",
    Fault.DANGLING_TAG: "not found",
    Fault.BROKEN_PARENT: "not found",
    Fault.TAG_LIST_ERROR: "500",
    Fault.INVALID_NAME: "name",
    Fault.OCI_INVALID_TAG: "tag",
    Fault.COMPRESSION_BOMB: "decompress",
}


@attrs.frozen
class Probe:
    """One request that shows a fault, and the answer REF 0.9.1 (and the emulator) gives.

    ``error`` is the message of a JSON ``{"error": …}`` body; ``None`` for a 200 or an
    HTML answer.
    """

    method: str
    path: str
    status: int
    error: str | None = None


@attrs.frozen
class PlantedFault:
    """One broken thing: where it is, what is wrong, and how the server shows it."""

    fault: Fault
    repository: str
    #: The tag that needs the broken image; ``None`` for the whole repository or untagged.
    tag: str | None
    #: The image the tag names (its tip); ``None`` when there is none (a tag list, a name).
    image: str | None
    #: The image whose storage is broken (a parent, for ``broken-parent``).
    broken_image: str | None
    scope: Scope
    probe: Probe

    @property
    def reason(self) -> str:
        """A word a report of this problem is expected to contain (case-insensitive)."""
        return REASON_KEYWORDS[self.fault]


@attrs.frozen
class HealthyTag:
    """A tag every destination can take: all its images are complete and intact."""

    repository: str
    tag: str
    image: str
    #: The ancestry, the tagged image first.
    chain: tuple[str, ...]


@attrs.frozen
class MessyRegistry:
    """What :func:`seed_messy` stored: every problem and every healthy tag."""

    problems: tuple[PlantedFault, ...]
    healthy: tuple[HealthyTag, ...]
    #: Every repository, named as storage holds it (the search listing's names).
    repositories: tuple[str, ...]
    bomb_size: int

    def of(self, fault: Fault) -> list[PlantedFault]:
        """The problems of one kind."""
        return [p for p in self.problems if p.fault is fault]

    def problem(self, repository: str, tag: str | None) -> PlantedFault | None:
        """The problem of ``repository:tag`` (``tag`` ``None``: of the repository)."""
        name = split_repository(repository)
        return next((p for p in self.problems if p.repository == name and p.tag == tag), None)

    def failing_tags(self, *scopes: Scope) -> list[tuple[str, str]]:
        """``(repository, tag)`` of the tagged problems in ``scopes`` (all when none given)."""
        return [
            (p.repository, p.tag)
            for p in self.problems
            if p.tag is not None and (not scopes or p.scope in scopes)
        ]

    def as_dict(self) -> dict[str, Any]:
        """The description as plain JSON data (``fault`` as its value, plus ``reason``)."""

        def problem(p: PlantedFault) -> dict[str, Any]:
            data = attrs.asdict(p, recurse=True)
            data["fault"] = p.fault.value
            data["reason"] = p.reason
            return data

        return {
            "bomb_size": self.bomb_size,
            "healthy": [{**attrs.asdict(h), "chain": list(h.chain)} for h in self.healthy],
            "problems": [problem(p) for p in self.problems],
            "repositories": list(self.repositories),
        }

    def to_json(self) -> str:
        """:meth:`as_dict` as indented JSON (what ``regv1 serve --describe`` writes)."""
        return json.dumps(self.as_dict(), indent=2, sort_keys=True)


def _image_path(image_id: str, route: str) -> str:
    return f"/v1/images/{image_id}/{route}"


class _Builder:
    """Seeds chains and records what each tag turned out to be."""

    def __init__(self, store: Store, bomb_size: int) -> None:
        self.store = store
        self.bomb_size = bomb_size
        self.problems: list[PlantedFault] = []
        self.healthy: list[HealthyTag] = []
        self.repositories: list[str] = []

    def chain(
        self, repository: str, tags: list[str], seed: int, layers: int = 1
    ) -> list[SeedImage]:
        images = build_image_chain(layers, seed=seed, layer_size=512)
        return self.images(repository, tags, images)

    def images(self, repository: str, tags: list[str], images: list[SeedImage]) -> list[SeedImage]:
        name = split_repository(repository)
        if name not in self.repositories:
            self.repositories.append(name)
        self.store.seed(repository, tags[0] if tags else None, images)
        for tag in tags[1:]:
            self.store.force_tag(name, tag, images[-1].id)
        return images

    def good(self, repository: str, tags: list[str], seed: int, layers: int = 1) -> None:
        images = self.chain(repository, tags, seed, layers)
        chain = tuple(i.id for i in reversed(images))
        name = split_repository(repository)
        self.healthy.extend(HealthyTag(name, tag, images[-1].id, chain) for tag in tags)

    def bad(
        self,
        fault: Fault,
        repository: str,
        tag: str | None,
        image: str | None,
        probe: Probe,
        *,
        broken: str | None = None,
        scope: Scope = "source",
    ) -> None:
        name = split_repository(repository)
        self.problems.append(PlantedFault(fault, name, tag, image, broken or image, scope, probe))


def _web(b: _Builder) -> None:
    # legacy/web: a push that died (tagged, and one untagged), a lost json, a corrupt json.
    store = b.store
    b.good("legacy/web", ["latest", "1.0"], seed=101, layers=2)
    tip = b.chain("legacy/web", ["uploading"], seed=102, layers=2)[-1].id
    store.break_image(tip, Breakage.IN_PROGRESS)
    b.bad(
        Fault.IN_PROGRESS,
        "legacy/web",
        "uploading",
        tip,
        Probe("GET", _image_path(tip, "json"), 400, IN_PROGRESS_ERROR),
    )
    tip = b.chain("legacy/web", [], seed=105)[-1].id
    store.break_image(tip, Breakage.IN_PROGRESS)
    b.bad(
        Fault.IN_PROGRESS,
        "legacy/web",
        None,
        tip,
        Probe("GET", _image_path(tip, "ancestry"), 400, IN_PROGRESS_ERROR),
    )
    tip = b.chain("legacy/web", ["nojson"], seed=103)[-1].id
    store.break_image(tip, Breakage.MISSING_JSON)
    b.bad(
        Fault.MISSING_JSON,
        "legacy/web",
        "nojson",
        tip,
        Probe("GET", _image_path(tip, "json"), 404, NOT_FOUND_ERROR),
    )
    tip = b.chain("legacy/web", ["badjson"], seed=104)[-1].id
    store.break_image(tip, Breakage.CORRUPT_JSON)
    b.bad(
        Fault.CORRUPT_JSON,
        "legacy/web",
        "badjson",
        tip,
        Probe("GET", _image_path(tip, "json"), 200),
    )


def _api(b: _Builder) -> None:
    # legacy/api: lost layer, lost ancestry, checksum mismatch, a parent removed.
    store = b.store
    b.good("legacy/api", ["latest"], seed=111, layers=3)
    b.good("legacy/api", ["v1"], seed=112)
    tip = b.chain("legacy/api", ["nolayer"], seed=113, layers=2)[-1].id
    store.break_image(tip, Breakage.MISSING_LAYER)
    b.bad(
        Fault.MISSING_LAYER,
        "legacy/api",
        "nolayer",
        tip,
        Probe("GET", _image_path(tip, "layer"), 404, NOT_FOUND_ERROR),
    )
    tip = b.chain("legacy/api", ["noancestry"], seed=114)[-1].id
    store.break_image(tip, Breakage.MISSING_ANCESTRY)
    b.bad(
        Fault.MISSING_ANCESTRY,
        "legacy/api",
        "noancestry",
        tip,
        Probe("GET", _image_path(tip, "ancestry"), 404, NOT_FOUND_ERROR),
        scope="audit",
    )
    tip = b.chain("legacy/api", ["badsum"], seed=115)[-1].id
    store.break_image(tip, Breakage.CHECKSUM_MISMATCH)
    b.bad(
        Fault.CHECKSUM_MISMATCH,
        "legacy/api",
        "badsum",
        tip,
        Probe("GET", _image_path(tip, "json"), 200),
    )
    orphan = b.chain("legacy/api", ["orphan"], seed=116, layers=3)
    store.break_image(orphan[-1].id, Breakage.PARENT_GONE)
    b.bad(
        Fault.BROKEN_PARENT,
        "legacy/api",
        "orphan",
        orphan[-1].id,
        Probe("GET", _image_path(orphan[1].id, "json"), 404, NOT_FOUND_ERROR),
        broken=orphan[1].id,
    )


def _tools(b: _Builder) -> None:
    # legacy/tools: a tag whose image was removed; tags v1 and docker take but OCI does not.
    store = b.store
    b.good("legacy/tools", ["stable"], seed=121)
    tip = b.chain("legacy/tools", ["dangling"], seed=122)[-1].id
    store.break_image(tip, Breakage.GONE)
    b.bad(
        Fault.DANGLING_TAG,
        "legacy/tools",
        "dangling",
        tip,
        Probe("GET", _image_path(tip, "json"), 404, NOT_FOUND_ERROR),
    )
    for tag, seed in (("_tmp", 123), ("build_", 124)):
        tip = b.chain("legacy/tools", [tag], seed=seed)[-1].id
        path = f"/v1/repositories/legacy/tools/tags/{tag}"
        b.bad(
            Fault.OCI_INVALID_TAG,
            "legacy/tools",
            tag,
            tip,
            Probe("GET", path, 200),
            scope="oci-name",
        )


def _bombs(b: _Builder) -> None:
    # legacy/bombs: a bzip2 and a gzip layer of a few KiB/MiB expanding to bomb_size bytes.
    b.good("legacy/bombs", ["latest"], seed=131)
    for fmt in BombFormat:
        tag = f"{fmt.value}-bomb"
        bomb = bomb_image(fmt, b.bomb_size)
        b.images("legacy/bombs", [tag], [bomb])
        probe = Probe("GET", _image_path(bomb.id, "json"), 200)
        b.bad(Fault.COMPRESSION_BOMB, "legacy/bombs", tag, bomb.id, probe, scope="decompression")


def _broken_tags(b: _Builder) -> None:
    # legacy/broken-tags: one tag file is not text, so the tag list answers 500 (the
    # healthy tag "latest" still answers on its own, but no listing reveals it).
    store = b.store
    b.chain("legacy/broken-tags", ["latest"], seed=141)
    store.corrupt_tag("legacy/broken-tags", "corrupt")
    b.bad(
        Fault.TAG_LIST_ERROR,
        "legacy/broken-tags",
        None,
        None,
        Probe("GET", "/v1/repositories/legacy/broken-tags/tags", 500),
    )


def _healthy(b: _Builder) -> None:
    # Healthy repositories.
    b.good("library/busybox", ["latest", "1.0"], seed=151, layers=2)
    b.good("team/service", ["latest"], seed=152)


def _names(b: _Builder) -> None:
    # Names the search listing holds that v2 (upper case) or this client (a third
    # segment, a space, stored URL-quoted as REF stores it) cannot take.
    search = Probe("GET", "/v1/search", 200)
    b.chain("Legacy/OldApp", ["latest"], seed=161)
    b.bad(Fault.INVALID_NAME, "Legacy/OldApp", None, None, search, scope="v2-name")
    b.chain("legacy/deep/er", ["latest"], seed=162)
    b.bad(Fault.INVALID_NAME, "legacy/deep/er", None, None, search)
    b.chain("legacy/bad name", ["latest"], seed=163)
    b.bad(Fault.INVALID_NAME, "legacy/bad name", None, None, search)


def seed_messy(store: Store, *, bomb_size: int = DEFAULT_BOMB_SIZE) -> MessyRegistry:
    """Fill ``store`` with the messy registry and describe it.

    Deterministic: the same ids every time. Takes about a second (the bombs are
    built without ever producing their output). Raises ``ValueError`` when the store
    already holds one of its repositories (seed a fresh store or data directory).
    """
    b = _Builder(store, check_bomb_size(bomb_size))
    for name in ("legacy/web", "legacy/api", "legacy/tools", "library/busybox"):
        if store.repository_exists(name):
            raise ValueError(f"the store already holds {name}: seed the messy preset once")

    _web(b)
    _api(b)
    _tools(b)
    _bombs(b)
    _broken_tags(b)
    _healthy(b)
    _names(b)
    return MessyRegistry(
        problems=tuple(b.problems),
        healthy=tuple(b.healthy),
        repositories=tuple(b.repositories),
        bomb_size=bomb_size,
    )
