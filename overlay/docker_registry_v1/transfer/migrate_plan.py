"""What a migration will do, decided before a byte moves: every selected tag, where it
goes, and what the destination already has.

A plan is pure data built from an inventory (which read no layer bytes), the
selection's naming rules and metadata questions to the destination: one tag list
per destination repository, then, for the tags it lists, whether each is what the
migration would write (`migrate_existing`: the journal's record, or the manifest
and config compared with the source's v1 JSON). Every destination name is checked
against the destination's rules first, so a name it would refuse fails the plan
before anything is sent.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, MutableSet
from typing import TYPE_CHECKING, Protocol, TypeVar

import attrs

from ..engine.blobs import BlobCache, LayoutBlobStore, check_level
from ..engine.destinations import LayoutDestination, RegistryDestination
from ..engine.journal import PlannedCopy
from ..formats.compress import DEFAULT_LEVEL
from ..formats.convert import ManifestFormat
from ..formats.layout import OCILayout, check_ref
from ..oci.client import OCIClient, check_name
from ..oci.errors import ManifestUnknown, NameUnknown
from .inventory import Inventory, Problem
from .migrate_existing import DestinationSurvey
from .phases import Phase, PhaseListener
from .retry import RetryPolicy, scoped, scoped_side
from .selection import Selection, rename_rule

if TYPE_CHECKING:
    from ..engine.journal import Journal
    from ..v1.client import Client
    from .migrate_v1 import V1Side

__all__ = [
    "BlobStoreSide",
    "DestinationSide",
    "LayoutSide",
    "MigrationPlan",
    "PlannedTag",
    "RegistrySide",
    "TagState",
    "continued_plan",
    "plan_migration",
    "plan_name",
    "remember_plan",
]


_D = TypeVar("_D", RegistryDestination, LayoutDestination)


class DestinationSide(Protocol):
    """The destination side of a migration as a whole (a registry, a layout): what
    planning asks of it (names, tags, what a tag points at) and, per tag, the engine's
    destination (an `ImageDestination`) the tag is copied into. ``destination`` means
    that engine object everywhere; a side is the small adapter around it."""

    @property
    def registry(self) -> str:
        """The journal's name for the destination (its base URL or ``oci:PATH``)."""

    def check_name(self, name: str) -> object:
        """Raises `InvalidInput` for a repository name the destination refuses."""

    def reference(self, repository: str, tag: str) -> tuple[str, str]:
        """(name, reference) of a tag in the destination's own calls."""

    def tags(self, repository: str) -> set[str]:
        """The repository's tags there (none when it does not exist)."""

    def current(self, repository: str, tag: str) -> str | None:
        """What the tag points at now (a manifest digest; a v1 image id), or None."""


class BlobStoreSide(DestinationSide, Protocol):
    """A blob-store side (a v2 registry, an OCI layout): also what the survey of what
    it holds (`migrate_existing`) and ``--verify`` read there."""

    @property
    def manifest_format(self) -> ManifestFormat:
        """The manifests written there."""

    def blob_size(self, name: str, digest: str) -> int | None:
        """The blob's size when the repository holds it, else None."""

    def manifest_digest(self, name: str, tag: str, *, accept: Iterable[str]) -> str | None:
        """The digest the tag points at, or None."""

    def read_manifest(self, name: str, tag: str) -> bytes | None:
        """The tag's manifest in `manifest_format`, or None (absent, or another format)."""

    @property
    def referrers_target(self) -> OCIClient | OCILayout:
        """Where `oci.referrers` attaches and reads the v1 provenance artifacts."""

    def read_blob(self, name: str, digest: str) -> bytes:
        """A small blob's bytes (a config), checked against ``digest``."""

    def destination(
        self,
        repository: str,
        tag: str,
        *,
        level: int,
        cache: BlobCache,
        present: MutableSet[tuple[str, str]],
    ) -> RegistryDestination | LayoutDestination:
        """The engine's destination for one tag, learning and reusing through ``cache``;
        ``present``: the (repository, digest) pairs the run confirmed, shared by its tags."""


def _journaled(inner: _D, registry: str, present: MutableSet[tuple[str, str]]) -> _D:
    """The engine destination recording its facts under the journal's name for the
    destination (the base URL without its trailing slash, as the plan and every earlier
    run recorded them), sharing the run's ``present`` blobs."""
    inner.registry = registry
    inner.journaled = True
    inner.present = present
    return inner


