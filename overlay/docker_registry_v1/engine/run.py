"""The copy engine: one source, one destination, one path per layer.

Order, whatever the pair: the destination gets ready (a registry is pinged, so a
v1-only server is refused before the source is read), the source yields its chain
(metadata only), the destination learns it (a v1 index gets its image list), and the
progress listener the plan; then each layer, a few at a time (one at a time, base
first, for a v1 registry): the destination first says whether it can reuse it (a blob
it holds, a mount, an image it has), so a reused layer is never read; otherwise the
layer streams from the source through the destination's own path. The destination
commits last (manifest, tag, archive index), once every layer is in.

A destination that `overlaps` (an archive: it reuses nothing, so it needs no layer's
JSON to decide) and a source that can yield its chain before the JSONs
(`OverlappingSource`, a v1 registry) make one pool of workers instead: the JSON jobs
first, then the layer jobs (a layer thus never holds a worker a JSON it waits for
would need; at most ``concurrency`` layers move at once). A layer's GET goes out at
once; its bytes are taken only when every JSON is in, the last of which gives the
listener the whole plan. A failed JSON stops the layers before any byte is taken.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import attrs

from ..core.errors import DockerRegistryError
from ..core.models import RawMetadata
from ..core.progress import ProgressListener, SilentProgress
from ..core.retry import RetryPolicy
from .bounded import Stopped, run_threads
from .model import (
    RESTARTS,
    Layer,
    LayerStream,
    PendingImage,
    SourceImage,
    SourceRestarted,
    SourceRestartedError,
    TransferResult,
)
from .sources import ImageSource, OverlappingSource
from .tracking import Tracker

__all__ = ["Committed", "Feed", "ImageDestination", "LayerCounter", "copy_image"]

T = TypeVar("T")


@attrs.frozen
class Committed:
    """What a destination reports once it has committed the image."""

    destination: str
    repository: str
    tags: tuple[str, ...]
    digest: str | None
    layers: tuple[str, ...]
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    mounted: tuple[str, ...] = ()


class LayerCounter(Protocol):
    """Where a layer's bytes are counted: `Tracker` for a copy, a migration's counters."""

    def advanced(self, image_id: str, nbytes: int) -> None:
        """``nbytes`` more of the layer were read."""

    def rewind(self, image_id: str, nbytes: int) -> None:
        """The layer is read again: take back the ``nbytes`` counted."""


class Feed:
    """One layer's bytes for a destination, as many times as an attempt needs them.

    `send` gives ``attempt`` a fresh read of the layer, counted for progress. When the
    source starts the layer over from byte 0 (the bytes sent cannot be taken back) or
    the attempt breaks off as the retry policy allows, the attempt is made again with a
    new read; not when the source's own resume loop gave up already (that would
    multiply its attempts)."""

    def __init__(
        self, layer: Layer, tracker: LayerCounter, policy: RetryPolicy, stop: threading.Event
    ) -> None:
        self.layer = layer
        self._tracker = tracker
        self._policy = policy
        self._stop = stop

    def stopped_by(self, stop: threading.Event) -> Feed:
        """The same feed, stopped only by ``stop``: a migration lets a layer of a failed
        tag finish (other tags, and the rerun, need it) unless the whole run stops."""
        return Feed(self.layer, self._tracker, self._policy, stop)

    def _counted(self, stream: LayerStream) -> Iterator[bytes]:
        for chunk in stream:
            if self._stop.is_set():
                raise Stopped
            self._tracker.advanced(self.layer.image_id, len(chunk))
            yield chunk

    def send(
        self, attempt: Callable[[Iterator[bytes]], T], rewound: Callable[[], None] | None = None
    ) -> T:
        """``attempt(chunks)`` until it returns, or raises what it cannot get past.

        ``rewound``: the destination can take back the bytes it was given (a spool file
        is emptied); a source starting the layer over then goes on in the same read
        (the same request) instead of a new attempt."""
        image_id = self.layer.image_id
        failures = 0

        def restarted(lost: int) -> None:
            self._tracker.rewind(image_id, lost)
            if rewound is None:
                raise SourceRestarted
            rewound()

        while True:
            stream = self.layer.open(restarted)
            try:
                return attempt(self._counted(stream))
            except SourceRestarted as error:
                failures += 1
                if failures > RESTARTS:
                    raise SourceRestartedError(image_id) from error
            except DockerRegistryError as error:
                failures += 1
                wait = None if error is stream.gave_up else self._policy.delay(failures, error)
                if wait is None:
                    raise
                self._tracker.rewind(image_id, stream.received)
                time.sleep(wait)


class ImageDestination(Protocol):
    """Where an image goes; see the module docstring for the order of the calls."""

    sequential: bool
    """Layers one at a time, base first (a v1 registry wants a parent before its child)."""
    overlaps: bool
    """Layers may be read before their JSONs are in (see the module docstring): the
    destination then reuses nothing, and `begin` gets the image's name and tag alone
    (no layers); `put` gets layers whose ``json_bytes`` are still empty."""

    def prepare(self) -> None:
        """Before the source is read: refuse what cannot take an image at all."""

    def begin(self, image: SourceImage) -> None:
        """The chain is known, no layer has been read."""

    def reuse(self, layer: Layer) -> bool:
        """True when the destination has the layer already (or got it by a mount)."""

    def put(self, layer: Layer, feed: Feed) -> bool:
        """Take the layer through the destination's path; False when it turned out to be
        there after all (a v1 registry's 409)."""

    def commit(self, image: SourceImage, tracker: Tracker) -> Committed:
        """Every layer is in: write what names the image (manifest, tag, archive);
        ``tracker`` hears of the archive's assembly."""

    def close(self) -> None:
        """Release what the destination holds (a cache it opened, spool files)."""


def _overlapped(  # noqa: PLR0917 - one run's whole state
    pending: PendingImage,
    destination: ImageDestination,
    tracker: Tracker,
    policy: RetryPolicy,
    stop: threading.Event,
    concurrency: int,
) -> SourceImage:
    """JSONs and layers in one pool (see the module docstring); the complete image."""
    ids = pending.ids
    found: dict[str, RawMetadata] = {}
    lock = threading.Lock()
    planned = threading.Event()
    slots = threading.Semaphore(min(concurrency, pending.width))

    def metadata(image_id: str) -> Callable[[], None]:
        def run() -> None:
            try:
                raw = pending.metadata(image_id)
            except BaseException:
                stop.set()  # before waking the layers, so that they stop
                planned.set()
                raise
            with lock:
                found[image_id] = raw
                if len(found) < len(ids):
                    return
            tracker.plan((i, found[i].size) for i in ids)
            planned.set()

        return run

    def ready(image_id: str) -> RawMetadata:
        planned.wait()
        if stop.is_set():
            raise Stopped
        return found[image_id]

    def move(image_id: str) -> Callable[[], None]:
        def run() -> None:
            with slots:
                layer = pending.early_layer(image_id, lambda: ready(image_id))
                if destination.put(layer, Feed(layer, tracker, policy, stop)):
                    tracker.done(image_id)
                else:
                    tracker.skip(image_id)

        return run

    run_threads([metadata(i) for i in ids] + [move(i) for i in ids], pending.width, stop)
    return pending.complete(found)


def _layer_by_layer(  # noqa: PLR0917 - one run's whole state
    image: SourceImage,
    destination: ImageDestination,
    tracker: Tracker,
    policy: RetryPolicy,
    stop: threading.Event,
    concurrency: int,
) -> None:
    """Reuse or put each layer of a chain whose JSONs are all in."""
    destination.begin(image)
    tracker.plan((layer.image_id, layer.size) for layer in image.layers)

    def job(layer: Layer) -> Callable[[], None]:
        def run() -> None:
            if destination.reuse(layer):
                tracker.skip(layer.image_id)
            elif destination.put(layer, Feed(layer, tracker, policy, stop)):
                tracker.done(layer.image_id)
            else:
                tracker.skip(layer.image_id)

        return run

    limit = 1 if destination.sequential else concurrency
    run_threads([job(layer) for layer in image.layers], limit, stop)


def copy_image(
    source: ImageSource,
    destination: ImageDestination,
    *,
    concurrency: int = 4,
    progress: ProgressListener | None = None,
    retry: RetryPolicy | None = None,
) -> TransferResult:
    """Copy the source's image to the destination (see the module docstring)."""
    started = time.monotonic()
    tracker = Tracker(progress or SilentProgress())
    policy = retry or RetryPolicy()
    stop = threading.Event()
    try:
        destination.prepare()
        if destination.overlaps and isinstance(source, OverlappingSource):
            with source.open_pending() as pending:
                destination.begin(SourceImage(pending.repository, pending.tag, ()))
                image = _overlapped(pending, destination, tracker, policy, stop, concurrency)
                done = destination.commit(image, tracker)
        else:
            with source.open() as image:
                _layer_by_layer(image, destination, tracker, policy, stop, concurrency)
                done = destination.commit(image, tracker)
    finally:
        destination.close()
    return TransferResult(
        destination=done.destination,
        repository=done.repository,
        tags=done.tags,
        image_id=image.image_id,
        digest=done.digest,
        layers=done.layers,
        uploaded=done.uploaded,
        skipped=done.skipped,
        mounted=done.mounted,
        bytes_transferred=tracker.transferred,
        seconds=round(time.monotonic() - started, 3),
    )
