"""The budget's arithmetic on a fake clock: the token bucket, the connection cap and the
shared pause (their timing over real sockets is in test_budget_wire.py)."""

from __future__ import annotations

import itertools
import logging
import threading
import time

import httpx
import pytest
from docker_registry_v1 import (
    HostBudget,
    RegistryError,
    RetryPolicy,
    add_pause_listener,
    remove_pause_listener,
)
from docker_registry_v1.core import budget as budget_module
from docker_registry_v1.core.errors import error_from_response
from docker_registry_v1.core.retry import next_wait


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_grants_burst_at_once_then_one_per_interval() -> None:
    clock = FakeClock()
    budget = HostBudget(rate=5, burst=2, clock=clock)
    assert budget.reserve() == 0.0
    assert budget.reserve() == 0.0
    assert budget.reserve() == pytest.approx(0.2)  # empty: the next token is 1/rate away
    clock.now += 0.1
    assert budget.reserve() == pytest.approx(0.1)
    clock.now += 0.1
    assert budget.reserve() == 0.0
    clock.now += 60  # a quiet minute refills the bucket to its size, not beyond
    granted = 0
    while budget.reserve() == 0.0:
        granted += 1
    assert granted == 2
    assert budget.requests == 5


def test_any_window_holds_at_most_burst_plus_rate_times_its_length() -> None:
    clock = FakeClock()
    budget = HostBudget(rate=5, clock=clock)
    grants: list[float] = []
    while clock.now < 110.0:
        wait = budget.reserve()
        if wait == 0.0:
            grants.append(clock.now)
            budget.release()
        else:
            assert wait is not None
            clock.now += wait
    assert len(grants) == 50  # one at the start, then one each 0.2 s
    most = max(sum(1 for t in grants if start <= t <= start + 1.0) for start in grants)
    assert most <= 6  # burst 1 + 5 in a closed 1-second window, never more
    assert min(b - a for a, b in itertools.pairwise(grants)) == pytest.approx(0.2)


def test_the_connection_cap_waits_for_a_release() -> None:
    clock = FakeClock()
    budget = HostBudget(max_connections=2, clock=clock)
    assert budget.reserve() == 0.0
    assert budget.reserve() == 0.0
    assert budget.reserve() is None  # only a release helps, not time
    clock.now += 10
    assert budget.reserve() is None
    budget.release()
    assert budget.in_flight == 1
    assert budget.reserve() == 0.0
    assert budget.in_flight == 2


def test_a_pause_holds_every_request_until_it_ends_and_counts_once_when_overlapping(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    budget = HostBudget(clock=clock)
    heard: list[tuple[str, float, str]] = []

    def listener(origin: str, seconds: float, reason: str) -> None:
        heard.append((origin, seconds, reason))

    add_pause_listener(listener)
    try:
        with caplog.at_level(logging.WARNING, logger="docker_registry_v1.budget"):
            budget.pause(2.0, "429 Retry-After", "https://registry.example:5000")
            clock.now += 1.0
            budget.pause(0.5, "503 Retry-After", "https://registry.example:5000")  # inside
            budget.pause(2.0, "429 Retry-After", "https://registry.example:5000")  # extends
    finally:
        remove_pause_listener(listener)
    assert budget.reserve() == pytest.approx(2.0)
    clock.now += 1.999
    assert budget.reserve() == pytest.approx(0.001)
    clock.now += 0.001
    assert budget.reserve() == 0.0
    assert budget.paused_seconds == pytest.approx(3.0)  # [100, 103): the union
    assert budget.pauses == 2
    assert heard == [
        ("https://registry.example:5000", 2.0, "429 Retry-After"),
        ("https://registry.example:5000", 2.0, "429 Retry-After"),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "pausing registry.example:5000 for 2.0 s (429 Retry-After)"
    ] * 2


def test_a_pause_is_capped() -> None:
    clock = FakeClock()
    budget = HostBudget(clock=clock)
    budget.pause(86400, "429 Retry-After")
    assert budget.paused_for() == budget_module.MAX_PAUSE


@pytest.mark.parametrize(
    ("status", "header", "paused"),
    [
        (429, "2", 2.0),
        (503, "3", 3.0),
        (429, None, 0.0),  # no Retry-After: the retry policy's backoff alone
        (500, "2", 0.0),  # only 429 and 503 pause the host
        (429, "Thu, 01 Jan 1970 00:00:00 GMT", 0.0),  # a date in the past
    ],
)
def test_an_answer_pauses_the_host_only_for_429_and_503_with_retry_after(
    status: int, header: str | None, paused: float
) -> None:
    clock = FakeClock()
    budget = HostBudget(clock=clock)
    headers = {} if header is None else {"Retry-After": header}
    request = httpx.Request("GET", "http://127.0.0.1:5000/v2/")
    budget.answered(httpx.Response(status, headers=headers, request=request))
    assert budget.paused_for() == pytest.approx(paused)


def test_an_http_date_pauses_until_that_time() -> None:
    budget = HostBudget()
    when = time.time() + 30
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(when))
    request = httpx.Request("GET", "http://127.0.0.1:5000/v2/")
    budget.answered(httpx.Response(429, headers={"Retry-After": date}, request=request))
    assert 28 <= budget.paused_for() <= 30