@attrs.frozen
class RegistrySide:
    """``docker://``: an OCI/v2 registry through `OCIClient` (schema2 manifests by
    default); each tag goes into a `RegistryDestination`."""

    client: OCIClient
    manifest_format: ManifestFormat = ManifestFormat.DOCKER

    @property
    def registry(self) -> str:
        """The registry's base URL."""
        return self.client.base_url.rstrip("/")

    def check_name(self, name: str) -> object:
        """The OCI distribution name grammar (lowercase, ``/``-separated components)."""
        return check_name(name)

    def reference(self, repository: str, tag: str) -> tuple[str, str]:
        """Names and tags are the registry's own."""
        return repository, tag

    def tags(self, repository: str) -> set[str]:
        """``tags/list``, every page; an unknown repository has none."""
        try:
            return set(self.client.tags(repository))
        except NameUnknown:
            return set()

    def current(self, repository: str, tag: str) -> str | None:
        """HEAD the manifest, accepting the format this target writes."""
        return self.client.manifest_digest(
            repository, tag, accept=[self.manifest_format.value.manifest]
        )

    def blob_size(self, name: str, digest: str) -> int | None:
        """HEAD the blob."""
        return self.client.blob_size(name, digest)

    def manifest_digest(self, name: str, tag: str, *, accept: Iterable[str]) -> str | None:
        """HEAD the manifest."""
        return self.client.manifest_digest(name, tag, accept=accept)

    def read_manifest(self, name: str, tag: str) -> bytes | None:
        """GET the manifest, accepting only the format this target writes."""
        wanted = self.manifest_format.value.manifest
        try:
            found = self.client.get_manifest(name, tag, accept=[wanted])
        except ManifestUnknown:
            return None
        return found.data if found.media_type == wanted else None

    def read_blob(self, name: str, digest: str) -> bytes:
        """GET the blob."""
        return self.client.get_blob(name, digest)

    @property
    def referrers_target(self) -> OCIClient:
        """The registry's client."""
        return self.client

    def destination(
        self,
        repository: str,
        tag: str,
        *,
        level: int,
        cache: BlobCache,
        present: MutableSet[tuple[str, str]],
    ) -> RegistryDestination:
        """`RegistryDestination` for ``repository:tag``."""
        inner = RegistryDestination(
            self.client,
            repository,
            tag,
            manifest_format=self.manifest_format,
            level=level,
            cache=cache,
        )
        return _journaled(inner, self.registry, present)


class LayoutSide:
    """``oci:DIR``: one OCI image layout holding every repository, its tags as the ref
    names ``REPO:TAG`` (one blob store, so a shared layer is written once); each tag
    goes into a `LayoutDestination`."""

    def __init__(
        self, layout: OCILayout, manifest_format: ManifestFormat = ManifestFormat.OCI
    ) -> None:
        self.layout = layout
        self.manifest_format = manifest_format
        self._store = LayoutBlobStore(layout)

    @property
    def registry(self) -> str:
        """``oci:`` and the layout's absolute path."""
        return self._store.base_url

    def check_name(self, name: str) -> object:
        """A v2 name that also makes a valid ref name."""
        return check_ref(f"{check_name(name)}:latest")

    def reference(self, repository: str, tag: str) -> tuple[str, str]:
        """The ref name ``REPO:TAG``."""
        return repository, check_ref(f"{repository}:{tag}")

    def tags(self, repository: str) -> set[str]:
        """The tags of the ref names ``REPO:…``."""
        prefix = f"{repository}:"
        return {ref.removeprefix(prefix) for ref in self.layout.refs() if ref.startswith(prefix)}

    def current(self, repository: str, tag: str) -> str | None:
        """The manifest ``index.json`` names for ``REPO:TAG``."""
        return self.layout.refs().get(f"{repository}:{tag}")

    def blob_size(self, name: str, digest: str) -> int | None:
        """The blob file's size: one store for every repository."""
        return self._store.blob_size(name, digest)

    def manifest_digest(self, name: str, tag: str, *, accept: Iterable[str]) -> str | None:
        """The digest ``index.json`` names for the ref."""
        return self._store.manifest_digest(name, tag, accept=accept)

    def read_manifest(self, name: str, tag: str) -> bytes | None:
        """The manifest blob the ref names (its ``mediaType`` tells the format)."""
        digest = self.layout.refs().get(tag)
        return None if digest is None else self.read_blob(name, digest)

    def read_blob(self, name: str, digest: str) -> bytes:
        """The blob file, checked against its name."""
        return self.layout.read_blob(digest)

    @property
    def referrers_target(self) -> OCILayout:
        """The layout (its ``index.json`` lists the artifacts)."""
        return self.layout

    def destination(
        self,
        repository: str,
        tag: str,
        *,
        level: int,
        cache: BlobCache,
        present: MutableSet[tuple[str, str]],
    ) -> LayoutDestination:
        """`LayoutDestination` for the ref name ``REPO:TAG`` (one blob store for all)."""
        inner = LayoutDestination(
            self.layout,
            f"{repository}:{tag}",
            repository=repository,
            manifest_format=self.manifest_format,
            level=level,
            cache=cache,
        )
        return _journaled(inner, self.registry, present)


