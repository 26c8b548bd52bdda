"""What the migration runs share: tag outcomes, the progress protocol, the source side.

`migrate` drives blob-store destinations (v2 registries, OCI layouts) and
`migrate_v1` v1 registries; both read the source through `SharedRun`, so each v1
image's JSON is read once per run and every layer read counts against one bound.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, TypedDict

import attrs

from ..core.errors import DockerRegistryError, Forbidden, Unauthorized
from ..core.models import RawMetadata
from ..core.progress import PlannedLayer
from ..engine.access import read_access
from ..engine.bounded import Stopped
from ..engine.journal import Journal
from ..engine.sources import registry_origin
from ..v1.auth import Authenticator
from .retry import RetryPolicy

if TYPE_CHECKING:
    from ..engine.model import Layer, SourceImage
    from ..engine.run import Feed
    from ..v1.client import Client

__all__ = [
    "BasesHook",
    "Counters",
    "ImageFault",
    "Keyed",
    "MigrationListener",
    "RunProgress",
    "RunSettings",
    "SharedRun",
    "SilentMigration",
    "Status",
    "TagOutcome",
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
    image: str | None = None
    """The v1 image the tag needs: for a failed tag, the one that failed (its own image
    when the fault is not one image's, e.g. a name the destination refuses)."""

    @property
    def repository(self) -> str:
        """The source repository."""
        return self.source.rpartition(":")[0]

    @property
    def tag(self) -> str:
        """The source tag."""
        return self.source.rpartition(":")[2]


class ImageFault(Exception):  # noqa: N818 - carries a fault to the tag it is charged to
    """A source-side fault of one v1 image (its JSON, ancestry or layer), charged to the
    tag being migrated; ``__cause__`` is the error itself."""

    def __init__(self, image_id: str, error: BaseException) -> None:
        super().__init__(str(error))
        self.image_id = image_id
        self.error = error


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


class BasesHook(Protocol):
    """What a run asks of a staging repository of shared base layers (`migrate_bases`)
    before a tag is copied: the image to migrate (the ``--bases`` phase labels its
    config; a shard first records in the journal what the staging repository holds of
    its chain, so those blobs are mounted from there)."""

    def image(self, image: SourceImage) -> SourceImage:
        """The image to migrate for the tag."""


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


@attrs.define
class Counters:
    """Blob and byte counts of one run, updated from worker threads."""

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
        """Add to the named counts at once."""
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)


class Keyed:
    """One lock per key, so work on one image or blob is done by one thread at a time
    while the others wait for its outcome."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    def __call__(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks[key]


class RunSettings(TypedDict):
    """The fields every run is created with (the rest start empty)."""

    source: Client
    journal: Journal
    jobs: int
    level: int
    policy: RetryPolicy
    listener: MigrationListener
    stop: threading.Event
    slots: threading.Semaphore


@attrs.define(kw_only=True)
class SharedRun:
    """What every kind of migration run shares: the source side, bounds, counters."""

    source: Client
    journal: Journal
    jobs: int
    level: int
    policy: RetryPolicy
    listener: MigrationListener
    stop: threading.Event
    slots: threading.Semaphore
    counters: Counters = attrs.field(factory=Counters)
    metadata: dict[str, RawMetadata] = attrs.field(factory=dict)
    readers: dict[str, Authenticator | None] = attrs.field(factory=dict)
    image_locks: Keyed = attrs.field(factory=Keyed)
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    claims: dict[str, threading.Event] = attrs.field(factory=dict)
    """v1 images whose layer a tag is deciding on or moving now; the others wait."""

    def claim(self, image_id: str) -> None:
        """Wait until no other tag decides on or moves this image's layer, then hold it
        (each v1 layer is read at most once per run: the next tag finds it done)."""
        while True:
            with self.lock:
                busy = self.claims.get(image_id)
                if busy is None:
                    self.claims[image_id] = threading.Event()
                    return
            busy.wait()
            if self.stop.is_set():
                raise Stopped

    def release(self, image_id: str) -> None:
        """Let the tags waiting for this image go on."""
        with self.lock:
            done = self.claims.pop(image_id, None)
        if done is not None:
            done.set()

    @property
    def origin(self) -> str:
        """The source registry the journal's layer facts are recorded under."""
        return registry_origin(self.source)

    def reader(self, repo: str) -> Authenticator | None:
        """Read access to the source repository, asked once per run."""
        with self.image_locks(f"reader:{repo}"):
            if repo not in self.readers:
                self.readers[repo] = read_access(self.source, repo)
            return self.readers[repo]

    def image_json(self, image_id: str, repo: str) -> RawMetadata:
        """The source's image JSON: as the journal kept it when the plan's inventory read
        it (or an earlier one did), else read from the source once per run; a failure is
        the image's fault."""
        kept = self.journal.source_image(self.origin, image_id)
        if kept is not None:
            return kept
        with self.image_locks(f"json:{image_id}"):
            if image_id not in self.metadata:
                try:
                    self.metadata[image_id] = self.source.image.get_metadata_raw(
                        image_id, auth=self.reader(repo)
                    )
                except (Unauthorized, Forbidden):
                    raise
                except DockerRegistryError as error:
                    raise ImageFault(image_id, error) from error
            return self.metadata[image_id]


@attrs.frozen
class RunProgress:
    """The engine's progress events as a migration's: every byte read counts, a
    re-read takes back only the progress shown; the run's stop is checked at each
    block (the tag's own is the engine's)."""

    run: SharedRun

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        """The run's bar was planned from the whole plan."""

    def advanced(self, image_id: str, nbytes: int) -> None:
        """Count and show the bytes read; stop when the run does."""
        if self.run.stop.is_set():
            raise Stopped
        if nbytes > 0:
            self.run.counters.add(bytes_read=nbytes)
        self.run.listener.layer_advanced(image_id, nbytes)

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        """The run's destination wrapper reports a moved layer."""


class _Putting(Protocol):
    def put(self, layer: Layer, feed: Feed) -> bool: ...


class ClaimedLayers:
    """The run-wide rules both kinds of run keep around an engine destination's layer
    calls: a layer is decided on and moved by one tag at a time (`SharedRun.claim`), at
    most ``jobs`` layers stream at once over the whole run (``slots``), and a layer's
    failure (one of ``faults``) is charged to its image (`ImageFault`). Each run's
    destination says only how it decides and what it counts."""

    faults: ClassVar[tuple[type[BaseException], ...]]
    _run: SharedRun
    _inner: _Putting

    def _decided(self, layer: Layer, decide: Callable[[], bool]) -> bool:
        """``decide()`` under the layer's claim; a False keeps the claim for `_moved`."""
        run = self._run
        run.claim(layer.image_id)
        try:
            found = decide()
        except self.faults as error:
            run.release(layer.image_id)
            raise ImageFault(layer.image_id, error) from error
        except BaseException:
            run.release(layer.image_id)
            raise
        if found:
            run.release(layer.image_id)
        return found

    def _moved(self, layer: Layer, feed: Feed, counted: Callable[[bool], None]) -> bool:
        """The destination's ``put`` within the run's bound, ``counted`` with its answer;
        the claim is given back whatever happens."""
        run = self._run
        try:
            with run.slots:
                run.listener.layer_started(layer.image_id, layer.size)
                moved = self._inner.put(layer, feed.stopped_by(run.stop))
                run.listener.layer_finished(layer.image_id)
            counted(moved)
            return moved
        except self.faults as error:
            raise ImageFault(layer.image_id, error) from error
        finally:
            run.release(layer.image_id)
