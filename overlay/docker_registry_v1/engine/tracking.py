"""Progress and byte counts of one transfer, safe to update from several threads."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import attrs

from ..core.progress import AssemblyListener, PlannedLayer, ProgressListener, SilentProgress

__all__ = ["Tracker"]


@attrs.define
class Tracker:
    """Forwards to the listener and keeps what the result reports."""

    listener: ProgressListener = attrs.field(factory=SilentProgress)
    transferred: int = 0
    moved: list[str] = attrs.field(factory=list)
    skipped: list[str] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def plan(self, layers: Iterable[tuple[str, int | None]]) -> None:
        self.listener.planned([PlannedLayer(image_id, size) for image_id, size in layers])

    def advanced(self, image_id: str, nbytes: int) -> None:
        with self._lock:
            self.transferred += max(nbytes, 0)
        self.listener.advanced(image_id, nbytes)

    def rewind(self, image_id: str, nbytes: int) -> None:
        """Bytes already reported that will move again (a restarted layer)."""
        if nbytes:
            self.listener.advanced(image_id, -nbytes)

    def done(self, image_id: str) -> None:
        with self._lock:
            self.moved.append(image_id)
        self.listener.finished(image_id)

    def skip(self, image_id: str) -> None:
        with self._lock:
            self.skipped.append(image_id)
        self.listener.finished(image_id, skipped=True)

    def assembling(self, total: int) -> None:
        if isinstance(self.listener, AssemblyListener):
            self.listener.assembling(total)

    def assembled(self, nbytes: int) -> None:
        if isinstance(self.listener, AssemblyListener):
            self.listener.assembled(nbytes)
