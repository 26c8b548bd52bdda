"""How far the long phases around a migration's transfer are: inventory, plan, verify.

Reading a big registry's inventory, surveying the destination for a plan and checking
every migrated tag each take minutes at scale, with nothing moving that a byte counter
could show. Each of them reports to a :class:`PhaseListener` instead, from the loops it
already runs (no request is added for the sake of progress), so the library stays
silent and the CLI decides whether that becomes a bar, NDJSON events or nothing.

A phase counts its units of work in ``done`` against ``total`` (``None`` until known;
it may grow once, when the phase learns of a second kind of work, such as the tags a
plan must check after listing the repositories), plus named ``counts`` of what it
saw (images read, blobs looked up, requests sent). Loops in worker threads report
through one :class:`Phase`, which serialises the updates: every listener sees a
phase's states one at a time and in order, so ``done`` never goes back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["Phase", "PhaseListener", "PhaseState"]


@attrs.frozen
class PhaseState:
    """One phase at one moment: what it has done, out of how much, and what it counted.

    ``phase`` is ``"inventory"``, ``"plan"`` or ``"verify"`` (``migrate --repair``
    verifies first); ``seconds`` is the time since the phase started.
    """

    phase: str
    done: int
    total: int | None
    counts: Mapping[str, int]
    seconds: float


@runtime_checkable
class PhaseListener(Protocol):
    """Told how far each long phase is; called from worker threads, one call at a time
    per phase (a listener used by one phase at a time needs no lock of its own)."""

    def phase_started(self, state: PhaseState) -> None:
        """The phase begins (``done == 0``; ``total`` may still be ``None``)."""

    def phase_advanced(self, state: PhaseState) -> None:
        """Some work was done, or the total became known or grew."""

    def phase_finished(self, state: PhaseState) -> None:
        """The phase completed (``done == total``); not called when it raised."""


class Phase:
    """The reporting end of one phase: thread-safe counters whose every change goes to
    the listener (if any) as a :class:`PhaseState`, under one lock so states arrive in
    order. ``counts`` names the counts the phase keeps (0 until counted, so every state
    carries each of them); ``sampled`` counts are read at each change instead of being
    added to (the requests a client's own counter has seen)."""

    def __init__(
        self,
        listener: PhaseListener | None,
        name: str,
        total: int | None = None,
        *,
        counts: Iterable[str] = (),
        sampled: Mapping[str, Callable[[], int]] | None = None,
    ) -> None:
        self._listener = listener
        self._name = name
        self._total = total
        self._sampled = dict(sampled or {})
        self._done = 0
        self._counts = dict.fromkeys(counts, 0)
        self._started = time.monotonic()
        self._lock = threading.Lock()

    @property
    def total(self) -> int | None:
        """The total so far."""
        return self._total

    def _state(self) -> PhaseState:
        counts = dict(self._counts)
        counts.update((name, read()) for name, read in self._sampled.items())
        return PhaseState(
            self._name,
            self._done,
            self._total,
            MappingProxyType(counts),
            time.monotonic() - self._started,
        )

    def start(self) -> Phase:
        """Tell the listener the phase begins (the clock starts here); returns itself."""
        if self._listener is not None:
            with self._lock:
                self._started = time.monotonic()
                self._listener.phase_started(self._state())
        return self

    def set_total(self, total: int) -> None:
        """The total, once known."""

        def apply() -> None:
            self._total = total

        self._change(apply)

    def add_total(self, more: int) -> None:
        """More work than the total said (a second kind of work became known)."""

        def apply() -> None:
            self._total = (self._total or 0) + more

        self._change(apply)

    def advance(self, done: int = 1, **counts: int) -> None:
        """``done`` more units of work, and ``counts`` added to the named counts."""
        if self._listener is None:
            return  # nobody listens: not even the closure below

        def add() -> None:
            self._done += done
            for name, value in counts.items():
                self._counts[name] = self._counts.get(name, 0) + value

        self._change(add)

    def finish(self) -> None:
        """The phase completed: the last state goes out, whatever the rate."""
        if self._listener is not None:
            with self._lock:
                self._listener.phase_finished(self._state())

    def _change(self, apply: Callable[[], None]) -> None:
        if self._listener is None:
            return  # nobody listens: no lock, no snapshot
        with self._lock:
            apply()
            self._listener.phase_advanced(self._state())
