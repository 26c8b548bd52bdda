"""Where an image goes: an OCI/v2 registry, an OCI layout, a ``docker load`` archive,
a v1 registry. Each decides reuse per layer before the source is read, takes a new
layer through its one path, and commits last.

The conversions sit here, as each destination needs them: into a registry or a
layout, a v1 chain becomes a v2 image (deterministic gzip of each layer, `convert_image`
for config and manifest) while an OCI image is stored as it is (same blobs, config and
manifest bytes, so every digest stays); into a v1 registry or an archive, an OCI image
goes as its derived v1 chain with its layers as stored.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, MutableSet
from typing import TYPE_CHECKING, Protocol

import httpx

from ..core.errors import Conflict, InvalidInput, RegistryTimeout
from ..core.http import StallGuard, stall_guarded
from ..core.httplog import reused
from ..core.models import IndexImage
from ..core.names import RepositoryName, check_tag
from ..core.retry import unretried
from ..formats.compress import LayerBlob
from ..formats.convert import ManifestFormat, convert_image
from ..formats.layout import OCILayout, check_ref
from ..formats.provenance import EMPTY_CONFIG, EMPTY_CONFIG_BYTES
from ..oci.client import (
    MONOLITHIC_LIMIT,
    MountResult,
    OCIClient,
    check_name,
    check_reference,
)
from .access import WriteAccess, index_list, is_present, write_access
from .archive_destination import ArchiveDestination
from .blobs import BlobCache, LayoutBlobStore, default_cache_path
from .model import Layer, SourceImage
from .pipeline import PipelinedLayer
from .provenance import Attached, attach_provenance, v1_provenance
from .run import Committed, Feed
from .tracking import Tracker

if TYPE_CHECKING:
    from ..v1.client import Client

__all__ = [
    "ArchiveDestination",
    "LayoutDestination",
    "MountMemory",
    "RegistryDestination",
    "V1Destination",
    "mount_known",
]


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class MountMemory(Protocol):
    """What the one store (`Journal`, `BlobCache.facts`) knows of mounts: which
    repositories of a registry hold a blob, and which refused to lend it."""

    def places(self, registry: str, digest: str) -> list[str]: ...

    def refused_sources(self, registry: str, repository: str, digest: str) -> set[str]: ...

    def refused_mount(
        self, registry: str, repository: str, source: str, digest: str, status: int
    ) -> None: ...


class _Mounter(Protocol):
    def mount_blob(self, name: str, digest: str, source: str, /) -> MountResult: ...


def mount_known(
    memory: MountMemory,
    target: _Mounter,
    registry: str,
    repository: str,
    digest: str,
    *,
    name: Callable[[str], str] = str,
    places: list[str] | None = None,
) -> bool:
    """Mount ``digest`` into ``repository`` from a repository the store saw holding it,
    skipping those that refused before; a new refusal (no access, none there, or an
    upload session instead: 202) is remembered, so no copy or migration asks that
    repository again, and the next is tried. False: the caller uploads. ``name`` maps a
    store's repository to the name ``target`` calls it (a migration into a layout);
    ``places``: what `MountMemory.places` answered the caller already."""
    refused = memory.refused_sources(registry, repository, digest)
    if places is None:
        places = memory.places(registry, digest)
    for other in places:
        if other == repository or other in refused:
            continue
        answer = target.mount_blob(name(repository), digest, name(other))
        if answer.mounted:
            return True
        if answer.status:  # 0: nothing was asked (a layout)
            memory.refused_mount(registry, repository, other, digest, answer.status)
    return False


class _Learned:
    """A pipelined layer's blob bytes; once the last is out (before the upload is
    committed) ``learned`` gets the blob. It passes on `streamed_digest`, so the upload
    does not hash the bytes again."""

    def __init__(self, encoded: PipelinedLayer, learned: Callable[[LayerBlob], None]) -> None:
        self._encoded = encoded
        self._learned = learned

    def __iter__(self) -> Iterator[bytes]:
        yield from self._encoded
        self._learned(self._encoded.blob)

    def streamed_digest(self) -> str:
        """The blob's sha256, known once iterated."""
        return self._encoded.streamed_digest()


