"""Per-host request budgets: a rate, a cap on requests in flight, and shared pauses.

Users share their registries with others: a legacy v1 server on a small VM falls over
under a handful of concurrent clients, and a new registry's rate limit answers ``429``
and stops a migration half-way. A :class:`HostBudget` is what one process may ask of
one origin (``scheme://host:port``), whatever the number of threads or client objects
sending to it:

* ``rate``: requests per second, a token bucket holding at most ``burst`` tokens (so
  any window of ``T`` seconds holds at most ``burst + rate * T`` requests);
* ``max_connections``: requests in flight at once; a streamed answer (a layer) counts
  until its body is closed;
* a pause, always on: when any request to the origin is answered ``429`` or ``503``
  with ``Retry-After`` (seconds or an HTTP date), no request to it is *sent* until
  then (those in flight finish). The request that got it is retried by the client's
  retry policy as before, and its retry waits for the pause like every other one. A
  ``Retry-After`` longer than that policy's ``max_delay`` pauses nothing: the policy
  gives up on it at once, as it always did, rather than hang the run.

Both clients take a budget in their send path (:meth:`HostBudget.send`, a few lines
there). Clients find it in a process-wide registry keyed by origin
(:func:`shared_budget`), so every client of one origin shares one pause and the limits
the CLI set for it; a ``budget=`` given to a client is used for its own origin.

A budget is taken once per ``send`` of a client: the extra round trip of an auth flow
(a 401 challenge answered again with credentials or a token) and the next hop of a
redirect count with the request that started them; a token server on another origin is
not counted. Both sides of a command on one host share that host's budget.

Waiting never spins: a thread sleeps on a condition until a token is due, the pause
ends or a connection is released. A waiting main thread still takes Ctrl-C at once
(lock waits are interruptible on POSIX), and a transfer run for an async caller passes
its cancel check, called at least every :data:`CHECK_EVERY` seconds while waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Protocol

import anyio
import httpx

from .names import origin_of
from .retry import retry_after

__all__ = [
    "CHECK_EVERY",
    "MAX_PAUSE",
    "HostBudget",
    "PauseListener",
    "add_pause_listener",
    "budget_for",
    "remove_pause_listener",
    "reset_budgets",
    "shared_budget",
]

LOGGER = logging.getLogger("docker_registry_v1.budget")

#: Statuses whose ``Retry-After`` pauses the whole host.
PAUSING_STATUSES = frozenset({429, 503})
#: The longest pause honoured (seconds): a server asking for an hour does not hang
#: every thread of a run for an hour (the request that got it gives up by its policy).
MAX_PAUSE = 300.0
#: How often a waiting thread calls its cancel check (seconds).
CHECK_EVERY = 0.25
#: How often an awaiting task looks for a free connection slot (seconds).
_ASYNC_SLOT_POLL = 0.05
_EPSILON = 1e-9


class PauseListener(Protocol):
    """Told when a host is paused (the CLI shows it): origin, seconds, why."""

    def __call__(self, origin: str, seconds: float, reason: str) -> None: ...


_listeners: list[PauseListener] = []
_listeners_lock = threading.Lock()


def add_pause_listener(listener: PauseListener) -> None:
    """Call ``listener`` for every pause of any host from now on (from any thread)."""
    with _listeners_lock:
        _listeners.append(listener)


def remove_pause_listener(listener: PauseListener) -> None:
    """Stop calling ``listener``; nothing happens when it was not added."""
    with _listeners_lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _positive_or_none(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{what} must be a positive number (or None for no limit)")
    return float(value)


class HostBudget:
    """What one process may ask of one origin; thread-safe, shared by every client.

    ``rate`` (requests per second) and ``max_connections`` default to no limit; the
    ``Retry-After`` pause is always on. ``burst`` is the token bucket's size: 1 spaces
    requests evenly, 2 lets one come early after a quiet moment. ``clock`` is
    :func:`time.monotonic` (tests give a fake one and use :meth:`reserve`).
    """

    def __init__(
        self,
        rate: float | None = None,
        max_connections: int | None = None,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError("burst must be a whole number of at least 1")
        self._clock = clock
        self._cond = threading.Condition()
        self.burst = burst
        self.rate: float | None = None
        self.max_connections: int | None = None
        self.limit(rate=rate, max_connections=max_connections)
        self._tokens = float(burst)
        self._stamp = clock()
        self._in_flight = 0
        self._paused_until = 0.0
        #: Requests granted so far, and the seconds the host spent paused (the union
        #: of its pauses, so overlapping ones count once).
        self.requests = 0
        self.paused_seconds = 0.0
        self.pauses = 0

    def limit(self, *, rate: float | None, max_connections: int | None) -> None:
        """Set both limits (``None``: none), e.g. for a budget already shared."""
        rate = _positive_or_none(rate, "rate")
        if max_connections is not None and (
            isinstance(max_connections, bool)
            or not isinstance(max_connections, int)
            or max_connections < 1
        ):
            raise ValueError("max_connections must be a whole number of at least 1 (or None)")
        with self._cond:
            self.rate = rate
            self.max_connections = max_connections
            self._cond.notify_all()

    def __repr__(self) -> str:
        return (
            f"HostBudget(rate={self.rate!r}, max_connections={self.max_connections!r}, "
            f"burst={self.burst!r})"
        )

    @property
    def in_flight(self) -> int:
        """Requests granted and not yet released."""
        with self._cond:
            return self._in_flight

    def paused_for(self) -> float:
        """Seconds left of the current pause (0: not paused)."""
        with self._cond:
            return max(0.0, self._paused_until - self._clock())

    # the budget's one decision, under the lock

    def _refill(self, now: float) -> None:
        if self.rate is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def _reserve(self) -> float | None:
        now = self._clock()
        self._refill(now)
        if now < self._paused_until:
            return self._paused_until - now
        if self.max_connections is not None and self._in_flight >= self.max_connections:
            return None
        if self.rate is not None:
            if self._tokens < 1.0 - _EPSILON:  # float sums of elapsed * rate fall short
                return (1.0 - self._tokens) / self.rate
            self._tokens = max(0.0, self._tokens - 1.0)
        self._in_flight += 1
        self.requests += 1
        return 0.0

    def reserve(self) -> float | None:
        """Take a request's place now (``0.0``; :meth:`release` it after), or say how
        long to wait before asking again: seconds, or ``None`` when only a
        :meth:`release` can free a connection slot. Never blocks."""
        with self._cond:
            return self._reserve()

    def acquire(self, check: Callable[[], None] | None = None) -> None:
        """Wait until a request may be sent to this origin, then take its place.

        ``check`` (a transfer's cancel check) is called while waiting and may raise."""
        with self._cond:
            while (wait := self._reserve()) != 0.0:
                if check is not None:
                    check()
                    wait = CHECK_EVERY if wait is None else min(wait, CHECK_EVERY)
                self._cond.wait(wait)

    async def aacquire(self) -> None:
        """The awaitable :meth:`acquire`: sleeps without blocking the event loop."""
        # a slot is freed by other threads too, which cannot set an event of this loop
        while (wait := self.reserve()) != 0.0:  # noqa: ASYNC110
            await anyio.sleep(_ASYNC_SLOT_POLL if wait is None else wait)

    def release(self) -> None:
        """A granted request is over (answered and its body closed, or failed)."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._cond.notify_all()  # a waiter for a slot, not only one for a token

    def pause(self, seconds: float, reason: str, origin: str = "") -> None:
        """Send nothing to this origin for ``seconds`` (at most :data:`MAX_PAUSE`) from
        now; a pause already lasting longer stays. Logged, and told to the listeners."""
        seconds = min(max(0.0, seconds), MAX_PAUSE)
        with self._cond:
            now = self._clock()
            until = now + seconds
            if until <= self._paused_until:
                return
            self.paused_seconds += until - max(now, self._paused_until)
            self.pauses += 1
            self._paused_until = until
        host = httpx.URL(origin).netloc.decode("ascii") if origin else "the host"
        LOGGER.warning("pausing %s for %.1f s (%s)", host, seconds, reason)
        with _listeners_lock:
            listeners = list(_listeners)
        for listener in listeners:
            listener(origin, seconds, reason)

    def answered(self, response: httpx.Response, longest: float = MAX_PAUSE) -> None:
        """Pause the origin when ``response`` is a 429 or 503 with ``Retry-After``, unless
        it asks for more than ``longest`` seconds (the sender's retry policy then gives
        up at once: a run that fails is better than one that hangs)."""
        if response.status_code not in PAUSING_STATUSES:
            return
        seconds = retry_after(response.headers)
        if seconds is not None and seconds <= longest:
            self.pause(
                seconds,
                f"{response.status_code} Retry-After",
                origin_of(response.request.url),
            )

    # the send path's hook

    def send(
        self,
        sending: Callable[[], httpx.Response],
        check: Callable[[], None] | None = None,
        longest: float = MAX_PAUSE,
    ) -> httpx.Response:
        """``sending()`` within the budget: waits for a place, reports a pause asked by
        the answer (up to ``longest`` seconds, the sender's ``RetryPolicy.max_delay``),
        and gives the place back when the answer's body is closed (at once when it was
        read already, or when ``sending`` failed)."""
        self.acquire(check)
        try:
            response = sending()
        except BaseException:
            self.release()
            raise
        self.answered(response, longest)
        if response.is_closed or not isinstance(response.stream, httpx.SyncByteStream):
            self.release()
        else:
            response.stream = _Releasing(response.stream, self.release)
        return response

    async def asend(
        self, sending: Callable[[], Awaitable[httpx.Response]], longest: float = MAX_PAUSE
    ) -> httpx.Response:
        """The awaitable :meth:`send`."""
        await self.aacquire()
        try:
            response = await sending()
        except BaseException:
            self.release()
            raise
        self.answered(response, longest)
        if response.is_closed or not isinstance(response.stream, httpx.AsyncByteStream):
            self.release()
        else:
            response.stream = _AsyncReleasing(response.stream, self.release)
        return response


class _Once:
    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            release, self._release = self._release, None
        if release is not None:
            release()


class _Releasing(httpx.SyncByteStream):
    """A streamed answer's body that gives its budget place back when closed."""

    def __init__(self, inner: httpx.SyncByteStream, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = _Once(release)

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._release()


class _AsyncReleasing(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = _Once(release)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._release()


_budgets: dict[str, HostBudget] = {}
_budgets_lock = threading.Lock()


def shared_budget(
    origin: str | httpx.URL,
    *,
    rate: float | None = None,
    max_connections: int | None = None,
) -> HostBudget:
    """The process's budget for ``origin`` (made on first use, without limits); with
    ``rate`` or ``max_connections`` given, those become its limits."""
    key = origin_of(origin)
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = HostBudget()
    if rate is not None or max_connections is not None:
        budget.limit(rate=rate, max_connections=max_connections)
    return budget


def budget_for(url: httpx.URL, own: HostBudget | None, own_origin: str) -> HostBudget:
    """The budget a client's request to ``url`` goes through: the client's own
    ``budget=`` for its own origin, else the process's shared one for ``url``'s."""
    origin = origin_of(url)
    if own is not None and origin == own_origin:
        return own
    return shared_budget(origin)


def reset_budgets() -> None:
    """Forget every shared budget (a new run in the same process starts unpaused)."""
    with _budgets_lock:
        _budgets.clear()
