"""Progress bars for transfers: one per layer in flight plus an overall bar, on stderr.

A pull adds one more bar after its last layer, while it assembles the archive
(diff_ids, decompression, the copy into the tar), so a big image does not look
stuck at 100 %.

Bars only appear when stderr is a terminal and ``--json`` is off; pipes, logs and
machine consumers get silence (:class:`SilentProgress`). Transfers call the listener
from worker threads, so every update goes through rich's own lock.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from docker_registry_v1.core.budget import add_pause_listener, remove_pause_listener
from docker_registry_v1.core.progress import PlannedLayer, ProgressListener, SilentProgress

from .options import Settings

__all__ = ["RichProgress", "progress_for", "showing_pauses"]


class RichProgress:
    """A :class:`ProgressListener` (and :class:`AssemblyListener`) drawing bytes, rate and
    ETA per layer and overall, then the archive's assembly."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._overall: TaskID | None = None
        self._layers: dict[str, TaskID] = {}
        self._sizes: dict[str, int | None] = {}
        self._total: int | None = None
        self._assembly: TaskID | None = None

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        sizes = [layer.size for layer in layers]
        total = None if None in sizes else sum(size or 0 for size in sizes)
        with self._lock:
            self._total = total
            self._overall = self._progress.add_task(f"total ({len(layers)} layers)", total=total)
            for layer in layers:
                self._sizes[layer.image_id] = layer.size
                self._layers[layer.image_id] = self._progress.add_task(
                    layer.image_id[:12], total=layer.size, start=False
                )

    def advanced(self, image_id: str, nbytes: int) -> None:
        with self._lock:
            task = self._layers.get(image_id)
            overall = self._overall
        if task is not None:
            self._progress.start_task(task)
            self._progress.advance(task, nbytes)
        if overall is not None:
            self._progress.advance(overall, nbytes)

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        with self._lock:
            task = self._layers.pop(image_id, None)
            size = self._sizes.get(image_id)
            if skipped and size and self._total is not None:
                self._total = max(self._total - size, 0)
            overall, total = self._overall, self._total
        if task is not None:
            self._progress.remove_task(task)
        if skipped and overall is not None:
            self._progress.update(overall, total=total)

    def assembling(self, total: int) -> None:
        task = self._progress.add_task("assembling archive", total=total)
        with self._lock:
            self._assembly = task

    def assembled(self, nbytes: int) -> None:
        with self._lock:
            task = self._assembly
        if task is not None:
            self._progress.advance(task, nbytes)


@contextmanager
def progress_for(settings: Settings, console: Console | None = None) -> Iterator[ProgressListener]:
    """Bars on an interactive stderr (or the given console), silence everywhere else."""
    target = console or Console(file=sys.stderr)
    if settings.json or not target.is_terminal:
        yield SilentProgress()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=target, transient=False) as progress:
        yield RichProgress(progress)


@contextmanager
def showing_pauses(show: Callable[[str, float, str], None]) -> Iterator[None]:
    """While in the block, ``show(host, seconds, reason)`` for every pause a host's budget
    takes (a ``429``/``503`` ``Retry-After``), so a long wait is seen, not a frozen bar."""

    def heard(origin: str, seconds: float, reason: str) -> None:
        host = httpx.URL(origin).netloc.decode("ascii") if origin else "?"
        show(host, seconds, reason)

    add_pause_listener(heard)
    try:
        yield
    finally:
        remove_pause_listener(heard)