class _OCIDestination:
    """The path shared by a registry and a layout (``target`` speaks the registry calls)."""

    sequential = False
    overlaps = False
    journaled = False
    """A migration's destination (the cache is its journal): tags in many repositories
    share images, so a config is mounted from a repository holding it, as a layer is,
    and a repository receiving a blob is a mount source as soon as its last byte is out
    (a rerun after Ctrl-C mounts what landed instead of sending it again)."""

    def __init__(
        self,
        target: OCIClient | LayoutBlobStore,
        repository: str,
        tag: str | None,
        *,
        manifest_format: ManifestFormat,
        level: int,
        cache: BlobCache | str | os.PathLike[str] | None,
        strict_format: bool = False,
        provenance: bool = True,
    ) -> None:
        self.target = target
        self.strict_format = strict_format
        self.provenance = provenance
        """Attach the v1 provenance artifact to the manifest of a chain read from a v1
        registry (`engine.provenance`); ``attached`` says where it went."""
        self.attached: Attached | None = None
        self.repository = repository
        self.tag = tag
        self.manifest_format = manifest_format
        self.level = level
        self._owned = not isinstance(cache, BlobCache)
        self.cache = (
            cache if isinstance(cache, BlobCache) else BlobCache(cache or default_cache_path())
        )
        # a layer's upload is retried as a whole by `Feed`: its requests are sent once
        self.uploads = unretried(target) if isinstance(target, OCIClient) else target
        self.registry = target.base_url
        self.blobs: dict[str, LayerBlob] = {}
        self.uploaded: list[str] = []
        self.skipped: list[str] = []
        self.mounted: list[str] = []
        self._lock = threading.Lock()
        self._as_is = False
        self._origin = ""
        self.present: MutableSet[tuple[str, str]] = set()
        """(repository, digest) pairs known to be there without asking: a migration
        shares one set between its tags, so a blob confirmed once is not HEADed again."""
        self.tag_listed = True
        """False: the registry's tag list (read in this run) does not name the tag, so
        no manifest is there to HEAD before the PUT."""
        self._mounts_first = isinstance(target, OCIClient)
        """A registry answers a mount of a blob it cannot lend with 202/404, as cheaply as a
        HEAD that misses; a layout's blob store has one answer for every repository."""
        self.config_outcome: tuple[str, int] | None = None
        """What `commit` did with the config blob: (``present``, ``mounted`` or
        ``uploaded``, its size)."""

    def prepare(self) -> None:
        """Ping the registry: a v1-only server is refused before the source is read."""
        self.target.ping()

    def begin(self, image: SourceImage) -> None:
        """Take the source's tag when none was given; an OCI image is stored as it is."""
        if self.tag is None:
            self.tag = self._check_tag(image.tag)
        self._as_is = image.oci is not None
        self._origin = image.source
        wanted = self.manifest_format.value.manifest
        if image.oci is not None and self.strict_format and image.oci.media_type != wanted:
            raise InvalidInput(
                "manifest_format",
                f"the source's manifest is {image.oci.media_type} and is copied as it is "
                "(a conversion would change its digest); the format applies to v1 images",
            )

    def _check_tag(self, tag: str) -> str:
        return check_reference(tag)

    def close(self) -> None:
        """Close the blob cache if this destination opened it."""
        if self._owned:
            self.cache.close()

    def _key(self, layer: Layer) -> str:
        return BlobCache.key(layer.image_id, layer.checksum, self.level)

    def _skipped(self, layer: Layer, digest: str, *, mounted: bool, empty: bool = False) -> bool:
        how = "mounted" if mounted else "empty" if empty else "on the destination already"
        reused("layer of %s: %s, %s", layer.image_id, digest, how)
        with self._lock:
            self.skipped.append(digest)
            if mounted:
                self.mounted.append(digest)
        if not empty:
            self.cache.place(digest, self.registry, self.repository)
            self.present.add((self.repository, digest))
        return True

    def _holds(self, digest: str) -> bool:
        """The repository has the blob: known already, or a HEAD says so."""
        return (self.repository, digest) in self.present or (
            self.target.blob_size(self.repository, digest) is not None
        )

    def _mount(self, layer: Layer, digest: str) -> bool:
        """Mount ``digest`` from a repository the cache saw holding it (not one that
        refused before); a refusal is remembered and the layer is uploaded instead."""
        if mount_known(self.cache.facts, self.target, self.registry, self.repository, digest):
            return self._skipped(layer, digest, mounted=True)
        return False

    def _place(self, digest: str, *, ask: bool = True) -> str | None:
        """How ``digest`` gets into the repository without its bytes: ``present`` or
        ``mounted``, else None (it is to be sent).

        Known here (this run confirmed or sent it): nothing is asked. A registry where
        the store knows another repository holding it: the mount is POSTed straight away
        (201 mounted; a 202's upload session is parked for the upload that follows; a
        refusal is remembered), since a HEAD first costs a request that misses whenever
        the mount is needed. The HEAD is kept for when the store says this repository
        received it, and (``ask``) when no other repository is known to lend it."""
        if (self.repository, digest) in self.present:
            return "present"
        facts = self.cache.facts
        places = facts.places(self.registry, digest)
        here = self.repository in places
        lenders = [p for p in places if p != self.repository]
        if lenders:
            refused = facts.refused_sources(self.registry, self.repository, digest)
            lenders = [p for p in lenders if p not in refused]
        asks = here or (ask and (not lenders or not self._mounts_first))
        if asks and self.target.blob_size(self.repository, digest) is not None:
            return "present"
        if lenders and mount_known(
            facts, self.target, self.registry, self.repository, digest, places=lenders
        ):
            return "mounted"
        return None

    def _reused(self, layer: Layer, digest: str) -> bool:
        how = self._place(digest)
        if how is None:
            return False
        return self._skipped(layer, digest, mounted=how == "mounted")

    def reuse(self, layer: Layer) -> bool:
        """A blob the destination holds (or the cache says it made from this v1 layer of
        the same source) is skipped, one another repository holds is mounted; nothing of
        the source is read."""
        if self._as_is:
            digest = layer.blob_digest
            if digest is None:  # a config without layers: nothing to store
                return True
            return self._reused(layer, digest)
        known = self.cache.get(self._key(layer), origin=self._origin)
        if known is None:
            return False
        self.blobs[layer.image_id] = known
        if known.empty:
            return self._skipped(layer, known.digest, mounted=False, empty=True)
        return self._reused(layer, known.digest)

    def _upload(self, layer: Layer, chunks: Iterable[bytes], digest: str | None) -> None:
        """Send a layer's bytes; in a migration (tiny layers by the thousand) one the
        source says is within a MiB is read ahead and, if it ends there, goes up
        monolithically (larger ones are not held in memory on the chance)."""
        small = layer.size is not None and layer.size <= MONOLITHIC_LIMIT
        if small and self.journaled and isinstance(self.uploads, OCIClient):
            self.uploads.upload_blob(self.repository, chunks, digest=digest, small_in_one=True)
        else:
            self.uploads.upload_blob(self.repository, chunks, digest=digest)

    def put(self, layer: Layer, feed: Feed) -> bool:
        """Store the layer: an OCI blob as it is (checked against its digest), a v1 layer
        through the deterministic gzip, remembered in the cache once its last byte is
        out (before the upload is committed: a crash or Ctrl-C after the commit cannot
        cause a resend; a fact about a blob that did not land only costs a HEAD)."""
        if self._as_is:
            digest = layer.blob_digest
            assert digest is not None  # reuse() took the layers without one

            def stored(chunks: Iterator[bytes]) -> None:
                self._upload(layer, chunks, digest)

            feed.send(stored)
        else:

            def learned(blob: LayerBlob) -> None:
                self.cache.put(self._key(layer), blob, origin=self._origin)
                if self.journaled:
                    self.cache.facts.intend(self.registry, self.repository, blob.digest)

            def converted(chunks: Iterator[bytes]) -> LayerBlob:
                where = f"layer of {layer.image_id[:12]}"
                with PipelinedLayer(chunks, level=self.level, where=where) as encoded:
                    self._upload(layer, _Learned(encoded, learned), None)
                return encoded.blob

            blob = feed.send(converted)
            self.blobs[layer.image_id] = blob
            digest = blob.digest
        self.cache.place(digest, self.registry, self.repository)
        self.present.add((self.repository, digest))
        with self._lock:
            self.uploaded.append(digest)
        return True

    def commit(self, image: SourceImage, tracker: Tracker) -> Committed:
        """Config blob if missing, then the manifest, unless the tag points at it already."""
        assert self.tag is not None
        if image.oci is not None:
            config, manifest, media_type = (
                image.oci.config,
                image.oci.manifest,
                image.oci.media_type,
            )
            digest = _sha256(manifest)
            layers = tuple(layer.blob_digest for layer in image.layers if layer.blob_digest)
        else:
            converted = convert_image(
                [layer.json_bytes for layer in image.layers],
                [self.blobs[layer.image_id] for layer in image.layers],
                manifest_format=self.manifest_format,
            )
            config, manifest, media_type = (
                converted.config,
                converted.manifest,
                converted.media_type,
            )
            digest = converted.manifest_digest
            layers = tuple(blob.digest for blob in converted.layers)
        config_digest = _sha256(config)
        # In a migration the journal knows every repository the config went to, so
        # with none known a HEAD would cost what sending the small config costs.
        how = (
            self._place(config_digest, ask=not self._mounts_first)
            if self.journaled
            else ("present" if self._holds(config_digest) else None)
        )
        if how is not None:
            self.config_outcome = (how, len(config))
        else:
            if self.journaled:  # sent without a HEAD: a rerun after a kill HEADs it here
                self.cache.facts.intend(self.registry, self.repository, config_digest)
            self.target.upload_blob(self.repository, config, digest=config_digest)
            self.config_outcome = ("uploaded", len(config))
        self.present.add((self.repository, config_digest))
        if self.journaled:
            self.cache.place(config_digest, self.registry, self.repository)
        current = (
            self.target.manifest_digest(self.repository, self.tag, accept=[media_type])
            if self.tag_listed
            else None
        )
        if current != digest:
            self.target.put_manifest(self.repository, self.tag, manifest, media_type)
        if self.provenance and image.oci is None:
            self._attach(image, manifest, media_type)
        return Committed(
            destination=self.registry.rstrip("/"),
            repository=self.repository,
            tags=(self.tag,),
            digest=digest,
            layers=layers,
            uploaded=tuple(self.uploaded),
            skipped=tuple(self.skipped),
            mounted=tuple(self.mounted),
        )

    def _attach(self, image: SourceImage, manifest: bytes, media_type: str) -> None:
        """The provenance artifact of a v1 registry's chain, next to its manifest (a
        failure is the tag's: `ProvenanceWriteError`, the manifest being written)."""
        record = v1_provenance(image, self.blobs)
        if record is None:
            return
        if isinstance(self.target, LayoutBlobStore):
            target: OCIClient | OCILayout = self.target.layout
        else:
            target = self.target
        # In a migration the journal knows no artifact of this tag (else the tag was
        # current), and the run's blob facts say where the empty config is.
        config_present = self.journaled and self._empty_config()
        self.attached = attach_provenance(
            target,
            self.repository,
            record,
            manifest,
            media_type,
            unknown=self.journaled,
            config_present=config_present,
        )

    def _empty_config(self) -> bool:
        """The artifacts' empty config in the repository, once per run: a HEAD where the
        journal says the repository got it, else a mount from one repository that holds
        it (only one is asked: every repository holds it, so a registry refusing mounts
        would be asked by each repository of every other), else its two bytes go up."""
        digest = str(EMPTY_CONFIG["digest"])
        if (self.repository, digest) in self.present:
            return True
        facts = self.cache.facts
        places = facts.places(self.registry, digest)
        lenders = [p for p in places if p != self.repository][:1]
        held = self.repository in places and self.target.blob_size(self.repository, digest)
        if not held and not (
            self._mounts_first
            and lenders
            and mount_known(
                facts, self.target, self.registry, self.repository, digest, places=lenders
            )
        ):
            facts.intend(self.registry, self.repository, digest)
            self.target.upload_blob(self.repository, EMPTY_CONFIG_BYTES, digest=digest)
        self.present.add((self.repository, digest))
        self.cache.place(digest, self.registry, self.repository)
        return True


