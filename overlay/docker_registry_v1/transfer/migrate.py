"""Migrate a planned set of v1 tags into a v2 registry or an OCI layout, deduplicated.

Work is shared across the whole run, not per tag: each v1 image's layer is read from
the source at most once (the first tag that needs it streams it, compressed on the
fly, into its repository; a tag needing it meanwhile waits for that upload and then
mounts the blob with ``?mount=&from=``), each blob is uploaded at most once per
destination, and a tag's manifest goes up only after its config and every layer are
confirmed in that repository. Bounds are global: ``jobs`` layers streaming at once,
``repositories_in_flight`` repositories in progress, nothing staged on disk.

The journal makes it resumable: a blob it knows is looked for at the destination
(HEAD, then a mount from a repository that holds it) before the source is touched,
so a rerun after Ctrl-C, a crash or ``kill -9`` sends nothing that landed. Rerunning
is all ``--resume`` means.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal, Protocol

import attrs

from ..archive import validate_ancestry
from ..auth import Authenticator
from ..errors import DockerRegistryError, InvalidInput
from ..models import RawMetadata
from ..oci.compress import DEFAULT_LEVEL, EncodedLayer, LayerBlob
from ..oci.convert import convert_image
from ..oci.layout import LayoutError
from .access import read_access
from .bounded import Stopped, run_threads
from .copy import RESTARTS, BlobCache, SourceRestartedError, _check_level, _SourceRestarted
from .journal import Journal, JournalManifest
from .layers import LayerFetch, iter_layer
from .migrate_plan import MigrationPlan, PlannedTag, TagState, Target
from .retry import RetryPolicy

if TYPE_CHECKING:
    from ..client import Client

__all__ = [
    "MigrationListener",
    "MigrationReport",
    "SilentMigration",
    "TagOutcome",
    "migrate",
]

Status = Literal["copied", "current", "exists", "failed", "pending"]


@attrs.frozen
class TagOutcome:
    """What became of one planned tag."""

    source: str
    destination: str
    status: Status
    """``copied`` (written, or found already pointing at the right manifest), ``current``
    (the plan found it done), ``exists`` (skipped: the destination has the tag),
    ``failed`` (see ``reason``), ``pending`` (not attempted: the run was aborted)."""
    digest: str | None = None
    reason: str | None = None


class MigrationListener(Protocol):
    """Progress of a migration; called from worker threads."""

    def started(self, tags: int, nbytes: int) -> None:
        """The run begins: ``tags`` planned, about ``nbytes`` of layers to read."""

    def layer_started(self, image_id: str, size: int | None) -> None:
        """A layer starts streaming from the source."""

    def layer_advanced(self, image_id: str, nbytes: int) -> None:
        """More bytes of the layer were read (negative: a restart took them back)."""

    def layer_finished(self, image_id: str) -> None:
        """The layer's blob is uploaded."""

    def tag_finished(self, outcome: TagOutcome) -> None:
        """A tag is done, one way or another."""


class SilentMigration:
    """A listener that ignores everything."""

    def started(self, tags: int, nbytes: int) -> None:
        """Nothing to show."""

    def layer_started(self, image_id: str, size: int | None) -> None:
        """Nothing to show."""

    def layer_advanced(self, image_id: str, nbytes: int) -> None:
        """Nothing to show."""

    def layer_finished(self, image_id: str) -> None:
        """Nothing to show."""

    def tag_finished(self, outcome: TagOutcome) -> None:
        """Nothing to show."""


@attrs.frozen
class MigrationReport:
    """Every tag's outcome and what moved (bytes as the destination's blobs count them,
    except ``bytes_read``: the v1 layer bytes read from the source)."""

    source: str
    destination: str
    outcomes: tuple[TagOutcome, ...]
    repositories: int
    images_read: int
    bytes_read: int
    blobs_uploaded: int
    bytes_uploaded: int
    blobs_skipped: int
    bytes_skipped: int
    blobs_mounted: int
    bytes_mounted: int
    seconds: float
    aborted: bool

    @property
    def failures(self) -> tuple[TagOutcome, ...]:
        """The tags that failed or were not attempted."""
        return tuple(o for o in self.outcomes if o.status in {"failed", "pending"})

    @property
    def ok(self) -> bool:
        """Every tag is where it should be."""
        return not self.failures


