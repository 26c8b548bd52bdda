"""Shards that share base layers: a staging repository in the destination.

Shards of one migration (``--shard I/N``) run at once with a journal each, blind to
one another, so a base layer used by repositories of several shards would be uploaded
once per shard. A first phase (``migrate --bases``, any one process, before the
shards) reads the whole selection (every shard's repositories), finds the v1 images
used by tags of two or more repositories and migrates each of them, as an ordinary
tag through the same engine path (`copy_image` into a `RegistryDestination`), into
one staging repository of the destination (``regv1-bases`` by default), tagged by
its v1 id. Every shared blob is then uploaded once and held by manifests (a garbage
collection keeps it).

A shard learns from that repository before it decides on a layer (`StagedBases`):
one ``tags/list`` per run says which v1 images are staged, and for a staged image
one manifest GET and one config GET tell its layer's blob (digest, size and the
config's diff_id). That is recorded in the shard's journal as held by the staging
repository, the fact a mount would have taught, so the mount-first path mounts the
blob with ``?mount=&from=NAME`` instead of reading the source.

A v1 id is only a name its source gave, and a blob's bytes depend on the compressor
and its level, so a staging tag is trusted only when its config's labels name this
run's source registry, the image, and the same journal key (`BlobCache.key`: the
payload checksum, isal version, level and block size) the shard would record; any
other staging tag is ignored (the shard uploads the layer itself, as before). The
blobs a shard mounts are the ones it would have made, so its manifests are those of
an unsharded run: only the staging repository is extra.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ..core.errors import DockerRegistryError, InvalidInput
from ..core.httplog import TRANSFER_LOGGER, reused
from ..engine.blobs import BlobCache
from ..engine.model import Layer, SourceImage
from ..engine.sources import registry_origin
from ..formats.archive.compression import Compression
from ..formats.compress import DEFAULT_LEVEL, LayerBlob
from ..formats.convert import ManifestFormat
from ..oci.client import OCIClient, check_name
from ..oci.errors import NameUnknown
from .inventory import Inventory
from .migrate import MigrationListener, MigrationReport, migrate
from .migrate_plan import MigrationPlan, PlannedTag, RegistrySide, TagState
from .migrate_run import Keyed
from .retry import RetryPolicy

if TYPE_CHECKING:
    from ..engine.journal import Journal
    from ..v1.client import Client
    from .migrate_create import CreateRepository
    from .selection import Selection

__all__ = [
    "DEFAULT_BASES_REPO",
    "LABEL_IMAGE",
    "LABEL_KEY",
    "LABEL_SOURCE",
    "StagedBases",
    "Staging",
    "bases_repository",
    "plan_bases",
    "shared_images",
    "stage_bases",
]

#: The staging repository's name when ``--bases-repo`` does not give one (under the
#: destination's prefix, where the login may push).
DEFAULT_BASES_REPO = "regv1-bases"
#: Labels of a staging image's config: the source registry its v1 image came from, the
#: v1 id, and the journal key its top layer's blob was made under.
LABEL_SOURCE = "org.regv1.bases.source"
LABEL_IMAGE = "org.regv1.bases.image"
LABEL_KEY = "org.regv1.bases.key"

_V1_ID = re.compile(r"[0-9a-f]{64}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MANIFESTS = tuple(f.value.manifest for f in ManifestFormat)
_UNTRUSTED = (DockerRegistryError, ValueError, KeyError, TypeError, AttributeError)
"""What makes a staging tag unusable (absent, unreadable, malformed): the shard then
uploads the layer itself, as it would without a staging repository."""


def bases_repository(name: str | None, prefix: str = "") -> str:
    """The staging repository: ``name``, else ``regv1-bases`` under the destination's
    prefix; `InvalidInput` for a name the OCI grammar refuses."""
    chosen = name or (f"{prefix.strip('/')}/{DEFAULT_BASES_REPO}" if prefix else DEFAULT_BASES_REPO)
    try:
        return check_name(chosen)
    except ValueError as error:
        raise InvalidInput("--bases-repo", f"{chosen!r}: {error}") from None


def shared_images(inventory: Inventory, selection: Selection) -> dict[str, tuple[str, ...]]:
    """v1 image id → the source repositories using it, for every image the selected tags
    of two or more repositories need; the shard is ignored (every shard's repositories
    count), and a tag whose chain the inventory could not read counts for none."""
    whole = attrs.evolve(selection, shard=None)
    users: defaultdict[str, set[str]] = defaultdict(set)
    for repository in inventory.repositories:
        if not whole.repository_selected(repository.name):
            continue
        for tag, image_id in repository.tags.items():
            if not whole.tag_selected(tag) or image_id not in inventory.images:
                continue
            chain = inventory.chain(image_id)
            if any(image in inventory.broken for image in chain):
                continue
            for image in chain:
                users[image].add(repository.name)
    return {image: tuple(sorted(names)) for image, names in sorted(users.items()) if len(names) > 1}


def _settings(key: str) -> list[str]:
    """What of a journal key the compressor decides (isal version, level, block)."""
    return key.split("|")[2:]


def _labels(config: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = config.get("config")
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    return labels if isinstance(labels, dict) else {}


def _top_blob(
    manifest: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    image_id: str,
    origin: str,
    key: Callable[[str], bool],
) -> LayerBlob | None:
    """The blob of the staged image's own (top) layer, when the labels say it came from
    ``origin`` as ``image_id`` under a ``key`` this run accepts; else None."""
    labels = _labels(config)
    if labels.get(LABEL_SOURCE) != origin or labels.get(LABEL_IMAGE) != image_id:
        return None
    if not isinstance(labels.get(LABEL_KEY), str) or not key(labels[LABEL_KEY]):
        return None
    history, diff_ids = config["history"], config["rootfs"]["diff_ids"]
    layers = manifest["layers"]
    if not history or history[-1].get("empty_layer") or not layers:
        return None  # an empty top layer adds no blob: nothing to mount
    if len(layers) != len(diff_ids):
        return None
    top, diff_id = layers[-1], str(diff_ids[-1])
    digest, size = str(top["digest"]), int(top["size"])
    if not _DIGEST.fullmatch(digest) or not _DIGEST.fullmatch(diff_id) or size < 0:
        return None
    return LayerBlob(  # as a survey reveals one: how the source compressed it is not shown
        digest=digest,
        size=size,
        diff_id=diff_id,
        plain_size=0,
        source=Compression.GZIP,
        empty=False,
    )


class StagedBases:
    """A run's view of the staging repository: before a layer is decided on, `learn`
    records in the journal the blob a trusted staging tag holds for it, so the
    destination mounts it from there. Requests: one ``tags/list`` per run (on the first
    layer decided; a repository that is absent, or that cannot be read, holds nothing
    for the run: its layers go up as without staging), then a
    manifest and a config GET per staged image the run needs and the journal does not
    know already; each answer (a refusal too) is kept for the run."""

    def __init__(
        self,
        client: OCIClient,
        repository: str,
        *,
        journal: Journal,
        registry: str,
        origin: str,
        level: int = DEFAULT_LEVEL,
    ) -> None:
        self.client = client
        self.repository = repository
        self.journal = journal
        self.registry = registry
        self.origin = origin
        self.level = level
        self._staged: frozenset[str] | None = None
        self._lock = threading.Lock()
        self._locks = Keyed()
        self._known: dict[str, LayerBlob | None] = {}

    def image(self, image: SourceImage) -> SourceImage:
        """A shard's images are migrated as they are."""
        return image

    def staged(self) -> frozenset[str]:
        """The v1 ids the staging repository has tags for (listed once per run)."""
        with self._lock:
            if self._staged is None:
                try:
                    tags = set(self.client.tags(self.repository))
                except NameUnknown:
                    tags = set()
                except DockerRegistryError as error:  # not readable: the run goes on without
                    TRANSFER_LOGGER.warning(
                        "staging repository %s not used: %s", self.repository, error
                    )
                    tags = set()
                self._staged = frozenset(tag for tag in tags if _V1_ID.fullmatch(tag))
            return self._staged

    def learn(self, layer: Layer) -> LayerBlob | None:
        """The blob the staging repository holds for ``layer`` (recorded in the journal
        as placed there), or None: not staged, not trusted, or the journal knows the
        layer already (the destination then decides as without staging)."""
        if layer.blob_digest is not None:
            return None  # an OCI source's layer: stored as it is, nothing to convert
        key = BlobCache.key(layer.image_id, layer.checksum, self.level)
        if self.journal.layer(key, self.origin) is not None:
            return None
        if layer.image_id not in self.staged():
            return None
        with self._locks(layer.image_id):
            if layer.image_id not in self._known:
                self._known[layer.image_id] = self._read(layer.image_id, key)
            blob = self._known[layer.image_id]
        if blob is not None:
            self.journal.learned(
                key, layer.image_id, blob, self.registry, self.repository, origin=self.origin
            )
            self.journal.placed(self.registry, self.repository, blob.digest)
        return blob

    def _read(self, image_id: str, key: str) -> LayerBlob | None:
        found = self.staging_tag(image_id, lambda label: label == key)
        return None if found is None else found[0]

    def staging_tag(
        self, image_id: str, key: Callable[[str], bool]
    ) -> tuple[LayerBlob, str] | None:
        """The staging tag ``image_id``'s top layer blob and manifest digest, when its
        labels name this run's source, the image and a ``key`` accepted; else None."""
        try:
            found = self.client.get_manifest(self.repository, image_id, accept=_MANIFESTS)
            manifest = json.loads(found.data)
            config = json.loads(self.client.get_blob(self.repository, manifest["config"]["digest"]))
            blob = _top_blob(manifest, config, image_id=image_id, origin=self.origin, key=key)
        except _UNTRUSTED as error:
            TRANSFER_LOGGER.debug(
                "staging tag %s:%s unusable: %s", self.repository, image_id, error
            )
            return None
        if blob is None:
            TRANSFER_LOGGER.debug(
                "staging tag %s:%s is from another source or compressor; not used",
                self.repository,
                image_id,
            )
            return None
        reused("layer of %s: staged in %s as %s", image_id, self.repository, blob.digest)
        return blob, found.digest


