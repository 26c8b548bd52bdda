"""Bounded retries with exponential backoff and jitter, for requests that are safe to repeat.

Transfers retry only what the v1 upload state machine allows to happen twice:
every GET, the image JSON and layer PUTs before the checksum PUT (an in-progress
image accepts both again) and the tag PUT (it just overwrites). The checksum PUT
and the index PUTs are never repeated. A retry happens after a connection
failure or timeout, a body cut short, a 429 (honouring ``Retry-After`` up to
``max_delay``) or a 5xx; every other answer is final.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import anyio
import attrs

from ..errors import DockerRegistryError, IncompleteBody, RegistryConnectionError, RegistryError

__all__ = ["RetryPolicy"]

T = TypeVar("T")
P = ParamSpec("P")

_TOO_MANY_REQUESTS = 429


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative")


@attrs.frozen
class RetryPolicy:
    """``attempts`` tries in all; waits ``base_delay * 2**n`` capped at ``max_delay``.

    ``jitter`` (0 to 1) shortens each wait by a random fraction of up to that much, so
    parallel transfers that failed together do not come back together.
    """

    attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    base_delay: float = attrs.field(default=0.5, validator=_positive)
    max_delay: float = attrs.field(default=30.0, validator=_positive)
    jitter: float = attrs.field(
        default=0.5, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )

    def delay(self, failures: int, error: BaseException) -> float | None:
        """Seconds to wait after the ``failures``-th consecutive failure; None: give up."""
        if failures >= self.attempts or not retryable(error):
            return None
        wait = min(self.max_delay, self.base_delay * 2.0 ** (failures - 1))
        wait *= 1 - self.jitter * random.random()  # noqa: S311 - spreading retries, not secrets
        if isinstance(error, RegistryError):
            asked = _retry_after(error)
            if asked is not None:
                if asked > self.max_delay:
                    return None
                wait = max(wait, asked)
        return wait

    def call(self, action: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``action`` until it succeeds or the policy gives up (then its error is raised)."""
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

    async def acall(
        self, action: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """The awaitable twin of :meth:`call`: awaits ``action`` until it succeeds or the
        policy gives up (then its error is raised)."""
        failures = 0
        while True:
            try:
                return await action(*args, **kwargs)
            except DockerRegistryError as error:
                failures += 1
                wait = self.delay(failures, error)
                if wait is None:
                    raise
            await anyio.sleep(wait)


def retryable(error: BaseException) -> bool:
    """Connection trouble, 429 and 5xx are worth another try; nothing else is."""
    if isinstance(error, RegistryConnectionError | IncompleteBody):
        return True
    if isinstance(error, RegistryError):
        return error.code == _TOO_MANY_REQUESTS or error.code >= 500
    return False


def _retry_after(error: RegistryError) -> float | None:
    value = error.headers.get("Retry-After", "").strip()
    return float(value) if value.isascii() and value.isdigit() else None
