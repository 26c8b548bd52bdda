"""Migrate a planned set of v1 tags into a v2 registry or an OCI layout, deduplicated.

Each tag is one `copy_image` of the copy engine: its v1 chain (as the plan found it,
each image JSON read once per run) into the engine destination its side makes for it
(`RegistryDestination`, `LayoutDestination`; `migrate_v1` for `V1Destination`),
learning and reusing through the journal.

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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal, overload

import attrs

from ..core.errors import DockerRegistryError, InvalidInput
from ..engine.blobs import BlobCache, PresentBlobs, check_level
from ..engine.bounded import Stopped, run_threads
from ..engine.destinations import LayoutDestination, RegistryDestination
from ..engine.journal import Journal, JournalManifest
from ..engine.model import Layer, SourceImage
from ..engine.provenance import Attached, attach_provenance, v1_provenance
from ..engine.run import Committed, Feed, copy_image
from ..engine.sources import GivenImage, v1_layer
from ..engine.tracking import Tracker
from ..formats.archive import ArchiveError, validate_ancestry
from ..formats.compress import DEFAULT_LEVEL
from ..formats.convert import convert_image
from ..formats.errors import LayoutError
from .inventory import Problem
from .migrate_create import CreateRepository, RepositoryCreation
from .migrate_plan import BlobStoreSide, MigrationPlan, PlannedTag, TagState
from .migrate_run import (
    BasesHook,
    ClaimedLayers,
    ImageFault,
    MigrationListener,
    RunProgress,
    RunSettings,
    SharedRun,
    SilentMigration,
    Status,
    TagOutcome,
)
from .migrate_v1 import V1Run, V1Side
from .retry import RetryPolicy, scoped, scoped_side

if TYPE_CHECKING:
    from ..v1.client import Client

__all__ = [
    "MigrationListener",
    "MigrationReport",
    "SilentMigration",
    "TagOutcome",
    "continued_and_then",
    "migrate",
]


@attrs.frozen
class MigrationReport:
    """Every tag's outcome and what moved (bytes as the destination's blobs count them,
    except ``bytes_read``: the v1 layer bytes read from the source)."""

    source: str
    destination: str
    outcomes: Sequence[TagOutcome]
    """Every planned tag's, in the plan's order (built as they are read: see `_Outcomes`)."""
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
    problems: tuple[Problem, ...] = ()
    """Repositories the run could not even list (`MigrationPlan.problems`)."""

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
        """Every tag is where it should be, and every repository could be listed."""
        return not self.failures and not self.problems


@attrs.define(kw_only=True)
class _Run(SharedRun):
    """A run into a blob store (a v2 registry or an OCI layout): each tag is one
    `copy_image` of the engine, from its v1 chain (as the plan found it, the JSONs read
    once per run) into the destination the target makes for it, learning and reusing
    through the journal (`BlobCache.over`)."""

    dest: BlobStoreSide
    present: PresentBlobs = attrs.field(factory=PresentBlobs)
    """(repository, digest) confirmed at the destination during this run."""
    creation: RepositoryCreation | None = None
    """Makes each new destination repository before its first blob (``create_repository``)."""
    bases: BasesHook | None = None
    """A staging repository of shared base layers (``bases``, see `migrate_bases`)."""
    provenance: bool = True
    """Attach the v1 provenance artifact to each tag's manifest (and record it)."""

    @property
    def registry(self) -> str:
        return self.dest.registry

    def tag(self, planned: PlannedTag) -> TagOutcome:
        """Migrate one tag (or, for a current one, attach its provenance artifact)."""
        if planned.state is TagState.CURRENT:
            return self.provenance_only(planned)
        return self._copy(planned)

    def _copy(self, planned: PlannedTag) -> TagOutcome:
        """Migrate one tag: the engine reuses or moves each layer, then commits the
        config and the manifest once every layer is in."""
        chain = planned.chain
        metadata = [self.image_json(image_id, planned.source_repo) for image_id in chain]
        validate_ancestry(list(reversed(chain)), planned.image_id)
        if self.stop.is_set():
            raise Stopped
        auth = self.reader(planned.source_repo)
        layers = tuple(
            v1_layer(self.source, image_id, meta, chain[n - 1] if n else None, auth, self.policy)
            for n, (image_id, meta) in enumerate(zip(chain, metadata, strict=True))
        )
        image = SourceImage(planned.source_repo, planned.tag, layers, source=self.origin)
        if self.bases is not None:
            image = self.bases.image(image)
        if self.creation is not None:
            self.creation.ensure(planned.dest_repo)
        inner = self.dest.destination(
            planned.dest_repo,
            planned.dest_tag,
            level=self.level,
            cache=BlobCache.over(self.journal),
            present=self.present,
        )
        inner.tag_listed = planned.listed
        inner.provenance = self.provenance
        result = copy_image(
            GivenImage(image),
            _Claimed(self, inner),
            concurrency=self.jobs,
            progress=RunProgress(self),
            retry=self.policy,
        )
        assert result.digest is not None  # a blob store's manifest
        self.journal.manifest_written(
            self.registry,
            JournalManifest(
                planned.dest_repo,
                planned.dest_tag,
                result.digest,
                planned.image_id,
                planned.source,
            ),
        )
        if inner.attached is not None:
            self._attached(planned, inner.attached)
        return TagOutcome(
            planned.source,
            planned.destination,
            "copied",
            digest=result.digest,
            image=planned.image_id,
        )

    def _attached(self, planned: PlannedTag, attached: Attached) -> None:
        self.journal.provenance_attached(
            self.registry,
            planned.dest_repo,
            planned.dest_tag,
            subject=attached.subject,
            artifact=attached.artifact,
            mechanism=attached.mechanism.value,
        )

    def provenance_only(self, planned: PlannedTag) -> TagOutcome:
        """A tag current at the destination whose provenance artifact the journal does
        not record (migrated without it, or before it existed): the artifact is built
        from the journal alone (the chain's JSONs, each layer's blob) and attached; no
        layer is looked at. When the journal cannot rebuild the very manifest the tag
        points at, the tag takes the ordinary path (every blob found there, skipped)."""
        chain = planned.chain
        metadata = [self.image_json(image_id, planned.source_repo) for image_id in chain]
        layers = tuple(
            v1_layer(self.source, image_id, meta, chain[n - 1] if n else None, None, self.policy)
            for n, (image_id, meta) in enumerate(zip(chain, metadata, strict=True))
        )
        cache = BlobCache.over(self.journal)
        blobs = {}
        for layer in layers:
            key = BlobCache.key(layer.image_id, layer.checksum, self.level)
            blob = cache.get(key, origin=self.origin)
            if blob is None:
                return self._copy(planned)
            blobs[layer.image_id] = blob
        converted = convert_image(
            [layer.json_bytes for layer in layers],
            [blobs[layer.image_id] for layer in layers],
            manifest_format=self.dest.manifest_format,
        )
        image = SourceImage(planned.source_repo, planned.tag, layers, source=self.origin)
        record = v1_provenance(image, blobs)
        if converted.manifest_digest != planned.digest or record is None:
            return self._copy(planned)
        name, _ = self.dest.reference(planned.dest_repo, planned.dest_tag)
        attached = attach_provenance(
            self.dest.referrers_target,
            name,
            record,
            converted.manifest,
            converted.media_type,
        )
        self._attached(planned, attached)
        return TagOutcome(
            planned.source,
            planned.destination,
            "current",
            digest=planned.digest,
            image=planned.image_id,
        )