@attrs.define
class _Counters:
    images_read: int = 0
    bytes_read: int = 0
    uploaded: int = 0
    bytes_uploaded: int = 0
    skipped: int = 0
    bytes_skipped: int = 0
    mounted: int = 0
    bytes_mounted: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)


class _Keyed:
    """One lock per key, so work on one image or blob is done by one thread at a time
    while the others wait for its outcome."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    def __call__(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks[key]


@attrs.define
class _Run:
    source: Client
    dest: Target
    journal: Journal
    jobs: int
    level: int
    policy: RetryPolicy
    listener: MigrationListener
    stop: threading.Event
    slots: threading.Semaphore
    counters: _Counters = attrs.field(factory=_Counters)
    metadata: dict[str, RawMetadata] = attrs.field(factory=dict)
    readers: dict[str, Authenticator | None] = attrs.field(factory=dict)
    present: set[tuple[str, str]] = attrs.field(factory=set)
    """(repository, digest) confirmed at the destination during this run."""
    image_locks: _Keyed = attrs.field(factory=_Keyed)
    blob_locks: _Keyed = attrs.field(factory=_Keyed)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    @property
    def registry(self) -> str:
        return self.dest.registry

    def reader(self, repo: str) -> Authenticator | None:
        with self.image_locks(f"reader:{repo}"):
            if repo not in self.readers:
                self.readers[repo] = read_access(self.source, repo, self.policy)
            return self.readers[repo]

    def image_json(self, image_id: str, repo: str) -> RawMetadata:
        with self.image_locks(f"json:{image_id}"):
            if image_id not in self.metadata:
                self.metadata[image_id] = self.policy.call(
                    self.source.image.get_metadata_raw, image_id, auth=self.reader(repo)
                )
            return self.metadata[image_id]

    def key(self, image_id: str) -> str:
        return BlobCache.key(image_id, self.metadata[image_id].checksum, self.level)

    def layer(self, planned: PlannedTag, image_id: str, stop: threading.Event) -> LayerBlob:
        """The image's blob, confirmed in ``planned.dest_repo`` (or empty)."""
        repo = planned.dest_repo
        with self.image_locks(image_id):
            blob = self.journal.layer(self.key(image_id))
            if blob is None:
                return self.send(planned, image_id, stop)
        if not blob.empty:
            self.ensure(repo, blob.digest, blob.size, lambda: self.send(planned, image_id, stop))
        return blob

    def ensure(self, repo: str, digest: str, size: int, upload: Callable[[], object]) -> None:
        """Make the destination repository hold the blob: there already (HEAD), mounted
        from a repository the journal says holds it, or else ``upload()``."""
        with self.blob_locks(digest):
            if (repo, digest) in self.present:
                return
            name, _ = self.dest.reference(repo, "latest")
            if self.dest.blob_size(name, digest) is not None:
                self.counters.add(skipped=1, bytes_skipped=size)
            elif self.mount(repo, name, digest):
                self.counters.add(mounted=1, bytes_mounted=size)
            else:
                upload()
            self.confirm(repo, digest)

    def mount(self, repo: str, name: str, digest: str) -> bool:
        for other in self.journal.places(self.registry, digest):
            if other == repo:
                continue
            other_name, _ = self.dest.reference(other, "latest")
            if self.policy.call(self.dest.mount_blob, name, digest, other_name):
                return True
        return False

    def confirm(self, repo: str, digest: str) -> None:
        self.journal.placed(self.registry, repo, digest)
        with self.lock:
            self.present.add((repo, digest))

    def send(self, planned: PlannedTag, image_id: str, stop: threading.Event) -> LayerBlob:
        """Stream the v1 layer from the source, compressed, into the tag's repository."""
        repo = planned.dest_repo
        name, _ = self.dest.reference(repo, "latest")
        metadata = self.metadata[image_id]
        auth = self.reader(planned.source_repo)
        failures = 0
        with self.slots:
            self.listener.layer_started(image_id, metadata.size)
            while True:
                fetch = LayerFetch(image_id, metadata, auth, self.policy, self._restarted(image_id))
                encoded = EncodedLayer(
                    self._counted(image_id, iter_layer(self.source, fetch), stop),
                    level=self.level,
                    where=f"layer of {image_id[:12]}",
                )
                try:
                    self.dest.upload_blob(name, self._learned(encoded, image_id, repo))
                    break
                except _SourceRestarted as error:
                    failures += 1
                    if failures > RESTARTS:
                        raise SourceRestartedError(image_id) from error
                except DockerRegistryError as error:
                    failures += 1
                    wait = self.policy.delay(failures, error)
                    if wait is None:
                        raise
                    self.listener.layer_advanced(image_id, -fetch.received)
                    time.sleep(wait)
            self.listener.layer_finished(image_id)
        blob = encoded.blob
        self.counters.add(images_read=1, uploaded=1, bytes_uploaded=blob.size)
        if not blob.empty:
            self.confirm(repo, blob.digest)
        return blob

    def _restarted(self, image_id: str) -> Callable[[int], None]:
        def restarted(lost: int) -> None:
            self.listener.layer_advanced(image_id, -lost)
            raise _SourceRestarted

        return restarted

    def _counted(
        self, image_id: str, chunks: Iterator[bytes], stop: threading.Event
    ) -> Iterator[bytes]:
        for chunk in chunks:
            if stop.is_set() or self.stop.is_set():
                raise Stopped
            self.counters.add(bytes_read=len(chunk))
            self.listener.layer_advanced(image_id, len(chunk))
            yield chunk

    def _learned(self, encoded: EncodedLayer, image_id: str, repo: str) -> Iterator[bytes]:
        """The blob's bytes; once the last is out (before the upload is committed) the
        journal learns the digest, so a crash after the commit cannot cause a resend."""
        yield from encoded
        self.journal.learned(self.key(image_id), image_id, encoded.blob, self.registry, repo)

    def tag(self, planned: PlannedTag) -> TagOutcome:
        """Migrate one tag: layers, config, then the manifest."""
        chain = planned.chain
        metadata = [self.image_json(image_id, planned.source_repo) for image_id in chain]
        validate_ancestry(list(reversed(chain)), planned.image_id)
        stop = threading.Event()
        if self.stop.is_set():
            raise Stopped
        layers = run_threads(
            [functools.partial(self.layer, planned, image_id, stop) for image_id in chain],
            self.jobs,
            stop,
        )
        image = convert_image(
            [m.json_bytes for m in metadata], layers, manifest_format=self.dest.manifest_format
        )
        name, reference = self.dest.reference(planned.dest_repo, planned.dest_tag)

        def upload_config() -> None:
            self.journal.intend(self.registry, planned.dest_repo, image.config_digest)
            self.policy.call(self.dest.upload_blob, name, image.config, digest=image.config_digest)
            self.counters.add(uploaded=1, bytes_uploaded=len(image.config))

        self.ensure(planned.dest_repo, image.config_digest, len(image.config), upload_config)
        accept = [image.media_type]
        current = self.policy.call(self.dest.manifest_digest, name, reference, accept=accept)
        if current != image.manifest_digest:
            self.policy.call(
                self.dest.put_manifest, name, reference, image.manifest, image.media_type
            )
        self.journal.manifest_written(
            self.registry,
            JournalManifest(
                planned.dest_repo,
                planned.dest_tag,
                image.manifest_digest,
                planned.image_id,
                planned.source,
            ),
        )
        return TagOutcome(
            planned.source, planned.destination, "copied", digest=image.manifest_digest
        )


