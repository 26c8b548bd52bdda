"""The vocabulary shared by operations (what to send, how to read it) and runners (how).

Every facade operation is written once, as a generator that yields steps and gets
replies back; the sync and async runners only differ in how they perform a step.
That keeps request preparation and response interpretation out of the two clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Generator, Iterable
from typing import Any, Protocol, TypeVar

import attrs
import httpx
from docker_registry_v1_api.types import Response

from .errors import InvalidInput

__all__ = [
    "BinaryReader",
    "BinaryWriter",
    "Call",
    "Endpoint",
    "Exchange",
    "Plan",
    "Reply",
    "Step",
    "Tally",
    "UploadSource",
]

T = TypeVar("T")


class Endpoint(Protocol):
    """A generated endpoint module (``docker_registry_v1_api.api.<tag>.<operation>``)."""

    def sync_detailed(self, *args: Any, **kwargs: Any) -> Response[Any]: ...

    def asyncio_detailed(self, *args: Any, **kwargs: Any) -> Awaitable[Response[Any]]: ...


class BinaryReader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class BinaryWriter(Protocol):
    """Anything with ``write(bytes)``; for the async client ``write`` may be a coroutine."""

    def write(self, data: bytes, /) -> object: ...


UploadSource = BinaryReader | bytes | Iterable[bytes] | AsyncIterable[bytes]


@attrs.frozen
class Call:
    """Send one request through a generated endpoint module."""

    endpoint: Endpoint
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class Tally:
    """Counts and hashes upload bytes as they stream, optionally after a fixed prefix."""

    hasher: Any = None
    size: int = 0

    def update(self, chunk: bytes) -> bytes:
        if not isinstance(chunk, bytes):
            raise InvalidInput("layer", f"chunks must be bytes, got {type(chunk).__name__}")
        self.size += len(chunk)
        if self.hasher is not None:
            self.hasher.update(chunk)
        return chunk


@attrs.frozen
class Exchange:
    """A hand-built request from the seam (see ``seam.py``): raw bytes or a stream."""

    request: dict[str, Any]
    upload: UploadSource | None = None
    tally: Tally | None = None
    download: BinaryWriter | None = None


@attrs.frozen
class Reply:
    """The raw httpx response (body read unless it was streamed) and the generated parse."""

    response: httpx.Response
    parsed: Any = None
    received: int = 0


Step = Call | Exchange
Plan = Generator[Step, Reply, T]
