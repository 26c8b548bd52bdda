"""The fast path of `copy`: v1 reads in whole blocks, conversion in a thread of its own
ahead of the upload, and an upload that takes the conversion's digest instead of hashing
every byte again — each with the behaviour it must keep."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from docker_registry_v1 import Client, RetryPolicy
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1.engine.layers import LayerFetch, iter_layer
from docker_registry_v1.engine.pipeline import Cancelled, PipelinedLayer, ReadAhead
from docker_registry_v1.formats import BLOCK, EncodedLayer
from docker_registry_v1.oci.client import OCIClient
from docker_registry_v1.oci.errors import DigestInvalid
from docker_registry_v1.transfer.copy import copy
from v2registry import V2Registry

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, jitter=0)
HANG_GUARD = 60
"""Seconds a stage thread may take to notice it was closed before the test calls it hung."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fetch_for(client: Client, image_id: str) -> LayerFetch:
    def restarted(lost: int) -> None:
        raise AssertionError(f"the layer restarted from byte 0 after {lost} bytes")

    return LayerFetch(image_id, client.image.get_metadata_raw(image_id), None, FAST, restarted)


def test_block_reads_come_in_whole_blocks_and_resume_mid_block(standalone: Standalone) -> None:
    chain = build_image_chain(1, seed=81, layer_size=2 * BLOCK + 300_000, gzip=False)
    standalone.store.seed("pipeline/blocks", "1.0", chain)
    layer = chain[0].layer_bytes
    # Dropped inside the second block, twice: the held-back part is handed out first and
    # the Range resume asks for exactly the rest.
    rule = standalone.faults.drop_after("/v1/images/*/layer", BLOCK + 70_000, times=2)
    with Client(standalone.url) as client:
        fetch = fetch_for(client, chain[0].id)
        pieces = list(iter_layer(client, fetch, block=BLOCK))
    assert rule.hits == 2
    assert b"".join(pieces) == layer
    assert fetch.received == len(layer)
    whole = [piece for piece in pieces if len(piece) == BLOCK]
    assert len(whole) >= 2  # the unbroken stretches still come as blocks
    assert all(len(piece) <= BLOCK for piece in pieces)


def test_without_a_block_size_the_network_chunks_pass_as_they_come(
    standalone: Standalone,
) -> None:
    chain = build_image_chain(1, seed=82, layer_size=BLOCK + 1, gzip=False)
    standalone.store.seed("pipeline/raw", "1.0", chain)
    with Client(standalone.url) as client:
        pieces = list(iter_layer(client, fetch_for(client, chain[0].id)))
    assert b"".join(pieces) == chain[0].layer_bytes
    assert max(len(piece) for piece in pieces) < BLOCK


def blocks_of(data: bytes) -> list[bytes]:
    return [data[start : start + BLOCK] for start in range(0, len(data), BLOCK)]


def test_the_pipelined_layer_gives_the_bytes_and_digests_of_the_plain_encoder() -> None:
    layer = build_image_chain(1, seed=83, layer_size=3 * BLOCK + 5, gzip=False)[0].layer_bytes
    plain = EncodedLayer(blocks_of(layer))
    expected = b"".join(plain)
    with PipelinedLayer(blocks_of(layer)) as pipelined:
        out = b"".join(pipelined)
    assert out == expected
    assert pipelined.blob == plain.blob
    assert pipelined.streamed_digest() == sha256(out)


def test_an_error_of_the_source_is_raised_in_its_place() -> None:
    def source() -> Iterator[bytes]:
        yield b"first"
        raise ValueError("the source broke")

    with ReadAhead(source()) as ahead:
        assert next(ahead) == b"first"
        with pytest.raises(ValueError, match="the source broke"):
            next(ahead)
        assert list(ahead) == []


def test_closing_stops_the_thread_and_closes_the_source_in_it() -> None:
    closed_in: list[str] = []
    handed_out = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            while True:
                handed_out.set()
                yield b"x" * 1000
        finally:
            closed_in.append(threading.current_thread().name)

    ahead = ReadAhead(endless(), name="test-ahead")
    assert next(ahead) == b"x" * 1000
    assert handed_out.wait(HANG_GUARD)
    ahead.close()
    for thread in threading.enumerate():
        if thread.name == "test-ahead":
            thread.join(HANG_GUARD)
            assert not thread.is_alive()
    assert closed_in == ["test-ahead"]
    assert list(ahead) == []


def test_a_stage_whose_input_is_closed_under_it_is_cancelled() -> None:
    gate = threading.Event()

    def slow() -> Iterator[bytes]:
        gate.wait(HANG_GUARD)
        yield b"late"

    inner = ReadAhead(slow())
    outer = ReadAhead(inner, name="test-outer")
    inner.close()
    gate.set()
    with pytest.raises(Cancelled):
        next(outer)


