"""The OCI client bounds every body it reads into memory (issue 19, "Bounds"): an endless
or gzip-bombed manifest, tag list, catalog, token answer, error body, challenge or
redirect body is refused as a typed error naming the URL (no query) and the limit,
having held no more than the cap; over real sockets to a hostile v2 server."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bounds_support import MIB, EndlessV2, gzip_bomb, running
from docker_registry_v1 import (
    AsyncOCIClient,
    BodyLimits,
    BodyTooLarge,
    InvalidInput,
    OCIClient,
    OCIError,
)

DIGEST = "sha256:" + "a" * 64
LIMITS = BodyLimits(listing=2 * MIB, manifest=4 * MIB, blob=4 * MIB, token=MIB)


@pytest.fixture(scope="module")
def v2() -> Iterator[EndlessV2]:
    gzip_bomb()  # built before any test times itself (level 9 over 512 MiB takes seconds)
    with running(EndlessV2()) as server:
        yield server


def _held(call: Callable[[], Any]) -> tuple[BaseException, float, float]:
    """The error ``call`` raises, the peak of memory it allocated (MiB) and its seconds."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is checked below
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return caught.value, peak / MIB, time.monotonic() - started


@pytest.mark.parametrize(
    ("call", "option", "limit"),
    [
        (lambda c: c.get_manifest("endless/app", "latest"), "manifest", 4 * MIB),
        (lambda c: c.get_manifest("bomb/app", "latest"), "manifest", 4 * MIB),
        (lambda c: list(c.tags("endless/app")), "listing", 2 * MIB),
        (lambda c: list(c.tags("bomb/app")), "listing", 2 * MIB),
        (lambda c: list(c.catalog()), "listing", 2 * MIB),
        (lambda c: c.get_blob("endless/app", DIGEST), "blob", 4 * MIB),
        (lambda c: c.get_blob("redir/app", DIGEST), "error", 64 * 1024),
    ],
    ids=["manifest", "manifest-gzip", "tags", "tags-gzip", "catalog", "blob", "redirect"],
)
def test_an_endless_or_bombed_body_is_refused_at_its_cap(
    v2: EndlessV2, call: Callable[[OCIClient], Any], option: str, limit: int
) -> None:
    with OCIClient(v2.url, retry=None, body_limits=LIMITS) as client:
        error, peak, seconds = _held(lambda: call(client))
    assert isinstance(error, BodyTooLarge), error
    assert error.limit == limit
    assert f"past {limit} bytes (body_limits.{option})" in str(error)
    assert v2.netloc in str(error)
    assert "?" not in error.url  # a listing's ?n=… or a signed query never reaches a message
    assert peak < limit / MIB + 8, f"{peak:.1f} MiB held for a {limit / MIB:.2f} MiB cap"
    assert seconds < 15  # tracemalloc slows the reads several times over


def test_an_endless_error_body_costs_only_its_first_bytes(v2: EndlessV2) -> None:
    with OCIClient(v2.url, retry=None) as client:
        error, peak, seconds = _held(lambda: client.get_manifest("err/app", "latest"))
    assert isinstance(error, OCIError), error
    assert not isinstance(error, BodyTooLarge)
    assert error.code == 404
    assert peak < 4, f"{peak:.1f} MiB held for an error body"
    assert seconds < 10


def test_an_endless_token_answer_is_refused_at_the_token_cap() -> None:
    with running(EndlessV2(token=True)) as v2, OCIClient(v2.url, retry=None) as client:
        error, peak, seconds = _held(lambda: client.get_manifest("team/app", "latest"))
        asked = [path for _, path in v2.seen]
    assert isinstance(error, BodyTooLarge), error
    assert "body_limits.token" in str(error)
    assert f"{v2.netloc}/token" in error.url
    assert "?" not in error.url
    assert error.limit == BodyLimits().token
    assert peak < 8, f"{peak:.1f} MiB held for a token answer"
    assert seconds < 10
    assert any(path.startswith("/token?") for path in asked)


def test_an_endless_challenge_body_is_refused() -> None:
    with running(EndlessV2(challenge=True)) as v2, OCIClient(v2.url, retry=None) as client:
        error, peak, _ = _held(lambda: client.get_manifest("team/app", "latest"))
    assert isinstance(error, BodyTooLarge), error
    assert "body_limits.error" in str(error)
    assert peak < 4


def test_bodies_within_their_caps_are_read(v2: EndlessV2) -> None:
    with OCIClient(v2.url, retry=None, body_limits=BodyLimits(listing=64)) as client:
        assert list(client.tags("small/app")) == ["a", "b"]  # gzip-encoded, 41 bytes plain
    with (
        OCIClient(v2.url, retry=None, body_limits=BodyLimits(listing=40)) as client,
        pytest.raises(BodyTooLarge, match="past 40 bytes"),
    ):
        list(client.tags("small/app"))


@pytest.mark.anyio
async def test_the_async_client_has_the_same_caps(v2: EndlessV2) -> None:
    async with AsyncOCIClient(v2.url, retry=None, body_limits=LIMITS) as client:
        with pytest.raises(BodyTooLarge, match=r"body_limits\.listing"):
            [tag async for tag in client.tags("bomb/app")]
        with pytest.raises(BodyTooLarge, match=r"body_limits\.manifest"):
            await client.get_manifest("endless/app", "latest")


@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_a_cap_must_be_a_positive_count(value: object) -> None:
    with pytest.raises(InvalidInput, match=r"body_limits\.manifest"):
        BodyLimits(manifest=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="body_limits"):
        OCIClient("http://127.0.0.1:1", body_limits=5)  # type: ignore[arg-type]
