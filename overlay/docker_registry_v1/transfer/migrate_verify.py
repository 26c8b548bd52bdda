"""Check a migration against the destination: every tag the journal says was written.

The expected image is rebuilt from the source's v1 JSON chain and the journal's layer
blobs, exactly as the migration built it. Since everything is content-addressed, a
destination tag whose manifest digest is the one the journal recorded (and the rebuilt
one) names exactly that config (with its ``rootfs.diff_ids``) and those layers. Every
(repository, blob) pair of every such tag is then looked up (HEAD, or the layout's
file), each pair once, ``jobs`` at a time, and each blob missing or of another size is
reported with the tag that needs it: `Mismatch` names the repository, the tag, the
blob's digest and what is wrong, which is what ``migrate --repair`` acts on.

The diff_ids themselves are checked against the source: the full check streams every
source layer again and hashes its uncompressed bytes; the fast one trusts the hashes
the journal recorded when the layer was migrated.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import TYPE_CHECKING, Final

import attrs

from ..core.errors import DockerRegistryError, NotFound
from ..engine.access import read_access
from ..engine.bounded import run_threads
from ..engine.journal import Journal, JournalManifest
from ..engine.layers import LayerFetch, iter_layer
from ..engine.sources import registry_origin
from ..formats.compress import DEFAULT_LEVEL, LayerBlob, LayerEncoder
from ..formats.convert import ManifestFormat, convert_image
from ..formats.errors import LayoutError
from ..oci.referrers import read_provenance
from .copy import RESTARTS, BlobCache, SourceRestartedError
from .migrate_run import Keyed
from .migrate_v1 import V1Side
from .mirror import LayerRestartError
from .phases import Phase, PhaseListener
from .retry import RetryPolicy, scoped, scoped_side

if TYPE_CHECKING:
    from ..core.models import RawMetadata
    from ..v1.auth import Authenticator
    from ..v1.client import Client
    from .migrate_plan import BlobStoreSide

__all__ = [
    "CONTENT_MISMATCH",
    "MANIFEST_CHANGED",
    "MISSING",
    "PROVENANCE_MISMATCH",
    "PROVENANCE_MISSING",
    "SIZE_MISMATCH",
    "TAG_MISSING",
    "UNCHECKED",
    "Mismatch",
    "VerifyReport",
    "verify_migration",
]

MISSING: Final = "missing"
"""A blob the tag needs (its config, a layer; a v1 image) is not in its repository."""
SIZE_MISMATCH: Final = "size mismatch"
"""The repository holds a blob of that digest with another size than the manifest's."""
MANIFEST_CHANGED: Final = "manifest changed"
"""The tag points at another manifest than the one the migration wrote."""
TAG_MISSING: Final = "tag missing"
"""The tag is gone."""
CONTENT_MISMATCH: Final = "content mismatch"
"""The destination's image is not what the source holds (a layer's diff_id, v1 JSON)."""
UNCHECKED: Final = "unchecked"
"""The tag could not be checked (the journal lacks a layer, a request failed)."""
PROVENANCE_MISSING: Final = "provenance missing"
"""The tag's manifest has no v1 provenance artifact (neither referrers API nor fallback tag)."""
PROVENANCE_MISMATCH: Final = "provenance mismatch"
"""The tag's provenance artifact names another v1 image or chain than the source's."""
_EXPECTED = (DockerRegistryError, LayoutError, OSError, ValueError)


@attrs.frozen
class Mismatch:
    """One thing wrong with one migrated tag: ``what`` (`MISSING`, `SIZE_MISMATCH`,
    `MANIFEST_CHANGED`, `TAG_MISSING`, `CONTENT_MISMATCH`, `UNCHECKED`) about the blob,
    manifest or v1 image ``digest`` (None when no single one is at fault), and the
    reason in words."""

    repository: str
    """The destination repository."""
    tag: str
    source: str
    """The source ``repository:tag`` the tag was migrated from."""
    what: str
    digest: str | None
    reason: str

    @property
    def destination(self) -> str:
        """``REPO:TAG`` at the destination."""
        return f"{self.repository}:{self.tag}"

    @property
    def lost(self) -> bool:
        """A blob the tag needs is not (whole) in its repository: what a repair sends
        again from the source."""
        return self.what in {MISSING, SIZE_MISMATCH} and self.digest is not None


