"""The one retry policy of both clients' send path: bounded attempts, backoff with jitter.

It lives here, outside ``transfer``, because the v1 :class:`~docker_registry_v1.Client`
and the :class:`~docker_registry_v1.OCIClient` both retry with it inside their send
path, and neither may import the transfers (they import the clients).

What is retried: a connection failure or timeout, a body cut short, a 408, a 429 and a
5xx; every other answer is final. ``Retry-After`` is honoured in seconds or as an HTTP
date (RFC 9110), but never beyond ``max_delay``: a server asking for a longer wait gets
an immediate give-up instead of a hung client.

Which requests may be sent again is the send path's decision (:func:`replayable`):
idempotent methods whose body is bytes, never a one-shot stream, and a POST only when
its operation says it is repeatable. The v1 upload state machine adds its own rule,
applied where those calls are described (``services.py``): every GET, the image JSON
and layer PUTs before the checksum PUT (an in-progress image accepts both again) and
the tag PUT (it just overwrites) may happen twice; the checksum PUT and the index PUTs
(the write token's ``PUT …/{repo}/`` and the final ``PUT …/images``) never do. One
answer lifts that rule: a 429 is a refusal before any work (RFC 6585), so a request
answered 429 is sent again whatever its method, when its body is still in memory (a
rate-limited registry answers 429 to a mount POST or an upload's final PUT as well).
"""

from __future__ import annotations

import datetime
import email.utils
import enum
import random
import time
from collections.abc import Callable
from typing import ParamSpec, Protocol, Self, TypeVar

import attrs
import httpx

from . import httplog
from .errors import (
    DockerRegistryError,
    IncompleteBody,
    InvalidInput,
    RegistryConnectionError,
    RegistryError,
)

__all__ = [
    "NO_RETRY",
    "RetryPolicy",
    "next_wait",
    "replayable",
    "retryable",
    "scoped",
    "unretried",
]

T = TypeVar("T")
P = ParamSpec("P")

_REQUEST_TIMEOUT = 408
_TOO_MANY_REQUESTS = 429
#: Methods RFC 9110 calls idempotent (TRACE aside): sending one twice changes nothing more.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative")