#: What one image's layer can do wrong, charged to the tags that need it: the source's
#: answers, a local file, a bad value, a layer that is not what it claims (corrupt, a
#: decompression bomb: `ArchiveError`).
_EXPECTED = (DockerRegistryError, ArchiveError, LayoutError, OSError, ValueError)


class _Claimed(ClaimedLayers):
    """An engine destination inside a migration run. Run-wide rules around its calls:
    a layer is decided on and moved by one tag at a time (another tag needing it waits,
    then finds it in the journal and HEADs or mounts it: each v1 layer is read at most
    once), at most ``jobs`` layers stream at once over the whole run, and a layer's
    failure is charged to its image (`ImageFault`). The registry was asked already (the
    plan listed its tags), so it is not pinged again for every tag."""

    sequential = False
    overlaps = False

    faults = _EXPECTED
    _run: _Run
    _inner: LayoutDestination | RegistryDestination

    def __init__(self, run: _Run, inner: LayoutDestination | RegistryDestination) -> None:
        self._run = run
        self._inner = inner

    def prepare(self) -> None:
        """Nothing to ask: the plan talked to the destination already."""

    def begin(self, image: SourceImage) -> None:
        self._inner.begin(image)

    def reuse(self, layer: Layer) -> bool:
        """The destination's own decision, made by one tag at a time per layer; a False
        keeps the claim for `put`."""
        found = self._decided(layer, lambda: self._inner.reuse(layer))
        if found:
            self._counted_reuse(layer)
        return found

    def _counted_reuse(self, layer: Layer) -> None:
        """Count a reused layer as the run reports it: skipped (the repository has it)
        or mounted; an empty layer is neither."""
        blob = self._inner.blobs.get(layer.image_id)
        if blob is None or blob.empty:
            return
        if blob.digest in self._inner.mounted:
            self._run.counters.add(mounted=1, bytes_mounted=blob.size)
        else:
            self._run.counters.add(skipped=1, bytes_skipped=blob.size)

    def put(self, layer: Layer, feed: Feed) -> bool:
        """Stream the layer through the destination's path, within the run's bound."""

        def counted(_: bool) -> None:
            blob = self._inner.blobs[layer.image_id]
            self._run.counters.add(images_read=1, uploaded=1, bytes_uploaded=blob.size)

        return self._moved(layer, feed, counted)

    def commit(self, image: SourceImage, tracker: Tracker) -> Committed:
        """The config (counted when uploaded), then the manifest."""
        done = self._inner.commit(image, tracker)
        if self._inner.config_outcome is not None:
            how, size = self._inner.config_outcome
            counts = {"present": "skipped", "mounted": "mounted", "uploaded": "uploaded"}[how]
            self._run.counters.add(**{counts: 1, f"bytes_{counts}": size})
        return done

    def close(self) -> None:
        self._inner.close()


