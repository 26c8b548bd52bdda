"""Verified, resumable layer streams: download with ``Range`` resume, upload with counting.

Downloads follow the v1 client rules for ranges: resume only after an
``Accept-Ranges: bytes`` answer with a known total, ask for
``bytes=<received>-<total-1>``, accept ``Content-Range`` with or without the
``bytes`` unit but only if it starts where we stopped, treat a 200 as "start
over", accept a body cut short only when every byte has arrived, and take
``X-Docker-Size: 0`` plus a 416 as an empty layer. While the bytes stream the
payload checksum (``sha256`` over the image JSON, ``\\n``, the layer) is computed
and checked at the end against ``X-Docker-Size`` and ``X-Docker-Checksum-Payload``.

The bookkeeping lives in :class:`LayerFetch`; the generator only does the I/O around
it. It is the one retry loop of a layer GET: a resume is a new request with another
``Range``, which the client's send path cannot make itself, so its own retry is off
for these requests and the transfer's policy counts the failures.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ..core.errors import (
    ChecksumMismatch,
    DockerRegistryError,
    IncompleteBody,
    RegistryConnectionError,
    RegistryError,
    invalid_response,
    safe_url,
)
from ..core.http import StallGuard, TransferStalled, iter_body, stall_guarded
from ..core.models import RawMetadata
from ..core.progress import ProgressListener
from ..core.retry import RetryPolicy, unretried
from ..v1.auth import Authenticator
from ..v1.services import empty_layer

if TYPE_CHECKING:  # the client module imports this package for Client.pull/push
    from ..v1.client import Client

__all__ = ["CountingReader", "LayerFetch", "iter_layer"]

_CONTENT_RANGE = re.compile(r"^\s*(?:bytes\s+)?(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


def payload_hasher(json_bytes: bytes) -> Any:
    return hashlib.sha256(json_bytes + b"\n")


@attrs.define
class LayerFetch:
    """The state of one layer download across its attempts.

    ``on_restart(lost)`` is called when bytes already handed out must be thrown
    away (a 200 answered a resume, or resuming is impossible); it may raise
    an error when they cannot be taken back. ``metadata`` may be ``None`` while
    the image JSON is still on its way: the first GET then goes out at once and
    :func:`iter_layer`'s ``ready`` supplies it before that GET's answer is judged.
    ``gave_up`` is the error the policy gave up on: a loop around a whole relayed
    upload must not start over for it (its attempts are spent already).
    """

    image_id: str
    metadata: RawMetadata | None
    auth: Authenticator | None
    policy: RetryPolicy
    on_restart: Callable[[int], None]
    received: int = 0
    total: int | None = None
    ranges: bool = False
    asked: str | None = None
    failures: int = 0
    high_water: int = 0
    url: str = ""
    gave_up: BaseException | None = None
    _hasher: Any = None

    def __attrs_post_init__(self) -> None:
        if self.metadata is not None:
            self.learn(self.metadata)

    def learn(self, metadata: RawMetadata) -> None:
        """The image JSON and its headers, before any of the layer's bytes are judged."""
        self.metadata = metadata
        self.total = metadata.size
        self._hasher = payload_hasher(metadata.json_bytes)

    @property
    def known(self) -> RawMetadata:
        if self.metadata is None:
            raise RuntimeError(f"layer {self.image_id} judged before its image JSON")
        return self.metadata

    def next_range(self) -> str | None:
        """The ``Range`` of the next request (``None``: the whole layer)."""
        total = self.total
        resumable = (
            self.ranges and self.received > 0 and total is not None and total - self.received >= 2
        )
        self.asked = f"bytes={self.received}-{total - 1}" if resumable and total else None
        return self.asked

    def _restart(self) -> None:
        lost, self.received = self.received, 0
        self._hasher = payload_hasher(self.known.json_bytes)
        if lost:
            self.on_restart(lost)

    def begin(self, response: httpx.Response) -> None:
        """Check the answer's status and range before any of its bytes are kept."""
        self.url = safe_url(response.url, drop_query=True)
        headers = response.headers
        self.ranges = self.ranges or headers.get("Accept-Ranges", "").lower() == "bytes"
        if response.status_code == 200:
            self._restart()
            length = headers.get("Content-Length", "")
            if self.total is None and length.isdigit():
                self.total = int(length)
            return
        if response.status_code != 206 or self.asked is None:
            raise invalid_response(response, f"unexpected {response.status_code} to a layer GET")
        match = _CONTENT_RANGE.match(headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) != self.received:
            raise invalid_response(
                response, f"Content-Range does not continue at byte {self.received}"
            )

    def accept(self, chunk: bytes) -> bytes:
        self.received += len(chunk)
        if self.total is not None and self.received > self.total:
            raise self._mismatch(f"more than the announced {self.total} bytes")
        self._hasher.update(chunk)
        return chunk

    def recover(self, error: DockerRegistryError) -> float | None:
        """After a failed attempt: ``None`` when the layer is complete anyway, else the
        seconds to wait before the next attempt; raises when it is time to give up."""
        if (
            isinstance(error, RegistryConnectionError)
            and not isinstance(error, TransferStalled)
            and not isinstance(error.__cause__, httpx.RequestError)
        ):
            raise error  # not the transport's (a mirror's restarted layer): not ours to retry
        if isinstance(error, IncompleteBody | RegistryConnectionError):
            if self.total is not None and self.received == self.total:
                return None  # e.g. the reference server announcing one byte too many
        elif isinstance(error, RegistryError) and empty_layer(
            error.code, self.known.size, ranged=self.asked is not None
        ):
            self._restart()
            return None
        if self.received > self.high_water:
            self.high_water, self.failures = self.received, 0
        self.failures += 1
        wait = self.policy.delay(self.failures, error)
        if wait is None:
            self.gave_up = error
            raise error
        return wait

    def _mismatch(self, detail: str) -> ChecksumMismatch:
        return ChecksumMismatch(
            code=200,
            method="GET",
            url=self.url,
            reason=f"layer of {self.image_id}: {detail}; nothing was kept",
        )

    def verify(self) -> None:
        expected = self.known.size
        if expected is not None and self.received != expected:
            raise self._mismatch(f"got {self.received} bytes, X-Docker-Size says {expected}")
        digest = "sha256:" + self._hasher.hexdigest()
        wanted = self.known.checksum
        if wanted is not None and wanted.startswith("sha256:") and digest != wanted:
            raise self._mismatch(f"payload checksum {digest} differs from {wanted}")


