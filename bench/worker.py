"""One client-side measurement, run in its own process: ``python -m bench.worker '<json>'``.

A fresh process per measurement keeps the numbers honest: its peak RSS (VmHWM,
reset after imports and setup through ``/proc/self/clear_refs``) belongs to the
client alone, and no server shares its interpreter or its GIL. Prints one JSON
list with a ``{"seconds", "bytes", "rss_growth_mib"}`` entry per repetition.
"""

# Opening /dev/null and local files blocks for microseconds, outside any timed section.
# ruff: noqa: ASYNC230, ASYNC240

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
from docker_registry_v1 import AsyncClient, Client

CHUNK = 1 << 16
BLOCKS = 20  # per repetition of the per-call case
CALLS = ("list_tags", "get_metadata")
MIB = 1 << 20
JSON_HEADERS = {"Content-Type": "application/json"}
OCTETS = {"Content-Type": "application/octet-stream"}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


class Sample:
    """Times one repetition and the growth of peak RSS over it."""

    def __enter__(self) -> Sample:
        Path("/proc/self/clear_refs").write_text("5")
        self.rss_before = _status_kib("VmRSS")
        self.bytes = 0
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.growth_mib = (_status_kib("VmHWM") - self.rss_before) / 1024

    def record(self) -> dict[str, float]:
        return {"seconds": self.seconds, "bytes": self.bytes, "rss_growth_mib": self.growth_mib}


# ---------------------------------------------------------------- layer GET


def get_facade_sync(spec: dict[str, Any]) -> list[dict[str, float]]:
    out = []
    with Client(spec["base"]) as client, open("/dev/null", "wb") as sink:
        for _ in range(spec["reps"]):
            with Sample() as sample:
                sample.bytes = client.image.get_layer(spec["image_id"], sink)
            out.append(sample.record())
    return out


def get_httpx_sync(spec: dict[str, Any]) -> list[dict[str, float]]:
    out = []
    url = f"{spec['base']}v1/images/{spec['image_id']}/layer"
    with httpx.Client() as http, open("/dev/null", "wb") as sink:
        for _ in range(spec["reps"]):
            with Sample() as sample, http.stream("GET", url) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    sink.write(chunk)
                sample.bytes = response.num_bytes_downloaded
            out.append(sample.record())
    return out


async def get_facade_async(spec: dict[str, Any]) -> list[dict[str, float]]:
    out = []
    async with AsyncClient(spec["base"]) as client:
        with open("/dev/null", "wb") as sink:
            for _ in range(spec["reps"]):
                with Sample() as sample:
                    sample.bytes = await client.image.get_layer(spec["image_id"], sink)
                out.append(sample.record())
    return out


async def get_httpx_async(spec: dict[str, Any]) -> list[dict[str, float]]:
    out = []
    url = f"{spec['base']}v1/images/{spec['image_id']}/layer"
    async with httpx.AsyncClient() as http:
        with open("/dev/null", "wb") as sink:
            for _ in range(spec["reps"]):
                with Sample() as sample:
                    async with http.stream("GET", url) as response:
                        response.raise_for_status()
                        async for chunk in response.aiter_bytes():
                            sink.write(chunk)
                        sample.bytes = response.num_bytes_downloaded
                out.append(sample.record())
    return out


# ---------------------------------------------------------------- layer PUT


def _announce(http: httpx.Client, spec: dict[str, Any], image_id: str) -> None:
    """The emulator takes a layer only after its JSON; nginx takes any PUT."""
    if spec["put_json"]:
        body = json.dumps({"id": image_id}).encode()
        url = f"{spec['base']}v1/images/{image_id}/json"
        http.put(url, content=body, headers=JSON_HEADERS).raise_for_status()


def put_facade_sync(spec: dict[str, Any]) -> list[dict[str, float]]:
    out = []
    with Client(spec["base"]) as client, httpx.Client() as http:
        for image_id in spec["ids"]:
            _announce(http, spec, image_id)
            with open(spec["source"], "rb") as source, Sample() as sample:
                sample.bytes = client.image.add_layer(image_id, source).size
            out.append(sample.record())
    return out


def put_httpx_sync(spec: dict[str, Any]) -> list[dict[str, float]]:
    out = []
    with httpx.Client() as http:
        for image_id in spec["ids"]:
            _announce(http, spec, image_id)
            url = f"{spec['base']}v1/images/{image_id}/layer"
            with open(spec["source"], "rb") as source, Sample() as sample:
                http.put(url, content=source, headers=OCTETS).raise_for_status()
                sample.bytes = source.tell()
            out.append(sample.record())
    return out