_MOST = 64
"""The largest ``jobs`` and ``repositories_in_flight`` accepted."""


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _charged(planned: PlannedTag, error: BaseException) -> tuple[str, str]:
    """(image, reason) of a failed tag: the image at fault when one is, else its own."""
    if isinstance(error, ImageFault):
        return error.image_id, _reason(error.error)
    return planned.image_id, _reason(error)


def _settled(plan: MigrationPlan, journal: Journal, registry: str) -> _Outcomes:
    """The outcomes the plan decided already: current, existing, and broken tags (failed,
    and journaled as such, without a request)."""
    outcomes = _Outcomes(plan.tags)
    for position, planned in enumerate(plan.tags):
        if planned.state is TagState.COPY:
            continue
        status: Status = "current" if planned.state is TagState.CURRENT else "exists"
        reason = None
        if planned.state is TagState.BROKEN:
            status, reason = "failed", planned.problem or "cannot be migrated"
            journal.failed(registry, planned.dest_repo, planned.dest_tag, reason)
        outcomes.record(
            position,
            TagOutcome(
                planned.source,
                planned.destination,
                status,
                digest=planned.digest,
                reason=reason,
                image=planned.at_fault or planned.image_id,
            ),
        )
    return outcomes


def _unattached(
    run: V1Run | _Run,
    plan: MigrationPlan,
    journal: Journal,
    outcomes: _Outcomes,
    *,
    provenance: bool,
) -> list[int]:
    """The plan positions of the current tags whose manifest the journal records no
    provenance artifact for (their settled outcome is taken back: the run attaches it);
    none into a v1 registry or with ``provenance`` off."""
    if not isinstance(run, _Run):
        return []
    run.provenance = provenance
    if not provenance:
        return []
    attached = journal.attached(run.registry)
    found = [
        position
        for position, planned in enumerate(plan.tags)
        if planned.state is TagState.CURRENT
        and (attached.get((planned.dest_repo, planned.dest_tag)) or ("",))[0] != planned.digest
    ]
    for position in found:
        outcomes.forget(position)
    return found