def test_bad_limits_are_refused() -> None:
    for rate in (0, -1, True, "5"):
        with pytest.raises(ValueError, match="rate"):
            HostBudget(rate=rate)  # type: ignore[arg-type]
    for cap in (0, 1.5, False):
        with pytest.raises(ValueError, match="max_connections"):
            HostBudget(max_connections=cap)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="burst"):
        HostBudget(burst=0)


def test_a_waiting_thread_sleeps_until_its_turn_and_a_check_can_stop_it() -> None:
    budget = HostBudget(rate=10)
    budget.acquire()
    started = time.monotonic()
    budget.acquire()  # the second token is 0.1 s away
    assert 0.08 <= time.monotonic() - started < 2.0

    budget.pause(30, "429 Retry-After")
    stop = threading.Event()

    class CancelledError(Exception):
        pass

    def check() -> None:
        if stop.is_set():
            raise CancelledError

    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            budget.acquire(check)
        except CancelledError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()  # paused: nothing is sent
    stop.set()
    waiter.join(timeout=budget_module.CHECK_EVERY * 4)
    assert not waiter.is_alive()
    assert len(outcome) == 1


def test_a_release_wakes_the_thread_waiting_for_a_slot() -> None:
    budget = HostBudget(max_connections=1)
    budget.acquire()
    got = threading.Event()

    def wait() -> None:
        budget.acquire()
        got.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert not got.wait(0.2)
    budget.release()
    assert got.wait(2)
    waiter.join()
    assert budget.in_flight == 1


def test_a_retry_after_beyond_the_senders_max_delay_pauses_nothing() -> None:
    budget = HostBudget()
    request = httpx.Request("GET", "http://127.0.0.1:5000/v2/")
    answer = httpx.Response(429, headers={"Retry-After": "120"}, request=request)
    budget.answered(answer, longest=30.0)
    assert budget.paused_for() == 0.0  # the policy gives up on it; the run does not hang
    budget.answered(answer, longest=300.0)
    assert budget.paused_for() == pytest.approx(120.0, abs=0.5)


def _refusal(status: int) -> RegistryError:
    request = httpx.Request("PUT", "http://127.0.0.1:5000/v2/r/blobs/uploads/x?digest=d")
    response = httpx.Response(status, headers={"Retry-After": "0"}, request=request)
    return error_from_response(response, b"")


@pytest.mark.parametrize(("status", "sent_again"), [(429, True), (503, False)])
def test_a_request_that_must_not_repeat_is_sent_again_only_after_a_429(
    status: int, sent_again: bool
) -> None:
    def rebuild() -> httpx.Request:
        return httpx.Request("PUT", "http://127.0.0.1:5000/v2/r/blobs/uploads/x", content=b"")

    wait = next_wait(RetryPolicy(base_delay=0), rebuild, False, 1, _refusal(status))
    assert (wait is not None) is sent_again

    def streamed() -> httpx.Request:
        return httpx.Request("PATCH", "http://127.0.0.1:5000/v2/r", content=iter([b"x"]))

    # a one-shot stream is never sent again, 429 or not: its bytes are gone
    assert next_wait(RetryPolicy(base_delay=0), streamed, None, 1, _refusal(status)) is None
