"""Helpers shared by the facade tests."""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any

from anyio.from_thread import BlockingPortal
from docker_registry_v1.emulator.requestlog import LogEntry
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain

ALICE = ("alice", "s3cret")


class Blocking:
    """Gives an AsyncClient (or one of its services) the sync surface, via a portal."""

    def __init__(self, target: Any, portal: BlockingPortal) -> None:
        self._target = target
        self._portal = portal

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if inspect.iscoroutinefunction(value):
            return lambda *a, **k: self._portal.call(functools.partial(value, *a, **k))
        if inspect.isasyncgenfunction(value):

            async def collect(*a: Any, **k: Any) -> list[Any]:
                return [item async for item in value(*a, **k)]

            return lambda *a, **k: self._portal.call(functools.partial(collect, *a, **k))
        if type(value).__module__ == "docker_registry_v1.v1.services":
            return Blocking(value, self._portal)
        return value


def chain(layers: int = 2, seed: int = 0) -> list[SeedImage]:
    return build_image_chain(layers, seed=seed, layer_size=2048)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])


def requests(log_entries: list[LogEntry], method: str, path: str) -> list[LogEntry]:
    return [e for e in log_entries if e.method == method and e.path == path]


def settled(emulator: Any, timeout: float = 2.0) -> list[LogEntry]:
    """The request log once it stops growing: a streamed response is logged after it ends."""
    deadline = time.monotonic() + timeout
    previous = -1
    while True:
        entries = emulator.log.entries
        if (entries and len(entries) == previous) or time.monotonic() > deadline:
            return entries
        previous = len(entries)
        time.sleep(0.02)
