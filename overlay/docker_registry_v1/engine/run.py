"""The copy engine: one source, one destination, one path per layer.

Order, whatever the pair: the destination gets ready (a registry is pinged, so a
v1-only server is refused before the source is read), the source yields its chain
(metadata only), the destination learns it (a v1 index gets its image list), and the
progress listener the plan; then each layer, a few at a time (one at a time, base
first, for a v1 registry): the destination first says whether it can reuse it (a blob
it holds, a mount, an image it has), so a reused layer is never read; otherwise the
layer streams from the source through the destination's own path. The destination
commits last (manifest, tag, archive index), once every layer is in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import attrs

from ..errors import DockerRegistryError
from ..progress import ProgressListener, SilentProgress
from ..retry import RetryPolicy
from .blobs import RESTARTS, SourceRestarted, SourceRestartedError
from .bounded import Stopped, run_threads
from .model import Layer, LayerStream, SourceImage, TransferResult
from .sources import ImageSource
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

    def _counted(self, stream: LayerStream) -> Iterator[bytes]:
        for chunk in stream:
            if self._stop.is_set():
                raise Stopped
            self._tracker.advanced(self.layer.image_id, len(chunk))
            yield chunk

    def send(self, attempt: Callable[[Iterator[bytes]], T]) -> T:
        """``attempt(chunks)`` until it returns, or raises what it cannot get past."""
        image_id = self.layer.image_id
        failures = 0

        def restarted(lost: int) -> None:
            self._tracker.rewind(image_id, lost)
            raise SourceRestarted

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

    def prepare(self) -> None:
        """Before the source is read: refuse what cannot take an image at all."""

    def begin(self, image: SourceImage) -> None:
        """The chain is known, no layer has been read."""

    def reuse(self, layer: Layer) -> bool:
        """True when the destination has the layer already (or got it by a mount)."""

    def put(self, layer: Layer, feed: Feed) -> bool:
        """Take the layer through the destination's path; False when it turned out to be
        there after all (a v1 registry's 409)."""

    def commit(self, image: SourceImage) -> Committed:
        """Every layer is in: write what names the image (manifest, tag, archive)."""

    def close(self) -> None:
        """Release what the destination holds (a cache it opened, spool files)."""


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
        with source.open() as image:
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
            done = destination.commit(image)
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