class TagState(enum.Enum):
    """What the plan decided for one tag."""

    COPY = "copy"
    """To be migrated (its blobs may still be there already)."""
    CURRENT = "current"
    """The destination tag already points at the manifest an earlier run wrote."""
    EXISTS = "exists"
    """The destination has the tag and ``skip_existing_tags`` was asked for."""
    BROKEN = "broken"
    """Cannot be migrated (see ``PlannedTag.problem``): an image of its chain the source
    cannot serve, or a name the destination refuses. The run reports it failed."""


@attrs.frozen
class PlannedTag:
    """One source tag and its destination."""

    source_repo: str
    tag: str
    image_id: str
    chain: tuple[str, ...]
    """The v1 images of the tag, base first."""
    dest_repo: str
    dest_tag: str
    state: TagState
    digest: str | None = None
    """The destination manifest's digest, when the plan already knows it (``CURRENT``)."""
    problem: str | None = None
    """Why the tag cannot be migrated (``BROKEN``)."""
    at_fault: str | None = None
    """The v1 image of the chain the source cannot serve (``BROKEN`` by the source)."""
    listed: bool = True
    """The destination's ``tags/list`` named the tag in this run. False: no manifest is
    there under it, so the copy does not HEAD it before the PUT (a HEAD that can only
    miss)."""

    @property
    def source(self) -> str:
        """``REPO:TAG`` at the source."""
        return f"{self.source_repo}:{self.tag}"

    @property
    def destination(self) -> str:
        """``REPO:TAG`` at the destination."""
        return f"{self.dest_repo}:{self.dest_tag}"


@attrs.frozen
class MigrationPlan:
    """Every selected tag with its destination, and the sizes the plan expects to move."""

    source: str
    destination: str
    tags: tuple[PlannedTag, ...]
    sizes: Mapping[str, int | None]
    """v1 image id → layer size as the inventory found it (``None``: unknown)."""
    problems: tuple[Problem, ...] = ()
    """What the inventory could not read of a whole repository (its tag list, a name the
    search listed that is not one): no tag of it is planned, so the report lists these."""
    new_repositories: frozenset[str] = frozenset()
    """Destination repositories with tags to copy whose tag list the plan found missing
    or empty: the ones a ``create_repository`` hook of `migrate` may have to make."""

    @property
    def to_copy(self) -> tuple[PlannedTag, ...]:
        """The tags in state ``COPY``."""
        return tuple(tag for tag in self.tags if tag.state is TagState.COPY)

    @property
    def repositories(self) -> int:
        """Source repositories in the plan."""
        return len({tag.source_repo for tag in self.tags})

    @property
    def images(self) -> frozenset[str]:
        """The unique v1 images the tags to copy need."""
        return frozenset(image for tag in self.to_copy for image in tag.chain)

    @property
    def bytes_to_move(self) -> int:
        """Unique layer bytes of the tags to copy: each shared image counted once."""
        return sum(self.sizes.get(image) or 0 for image in self.images)

    def count(self, state: TagState) -> int:
        """Tags in ``state``."""
        return sum(1 for tag in self.tags if tag.state is state)