class _Outcomes(Sequence[TagOutcome]):
    """Every planned tag's outcome, in the plan's order, kept compact: a tag copied as
    planned is its manifest digest's 32 bytes (its `TagOutcome` is made again from the
    plan's tag when read), any other outcome is kept as it is, and a tag with none is
    ``pending`` (not attempted). At registry scale a `TagOutcome` per tag, held to the
    end of the run, was a good part of the memory growing with the registry."""

    def __init__(self, tags: tuple[PlannedTag, ...]) -> None:
        self._tags = tags
        self._copied: list[bytes | None] = [None] * len(tags)
        self._other: dict[int, TagOutcome] = {}

    def record(self, position: int, outcome: TagOutcome) -> None:
        """The outcome of the plan's tag at ``position``."""
        planned = self._tags[position]
        digest = outcome.digest or ""
        plain = (
            outcome.status == "copied"
            and outcome.reason is None
            and outcome.image == planned.image_id
            and digest.startswith(_SHA256)
            and len(digest) == len(_SHA256) + 64
            and outcome.source == planned.source
            and outcome.destination == planned.destination
        )
        if plain:
            try:
                self._copied[position] = bytes.fromhex(digest[len(_SHA256) :])
            except ValueError:
                plain = False
        if not plain:
            self._other[position] = outcome

    def forget(self, position: int) -> None:
        """The tag at ``position`` is to be run after all (its outcome is pending again)."""
        self._copied[position] = None
        self._other.pop(position, None)

    def settled(self) -> list[TagOutcome]:
        """The outcomes recorded so far that are not plain copies (before the run: the
        ones the plan decided)."""
        return [self._other[n] for n in sorted(self._other)]

    def statuses(self) -> Iterator[Status]:
        """Each tag's status, without making its outcome."""
        for position, copied in enumerate(self._copied):
            other = self._other.get(position)
            yield other.status if other is not None else "copied" if copied else "pending"

    def __len__(self) -> int:
        return len(self._tags)

    @overload
    def __getitem__(self, index: int) -> TagOutcome: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[TagOutcome]: ...

    def __getitem__(self, index: int | slice) -> TagOutcome | Sequence[TagOutcome]:
        if isinstance(index, slice):
            return tuple(self[n] for n in range(*index.indices(len(self))))
        position = range(len(self))[index]  # an IndexError as a tuple's
        other = self._other.get(position)
        if other is not None:
            return other
        planned = self._tags[position]
        copied = self._copied[position]
        if copied is None:
            return TagOutcome(
                planned.source,
                planned.destination,
                "pending",
                reason="not attempted",
                image=planned.image_id,
            )
        return TagOutcome(
            planned.source,
            planned.destination,
            "copied",
            digest=_SHA256 + copied.hex(),
            image=planned.image_id,
        )


_SHA256 = "sha256:"


def _most_shared_first(tags: tuple[PlannedTag, ...]) -> list[PlannedTag]:
    """The tags in the order their layers should go up: those holding the images most
    tags share first (then the most shared in all; then the plan's order), so a run
    stopped half-way has put up the layers the most other tags mount from. Repositories
    start in the order of their first tag."""
    return sorted(tags, key=_weight(tags))