@attrs.frozen
class Staging:
    """The ``--bases`` phase's hook: each staging image's config is labelled with where
    its v1 image came from and the journal key of its top layer (the labels go into the
    top image's v1 ``config`` before conversion, so the config carries them)."""

    origin: str
    level: int

    def image(self, image: SourceImage) -> SourceImage:
        """``image`` with the labels in its top image's JSON."""
        top = image.layers[-1]
        labels = {
            LABEL_SOURCE: self.origin,
            LABEL_IMAGE: top.image_id,
            LABEL_KEY: BlobCache.key(top.image_id, top.checksum, self.level),
        }
        labelled = attrs.evolve(top, json_bytes=_labelled(top.json_bytes, labels))
        return attrs.evolve(image, layers=(*image.layers[:-1], labelled))

    def learn(self, layer: Layer) -> LayerBlob | None:
        """The staging run learns nothing from the staging repository."""
        del layer
        return None


def _labelled(json_bytes: bytes, labels: Mapping[str, str]) -> bytes:
    """The v1 JSON with ``labels`` added to its ``config.Labels``."""
    document = json.loads(json_bytes)
    config = document.get("config")
    config = dict(config) if isinstance(config, dict) else {}
    config["Labels"] = {**_labels(document), **labels}
    document["config"] = config
    return json.dumps(document, separators=(",", ":")).encode()