def _rename_hint(selection: Selection, name: str, dest: DestinationSide) -> str:
    """``; try --rename '^NAME$=NEW'`` with a name the destination takes (lowercase, each
    run of characters an OCI name cannot hold turned into one ``-``), or ``""`` when
    that does not give one."""
    plain = f"library/{name}" if selection.library and "/" not in name else name
    parts = []
    for part in plain.lower().split("/"):
        cleaned = re.sub(r"[^a-z0-9]+", "-", part).strip("-")
        if cleaned:
            parts.append(cleaned)
    suggested = "/".join(parts)
    if not suggested or suggested == plain:
        return ""
    rule = f"^{re.escape(plain)}$={suggested}"
    try:
        renamed = attrs.evolve(selection, rename=(rename_rule(rule),))
        renamed.destination_name(name, dest.check_name)
    except ValueError:
        return ""
    return f"; try --rename '{rule}'"


def _made_invalid(selection: Selection, name: str, rule: Callable[[str], object]) -> bool:
    """Whether the selection's rules (a rename, a prefix) made the destination refuse
    ``name``: they change it beyond the ``library/`` every registry adds to a bare name,
    and the name without them is one the destination takes. A name the destination
    refuses either way is the source's fault, charged to its tags."""
    plain = f"library/{name}" if selection.library and "/" not in name else name
    if selection.destination_name(name, lambda _: None) == plain:
        return False
    try:
        rule(plain)
    except ValueError:
        return False
    return True


def _unreadable(inventory: Inventory, chain: tuple[str, ...]) -> tuple[str, str] | None:
    """(image, why) the source cannot serve this chain, from what the inventory could
    not read."""
    for image_id in reversed(chain):  # the tag's own image first: its ancestry failed
        reason = inventory.broken.get(image_id)
        if reason is not None:
            return image_id, reason
    return None


def _refused_tag(dest: DestinationSide, one: PlannedTag) -> str | None:
    """Why the destination cannot take the tag's name (a ref name for a layout)."""
    try:
        dest.reference(one.dest_repo, one.dest_tag)
    except ValueError as error:
        return f"{one.destination}: {error}"
    return None


def plan_migration(
    inventory: Inventory,
    selection: Selection,
    dest: BlobStoreSide | V1Side,
    *,
    journal: Journal | None = None,
    skip_existing_tags: bool = False,
    source: Client | None = None,
    level: int = DEFAULT_LEVEL,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    phases: PhaseListener | None = None,
) -> MigrationPlan:
    """Plan the migration of ``inventory``'s selected tags into ``dest``.

    A tag is ``BROKEN`` (with its ``problem``) when an image of its chain could not be
    read by the inventory, or when the selection maps it to a name (or tag) the
    destination refuses: such faults are charged to the tags they touch, never to the
    whole plan, and a broken tag costs the destination no request. A name made by the
    selection's own rules (``--rename``, a prefix) that the destination refuses is bad
    input instead: `InvalidInput` naming the source repository, before any request.

    Each destination repository's tags are listed once. A tag the destination has is
    ``CURRENT`` when it is what the migration would write: the journal's record of it
    still holds, or — given the v1 ``source`` (the registry ``inventory`` read) — its
    manifest and config match the image rebuilt from the source's v1 JSON (see
    `migrate_existing`); what such a tag reveals is recorded in the journal. ``level``
    is the compression level the migration will use; ``concurrency`` bounds the
    requests in flight.

    ``phases`` hears the ``"plan"`` phase (:mod:`.phases`): ``done``/``total`` count
    the destination repositories listed, then (the total grows by them once the
    listing says which tags are there) the tags checked; ``repositories`` and
    ``tags_checked`` count each kind.
    """
    every: list[PlannedTag] = []
    for repository in inventory.repositories:
        if not selection.repository_selected(repository.name):
            continue
        try:
            target: str | None = selection.destination_name(repository.name, dest.check_name)
            refused = None
        except ValueError as error:
            if _made_invalid(selection, repository.name, dest.check_name):
                raise  # the user's --rename or prefix made the name: bad input, not a fault
            target, refused = None, str(error) + _rename_hint(selection, repository.name, dest)
        for tag, image_id in repository.tags.items():
            if not selection.tag_selected(tag):
                continue
            chain = inventory.chain(image_id)
            one = PlannedTag(
                repository.name, tag, image_id, chain, target or repository.name, tag, TagState.COPY
            )
            unreadable = _unreadable(inventory, chain)
            at_fault, problem = unreadable or (None, refused or _refused_tag(dest, one))
            if problem is not None:
                one = attrs.evolve(one, state=TagState.BROKEN, problem=problem, at_fault=at_fault)
            every.append(one)
    selected = [one for one in every if one.state is TagState.COPY]
    survey = DestinationSurvey(
        scoped_side(dest, retry),
        None if source is None else scoped(source, retry),
        journal,
        check_level(level),
        retry or RetryPolicy(),
        concurrency,
        phase=Phase(
            phases,
            "plan",
            len({one.dest_repo for one in selected}),
            counts=("repositories", "tags_checked"),
        ).start(),
    )
    existing = survey.tags(one.dest_repo for one in selected)
    listed = [one for one in selected if one.dest_tag in existing[one.dest_repo]]
    current: dict[PlannedTag, str] = {}
    if not skip_existing_tags:
        written = {
            (m.repository, m.tag): m for m in (journal.manifests(dest.registry) if journal else [])
        }
        current = survey.current(listed, written)
    survey.phase.finish()
    planned = []
    for one in every:
        if one.state is TagState.BROKEN:
            planned.append(one)
            continue
        digest = current.get(one)
        if digest is not None:
            planned.append(attrs.evolve(one, state=TagState.CURRENT, digest=digest))
        elif skip_existing_tags and one.dest_tag in existing[one.dest_repo]:
            planned.append(attrs.evolve(one, state=TagState.EXISTS))
        else:
            planned.append(attrs.evolve(one, listed=one.dest_tag in existing[one.dest_repo]))
    sizes = {
        image: record.size if (record := inventory.images.get(image)) is not None else None
        for tag in planned
        for image in tag.chain
    }
    return MigrationPlan(
        source=inventory.registry,
        destination=dest.registry,
        tags=tuple(planned),
        sizes=sizes,
        problems=tuple(p for p in inventory.problems if p.tag is None and p.image is None),
        new_repositories=frozenset(one.dest_repo for one in planned if one.state is TagState.COPY)
        - {name for name, tags in existing.items() if tags},
    )