@attrs.frozen
class VerifyReport:
    """How many tags were checked and what was wrong with them (one `Mismatch` per blob
    or tag at fault, so a tag missing two layers has two)."""

    checked: int
    mismatches: tuple[Mismatch, ...]
    layers_streamed: int
    seconds: float
    blobs_checked: int = 0
    """(repository, blob) pairs looked up at the destination, each once."""

    @property
    def ok(self) -> bool:
        """Some tag was checked and none was found wrong: a journal recording no
        migrated tag (another shard's, a wrong path) proves nothing, so it is not ok."""
        return self.checked > 0 and not self.mismatches

    @property
    def wrong_tags(self) -> tuple[tuple[str, str], ...]:
        """(repository, tag) of every tag with a mismatch, in report order, once each."""
        return tuple(dict.fromkeys((m.repository, m.tag) for m in self.mismatches))


@attrs.frozen
class _Expected:
    """A tag whose manifest is the migration's: the blobs it names, with their sizes."""

    written: JournalManifest
    name: str
    blobs: tuple[tuple[str, str, int], ...]
    """(role, digest, size): the config, then each layer."""


def _lost(lost: int) -> None:
    raise LayerRestartError("GET", "layer", f"the destination restarted after {lost} bytes")


class _Restarted(Exception):  # noqa: N818 - a signal: the bytes hashed so far are void
    pass


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