def _check_free(inventory: Inventory, selection: Selection, repository: str) -> None:
    """Refuse a staging repository that a migrated repository would be written into."""
    for record in inventory.repositories:
        try:
            name = selection.destination_name(record.name, lambda _: None)
        except ValueError:
            continue
        if name == repository:
            raise InvalidInput(
                "--bases-repo", f"{repository!r} is where {record.name!r} is migrated to"
            )


def plan_bases(
    inventory: Inventory,
    selection: Selection,
    dest: RegistrySide,
    repository: str,
    *,
    source: Client,
    journal: Journal,
    level: int = DEFAULT_LEVEL,
) -> MigrationPlan:
    """One planned tag per shared image: ``REPOSITORY:<v1 id>``, its chain the image's.
    A staging tag already listed is current when the journal recorded writing it, or
    when its labels name this source and compressor (a manifest and a config GET)."""
    _check_free(inventory, selection, repository)
    shared = shared_images(inventory, selection)
    existing = dest.tags(repository) if shared else set()
    written = {
        m.tag: m.digest
        for m in journal.manifests(dest.registry)
        if m.repository == repository and m.tag == m.image_id
    }
    checker = StagedBases(
        dest.client,
        repository,
        journal=journal,
        registry=dest.registry,
        origin=registry_origin(source),
        level=level,
    )
    wanted = _settings(BlobCache.key("", None, level))
    tags = []
    for image_id, users in shared.items():
        chain = inventory.chain(image_id)
        one = PlannedTag(users[0], image_id, image_id, chain, repository, image_id, TagState.COPY)
        listed = image_id in existing
        digest = written.get(image_id)
        if listed and digest is None:
            found = checker.staging_tag(image_id, lambda key: _settings(key) == wanted)
            digest = None if found is None else found[1]
        if listed and digest is not None:
            one = attrs.evolve(one, state=TagState.CURRENT, digest=digest)
        tags.append(attrs.evolve(one, listed=listed))
    sizes = {
        image: record.size if (record := inventory.images.get(image)) is not None else None
        for one in tags
        for image in one.chain
    }
    return MigrationPlan(
        source=inventory.registry,
        destination=dest.registry,
        tags=tuple(tags),
        sizes=sizes,
        new_repositories=frozenset({repository} if tags and not existing else ()),
    )


def stage_bases(
    source: Client,
    dest: RegistrySide,
    plan: MigrationPlan,
    *,
    journal: Journal,
    jobs: int = 8,
    repositories_in_flight: int = 4,
    on_error: Literal["continue", "abort"] = "continue",
    level: int = DEFAULT_LEVEL,
    retry: RetryPolicy | None = None,
    progress: MigrationListener | None = None,
    create_repository: CreateRepository | None = None,
) -> MigrationReport:
    """Migrate `plan_bases`'s staging tags (each labelled, see `Staging`) as a migration
    runs any tags: each shared layer is read once and uploaded once, into the staging
    repository, and its blob recorded in ``journal``."""
    hook = Staging(registry_origin(source), level)
    return migrate(
        source,
        dest,
        plan,
        journal=journal,
        jobs=jobs,
        repositories_in_flight=repositories_in_flight,
        on_error=on_error,
        level=level,
        retry=retry,
        progress=progress,
        create_repository=create_repository,
        bases=hook,
    )
