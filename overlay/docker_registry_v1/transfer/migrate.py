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
from typing import TYPE_CHECKING, Literal

import attrs

from ..core.errors import DockerRegistryError, InvalidInput
from ..core.httplog import reused
from ..engine.bounded import Stopped, run_threads
from ..engine.destinations import mount_known
from ..engine.journal import Journal, JournalManifest
from ..engine.pipeline import PipelinedLayer
from ..engine.run import Feed
from ..engine.sources import v1_layer
from ..formats.archive import validate_ancestry
from ..formats.compress import DEFAULT_LEVEL, LayerBlob
from ..formats.convert import convert_image
from ..formats.layout import LayoutError
from .copy import BlobCache, check_level
from .migrate_plan import MigrationPlan, PlannedTag, TagState, Target
from .migrate_run import (
    ImageFault,
    Keyed,
    MigrationListener,
    RunSettings,
    SharedRun,
    SilentMigration,
    Status,
    TagOutcome,
)
from .migrate_v1 import V1Run, V1Target
from .retry import RetryPolicy, scoped, scoped_target, unretried_target

if TYPE_CHECKING:
    from ..v1.client import Client

__all__ = [
    "MigrationListener",
    "MigrationReport",
    "SilentMigration",
    "TagOutcome",
    "migrate",
]


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
    def failed(self) -> tuple[TagOutcome, ...]:
        """The tags that failed, each with its ``repository``, ``tag``, ``image`` and
        ``reason``: a rerun on the same journal tries exactly these (and any pending)."""
        return tuple(o for o in self.outcomes if o.status == "failed")

    @property
    def ok(self) -> bool:
        """Every tag is where it should be."""
        return not self.failures


@attrs.define(kw_only=True)
class _Run(SharedRun):
    """A run into a blob store: a v2 registry or an OCI layout."""

    dest: Target
    present: set[tuple[str, str]] = attrs.field(factory=set)
    """(repository, digest) confirmed at the destination during this run."""
    blob_locks: Keyed = attrs.field(factory=Keyed)

    @property
    def registry(self) -> str:
        return self.dest.registry

    def key(self, image_id: str) -> str:
        return BlobCache.key(image_id, self.metadata[image_id].checksum, self.level)

    def layer(self, planned: PlannedTag, image_id: str, stop: threading.Event) -> LayerBlob:
        """The image's blob, confirmed in ``planned.dest_repo`` (or empty)."""
        repo = planned.dest_repo
        with self.image_locks(image_id):
            blob = self.journal.layer(self.key(image_id), self.origin)
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
                reused("blob %s: journal hit, already in %s (HEAD)", digest, name)
                self.counters.add(skipped=1, bytes_skipped=size)
            elif self.mount(repo, digest):
                reused("blob %s: journal hit, mounted into %s", digest, name)
                self.counters.add(mounted=1, bytes_mounted=size)
            else:
                upload()
            self.confirm(repo, digest)

    def mount(self, repo: str, digest: str) -> bool:
        """Mount the blob from a repository the journal says holds it. A refusal (no
        access to that repository, none there, or an upload session instead) is
        journaled, so neither this run nor a rerun asks that repository again, and
        the next one is tried; after the last, the caller uploads."""
        return mount_known(
            self.journal,
            self.dest,
            self.registry,
            repo,
            digest,
            name=lambda one: self.dest.reference(one, "latest")[0],
        )

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

        def learned(blob: LayerBlob) -> None:
            self.journal.learned(
                self.key(image_id), image_id, blob, self.registry, repo, origin=self.origin
            )

        def converted(chunks: Iterator[bytes]) -> LayerBlob:
            where = f"layer of {image_id[:12]}"
            with PipelinedLayer(chunks, level=self.level, where=where) as encoded:
                # `Feed` retries the upload as a whole: its requests go once
                unretried_target(self.dest).upload_blob(name, _Journaled(encoded, learned))
            return encoded.blob

        layer = v1_layer(self.source, image_id, metadata, None, auth, self.policy)
        with self.slots:
            self.listener.layer_started(image_id, metadata.size)
            blob = Feed(layer, _Counted(self), self.policy, stop).send(converted)
            self.listener.layer_finished(image_id)
        self.counters.add(images_read=1, uploaded=1, bytes_uploaded=blob.size)
        if not blob.empty:
            self.confirm(repo, blob.digest)
        return blob

    def charged(self, planned: PlannedTag, image_id: str, stop: threading.Event) -> LayerBlob:
        """`layer`, its failure charged to the image (and so to every tag needing it)."""
        try:
            return self.layer(planned, image_id, stop)
        except _EXPECTED as error:
            raise ImageFault(image_id, error) from error

    def tag(self, planned: PlannedTag) -> TagOutcome:
        """Migrate one tag: layers, config, then the manifest."""
        chain = planned.chain
        metadata = [self.image_json(image_id, planned.source_repo) for image_id in chain]
        validate_ancestry(list(reversed(chain)), planned.image_id)
        stop = threading.Event()
        if self.stop.is_set():
            raise Stopped
        layers = run_threads(
            [functools.partial(self.charged, planned, image_id, stop) for image_id in chain],
            self.jobs,
            stop,
        )
        image = convert_image(
            [m.json_bytes for m in metadata], layers, manifest_format=self.dest.manifest_format
        )
        name, reference = self.dest.reference(planned.dest_repo, planned.dest_tag)

        def upload_config() -> None:
            self.journal.intend(self.registry, planned.dest_repo, image.config_digest)
            self.dest.upload_blob(name, image.config, digest=image.config_digest)
            self.counters.add(uploaded=1, bytes_uploaded=len(image.config))

        self.ensure(planned.dest_repo, image.config_digest, len(image.config), upload_config)
        current = self.dest.current(planned.dest_repo, planned.dest_tag)
        if current != image.manifest_digest:
            self.dest.put_manifest(name, reference, image.manifest, image.media_type)
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
            planned.source,
            planned.destination,
            "copied",
            digest=image.manifest_digest,
            image=planned.image_id,
        )


