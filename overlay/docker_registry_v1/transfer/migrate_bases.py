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

A shard learns from that repository before it copies a tag (`StagedBases`): one
``tags/list`` per run says which v1 images are staged, and for the highest staged
image of the tag's chain one manifest GET and one config GET tell the blob (digest,
size, and the config's diff_id) of every layer of that chain. Those are recorded in
the shard's journal as held by the staging repository, the facts a mount would have
taught, so the mount-first path mounts each blob with ``?mount=&from=NAME`` instead
of reading the source.

A v1 id is only a name its source gave, and a blob's bytes depend on the compressor
and its level, so a staging tag is trusted only when its config's labels name this
run's source registry and the image, and a layer's blob is taken only under the
journal key (`BlobCache.key`: v1 id, payload checksum, isal version, level and block
size) the shard would record itself; any other staging tag is ignored (the shard
uploads the layer itself, as without staging). The blobs a shard mounts are the ones
it would have made, so its manifests are those of an unsharded run: only the staging
repository is extra.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
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
    "LABEL_KEYS",
    "LABEL_SOURCE",
    "StagedBases",
    "Staging",
    "bases_repository",
    "plan_bases",
    "shared_images",
    "stage_bases",
    "staging_images",
]

#: The staging repository's name when ``--bases-repo`` does not give one (under the
#: destination's prefix, where the login may push).
DEFAULT_BASES_REPO = "regv1-bases"
#: Labels of a staging image's config: the source registry its v1 image came from, the
#: v1 id, and the journal keys its chain's blobs were made under (base first, spaced).
LABEL_SOURCE = "org.regv1.bases.source"
LABEL_IMAGE = "org.regv1.bases.image"
LABEL_KEYS = "org.regv1.bases.keys"

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


def _chains(inventory: Inventory, selection: Selection) -> dict[tuple[str, ...], set[str]]:
    """Every selected tag's chain (base first) → the repositories with a tag on it; the
    shard is ignored (every shard's repositories count), and a chain the inventory could
    not read entirely is left out."""
    whole = attrs.evolve(selection, shard=None)
    chains: defaultdict[tuple[str, ...], set[str]] = defaultdict(set)
    for repository in inventory.repositories:
        if not whole.repository_selected(repository.name):
            continue
        for tag, image_id in repository.tags.items():
            if not whole.tag_selected(tag) or image_id not in inventory.images:
                continue
            chain = inventory.chain(image_id)
            if not any(image in inventory.broken for image in chain):
                chains[chain].add(repository.name)
    return chains


def shared_images(inventory: Inventory, selection: Selection) -> dict[str, tuple[str, ...]]:
    """v1 image id → the source repositories using it, for every image the selected tags
    of two or more repositories need (see `_chains` for which tags count)."""
    users: defaultdict[str, set[str]] = defaultdict(set)
    for chain, repositories in _chains(inventory, selection).items():
        for image in chain:
            users[image] |= repositories
    return {image: tuple(sorted(names)) for image, names in sorted(users.items()) if len(names) > 1}


def staging_images(inventory: Inventory, selection: Selection) -> dict[str, str]:
    """The shared images to tag in the staging repository → a source repository using
    them: for each selected tag, the highest shared image of its chain. A shard reads
    that one tag for the whole shared part of a chain, so a base chain of any depth
    costs it two requests."""
    shared = shared_images(inventory, selection)
    tops: dict[str, str] = {}
    for chain in _chains(inventory, selection):
        top = next((image for image in reversed(chain) if image in shared), None)
        if top is not None:
            tops.setdefault(top, shared[top][0])
    return dict(sorted(tops.items()))


def _settings(key: str) -> list[str]:
    """What of a journal key the compressor decides (isal version, level, block)."""
    return key.split("|")[2:]


