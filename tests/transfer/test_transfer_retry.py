"""The retry policy: what it retries, how long it waits, when it stops."""

from __future__ import annotations

import pytest
from docker_registry_v1 import (
    BadRequest,
    NotFound,
    RegistryConnectionError,
    RegistryError,
    ServerError,
)
from docker_registry_v1.transfer import RetryPolicy


def _error(cls: type[RegistryError], code: int, **headers: str) -> RegistryError:
    return cls(code=code, method="GET", url="http://127.0.0.1/x", headers=list(headers.items()))


def test_delays_grow_are_capped_and_stop() -> None:
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=3.0, jitter=0.0)
    error = _error(ServerError, 503)
    assert [policy.delay(n, error) for n in range(1, 6)] == [1.0, 2.0, 3.0, 3.0, None]


def test_jitter_only_shortens() -> None:
    policy = RetryPolicy(attempts=3, base_delay=1.0, max_delay=10.0, jitter=0.5)
    waits = [policy.delay(1, RegistryConnectionError("GET", "u", "x")) for _ in range(50)]
    assert all(w is not None and 0.5 <= w <= 1.0 for w in waits)


def test_only_transient_errors_are_retried() -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.0, jitter=0.0)
    assert policy.delay(1, _error(RegistryError, 429)) == 0.0
    assert policy.delay(1, _error(NotFound, 404)) is None
    assert policy.delay(1, _error(BadRequest, 400)) is None
    assert policy.delay(1, ValueError("x")) is None


def test_retry_after_is_honoured_up_to_max_delay() -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.1, max_delay=5.0, jitter=0.0)
    assert policy.delay(1, _error(RegistryError, 429, **{"Retry-After": "4"})) == 4.0
    assert policy.delay(1, _error(RegistryError, 429, **{"Retry-After": "60"})) is None


def test_call_counts_attempts() -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.0, jitter=0.0)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _error(ServerError, 502)
        return "ok"

    assert policy.call(flaky) == "ok"
    assert len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise _error(ServerError, 500)

    calls.clear()
    with pytest.raises(ServerError):
        policy.call(broken)
    assert len(calls) == 3


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=2.0)