def _weight(tags: Iterable[PlannedTag]) -> Callable[[PlannedTag], tuple[int, int]]:
    """The sort key of `_most_shared_first` over ``tags``."""
    shared: dict[str, int] = defaultdict(int)
    for planned in tags:
        for image_id in planned.chain:
            shared[image_id] += 1

    def weight(planned: PlannedTag) -> tuple[int, int]:
        counts = [shared[image_id] for image_id in planned.chain]
        return -max(counts, default=0), -sum(counts)

    return weight


class _Groups:
    """The plan's tags to copy (by position) grouped by source repository, one worker
    each, in upload order (`_most_shared_first`); and when the run is done with each
    destination repository: then the blobs it confirmed there are dropped from the
    run's memory (`PresentBlobs.forget`), which thus holds the repositories in flight
    rather than the registry."""

    def __init__(
        self, run: V1Run | _Run, tags: tuple[PlannedTag, ...], unattached: Sequence[int] = ()
    ) -> None:
        self._run = run
        self._tags = tags
        copying = [n for n, planned in enumerate(tags) if planned.state is TagState.COPY]
        weight = _weight(tags[n] for n in copying)
        self.by_repo: dict[str, list[int]] = defaultdict(list)
        # the copies in upload order, then the current tags that only need their provenance
        for n in [*sorted(copying, key=lambda n: weight(tags[n])), *unattached]:
            self.by_repo[tags[n].source_repo].append(n)
        self._unfinished = Counter(
            repo for group in self.by_repo.values() for repo in self._destinations(group)
        )
        """Destination repository → source repositories still going there."""

    def _destinations(self, positions: list[int]) -> set[str]:
        return {self._tags[n].dest_repo for n in positions}

    def jobs(self, each: Callable[[list[int]], None]) -> list[Callable[[], None]]:
        """A job per source repository: ``each`` of its tags, then `finished`."""

        def job(positions: list[int]) -> None:
            try:
                each(positions)
            finally:
                self.finished(positions)

        return [functools.partial(job, positions) for positions in self.by_repo.values()]

    def finished(self, positions: list[int]) -> None:
        """The worker of these tags (one source repository) is done, one way or another."""
        run = self._run
        if not isinstance(run, _Run):
            return
        with run.lock:
            for repo in self._destinations(positions):
                self._unfinished[repo] -= 1
                if self._unfinished[repo] == 0:
                    run.present.forget(repo)


def _make_run(
    dest: BlobStoreSide | V1Side,
    shared: RunSettings,
    plan: MigrationPlan,
    create: CreateRepository | None,
    bases: BasesHook | None = None,
) -> V1Run | _Run:
    """The run for ``dest``'s kind; a blob store's with the repository and bases hooks."""
    if isinstance(dest, V1Side):
        if bases is not None:
            raise InvalidInput("bases", "a staging repository needs a v2 registry destination")
        return V1Run(dest=dest, **shared)
    creation = None
    if create is not None:
        creation = RepositoryCreation(
            create, shared["journal"], dest.registry, plan.new_repositories
        )
    return _Run(dest=dest, creation=creation, bases=bases, **shared)


