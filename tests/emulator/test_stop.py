"""Stopping an emulator: at once, with nothing left behind.

Every test stops at least one emulator, so a stop that waits (uvicorn's graceful
shutdown sleeps 0.1 s and gives a request in flight 2 s) costs the suite minutes. A
stop must still end every connection and the loop thread, so no socket or thread
outlives it.
"""

from __future__ import annotations

import os
import threading
import time

import httpx
from docker_registry_v1.emulator import run_hub, run_standalone

HELD_BACK = 30.0
BOUND = 0.5


def open_sockets() -> set[str]:
    """This process's sockets (``socket:[inode]``); other files and closings by other
    code (the garbage collector finalising an earlier test's objects) do not matter."""
    sockets = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target.startswith("socket:"):
            sockets.add(target)
    return sockets


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "regv1-emulator"]


def test_a_stop_with_a_request_in_flight_and_an_idle_connection_is_immediate() -> None:
    before = open_sockets()
    reg = run_standalone()
    rule = reg.faults.latency("/v1/_ping", HELD_BACK)
    answers: list[httpx.Response | Exception] = []

    def held_back() -> None:
        try:
            answers.append(httpx.get(f"{reg.url}/v1/_ping", timeout=HELD_BACK * 2))
        except httpx.HTTPError as exc:
            answers.append(exc)

    client = threading.Thread(target=held_back)
    client.start()
    with httpx.Client() as idle:
        assert idle.get(f"{reg.url}/v1/users/").status_code == 200  # stays open: keep-alive
        deadline = time.monotonic() + 10
        while rule.hits == 0:
            assert time.monotonic() < deadline, "the held-back request never arrived"
            time.sleep(0.01)
        started = time.monotonic()
        reg.stop()
        took = time.monotonic() - started
        client.join(HELD_BACK)
        assert not client.is_alive()
        # The abandoned request is ended, not served after its 30 s delay.
        assert len(answers) == 1
        answer = answers[0]
        assert isinstance(answer, Exception) or answer.status_code == 500
        # The idle keep-alive connection was closed by the server: a new request fails.
        try:
            idle.get(f"{reg.url}/v1/users/", timeout=2)
        except httpx.TransportError:
            pass
        else:
            raise AssertionError("the stopped emulator still answered")
    assert took < BOUND, f"stop took {took:.2f} s"
    assert emulator_threads() == []
    assert open_sockets() - before == set()  # none of the test's sockets is left


def test_a_hub_stops_both_listeners_at_once() -> None:
    before = open_sockets()
    with httpx.Client() as client:
        with run_hub() as hub:
            for url in (hub.index_url, hub.registry_url):
                assert client.get(f"{url}/v1/_ping").status_code == 200
            started = time.monotonic()
        took = time.monotonic() - started
        assert took < BOUND, f"stop took {took:.2f} s"
    assert emulator_threads() == []
    assert open_sockets() - before == set()  # none of the test's sockets is left