class RegistryDestination(_OCIDestination):
    """An OCI/v2 registry through `OCIClient`: a blob is skipped when the registry has it
    (HEAD; for a v1 layer, the blob the cache says it made), mounted from another
    repository the cache saw holding it (a refused mount is remembered, then the layer
    is uploaded), else streamed in one PATCH; the manifest goes up last and a tag
    already pointing at it is left alone. ``tag`` None: the source's tag.
    ``strict_format``: refuse an OCI source whose manifest is not ``manifest_format``
    (the user asked for that format; an OCI image is never converted)."""

    def __init__(
        self,
        client: OCIClient,
        repository: str,
        tag: str | None = None,
        *,
        manifest_format: ManifestFormat = ManifestFormat.DOCKER,
        level: int,
        cache: BlobCache | str | os.PathLike[str] | None = None,
        strict_format: bool = False,
        provenance: bool = True,
    ) -> None:
        super().__init__(
            client,
            check_name(repository),
            None if tag is None else check_reference(tag),
            manifest_format=manifest_format,
            level=level,
            cache=cache,
            strict_format=strict_format,
            provenance=provenance,
        )


class LayoutDestination(_OCIDestination):
    """An OCI image layout (`OCILayout`): the same path with the layout's blob store;
    ``index.json`` changes last. ``ref`` may be ``REPO:TAG`` as migrate writes them."""

    def __init__(
        self,
        layout: OCILayout,
        ref: str | None = None,
        *,
        repository: str = "",
        manifest_format: ManifestFormat = ManifestFormat.OCI,
        level: int,
        cache: BlobCache | str | os.PathLike[str] | None = None,
        strict_format: bool = False,
        provenance: bool = True,
    ) -> None:
        super().__init__(
            LayoutBlobStore(layout),
            repository,
            None if ref is None else check_ref(ref),
            manifest_format=manifest_format,
            level=level,
            cache=cache,
            strict_format=strict_format,
            provenance=provenance,
        )

    def _check_tag(self, tag: str) -> str:
        return check_ref(tag)