async def put_facade_async(spec: dict[str, Any]) -> list[dict[str, float]]:
    out = []
    async with AsyncClient(spec["base"]) as client:
        for image_id in spec["ids"]:
            with httpx.Client() as http:
                _announce(http, spec, image_id)
            with open(spec["source"], "rb") as source, Sample() as sample:
                sample.bytes = (await client.image.add_layer(image_id, source)).size
            out.append(sample.record())
    return out


async def _file_chunks(path: str) -> AsyncIterator[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


async def put_httpx_async(spec: dict[str, Any]) -> list[dict[str, float]]:
    out = []
    size = Path(spec["source"]).stat().st_size
    headers = {**OCTETS, "Content-Length": str(size)}
    async with httpx.AsyncClient() as http:
        for image_id in spec["ids"]:
            with httpx.Client() as sync_http:
                _announce(sync_http, spec, image_id)
            url = f"{spec['base']}v1/images/{image_id}/layer"
            with Sample() as sample:
                response = await http.put(
                    url, content=_file_chunks(spec["source"]), headers=headers
                )
                response.raise_for_status()
                sample.bytes = size
            out.append(sample.record())
    return out


# ---------------------------------------------------------------- per-call overhead


def _timed_loop(n: int, call: Callable[[], object]) -> dict[str, float]:
    call()  # the connection is open before the clock starts
    with Sample() as sample:
        for _ in range(n):
            call()
    sample.bytes = 0
    return sample.record()


def calls(spec: dict[str, Any]) -> list[dict[str, float]]:
    """Both contenders in one process, in short alternating blocks (the order swapped each
    block): a machine whose load drifts (other work on it) then weighs on both alike,
    which separate processes measured seconds apart cannot promise. Each repetition is
    the sum of its blocks, ``calls`` calls per contender and call."""
    repo, image_id, n = spec["repo"], spec["image_id"], spec["calls"]
    blocks = BLOCKS if n % BLOCKS == 0 else 1
    tags_url = f"{spec['base']}v1/repositories/{repo}/tags"
    json_url = f"{spec['base']}v1/images/{image_id}/json"

    def get(http: httpx.Client, url: str) -> object:
        response = http.get(url)
        response.raise_for_status()
        return response.json()

    out = []
    with Client(spec["base"]) as client, httpx.Client() as http:
        contenders = {
            "facade": {
                "list_tags": lambda: client.repository.list_tags(repo),
                "get_metadata": lambda: client.image.get_metadata(image_id),
            },
            "raw httpx": {
                "list_tags": lambda: get(http, tags_url),
                "get_metadata": lambda: get(http, json_url),
            },
        }
        for _ in range(spec["reps"]):
            sample = {f"{name} {call}": 0.0 for name in contenders for call in CALLS}
            for block in range(blocks):
                order = list(contenders) if block % 2 == 0 else list(reversed(contenders))
                for call in CALLS:
                    for name in order:
                        timed = _timed_loop(n // blocks, contenders[name][call])
                        sample[f"{name} {call}"] += timed["seconds"]
            out.append(sample)
    return out


# ---------------------------------------------------------------- whole-image pull


def pull_sync(spec: dict[str, Any]) -> list[dict[str, float]]:
    out = []
    work = Path(spec["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    with Client(spec["base"]) as client:
        for rep in range(spec["reps"]):
            dest = work / f"pulled-{spec['concurrency']}-{rep}.tar"
            with Sample() as sample:
                result = client.pull(
                    spec["repo"], spec["tag"], dest, concurrency=spec["concurrency"]
                )
                sample.bytes = result.bytes_transferred
            dest.unlink()
            out.append(sample.record())
    shutil.rmtree(work, ignore_errors=True)
    return out


SYNC: dict[str, Callable[[dict[str, Any]], list[dict[str, float]]]] = {
    "get-facade-sync": get_facade_sync,
    "get-httpx-sync": get_httpx_sync,
    "put-facade-sync": put_facade_sync,
    "put-httpx-sync": put_httpx_sync,
    "calls": calls,
    "pull-sync": pull_sync,
}
ASYNC: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, list[dict[str, float]]]]] = {
    "get-facade-async": get_facade_async,
    "get-httpx-async": get_httpx_async,
    "put-facade-async": put_facade_async,
    "put-httpx-async": put_httpx_async,
}


def main() -> None:
    spec = json.loads(sys.argv[1])
    action = spec["action"]
    result = SYNC[action](spec) if action in SYNC else asyncio.run(ASYNC[action](spec))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