_MOST = 64
"""The largest ``jobs`` and ``repositories_in_flight`` accepted."""
_EXPECTED = (DockerRegistryError, LayoutError, OSError, ValueError)


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def migrate(
    source: Client,
    dest: Target,
    plan: MigrationPlan,
    *,
    journal: Journal,
    jobs: int = 8,
    repositories_in_flight: int = 4,
    on_error: Literal["continue", "abort"] = "continue",
    level: int = DEFAULT_LEVEL,
    retry: RetryPolicy | None = None,
    progress: MigrationListener | None = None,
) -> MigrationReport:
    """Carry out ``plan`` from the v1 registry ``source`` into ``dest``.

    A failed tag is recorded (journal and report) with its reason; with
    ``on_error="continue"`` the others go on, with ``"abort"`` the run stops and the
    tags not yet attempted are reported ``pending``. Ctrl-C stops at once; every fact
    learned so far is already in the journal.
    """
    for what, value in (("jobs", jobs), ("repositories_in_flight", repositories_in_flight)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MOST:
            raise InvalidInput(what, f"expected an integer from 1 to {_MOST}")
    if on_error not in {"continue", "abort"}:
        raise InvalidInput("on_error", "expected 'continue' or 'abort'")
    started = time.monotonic()
    listener = progress or SilentMigration()
    run = _Run(
        source=source,
        dest=dest,
        journal=journal,
        jobs=jobs,
        level=_check_level(level),
        policy=retry or RetryPolicy(),
        listener=listener,
        stop=threading.Event(),
        slots=threading.Semaphore(jobs),
    )
    outcomes: dict[PlannedTag, TagOutcome] = {}
    for planned in plan.tags:
        if planned.state is not TagState.COPY:
            status: Status = "current" if planned.state is TagState.CURRENT else "exists"
            outcomes[planned] = TagOutcome(
                planned.source, planned.destination, status, digest=planned.digest
            )
    listener.started(len(plan.tags), plan.bytes_to_move)
    for outcome in outcomes.values():
        listener.tag_finished(outcome)
    by_repo: dict[str, list[PlannedTag]] = defaultdict(list)
    for planned in plan.to_copy:
        by_repo[planned.source_repo].append(planned)
    aborted = threading.Event()

    def repository(tags: list[PlannedTag]) -> None:
        for planned in tags:
            if aborted.is_set():
                return
            try:
                outcome = run.tag(planned)
            except Stopped:
                if aborted.is_set():
                    return
                raise
            except _EXPECTED as error:
                reason = _reason(error)
                journal.failed(run.registry, planned.dest_repo, planned.dest_tag, reason)
                outcome = TagOutcome(planned.source, planned.destination, "failed", reason=reason)
                if on_error == "abort":
                    aborted.set()
                    run.stop.set()
            with run.lock:
                outcomes[planned] = outcome
            listener.tag_finished(outcome)

    try:
        run_threads(
            [functools.partial(repository, tags) for tags in by_repo.values()],
            repositories_in_flight,
            threading.Event(),
        )
    except Stopped:
        if not aborted.is_set():
            raise
    final = tuple(
        outcomes.get(planned)
        or TagOutcome(planned.source, planned.destination, "pending", reason="not attempted")
        for planned in plan.tags
    )
    counters = run.counters
    return MigrationReport(
        source=plan.source,
        destination=plan.destination,
        outcomes=final,
        repositories=plan.repositories,
        images_read=counters.images_read,
        bytes_read=counters.bytes_read,
        blobs_uploaded=counters.uploaded,
        bytes_uploaded=counters.bytes_uploaded,
        blobs_skipped=counters.skipped,
        bytes_skipped=counters.bytes_skipped,
        blobs_mounted=counters.mounted,
        bytes_mounted=counters.bytes_mounted,
        seconds=round(time.monotonic() - started, 3),
        aborted=aborted.is_set(),
    )