class V1Destination:
    """A v1 registry, standalone or behind an index (with tokens). Before any image, an
    index gets the image list (``PUT …/{repo}/``) for a write token; then base first,
    an image the registry has is skipped, a new one gets its exact JSON, its layer
    (streamed; the payload checksum computed on the way) and the checksum PUT; the tag
    is set once every image is complete, and an index gets the final image list.

    ``access`` and ``present``: what a caller that asked already (``mirror`` probes the
    target before it reads any image JSON) found; they are then not asked again.
    ``index_images``: the final image list an index gets, when the caller writes more
    than this image into the repository (a migration: every tag's images, as docker
    sent them); by default the images this destination sent."""

    sequential = True
    overlaps = False

    def __init__(
        self,
        client: Client,
        repository: str,
        tag: str | None = None,
        *,
        access: WriteAccess | None = None,
        present: Collection[str] | None = None,
        index_images: Callable[[], list[IndexImage]] | None = None,
    ) -> None:
        self.client = client
        self._index_images = index_images
        self.repository = str(RepositoryName.parse(repository))
        self.tag = None if tag is None else check_tag(tag)
        self._access = access
        self._present = present
        self.tags: dict[str, str] = {}
        self.checksums: dict[str, str] = {}
        self.sent: list[str] = []
        self.skipped: list[str] = []

    def prepare(self) -> None:
        """A v1 registry is asked nothing before the chain is known."""

    def begin(self, image: SourceImage) -> None:
        """Get write access; an index is sent the image list (and gives a token) first."""
        if self.tag is not None:
            self.tags = {self.tag: image.image_id}
        elif image.tags or not image.layers:
            self.tags = dict(image.tags)
        else:
            self.tags = {check_tag(image.tag): image.image_id}
        if self._access is None:
            ids = [layer.image_id for layer in image.layers]
            self._access = write_access(self.client, self.repository, index_list(ids, self.tags))

    @property
    def access(self) -> WriteAccess:
        """The write access `begin` got (a token behind an index)."""
        assert self._access is not None
        return self._access

    def reuse(self, layer: Layer) -> bool:
        """An image the registry has complete is skipped (a HEAD-like probe)."""
        if self._present is not None:
            found = layer.image_id in self._present
        else:
            found = is_present(self.client, self.repository, layer.image_id, self.access)
        if found:
            self.skipped.append(layer.image_id)
            return True
        return False

    def put(self, layer: Layer, feed: Feed) -> bool:
        """Exact JSON, the layer streamed (payload checksum computed on the way), the
        checksum PUT; a 409 on the JSON means the image is there."""
        auth = self.access.auth
        try:
            self.client.image.add_metadata_raw(layer.image_id, layer.json_bytes, auth=auth)
        except Conflict:
            self.skipped.append(layer.image_id)
            return False

        def relayed(chunks: Iterator[bytes]) -> str:
            policy = self.client.retry  # its stall limit bounds the upload
            guard = StallGuard(
                policy.speed_limit, policy.speed_time, method="PUT", url=f"layer {layer.image_id}"
            )
            try:
                upload = stall_guarded(self.client, policy).image.add_layer(
                    layer.image_id,
                    guard.pass_through(chunks),
                    metadata_json=layer.json_bytes,
                    auth=auth,
                )
            except RegistryTimeout as error:
                if policy.speed_limit > 0 and isinstance(error.__cause__, httpx.WriteTimeout):
                    raise guard.stalled() from error  # the registry stopped reading
                raise
            assert upload.checksum is not None  # metadata_json was given
            return upload.checksum

        checksum = feed.send(relayed)
        self.client.image.put_checksum(layer.image_id, checksum, auth=auth)
        self.checksums[layer.image_id] = checksum
        self.sent.append(layer.image_id)
        return True

    def commit(self, image: SourceImage, tracker: Tracker) -> Committed:
        """Set every tag, then (behind an index) the final image list."""
        auth = self.access.auth
        for tag, image_id in self.tags.items():
            self.client.repository.set_tag(self.repository, image_id, tag, auth=auth)
        if self.access.indexed:
            images = (
                self._index_images()
                if self._index_images is not None
                else [IndexImage(id=i, checksum=c) for i, c in self.checksums.items()]
            )
            self.client.repository.update_images(self.repository, images)
        return Committed(
            destination=str(self.client.base_url).rstrip("/"),
            repository=self.repository,
            tags=tuple(self.tags),
            digest=None,
            layers=tuple(layer.image_id for layer in image.layers),
            uploaded=tuple(self.sent),
            skipped=tuple(self.skipped),
        )

    def close(self) -> None:
        """Nothing to release: the client belongs to the caller."""