@attrs.frozen
class _Counted:
    """A migration's count of the layer bytes read (the engine's `LayerCounter`): every
    byte read counts, a re-read takes back only the progress shown; the run's stop is
    checked at each block (the tag's own is `Feed`'s)."""

    run: SharedRun

    def advanced(self, image_id: str, nbytes: int) -> None:
        if self.run.stop.is_set():
            raise Stopped
        self.run.counters.add(bytes_read=nbytes)
        self.run.listener.layer_advanced(image_id, nbytes)

    def rewind(self, image_id: str, nbytes: int) -> None:
        self.run.listener.layer_advanced(image_id, -nbytes)


_MOST = 64
"""The largest ``jobs`` and ``repositories_in_flight`` accepted."""
_EXPECTED = (DockerRegistryError, LayoutError, OSError, ValueError)


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _charged(planned: PlannedTag, error: BaseException) -> tuple[str, str]:
    """(image, reason) of a failed tag: the image at fault when one is, else its own."""
    if isinstance(error, ImageFault):
        return error.image_id, _reason(error.error)
    return planned.image_id, _reason(error)


def _settled(plan: MigrationPlan, journal: Journal, registry: str) -> dict[PlannedTag, TagOutcome]:
    """The outcomes the plan decided already: current, existing, and broken tags (failed,
    and journaled as such, without a request)."""
    outcomes: dict[PlannedTag, TagOutcome] = {}
    for planned in plan.tags:
        if planned.state is TagState.COPY:
            continue
        status: Status = "current" if planned.state is TagState.CURRENT else "exists"
        reason = None
        if planned.state is TagState.BROKEN:
            status, reason = "failed", planned.problem or "cannot be migrated"
            journal.failed(registry, planned.dest_repo, planned.dest_tag, reason)
        outcomes[planned] = TagOutcome(
            planned.source,
            planned.destination,
            status,
            digest=planned.digest,
            reason=reason,
            image=planned.at_fault or planned.image_id,
        )
    return outcomes


def migrate(
    source: Client,
    dest: Target | V1Target,
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
    """Carry out ``plan`` from the v1 registry ``source`` into ``dest`` (a v2 registry,
    an OCI layout or another v1 registry).

    Every source-side fault (an image whose JSON, ancestry or layer cannot be read, a
    checksum that does not match, a name the destination refuses: the plan's ``BROKEN``
    tags) is charged to the tags that need that image, never to the run: a failed tag
    is recorded (journal and report: repository, tag, image, reason); with
    ``on_error="continue"`` the others go on, with ``"abort"`` no tag is started after
    the first failure and those not yet attempted are reported ``pending``.
    Ctrl-C stops at once; every fact learned so far is already in the journal.
    ``retry`` is the policy of every request on both sides (default: each client's own).
    """
    for what, value in (("jobs", jobs), ("repositories_in_flight", repositories_in_flight)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MOST:
            raise InvalidInput(what, f"expected an integer from 1 to {_MOST}")
    if on_error not in {"continue", "abort"}:
        raise InvalidInput("on_error", "expected 'continue' or 'abort'")
    started = time.monotonic()
    listener = progress or SilentMigration()
    source, dest = scoped(source, retry), scoped_target(dest, retry)
    shared = RunSettings(
        source=source,
        journal=journal,
        jobs=jobs,
        level=check_level(level),
        policy=source.retry,
        listener=listener,
        stop=threading.Event(),
        slots=threading.Semaphore(jobs),
    )
    run = V1Run(dest=dest, **shared) if isinstance(dest, V1Target) else _Run(dest=dest, **shared)
    outcomes = _settled(plan, journal, run.registry)
    aborted = threading.Event()
    if on_error == "abort" and any(o.status == "failed" for o in outcomes.values()):
        aborted.set()  # a broken tag is the first failure: no tag is started
    listener.started(len(plan.tags), plan.bytes_to_move)
    for outcome in outcomes.values():
        listener.tag_finished(outcome)
    by_repo: dict[str, list[PlannedTag]] = defaultdict(list)
    for planned in plan.to_copy:
        by_repo[planned.source_repo].append(planned)

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
            except (ImageFault, *_EXPECTED) as error:
                image, reason = _charged(planned, error)
                journal.failed(run.registry, planned.dest_repo, planned.dest_tag, reason)
                outcome = TagOutcome(
                    planned.source, planned.destination, "failed", reason=reason, image=image
                )
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
    except BaseException:  # Ctrl-C: the workers stop at their next chunk
        run.stop.set()
        raise
    final = tuple(
        outcomes.get(planned)
        or TagOutcome(
            planned.source,
            planned.destination,
            "pending",
            reason="not attempted",
            image=planned.image_id,
        )
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


class _Journaled:
    """A pipelined layer's blob bytes; once the last is out (before the upload is
    committed) the journal learns the blob, so a crash after the commit cannot cause a
    resend. It passes on `streamed_digest`, so the upload does not hash the bytes again."""

    def __init__(self, encoded: PipelinedLayer, learned: Callable[[LayerBlob], None]) -> None:
        self._encoded = encoded
        self._learned = learned

    def __iter__(self) -> Iterator[bytes]:
        yield from self._encoded
        self._learned(self._encoded.blob)

    def streamed_digest(self) -> str:
        """The blob's sha256, known once iterated."""
        return self._encoded.streamed_digest()