def test_a_coroutine_consumer_takes_the_items_while_its_loop_runs_other_work() -> None:
    """``async for`` over a slow source: the loop is not blocked waiting (a ticker task
    runs meanwhile), the items come in order, and an error comes in its place."""
    gate = threading.Event()

    def source() -> Iterator[int]:
        for item in range(5):
            gate.wait(HANG_GUARD)
            yield item
        raise ValueError("the source broke")

    async def consume() -> tuple[list[int], int, str]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                if ticks == 20:
                    gate.set()  # the source may go on only once the loop has run
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        items: list[int] = []
        try:
            async with contextlib.AsyncExitStack() as stack:
                ahead = ReadAhead(source(), depth=2)
                stack.callback(ahead.close)
                async for item in ahead:
                    items.append(item)
        except ValueError as error:
            message = str(error)
        finally:
            task.cancel()
        return items, ticks, message

    items, ticks, message = asyncio.run(asyncio.wait_for(consume(), HANG_GUARD))
    assert items == [0, 1, 2, 3, 4]
    assert ticks >= 20
    assert message == "the source broke"


def test_a_cancelled_coroutine_consumer_closes_the_source_in_its_thread() -> None:
    closed_in: list[str] = []
    started = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            while True:
                started.set()
                yield b"x" * 1000
                time.sleep(0.001)
        finally:
            closed_in.append(threading.current_thread().name)

    async def consume() -> int:
        ahead = ReadAhead(endless(), depth=2, name="test-async-ahead")
        count = 0
        try:
            async for _ in ahead:
                count += 1
                if count == 3:
                    await asyncio.sleep(HANG_GUARD)  # cancelled here, as a client that left
        finally:
            ahead.close()
        return count

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.to_thread(started.wait, HANG_GUARD)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    for thread in threading.enumerate():
        if thread.name == "test-async-ahead":
            thread.join(HANG_GUARD)
            assert not thread.is_alive()
    assert closed_in == ["test-async-ahead"]


class SelfHashing:
    """Chunks that claim a digest, as `EncodedLayer` does."""

    def __init__(self, data: bytes, claimed: str) -> None:
        self._data = data
        self._claimed = claimed

    def __iter__(self) -> Iterator[bytes]:
        yield from blocks_of(self._data)

    def streamed_digest(self) -> str:
        return self._claimed


def test_an_upload_takes_the_bodys_own_digest_and_the_registry_still_checks_it(
    v2_open: V2Registry,
) -> None:
    data = build_image_chain(1, seed=84, layer_size=BLOCK + 10, gzip=False)[0].layer_bytes
    with OCIClient(v2_open.url) as client:
        done = client.upload_blob("pipeline/trusted", SelfHashing(data, sha256(data)))
        assert done.digest == sha256(data)
        assert done.size == len(data)
        assert client.blob_size("pipeline/trusted", sha256(data)) == len(data)
        lie = sha256(b"not these bytes")
        with pytest.raises(DigestInvalid):
            client.upload_blob("pipeline/lied", SelfHashing(data, lie))
        assert client.blob_size("pipeline/lied", lie) is None


class BreakOff(httpx.BaseTransport):
    """The real transport, except that the first `times` PATCHes read one block of the
    body and then fail as a connection reset would."""

    def __init__(self, times: int) -> None:
        self._real = httpx.HTTPTransport()
        self.left = times
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            hit = request.method == "PATCH" and self.left > 0
            self.left -= hit
        if hit:
            next(iter(request.stream))  # type: ignore[arg-type]
            raise httpx.WriteError("connection reset mid-upload", request=request)
        return self._real.handle_request(request)

    def close(self) -> None:
        self._real.close()


def test_an_upload_broken_off_mid_layer_starts_again_and_leaves_no_thread_behind(
    standalone: Standalone, v2_open: V2Registry, tmp_path: Path
) -> None:
    chain = build_image_chain(2, seed=85, layer_size=3 * BLOCK, gzip=False)
    standalone.store.seed("pipeline/broken", "1.0", chain)
    transport = BreakOff(times=2)
    with (
        Client(standalone.url) as source,
        OCIClient(v2_open.url, retry=FAST, transport=transport) as dest,
    ):
        done = copy(source, "pipeline/broken", "1.0", dest, retry=FAST, cache=tmp_path / "c.db")
    assert transport.left <= 0
    assert len(done.uploaded) == len(chain)
    with OCIClient(v2_open.url) as check:
        for digest in done.layers:
            assert check.blob_size("pipeline/broken", digest) is not None
    for thread in threading.enumerate():
        if thread.name == "regv1-convert":
            thread.join(HANG_GUARD)
            assert not thread.is_alive()