@attrs.define
class _Verifier:
    """The checks of one verify; its caches are shared by the threads checking tags."""

    source: Client
    dest: BlobStoreSide | V1Side
    journal: Journal
    fast: bool
    level: int
    policy: RetryPolicy
    provenance: bool = True
    metadata: dict[str, RawMetadata] = attrs.field(factory=dict)
    source_diff_ids: dict[str, str] = attrs.field(factory=dict)
    copied_layers: set[str] = attrs.field(factory=set)
    """v1 layers a v1 destination was found to hold byte for byte."""
    readers: dict[str, Authenticator | None] = attrs.field(factory=dict)
    streamed: int = 0
    locks: Keyed = attrs.field(factory=Keyed)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def reader(self, repo: str) -> Authenticator | None:
        """The source's read access to ``repo``, asked once."""
        with self.locks(f"reader:{repo}"):
            if repo not in self.readers:
                self.readers[repo] = read_access(self.source, repo)
            return self.readers[repo]

    def chain(self, repo: str, image_id: str) -> list[str]:
        auth = self.reader(repo)
        ancestry = self.source.image.get_ancestry(image_id, auth=auth)
        for one in ancestry:
            with self.locks(f"json:{one}"):
                if one not in self.metadata:
                    self.metadata[one] = self.source.image.get_metadata_raw(one, auth=auth)
        return list(reversed(ancestry))

    def source_diff_id(self, repo: str, image_id: str) -> str:
        """sha256 of the source layer's uncompressed bytes, streamed again (once)."""
        with self.locks(f"layer:{image_id}"):
            if image_id not in self.source_diff_ids:
                self.source_diff_ids[image_id] = self._stream(repo, image_id)
            return self.source_diff_ids[image_id]

    def _stream(self, repo: str, image_id: str) -> str:
        auth = self.reader(repo)
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
        with self.lock:
            self.streamed += 1
        return encoder.blob.diff_id

    def check_v1(self, dest: V1Side, written: JournalManifest) -> Mismatch | None:
        """A v1 destination: the tag names the image, every image of its chain is there
        with the source's JSON, and (full check) its layer has the source's bytes."""
        current = dest.current(written.repository, written.tag)
        if current != written.image_id:
            if current is None:
                return _wrong(written, TAG_MISSING, written.image_id, "the tag is missing")
            return _wrong(
                written,
                MANIFEST_CHANGED,
                current,
                f"the tag points at {current[:12]}, not at {written.image_id[:12]}",
            )
        for image_id in self.chain(written.source.rpartition(":")[0], written.image_id):
            try:
                found = dest.client.image.get_metadata_raw(image_id)
            except NotFound:
                return _wrong(written, MISSING, image_id, f"image {image_id[:12]} is missing")
            if found.json_bytes != self.metadata[image_id].json_bytes:
                return _wrong(
                    written,
                    CONTENT_MISMATCH,
                    image_id,
                    f"image {image_id[:12]}: its JSON differs from the source's",
                )
            if not self.fast:
                with self.locks(f"copied:{image_id}"):
                    if image_id not in self.copied_layers:
                        # checked against the source's size and payload checksum as it streams
                        fetch = LayerFetch(
                            image_id, self.metadata[image_id], None, self.policy, _lost
                        )
                        for _chunk in iter_layer(dest.client, fetch):
                            pass
                        with self.lock:
                            self.streamed += 1
                        self.copied_layers.add(image_id)
        return None

    def expect(self, dest: BlobStoreSide, written: JournalManifest) -> _Expected | Mismatch:
        """The blobs the tag's manifest names, once that manifest is found to be the one
        the journal recorded and the source still builds; else what is wrong."""
        repo = written.source.rpartition(":")[0]
        chain = self.chain(repo, written.image_id)
        blobs = []
        for image_id in chain:
            key = BlobCache.key(image_id, self.metadata[image_id].checksum, self.level)
            blob = self.journal.layer(key, registry_origin(self.source))
            if blob is None:
                return _wrong(
                    written, UNCHECKED, None, f"the journal has no blob for layer {image_id[:12]}"
                )
            if not blob.empty and not self.fast:
                found = self.source_diff_id(repo, image_id)
                if found != blob.diff_id:
                    return _wrong(
                        written,
                        CONTENT_MISMATCH,
                        blob.digest,
                        f"layer {image_id[:12]}: the source's uncompressed layer is {found}, "
                        f"the image's diff_id says {blob.diff_id}",
                    )
            blobs.append(blob)
        images = [
            convert_image([self.metadata[i].json_bytes for i in chain], blobs, manifest_format=f)
            for f in ManifestFormat
        ]
        name, reference = dest.reference(written.repository, written.tag)
        accept = [f.value.manifest for f in ManifestFormat]
        current = dest.manifest_digest(name, reference, accept=accept)
        if current is None:
            return _wrong(written, TAG_MISSING, written.digest, "the tag is missing")
        image = next((i for i in images if i.manifest_digest == current), None)
        if image is None:
            return _wrong(
                written,
                MANIFEST_CHANGED,
                current,
                f"the tag points at {current}, not at the manifest of {written.image_id[:12]}",
            )
        if self.provenance:
            wrong = self.check_provenance(dest, written, name, current, chain, blobs)
            if wrong is not None:
                return wrong
        layers = [("layer", blob.digest, blob.size) for blob in image.layers]
        return _Expected(
            written, name, (("config", image.config_digest, len(image.config)), *layers)
        )

    def check_provenance(  # noqa: PLR0917 - the tag as expect() found it
        self,
        dest: BlobStoreSide,
        written: JournalManifest,
        name: str,
        digest: str,
        chain: list[str],
        blobs: list[LayerBlob],
    ) -> Mismatch | None:
        """The manifest ``digest`` has a provenance artifact naming the tag's v1 image:
        the same chain, base first, with the source's JSON byte for byte and each layer's
        blob; else what is wrong."""
        records = read_provenance(dest.referrers_target, name, digest)
        if not records:
            return _wrong(
                written,
                PROVENANCE_MISSING,
                digest,
                "no v1 provenance artifact refers to the manifest (referrers API or fallback tag)",
            )
        top = [r for r in records if r.top.id == written.image_id]
        if not top:
            found = ", ".join(r.top.id[:12] for r in records)
            return _wrong(
                written,
                PROVENANCE_MISMATCH,
                digest,
                f"the provenance artifact names v1 image {found}, not {written.image_id[:12]}",
            )
        for record in top:
            if [i.id for i in record.images] == chain and all(
                i.json == self.metadata[i.id].json_bytes
                and (i.layer.digest is None or i.layer.digest == blob.digest)
                for i, blob in zip(record.images, blobs, strict=True)
            ):
                return None
        return _wrong(
            written,
            PROVENANCE_MISMATCH,
            digest,
            f"the provenance artifact of {written.image_id[:12]} does not hold the source's "
            "chain (ids, v1 JSON or layer digests differ)",
        )

    def blob_size(self, dest: BlobStoreSide, name: str, digest: str) -> int | str | None:
        """The blob's size in ``name`` (None: absent), or why it could not be asked."""
        try:
            return dest.blob_size(name, digest)
        except _EXPECTED as error:
            return _reason(error)