class _Blocks:
    """Network reads regrouped into ``size``-byte blocks, for consumers whose cost is per
    call (a hash, a compressor, a thread hop, a GIL hand-over) rather than per byte.

    Each byte is copied once (the join); only a read straddling two blocks is split.
    """

    def __init__(self, size: int | None) -> None:
        self._size = size
        self._parts: list[bytes] = []
        self._held = 0

    def add(self, chunk: bytes) -> list[bytes]:
        if self._size is None:
            return [chunk]
        blocks = []
        while self._held + len(chunk) >= self._size:
            need = self._size - self._held
            self._parts.append(chunk[:need])
            blocks.append(b"".join(self._parts))
            self._parts, self._held = [], 0
            chunk = chunk[need:]
        if chunk:
            self._parts.append(chunk)
            self._held += len(chunk)
        return blocks

    def rest(self) -> bytes:
        """What is held back: handed out before any recovery, so ``received`` always
        counts every byte that arrived (a resume asks for exactly the rest)."""
        rest = b"".join(self._parts)
        self._parts, self._held = [], 0
        return rest


def iter_layer(
    client: Client,
    fetch: LayerFetch,
    ready: Callable[[], RawMetadata] | None = None,
    *,
    block: int | None = None,
) -> Iterator[bytes]:
    """The layer's bytes, resumed across failures; verified once the last one is out.

    ``ready`` gives the image JSON of a fetch made without one; it is called once the
    first GET has answered (or failed), so that GET's round trip overlaps the JSON's.
    With ``block``, the bytes come in pieces of exactly that size (the last one shorter),
    not as the network delivered them. This loop is the layer GET's only retry: the
    client's own is off for it, and ``fetch.policy`` (the transfer's) counts the failures."""
    blocks, client = _Blocks(block), stall_guarded(unretried(client), fetch.policy)
    guard = StallGuard(fetch.policy.speed_limit, fetch.policy.speed_time)
    while True:
        try:
            guard.restart()
            with client.image.stream_layer(
                fetch.image_id, range_=fetch.next_range(), auth=fetch.auth
            ) as response:
                guard.url = safe_url(response.url, drop_query=True)
                if fetch.metadata is None and ready is not None:
                    fetch.learn(ready())
                fetch.begin(response)
                for chunk in iter_body(response):
                    guard.seen(len(chunk))
                    for piece in blocks.add(chunk):
                        yield fetch.accept(piece)
        except DockerRegistryError as caught:
            error = _as_stall(caught, guard)
            if rest := blocks.rest():
                yield fetch.accept(rest)
            if fetch.metadata is None and ready is not None:
                fetch.learn(ready())
            wait = fetch.recover(error)
            if wait is not None:
                time.sleep(wait)
                continue
        if rest := blocks.rest():
            yield fetch.accept(rest)
        fetch.verify()
        return


def _as_stall(error: DockerRegistryError, guard: StallGuard) -> DockerRegistryError:
    """A read timeout under the stall limit (the timeout is capped at ``speed_time``) is a
    stall: the server sent nothing for that long."""
    if guard.speed_limit > 0 and isinstance(error.__cause__, httpx.ReadTimeout):
        stalled = guard.stalled()
        stalled.__cause__ = error.__cause__
        return stalled
    return error


@attrs.define
class CountingReader:
    """A layer source for uploads that reports progress and counts what went out.

    It offers only ``read``, so the facade streams it chunked instead of trusting
    a file descriptor's size (an archive member shares its archive's descriptor).
    """

    source: Any
    image_id: str
    progress: ProgressListener
    sent: int = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk: bytes = self.source.read(size)
        if chunk:
            self.sent += len(chunk)
            self.progress.advanced(self.image_id, len(chunk))
        return chunk
