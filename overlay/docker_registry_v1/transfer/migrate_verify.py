"""Check a migration against the destination: every tag the journal says was written.

The expected image is rebuilt from the source's v1 JSON chain and the journal's layer
blobs, exactly as the migration built it. Since everything is content-addressed, a
destination tag whose manifest digest equals the rebuilt one names exactly that
config (with its ``rootfs.diff_ids``) and those layers; each of them is then looked
up (HEAD). The diff_ids themselves are checked against the source: the full check
streams every source layer again and hashes its uncompressed bytes; the fast one
trusts the hashes the journal recorded when the layer was migrated.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import attrs

from ..core.errors import DockerRegistryError, NotFound
from ..engine.access import read_access
from ..engine.journal import Journal, JournalManifest
from ..engine.layers import LayerFetch, iter_layer
from ..engine.sources import registry_origin
from ..formats.compress import DEFAULT_LEVEL, LayerEncoder
from ..formats.convert import ManifestFormat, convert_image
from ..formats.layout import LayoutError
from .copy import RESTARTS, BlobCache, SourceRestartedError
from .migrate_v1 import V1Side
from .mirror import LayerRestartError
from .retry import RetryPolicy, scoped, scoped_side

if TYPE_CHECKING:
    from ..core.models import RawMetadata
    from ..v1.client import Client
    from .migrate_plan import BlobStoreSide

__all__ = ["Mismatch", "VerifyReport", "verify_migration"]


@attrs.frozen
class Mismatch:
    """One migrated tag that is not what the source says it should be."""

    destination: str
    source: str
    reason: str


@attrs.frozen
class VerifyReport:
    """How many tags were checked and what was wrong with them."""

    checked: int
    mismatches: tuple[Mismatch, ...]
    layers_streamed: int
    seconds: float

    @property
    def ok(self) -> bool:
        """Some tag was checked and none was found wrong: a journal recording no
        migrated tag (another shard's, a wrong path) proves nothing, so it is not ok."""
        return self.checked > 0 and not self.mismatches


def _lost(lost: int) -> None:
    raise LayerRestartError("GET", "layer", f"the destination restarted after {lost} bytes")


class _Restarted(Exception):  # noqa: N818 - a signal: the bytes hashed so far are void
    pass


@attrs.define
class _Verifier:
    source: Client
    dest: BlobStoreSide | V1Side
    journal: Journal
    fast: bool
    level: int
    policy: RetryPolicy
    metadata: dict[str, RawMetadata] = attrs.field(factory=dict)
    source_diff_ids: dict[str, str] = attrs.field(factory=dict)
    copied_layers: set[str] = attrs.field(factory=set)
    """v1 layers a v1 destination was found to hold byte for byte."""
    streamed: int = 0

    def chain(self, repo: str, image_id: str) -> list[str]:
        auth = read_access(self.source, repo)
        ancestry = self.source.image.get_ancestry(image_id, auth=auth)
        for one in ancestry:
            if one not in self.metadata:
                self.metadata[one] = self.source.image.get_metadata_raw(one, auth=auth)
        return list(reversed(ancestry))

    def source_diff_id(self, repo: str, image_id: str) -> str:
        """sha256 of the source layer's uncompressed bytes, streamed again."""
        if image_id not in self.source_diff_ids:
            auth = read_access(self.source, repo)
            for _attempt in range(RESTARTS + 1):
                encoder = LayerEncoder(level=self.level, where=f"layer of {image_id[:12]}")

                def restarted(_lost: int) -> None:
                    raise _Restarted

                fetch = LayerFetch(image_id, self.metadata[image_id], auth, self.policy, restarted)
                try:
                    for chunk in iter_layer(self.source, fetch):
                        encoder.feed(chunk)
                except _Restarted:
                    continue
                encoder.finish()
                break
            else:
                raise SourceRestartedError(image_id)
            self.streamed += 1
            self.source_diff_ids[image_id] = encoder.blob.diff_id
        return self.source_diff_ids[image_id]

    def check_v1(self, dest: V1Side, written: JournalManifest) -> str | None:
        """A v1 destination: the tag names the image, every image of its chain is there
        with the source's JSON, and (full check) its layer has the source's bytes."""
        current = dest.current(written.repository, written.tag)
        if current != written.image_id:
            if current is None:
                return "the tag is missing"
            return f"the tag points at {current[:12]}, not at {written.image_id[:12]}"
        for image_id in self.chain(written.source.rpartition(":")[0], written.image_id):
            try:
                found = dest.client.image.get_metadata_raw(image_id)
            except NotFound:
                return f"image {image_id[:12]} is missing"
            if found.json_bytes != self.metadata[image_id].json_bytes:
                return f"image {image_id[:12]}: its JSON differs from the source's"
            if not self.fast and image_id not in self.copied_layers:
                # checked against the source's size and payload checksum as it streams
                fetch = LayerFetch(image_id, self.metadata[image_id], None, self.policy, _lost)
                for _chunk in iter_layer(dest.client, fetch):
                    pass
                self.streamed += 1
                self.copied_layers.add(image_id)
        return None

    def check(self, written: JournalManifest) -> str | None:
        """Why the tag is wrong, or None."""
        if isinstance(self.dest, V1Side):
            return self.check_v1(self.dest, written)
        repo = written.source.rpartition(":")[0]
        chain = self.chain(repo, written.image_id)
        blobs = []
        for image_id in chain:
            key = BlobCache.key(image_id, self.metadata[image_id].checksum, self.level)
            blob = self.journal.layer(key, registry_origin(self.source))
            if blob is None:
                return f"the journal has no blob for layer {image_id[:12]}"
            if not blob.empty and not self.fast:
                found = self.source_diff_id(repo, image_id)
                if found != blob.diff_id:
                    return (
                        f"layer {image_id[:12]}: the source's uncompressed layer is {found}, "
                        f"the image's diff_id says {blob.diff_id}"
                    )
            blobs.append(blob)
        images = [
            convert_image([self.metadata[i].json_bytes for i in chain], blobs, manifest_format=f)
            for f in ManifestFormat
        ]
        name, reference = self.dest.reference(written.repository, written.tag)
        accept = [f.value.manifest for f in ManifestFormat]
        current = self.dest.manifest_digest(name, reference, accept=accept)
        if current is None:
            return "the tag is missing"
        image = next((i for i in images if i.manifest_digest == current), None)
        if image is None:
            return f"the tag points at {current}, not at the manifest of {written.image_id[:12]}"
        if self.dest.blob_size(name, image.config_digest) is None:
            return f"config {image.config_digest} is missing"
        for blob in image.layers:
            if self.dest.blob_size(name, blob.digest) is None:
                return f"layer blob {blob.digest} is missing"
        return None


def verify_migration(
    source: Client,
    dest: BlobStoreSide | V1Side,
    journal: Journal,
    *,
    fast: bool = False,
    level: int = DEFAULT_LEVEL,
    retry: RetryPolicy | None = None,
) -> VerifyReport:
    """Check every tag the journal recorded as written into ``dest``.

    A journal recording none gives a report with ``checked == 0`` whose ``ok`` is
    false: nothing verified is not a pass.

    ``fast`` skips re-reading the source's layers and compares against the diff_ids
    the journal recorded. ``level`` must be the one the migration used (the blob
    digests depend on it).
    """
    started = time.monotonic()
    source, dest = scoped(source, retry), scoped_side(dest, retry)
    verifier = _Verifier(source, dest, journal, fast, level, source.retry)
    mismatches = []
    written = journal.manifests(dest.registry)
    for one in written:
        try:
            reason = verifier.check(one)
        except (DockerRegistryError, LayoutError, OSError, ValueError) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
        if reason is not None:
            mismatches.append(Mismatch(f"{one.repository}:{one.tag}", one.source, reason))
    return VerifyReport(
        checked=len(written),
        mismatches=tuple(mismatches),
        layers_streamed=verifier.streamed,
        seconds=round(time.monotonic() - started, 3),
    )