def _wrong(written: JournalManifest, what: str, digest: str | None, reason: str) -> Mismatch:
    return Mismatch(written.repository, written.tag, written.source, what, digest, reason)


def _blob_mismatches(
    expected: _Expected, found: dict[tuple[str, str], int | str | None]
) -> list[Mismatch]:
    """Every blob of the tag that is absent or of another size (or could not be asked)."""
    wrong = []
    for role, digest, size in expected.blobs:
        answer = found[expected.name, digest]
        if answer is None:
            wrong.append(_wrong(expected.written, MISSING, digest, f"the {role} blob is missing"))
        elif isinstance(answer, str):
            reason = f"the {role} blob could not be looked up: {answer}"
            wrong.append(_wrong(expected.written, UNCHECKED, digest, reason))
        elif answer != size:
            reason = f"the {role} blob is {answer} bytes there, the manifest says {size}"
            wrong.append(_wrong(expected.written, SIZE_MISMATCH, digest, reason))
    return wrong


def verify_migration(
    source: Client,
    dest: BlobStoreSide | V1Side,
    journal: Journal,
    *,
    fast: bool = False,
    level: int = DEFAULT_LEVEL,
    retry: RetryPolicy | None = None,
    jobs: int = 8,
    phases: PhaseListener | None = None,
    provenance: bool = True,
) -> VerifyReport:
    """Check every tag the journal recorded as written into ``dest``.

    A journal recording none gives a report with ``checked == 0`` whose ``ok`` is
    false: nothing verified is not a pass.

    ``fast`` skips re-reading the source's layers and compares against the diff_ids
    the journal recorded. ``level`` must be the one the migration used (the blob
    digests depend on it). ``jobs`` bounds the tags checked and the blobs looked up at
    once: each (repository, blob) pair is asked once, however many tags share it.

    ``phases`` hears the ``"verify"`` phase (:mod:`.phases`): ``done``/``total`` count
    the tags checked, then (the total grows by them once the tags say which blobs they
    need) the blobs looked up; ``tags_checked`` and ``blobs_checked`` count each kind.

    ``provenance`` (v2 registries and OCI layouts): each tag's manifest must have its v1
    provenance artifact, naming the tag's v1 image and chain (`PROVENANCE_MISSING`,
    `PROVENANCE_MISMATCH` otherwise); off for a migration run with it off.
    """
    started = time.monotonic()
    source, dest = scoped(source, retry), scoped_side(dest, retry)
    verifier = _Verifier(source, dest, journal, fast, level, source.retry, provenance)
    written = journal.manifests(dest.registry)
    phase = Phase(phases, "verify", len(written), counts=("tags_checked", "blobs_checked")).start()

    def check(one: JournalManifest) -> _Expected | Mismatch | None:
        try:
            if isinstance(dest, V1Side):
                return verifier.check_v1(dest, one)
            return verifier.expect(dest, one)
        except _EXPECTED as error:
            return _wrong(one, UNCHECKED, None, _reason(error))
        finally:
            phase.advance(1, tags_checked=1)

    def looked_up(side: BlobStoreSide, name: str, digest: str) -> int | str | None:
        size = verifier.blob_size(side, name, digest)
        phase.advance(1, blobs_checked=1)
        return size

    stop = threading.Event()
    results = run_threads([functools.partial(check, one) for one in written], jobs, stop)
    expected = [r for r in results if isinstance(r, _Expected)]
    pairs = list(dict.fromkeys((e.name, digest) for e in expected for _, digest, _ in e.blobs))
    found: dict[tuple[str, str], int | str | None] = {}
    if pairs and not isinstance(dest, V1Side):
        phase.add_total(len(pairs))
        sizes = run_threads(
            [functools.partial(looked_up, dest, name, d) for name, d in pairs], jobs, stop
        )
        found = dict(zip(pairs, sizes, strict=True))
    phase.finish()
    mismatches: list[Mismatch] = []
    for result in results:
        if isinstance(result, Mismatch):
            mismatches.append(result)
        elif isinstance(result, _Expected):
            mismatches.extend(_blob_mismatches(result, found))
    return VerifyReport(
        checked=len(written),
        mismatches=tuple(mismatches),
        layers_streamed=verifier.streamed,
        seconds=round(time.monotonic() - started, 3),
        blobs_checked=len(pairs),
    )
