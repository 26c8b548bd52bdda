"""What the destination already holds of a plan, found by asking it rather than the journal.

The destination is the source of truth, so a rerun on another machine, in a
replaced pod or after the state directory was lost must not send again what
landed. For every planned tag the destination lists (one ``tags/list`` per
destination repository), the tag's manifest and config are read and compared
with what this migration would build from the source's v1 JSON chain
(`convert_image`): everything must be equal except ``rootfs.diff_ids`` and the
layer digests, which only the layers' bytes could tell — those are taken from the
destination, unless the journal knows the layer, in which case they must match it
too. The number of layers must match and each layer blob must answer a HEAD.

A tag that passes is current, and what it revealed (each v1 image's blob digest,
size and diff_id, and the repository holding it) goes into the journal, so tags
sharing those base images find the blobs there and mount them instead of reading
the source. The requests are metadata only (the source's image JSON, the
destination's manifests, configs and HEADs), made a few at a time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..core.errors import DockerRegistryError
from ..core.httplog import reused
from ..engine.access import read_access
from ..engine.bounded import run_threads
from ..engine.journal import Journal, JournalManifest
from ..engine.sources import registry_origin
from ..formats.archive.compression import Compression
from ..formats.compress import LayerBlob
from ..formats.convert import convert_image
from ..formats.errors import LayoutError
from .copy import BlobCache
from .migrate_run import Keyed
from .migrate_v1 import V1Side
from .phases import Phase
from .retry import RetryPolicy

if TYPE_CHECKING:
    from ..core.models import RawMetadata
    from ..v1.auth import Authenticator
    from ..v1.client import Client
    from .migrate_plan import BlobStoreSide, PlannedTag

__all__ = ["DestinationSurvey"]

_UNREADABLE = (
    DockerRegistryError,
    LayoutError,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    RecursionError,
)
"""What makes a destination tag "not what we would write": absent, unreadable, malformed
(a wrong type anywhere in its manifest or config, JSON nested past the decoder's bound)."""


@attrs.define
class DestinationSurvey:
    """Asks the destination what it has, a bounded number of requests at a time."""

    dest: BlobStoreSide | V1Side
    source: Client | None
    journal: Journal | None
    level: int
    policy: RetryPolicy
    concurrency: int
    _metadata: dict[str, RawMetadata] = attrs.field(factory=dict)
    _readers: dict[str, Authenticator | None] = attrs.field(factory=dict)
    _blobs: dict[tuple[str, str], bool] = attrs.field(factory=dict)
    _locks: Keyed = attrs.field(factory=Keyed)
    #: Where each repository listed and each tag checked is counted (the plan's phase).
    phase: Phase = attrs.field(factory=lambda: Phase(None, "plan"), kw_only=True)

    def tags(self, repositories: Iterable[str]) -> dict[str, set[str]]:
        """Each destination repository's tags (none when it does not exist)."""
        names = sorted(set(repositories))
        jobs = [functools.partial(self._listed, name) for name in names]
        return dict(zip(names, run_threads(jobs, self.concurrency, threading.Event()), strict=True))

    def _listed(self, name: str) -> set[str]:
        tags = self.dest.tags(name)
        self.phase.advance(1, repositories=1)
        return tags

    def current(
        self, candidates: Iterable[PlannedTag], written: Mapping[tuple[str, str], JournalManifest]
    ) -> dict[PlannedTag, str]:
        """The candidates the destination already has as this migration would write them,
        with what they point at (a manifest digest; a v1 image id)."""
        listed = list(candidates)
        self.phase.add_total(len(listed))
        jobs = [functools.partial(self._counted, one, written) for one in listed]
        found = run_threads(jobs, self.concurrency, threading.Event())
        return {one: digest for one, digest in zip(listed, found, strict=True) if digest}

    def _counted(
        self, one: PlannedTag, written: Mapping[tuple[str, str], JournalManifest]
    ) -> str | None:
        digest = self._check(one, written)
        self.phase.advance(1, tags_checked=1)
        return digest

    def _check(
        self, one: PlannedTag, written: Mapping[tuple[str, str], JournalManifest]
    ) -> str | None:
        try:
            known = written.get((one.dest_repo, one.dest_tag))
            if known is not None and known.image_id == one.image_id:
                # listed (the candidates are), written by us from this very image: the
                # journal's word, without a request; --repair checks it for real
                reused("%s: journal hit, %s is current", one.destination, known.digest)
                return known.digest
            if isinstance(self.dest, V1Side):
                return self._check_v1(self.dest, one)
            if self.source is None:
                return None
            return self._check_image(self.dest, self.source, one)
        except _UNREADABLE:
            return None

    def _check_v1(self, dest: V1Side, one: PlannedTag) -> str | None:
        """v1 image ids name their JSON and layer registry-wide: the tag pointing at the
        same id is the same image."""
        if dest.current(one.dest_repo, one.dest_tag) != one.image_id:
            return None
        self._written(one, one.image_id)
        return one.image_id

    def _check_image(self, dest: BlobStoreSide, source: Client, one: PlannedTag) -> str | None:
        name, reference = dest.reference(one.dest_repo, one.dest_tag)
        data = dest.read_manifest(name, reference)
        if data is None:
            return None
        manifest: dict[str, Any] = json.loads(data)
        config_digest = str(manifest["config"]["digest"])
        config: dict[str, Any] = json.loads(dest.read_blob(name, config_digest))
        diff_ids = [str(d) for d in config["rootfs"]["diff_ids"]]
        history = config["history"]
        layers = manifest["layers"]
        if len(history) != len(one.chain) or len(layers) != len(diff_ids):
            return None
        empty = [bool(entry.get("empty_layer")) for entry in history]
        if empty.count(False) != len(layers):
            return None
        metadata = [self._image_json(image_id, one.source_repo, source) for image_id in one.chain]
        revealed = iter(zip(layers, diff_ids, strict=True))
        blobs: list[LayerBlob] = []
        learned: list[tuple[str, str, LayerBlob]] = []
        origin = registry_origin(source)
        for image_id, is_empty, meta in zip(one.chain, empty, metadata, strict=True):
            key = BlobCache.key(image_id, meta.checksum, self.level)
            blob = self.journal.layer(key, origin) if self.journal is not None else None
            if is_empty:
                # An empty layer is not in the manifest: nothing about it to reveal.
                blobs.append(blob or _EMPTY)
                continue
            layer, diff_id = next(revealed)
            if blob is None:
                blob = _revealed(str(layer["digest"]), int(layer["size"]), diff_id)
                learned.append((key, image_id, blob))
            blobs.append(blob)
        image = convert_image(
            [m.json_bytes for m in metadata], blobs, manifest_format=dest.manifest_format
        )
        if image.manifest_digest != _sha256(data):
            return None
        if not all(self._has(dest, name, blob.digest) for blob in image.layers):
            return None
        if self.journal is not None:
            registry = dest.registry
            for key, image_id, blob in learned:
                self.journal.learned(key, image_id, blob, registry, one.dest_repo, origin=origin)
            for blob in image.layers:
                self.journal.placed(registry, one.dest_repo, blob.digest)
            self.journal.placed(registry, one.dest_repo, image.config_digest)
        self._written(one, image.manifest_digest)
        return image.manifest_digest

    def _written(self, one: PlannedTag, digest: str) -> None:
        if self.journal is not None:
            manifest = JournalManifest(
                one.dest_repo, one.dest_tag, digest, one.image_id, one.source
            )
            self.journal.manifest_written(self.dest.registry, manifest)

    def _has(self, dest: BlobStoreSide, name: str, digest: str) -> bool:
        with self._locks(f"blob:{name}@{digest}"):
            if (name, digest) not in self._blobs:
                size = dest.blob_size(name, digest)
                self._blobs[name, digest] = size is not None
            return self._blobs[name, digest]

    def _image_json(self, image_id: str, repo: str, source: Client) -> RawMetadata:
        """The JSON the plan's inventory kept in the journal, else the source's."""
        if self.journal is not None:
            kept = self.journal.source_image(registry_origin(source), image_id)
            if kept is not None:
                return kept
        with self._locks(f"json:{image_id}"):
            if image_id not in self._metadata:
                with self._locks(f"reader:{repo}"):
                    if repo not in self._readers:
                        self._readers[repo] = read_access(source, repo)
                self._metadata[image_id] = source.image.get_metadata_raw(
                    image_id, auth=self._readers[repo]
                )
            return self._metadata[image_id]


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _revealed(digest: str, size: int, diff_id: str) -> LayerBlob:
    """A layer blob as the destination shows it. How the source's layer was compressed
    and its uncompressed size are not shown; nothing a migration or a verify does
    reads them."""
    return LayerBlob(
        digest=digest,
        size=size,
        diff_id=diff_id,
        plain_size=0,
        source=Compression.GZIP,
        empty=False,
    )


_EMPTY = LayerBlob(
    digest=_sha256(b""),
    size=0,
    diff_id=_sha256(b""),
    plain_size=0,
    source=Compression.NONE,
    empty=True,
)
"""Stands for an empty layer while the expected image is rebuilt: it takes no part in
the manifest or the config's diff_ids."""