def remember_plan(journal: Journal, plan: MigrationPlan, name: str) -> None:
    """Record the tags ``plan`` copies (in the order the run takes them) under ``name``,
    so a run killed half-way is continued from here (`continued_plan`)."""
    new = plan.new_repositories
    journal.plan_started(
        plan.destination,
        name,
        [
            PlannedCopy(
                one.source_repo,
                one.tag,
                one.image_id,
                one.chain,
                one.dest_repo,
                one.dest_tag,
                one.dest_repo in new,
            )
            for one in plan.to_copy
        ],
    )


def continued_plan(
    journal: Journal, name: str, source: str, dest: BlobStoreSide | V1Side
) -> MigrationPlan | None:
    """What the last run under ``name`` set out to copy and did not finish (it was killed,
    or stopped by ``--on-error abort``), as a plan to carry out before anything else:
    no inventory, no destination survey, so the uploads start at once. Each tag is
    treated as listed at the destination (it may have been written in the instant
    before the kill: its manifest is looked up before the PUT). ``None``: nothing left."""
    left = journal.planned(dest.registry, name)
    if not left:
        return None
    tags = tuple(
        PlannedTag(
            one.source_repository,
            one.source_tag,
            one.image_id,
            one.chain,
            one.repository,
            one.tag,
            TagState.COPY,
        )
        for one in left
    )
    return MigrationPlan(
        source=source,
        destination=dest.registry,
        tags=tags,
        sizes={},
        new_repositories=frozenset(one.repository for one in left if one.new_repository),
    )


def plan_name(
    source: str,
    destination: str,
    selection: Selection,
    repositories: Iterable[str] | None,
    *,
    skip_existing_tags: bool,
) -> str:
    """What a run was asked, as one name: a run killed half-way is continued only by a run
    asked the same (the source, the destination, every selection rule; an age rule to the
    day, as it moves with the clock)."""
    asked = {
        "source": source,
        "destination": destination,
        "include": [p.pattern for p in selection.include],
        "exclude": [p.pattern for p in selection.exclude],
        "tags": None if selection.tags is None else selection.tags.pattern,
        "rename": [[p.pattern, to] for p, to in selection.rename],
        "library": selection.library,
        "prefix": selection.prefix,
        "shard": selection.shard,
        "newer_than": None if selection.newer_than is None else selection.newer_than.date(),
        "last": selection.last,
        "repositories": None if repositories is None else sorted(repositories),
        "skip_existing_tags": skip_existing_tags,
    }
    text = json.dumps(asked, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