def _labels(config: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = config.get("config")
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    return labels if isinstance(labels, dict) else {}


def _staged_blobs(
    manifest: Mapping[str, Any], config: Mapping[str, Any], *, image_id: str, origin: str
) -> dict[str, LayerBlob]:
    """Journal key → blob of every non-empty layer of a staging image's chain, when its
    labels say it came from ``origin`` as ``image_id``; else nothing. The keys (one per
    chain image, base first) name each v1 image, its payload checksum and the compressor
    settings its blob was made with: a run takes a blob only under its own key."""
    labels = _labels(config)
    keys = labels.get(LABEL_KEYS)
    if labels.get(LABEL_SOURCE) != origin or labels.get(LABEL_IMAGE) != image_id:
        return {}
    if not isinstance(keys, str):
        return {}
    chain_keys = keys.split()
    history, diff_ids = config["history"], config["rootfs"]["diff_ids"]
    layers = manifest["layers"]
    if not chain_keys or chain_keys[-1].partition("|")[0] != image_id:
        return {}
    if len(history) != len(chain_keys) or len(layers) != len(diff_ids):
        return {}
    kept = [
        key for key, entry in zip(chain_keys, history, strict=True) if not entry.get("empty_layer")
    ]
    if len(kept) != len(layers):
        return {}
    found = {}
    for key, layer, diff_id in zip(kept, layers, diff_ids, strict=True):
        digest, size = str(layer["digest"]), int(layer["size"])
        if not _DIGEST.fullmatch(digest) or not _DIGEST.fullmatch(str(diff_id)) or size < 0:
            return {}
        found[key] = LayerBlob(  # as a survey reveals one: the source's compression is not shown
            digest=digest,
            size=size,
            diff_id=str(diff_id),
            plain_size=0,
            source=Compression.GZIP,
            empty=False,
        )
    return found


class StagedBases:
    """A run's view of the staging repository: before a tag is copied (`image`), the
    blobs a trusted staging tag holds for the layers of its chain are recorded in the
    journal as placed there, so the destination mounts them from there instead of the
    source being read. Requests: one ``tags/list`` per run (for the first tag copied; a
    repository that is absent, or that cannot be read, holds nothing for the run: its
    layers go up as without staging), then, for the highest staged image of a tag's
    chain whose layers the journal does not all know, a manifest and a config GET (once
    per run and staging tag: a shared chain costs two requests, whatever its depth).
    ``origin`` and ``level`` must be the run's (its source's `registry_origin` and its
    compression level): facts are recorded under the keys the run looks them up by."""

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
        self._read: dict[str, dict[str, LayerBlob]] = {}

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

    def image(self, image: SourceImage) -> SourceImage:
        """Learn what the staging repository holds of ``image``'s chain (see the class);
        the image is migrated as it is."""
        self.learn(image.layers)
        return image

    def learn(self, layers: Sequence[Layer]) -> dict[str, LayerBlob]:
        """v1 id → blob of the chain's layers newly recorded as held by the staging
        repository (nothing when no staged image is in the chain, or the journal knows
        every layer up to the highest one already)."""
        if any(layer.blob_digest is not None for layer in layers):
            return {}  # an OCI source's layers: stored as they are, nothing to convert
        keys = [BlobCache.key(layer.image_id, layer.checksum, self.level) for layer in layers]
        staged = self.staged()
        top = max((n for n, layer in enumerate(layers) if layer.image_id in staged), default=-1)
        if top < 0 or all(self.journal.layer(k, self.origin) is not None for k in keys[: top + 1]):
            return {}
        found = self.blobs(layers[top].image_id)
        learned = {}
        for layer, key in zip(layers[: top + 1], keys, strict=False):
            blob = found.get(key)
            if blob is None or self.journal.layer(key, self.origin) is not None:
                continue
            self.journal.learned(
                key, layer.image_id, blob, self.registry, self.repository, origin=self.origin
            )
            self.journal.placed(self.registry, self.repository, blob.digest)
            reused("layer of %s: staged in %s as %s", layer.image_id, self.repository, blob.digest)
            learned[layer.image_id] = blob
        return learned

    def blobs(self, image_id: str) -> dict[str, LayerBlob]:
        """Journal key → blob of the staging tag ``image_id``'s chain, if it is trusted
        (read once per run; an unusable tag is as good as none)."""
        with self._locks(image_id):
            if image_id not in self._read:
                self._read[image_id] = self.staging_tag(image_id)[0]
            return self._read[image_id]

    def staging_tag(self, image_id: str) -> tuple[dict[str, LayerBlob], str | None]:
        """What the staging tag ``image_id`` holds (`_staged_blobs`) and its manifest's
        digest; nothing for one absent, unreadable or from another source."""
        try:
            found = self.client.get_manifest(self.repository, image_id, accept=_MANIFESTS)
            manifest = json.loads(found.data)
            config = json.loads(self.client.get_blob(self.repository, manifest["config"]["digest"]))
            blobs = _staged_blobs(manifest, config, image_id=image_id, origin=self.origin)
        except _UNTRUSTED as error:
            TRANSFER_LOGGER.debug(
                "staging tag %s:%s unusable: %s", self.repository, image_id, error
            )
            return {}, None
        if not blobs:
            TRANSFER_LOGGER.debug(
                "staging tag %s:%s is from another source; not used", self.repository, image_id
            )
            return {}, None
        return blobs, found.digest


@attrs.frozen
class Staging:
    """The ``--bases`` phase's hook: each staging image's config is labelled with where
    its v1 image came from and the journal key of every layer of its chain (the labels
    go into the top image's v1 ``config`` before conversion, so the config carries them)."""

    origin: str
    level: int

    def image(self, image: SourceImage) -> SourceImage:
        """``image`` with the labels in its top image's JSON."""
        top = image.layers[-1]
        labels = {
            LABEL_SOURCE: self.origin,
            LABEL_IMAGE: top.image_id,
            LABEL_KEYS: " ".join(
                BlobCache.key(layer.image_id, layer.checksum, self.level) for layer in image.layers
            ),
        }
        labelled = attrs.evolve(top, json_bytes=_labelled(top.json_bytes, labels))
        return attrs.evolve(image, layers=(*image.layers[:-1], labelled))


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
    """One planned tag per `staging_images` image: ``REPOSITORY:<v1 id>``, its chain the
    image's (so every shared layer is in some staging tag).
    A staging tag already listed is current when the journal recorded writing it, or
    when its labels name this source and compressor (a manifest and a config GET)."""
    _check_free(inventory, selection, repository)
    shared = staging_images(inventory, selection)
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
    for image_id, user in shared.items():
        chain = inventory.chain(image_id)
        one = PlannedTag(user, image_id, image_id, chain, repository, image_id, TagState.COPY)
        listed = image_id in existing
        digest = written.get(image_id)
        if listed and digest is None:
            blobs, digest = checker.staging_tag(image_id)
            if not blobs or any(_settings(key) != wanted for key in blobs):
                digest = None
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
        provenance=False,  # staging images are labelled copies, not migrated tags
    )