@attrs.frozen
class RetryPolicy:
    """``attempts`` tries in all; waits ``base_delay * 2**n`` capped at ``max_delay``.

    ``jitter`` (0 to 1) shortens each wait by a random fraction of up to that much, so
    parallel transfers that failed together do not come back together.
    ``RetryPolicy(attempts=1)`` (or ``retry=None`` where a client takes one) retries nothing.
    ``speed_limit``/``speed_time`` bound each layer transfer's rate (see below).
    """

    attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    base_delay: float = attrs.field(default=0.5, validator=_positive)
    max_delay: float = attrs.field(default=30.0, validator=_positive)
    jitter: float = attrs.field(
        default=0.5, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    speed_limit: int = attrs.field(default=1024, validator=attrs.validators.ge(0))
    """Bytes/s a layer read or upload must keep up over ``speed_time`` seconds, else it is
    aborted as stalled (``TransferStalled``) and retried like a dropped connection; 0: no
    limit. curl's ``--speed-limit``: the per-read timeout never trips on a trickle."""
    speed_time: float = attrs.field(default=60.0, validator=attrs.validators.gt(0.0))
    """Seconds the rate is measured over (curl's ``--speed-time``)."""

    def delay(self, failures: int, error: BaseException) -> float | None:
        """Seconds to wait after the ``failures``-th consecutive failure; None: give up
        (too many failures, an error not worth repeating, or a ``Retry-After`` longer
        than ``max_delay``)."""
        if failures >= self.attempts or not retryable(error):
            return None
        wait = min(self.max_delay, self.base_delay * 2.0 ** (failures - 1))
        wait *= 1 - self.jitter * random.random()  # noqa: S311 - spreading retries, not secrets
        if isinstance(error, RegistryError):
            asked = retry_after(error.headers)
            if asked is not None:
                if asked > self.max_delay:
                    return None
                wait = max(wait, asked)
        return wait

    def call(self, action: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``action`` until it succeeds or the policy gives up (then its error is
        raised). For a step of several requests; a single request is retried by the
        client's own send path already, and wrapping it again multiplies the attempts."""
        failures = 0
        while True:
            try:
                return action(*args, **kwargs)
            except DockerRegistryError as error:
                failures += 1
                wait = self.delay(failures, error)
                if wait is None:
                    raise
            time.sleep(wait)


class Keep(enum.Enum):
    """The default of ``with_options``' parameters: leave that setting as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP
Timeout = httpx.Timeout | float | None


def with_timeout(request: httpx.Request, timeout: Timeout | Keep) -> None:
    """Give one request its own timeout (a ``with_options`` copy's), else the pool's."""
    if timeout is not KEEP:
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()


#: The policy of a client built with ``retry=None``: one attempt, nothing repeated.
NO_RETRY = RetryPolicy(attempts=1)
DEFAULT_RETRY = RetryPolicy()


def as_policy(retry: RetryPolicy | None) -> RetryPolicy:
    """``retry=None`` means off, for both clients and ``with_options``."""
    if retry is None:
        return NO_RETRY
    if not isinstance(retry, RetryPolicy):
        raise InvalidInput("retry", f"expected a RetryPolicy or None, got {type(retry).__name__}")
    return retry


def retryable(error: BaseException) -> bool:
    """Connection trouble, a body cut short, 408, 429 and 5xx are worth another try;
    nothing else is."""
    if isinstance(error, RegistryConnectionError | IncompleteBody):
        return True
    if isinstance(error, RegistryError):
        return error.code in {_REQUEST_TIMEOUT, _TOO_MANY_REQUESTS} or error.code >= 500
    return False


def replayable(request: httpx.Request, *, declared: bool | None) -> bool:
    """Whether the send path may send ``request`` again after a failure.

    ``declared`` is the operation's own word: ``False`` never (the v1 checksum and index
    PUTs), ``True`` also for a POST (e.g. opening an OCI upload session), ``None``: by
    method. Either way the body must be bytes in memory: a stream was consumed by the
    first attempt and cannot be sent again."""
    if declared is False:
        return False
    if declared is None and request.method not in IDEMPOTENT_METHODS:
        return False
    return isinstance(request.stream, httpx.ByteStream)


def retry_after(headers: httpx.Headers) -> float | None:
    """``Retry-After`` in seconds, whether sent as delay-seconds or as an HTTP date
    (RFC 9110 §10.2.3); ``None`` when absent or unreadable. A date in the past is 0."""
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def next_wait(
    policy: RetryPolicy,
    rebuild: Callable[[], httpx.Request],
    declared: bool | None,
    failures: int,
    error: DockerRegistryError,
) -> float | None:
    """The send path's one decision after a failed attempt: the seconds to wait before
    sending the request again (logged with the reason), or ``None`` to raise ``error``.
    ``rebuild`` gives the request as the next attempt would send it (its body is what
    decides whether it can be replayed); it is only built when the error is retryable."""
    wait = policy.delay(failures, error)
    if wait is None:
        return None
    request = rebuild()
    if not replayable(request, declared=True if _refused_unread(error) else declared):
        return None
    httplog.retrying(request, _why(error), failures, policy.attempts, wait)
    return wait


def _refused_unread(error: DockerRegistryError) -> bool:
    """A 429 is a refusal before any work (RFC 6585: the server did not act on the
    request), so even a request that must not happen twice (a mount POST, the PUT that
    completes an upload) may be sent again, if its body is still in memory."""
    return isinstance(error, RegistryError) and error.code == _TOO_MANY_REQUESTS


def _why(error: DockerRegistryError) -> str:
    """The reason for a retry, for the log: a status or an exception's name, never the
    error's text (which carries a URL)."""
    if isinstance(error, RegistryError) and not isinstance(error, IncompleteBody):
        return f"{error.code} {type(error).__name__}"
    cause = error.__cause__
    return type(error).__name__ + (f" ({type(cause).__name__})" if cause is not None else "")


# How a whole-image transfer shares one policy with the clients it drives: it sends
# through a ``with_options`` copy carrying its ``retry=`` (:func:`scoped`), and a loop over
# a step of several requests runs them unretried and counts failures itself.


class _Retrying(Protocol):
    retry: RetryPolicy

    def with_options(self, *, retry: RetryPolicy | None = ...) -> Self: ...


C = TypeVar("C", bound=_Retrying)


def scoped(client: C, retry: RetryPolicy | None) -> C:
    """The client a transfer sends with: ``client`` itself, or with ``retry`` when given.
    Its ``retry`` is then the transfer's one policy."""
    return client if retry is None else client.with_options(retry=retry)


def unretried(client: C) -> C:
    """``client`` for the requests of a loop that retries them itself (with ``client.retry``)."""
    if client.retry.attempts == 1:
        return client
    # one attempt, the policy's stall limit kept (it bounds each transfer, not the loop)
    return client.with_options(retry=attrs.evolve(client.retry, attempts=1))