def migrate(
    source: Client,
    dest: BlobStoreSide | V1Side,
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
    bases: BasesHook | None = None,
    provenance: bool = True,
) -> MigrationReport:
    """Carry out ``plan`` from the v1 registry ``source`` into ``dest`` (a v2 registry,
    an OCI layout or another v1 registry).

    ``provenance`` (v2 registries and OCI layouts): each tag's manifest gets its v1
    provenance artifact (`engine.provenance`; referrers API or fallback tag), recorded
    in the journal; a current tag whose artifact the journal does not record gets it
    without any layer being looked at. Failing to write it fails that tag only.

    Every source-side fault (an image whose JSON, ancestry or layer cannot be read, a
    checksum that does not match, a name the destination refuses: the plan's ``BROKEN``
    tags) is charged to the tags that need that image, never to the run: a failed tag
    is recorded (journal and report: repository, tag, image, reason); with
    ``on_error="continue"`` the others go on, with ``"abort"`` no tag is started after
    the first failure and those not yet attempted are reported ``pending``.
    Ctrl-C stops at once; every fact learned so far is already in the journal.
    ``retry`` is the policy of every request on both sides (default: each client's own).
    ``create_repository`` (v2 registries and OCI layouts) is called with each of the
    plan's ``new_repositories`` before its first blob is sent, once per repository
    (never again once the journal records it succeeded); when it raises, that
    repository's tags fail with its message (`CreateRepositoryError`).
    ``bases`` (v2 registries): a staging repository of shared base layers
    (`migrate_bases.StagedBases`: its blobs are mounted rather than uploaded again;
    `migrate_bases.Staging`: the ``--bases`` phase filling it).
    """
    for what, value in (("jobs", jobs), ("repositories_in_flight", repositories_in_flight)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MOST:
            raise InvalidInput(what, f"expected an integer from 1 to {_MOST}")
    if on_error not in {"continue", "abort"}:
        raise InvalidInput("on_error", "expected 'continue' or 'abort'")
    started = time.monotonic()
    listener = progress or SilentMigration()
    source, dest = scoped(source, retry), scoped_side(dest, retry)
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
    run = _make_run(dest, shared, plan, create_repository, bases)
    outcomes = _settled(plan, journal, run.registry)
    unattached = _unattached(run, plan, journal, outcomes, provenance=provenance)
    aborted = threading.Event()
    if on_error == "abort" and "failed" in outcomes.statuses():
        aborted.set()  # a broken tag is the first failure: no tag is started
    listener.started(len(plan.tags), plan.bytes_to_move)
    for outcome in outcomes.settled():
        listener.tag_finished(outcome)

    def repository(positions: list[int]) -> None:
        for position in positions:
            planned = plan.tags[position]
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
                outcomes.record(position, outcome)
            listener.tag_finished(outcome)

    try:
        run_threads(
            _Groups(run, plan.tags, unattached).jobs(repository),
            repositories_in_flight,
            threading.Event(),
        )
    except Stopped:
        if not aborted.is_set():
            raise
    except BaseException:  # Ctrl-C: the workers stop at their next chunk
        run.stop.set()
        raise
    counters = run.counters
    return MigrationReport(
        source=plan.source,
        destination=plan.destination,
        outcomes=outcomes,
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
        problems=plan.problems,
    )


def continued_and_then(continued: MigrationReport, then: MigrationReport) -> MigrationReport:
    """One report of a run that first continued what a killed run left (``continued``)
    and then did the ordinary pass (``then``): the ordinary pass's tags, each one the
    continuation copied shown as copied (the pass found it current), every count summed."""
    copied = {(o.source, o.destination): o for o in continued.outcomes if o.status == "copied"}
    outcomes = tuple(
        copied.get((o.source, o.destination), o) if o.status == "current" else o
        for o in then.outcomes
    )
    return attrs.evolve(
        then,
        outcomes=outcomes,
        images_read=continued.images_read + then.images_read,
        bytes_read=continued.bytes_read + then.bytes_read,
        blobs_uploaded=continued.blobs_uploaded + then.blobs_uploaded,
        bytes_uploaded=continued.bytes_uploaded + then.bytes_uploaded,
        blobs_skipped=continued.blobs_skipped + then.blobs_skipped,
        bytes_skipped=continued.bytes_skipped + then.bytes_skipped,
        blobs_mounted=continued.blobs_mounted + then.blobs_mounted,
        bytes_mounted=continued.bytes_mounted + then.bytes_mounted,
        seconds=round(continued.seconds + then.seconds, 3),
        aborted=continued.aborted or then.aborted,
    )
