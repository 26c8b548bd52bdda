"""Progress bars for transfers: one per layer in flight plus an overall bar, on stderr.

A pull adds one more bar after its last layer, while it assembles the archive
(diff_ids, decompression, the copy into the tar), so a big image does not look
stuck at 100 %.

Bars only appear when stderr is a terminal and ``--json`` is off; pipes, logs and
machine consumers get silence (:class:`SilentProgress`). Transfers call the listener
from worker threads, so every update goes through rich's own lock.

The phases with no bytes to count (an inventory, a migration's plan, a verify) get
one bar each on a terminal (:class:`PhaseBars`), NDJSON ``phase`` events on stderr
with ``--format json`` (:class:`PhaseEvents`, a few a second at most), and nothing
otherwise: :func:`phase_progress` chooses.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from docker_registry_v1.core.budget import add_pause_listener, remove_pause_listener
from docker_registry_v1.core.progress import PlannedLayer, ProgressListener, SilentProgress
from docker_registry_v1.transfer.phases import PhaseListener, PhaseState

from .options import Settings

__all__ = [
    "EVENTS_PER_SECOND",
    "PhaseBars",
    "PhaseEvents",
    "RichProgress",
    "phase_progress",
    "progress_for",
    "showing_pauses",
]

#: At most this many ``phase`` events a second for each phase, plus its last one: a
#: 50,000-tag plan must not flood the reader of the event stream.
EVENTS_PER_SECOND = 4

#: What ``done``/``total`` count in each phase, as a bar says it.
_UNITS = {
    "inventory": "repositories read",
    "plan": "repositories listed, tags checked",
    "verify": "tags checked, blobs looked up",
    "migrate": "tags",
}


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


def _detail(state: PhaseState) -> str:
    """The counts after the bar: ``12 images, 40 requests/s`` (a rate for requests)."""
    parts = []
    for name, value in state.counts.items():
        if name == "requests":
            rate = value / state.seconds if state.seconds > 0 else 0.0
            parts.append(f"{value} requests ({rate:.0f}/s)")
        else:
            parts.append(f"{value} {name.replace('_', ' ')}")
    return ", ".join(parts)


class PhaseBars(PhaseListener):
    """A :class:`PhaseListener` drawing one bar per phase while it runs (done/total,
    the counts, requests per second, the time so far); the finished bar stays on
    screen as the phase's record. A phase with nothing to do (a total of 0) draws none.

    Each bar is a live display of its own, open only while its phase runs, so the
    transfer's bars (another live display) can follow; :meth:`close` ends one left
    open by a phase that raised.
    """

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def _show(self, state: PhaseState) -> None:
        with self._lock:
            if self._progress is None:
                if state.total == 0:
                    return
                self._progress = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[detail]}"),
                    TimeElapsedColumn(),
                    console=self._console,
                )
                self._progress.start()
                unit = _UNITS.get(state.phase, "done")
                self._task = self._progress.add_task(
                    f"{state.phase}: {unit}", total=state.total, detail=""
                )
            progress, task = self._progress, self._task
        assert task is not None
        progress.update(task, completed=state.done, total=state.total, detail=_detail(state))

    def phase_started(self, state: PhaseState) -> None:
        self._show(state)

    def phase_advanced(self, state: PhaseState) -> None:
        self._show(state)

    def phase_finished(self, state: PhaseState) -> None:
        self._show(state)
        self.close()

    def close(self) -> None:
        with self._lock:
            progress, self._progress, self._task = self._progress, None, None
        if progress is not None:
            progress.stop()


class PhaseEvents(PhaseListener):
    """A :class:`PhaseListener` writing NDJSON ``phase`` events: ``{"event": "phase",
    "phase": …, "done": …, "total": …, "seconds": …, "finished": …}`` plus the phase's
    counts, at most :data:`EVENTS_PER_SECOND` a second per phase and always the last.

    A phase's first event is its start once its total is known (not before: a search
    that fails leaves only its ``error:`` line), and a phase with nothing to do (a total
    of 0) sends none. ``emit`` writes one event (default: a line on stderr).
    """

    def __init__(self, emit: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._emit = emit or _stderr_line
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def _send(self, state: PhaseState, *, finished: bool) -> None:
        if not state.total:
            return
        now = time.monotonic()
        with self._lock:
            last = self._last.get(state.phase)
            if not finished and last is not None and now - last < 1 / EVENTS_PER_SECOND:
                return
            self._last[state.phase] = now
        self._emit(
            {
                **state.counts,
                "event": "phase",
                "phase": state.phase,
                "done": state.done,
                "total": state.total,
                "seconds": round(state.seconds, 3),
                "finished": finished,
            }
        )

    def phase_started(self, state: PhaseState) -> None:
        self._send(state, finished=False)

    def phase_advanced(self, state: PhaseState) -> None:
        self._send(state, finished=False)

    def phase_finished(self, state: PhaseState) -> None:
        with self._lock:
            self._last.pop(state.phase, None)  # a later phase of that name starts afresh
        self._send(state, finished=True)


_STDERR_LOCK = threading.Lock()


def _stderr_line(event: dict[str, Any]) -> None:
    with _STDERR_LOCK:
        sys.stderr.write(json.dumps(event, sort_keys=True) + "\n")
        sys.stderr.flush()


@contextmanager
def phase_progress(
    settings: Settings, console: Console | None = None
) -> Iterator[PhaseListener | None]:
    """Events for ``--format json`` (on stderr, as a migration's progress events), bars
    on an interactive stderr for the human formats, else nothing (a record stream, CSV, a
    pipe, a log: scripts keep the output they had)."""
    if settings.json:
        yield PhaseEvents()
        return
    target = console or Console(file=sys.stderr)
    if settings.output_format in ("ndjson", "csv") or not target.is_terminal:
        yield None
        return
    bars = PhaseBars(target)
    try:
        yield bars
    finally:
        bars.close()
