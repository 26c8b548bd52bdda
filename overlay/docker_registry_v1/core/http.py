"""Bounded reads of HTTP bodies and bounded decompression, shared by both clients.

Every body a client keeps in memory (JSON answers, error and token bodies) is read here
a piece at a time and refused once past a cap, so a server that never stops talking,
or gzip-encodes a bomb, costs at most that cap. httpx's own decoder expands a whole
received chunk at once (a 64 KiB chunk of a gzip bomb stands for 64 MiB), so the
``Content-Encoding`` is undone here by :class:`Inflate`, which also backs the layer
converter's decompression (``formats.compress``): one piecewise decoder for both.

:class:`StallGuard` is the other bound of a transfer: like curl's
``--speed-limit/--speed-time``, a layer read or upload whose rate stays below
``speed_limit`` bytes/s for ``speed_time`` seconds is aborted (:class:`TransferStalled`),
which the per-read timeout alone never does for a server sending a byte a second.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Protocol, Self, TypeVar

import attrs
import httpcore
import httpx

from .errors import (
    IncompleteBody,
    InvalidInput,
    InvalidResponse,
    RegistryConnectionError,
    _redact,
    invalid_response,
    safe_url,
)
from .retry import KEEP, Keep, RetryPolicy, Timeout

__all__ = [
    "BODY_LIMIT",
    "ERROR_BODY_LIMIT",
    "PIECE",
    "BodyLimits",
    "BodyTooLarge",
    "DamagedStreamError",
    "Inflate",
    "StallGuard",
    "TransferStalled",
    "aiter_body",
    "aread_capped",
    "aread_prefix",
    "iter_body",
    "read_capped",
    "read_prefix",
]

PIECE = 1 << 20
"""Most bytes one decoder call hands out: the unit a cap is checked in."""
BODY_LIMIT = 32 * 1024 * 1024
"""The v1 client's cap on a 2xx body (``Client(body_limit=…)``): a whole registry's search
page, the largest tag and image lists, are a few MiB; an endless or bombed body is not."""
ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error answer's body read for its message; the rest is never read."""
MIB = 1024 * 1024


class BodyTooLarge(InvalidResponse):
    """A body went on past the cap set for it: refused before more of it was held.

    ``limit`` is the cap in bytes (after any ``Content-Encoding`` is undone); the
    message names the URL without its query and the option that sets the cap."""

    limit: int = 0


class TransferStalled(RegistryConnectionError):  # noqa: N818 - reads as what happened
    """A layer read or upload ran slower than ``speed_limit`` bytes/s for ``speed_time``
    seconds (see :class:`~docker_registry_v1.RetryPolicy`): aborted, then retried (a
    read resumes with ``Range``) like any connection failure."""


class DamagedStreamError(ValueError):
    """Compressed data a decoder refused, or other data after its end (``trailing``)."""

    def __init__(self, message: str, *, trailing: bool = False) -> None:
        super().__init__(message)
        self.trailing = trailing


@attrs.frozen
class BodyLimits:
    """The caps of the OCI client on what it reads into memory, in bytes (after any
    ``Content-Encoding`` is undone); ``OCIClient(body_limits=BodyLimits(manifest=…))``.

    The defaults are well above what real registries answer (distribution refuses
    manifests over 4 MiB; a 100 000-tag page is about 3 MiB) and far below what hurts."""

    listing: int = 8 * MIB
    """A tag list or catalog page."""
    manifest: int = 16 * MIB
    """A manifest or index."""
    blob: int = 64 * MIB
    """A blob read whole (``get_blob``: image configs)."""
    token: int = 1 * MIB
    """A token endpoint's answer (``RegistryAuth(body_limit=…)`` for an auth of one's own)."""
    error: int = ERROR_BODY_LIMIT
    """An error answer (only this much is read; the rest is never read), and any answer
    a redirect or an auth challenge passes over."""

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"body_limits.{field.name}", "expected a positive number")


class _Decoder(Protocol):
    """What zlib's (isal's), bz2's and lzma's decompressors share (``unconsumed_tail`` is
    zlib's, ``needs_input`` bz2's and lzma's)."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int, /) -> bytes: ...


class Inflate:
    """Incremental decompression in pieces of at most ``piece`` bytes: a few KiB of input
    can stand for gigabytes, so nothing here holds more than one piece, and the caller
    checks its limits between pieces.

    ``new_decoder`` makes a decompressor (zlib's or isal's ``decompressobj``, a
    ``BZ2Decompressor``, an ``LZMADecompressor``); ``errors`` are what it raises on bad
    data (raised here as :class:`DamagedStreamError`). After the end of a stream,
    ``another(data)`` says whether the data left over starts another member (decoded
    with a fresh decompressor) or is garbage (:class:`DamagedStreamError`); without it what
    follows the end is ignored, as HTTP clients do."""

    def __init__(
        self,
        new_decoder: Callable[[], object],
        *,
        errors: tuple[type[Exception], ...] = (zlib.error,),
        another: Callable[[bytes], bool] | None = None,
        piece: int = PIECE,
    ) -> None:
        self._new = new_decoder
        self._errors = errors
        self._another = another
        self._piece = piece
        self._decoder = self._fresh()
        self._tail = b""
        self._ended = False

    def _fresh(self) -> _Decoder:
        decoder: _Decoder = self._new()  # type: ignore[assignment]
        self._zlib_api = hasattr(decoder, "unconsumed_tail")
        return decoder

    @property
    def eof(self) -> bool:
        """Whether the (last) stream has ended."""
        return self._ended or self._decoder.eof

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """The plain bytes ``data`` (and what the decoder holds back) expand to."""
        if self._ended:
            return
        try:
            while True:
                piece, more = self._step(data)
                data = b""
                if piece:
                    yield piece
                if self._decoder.eof:
                    data = self._decoder.unused_data
                    if not data:
                        return
                    if self._another is None:
                        self._ended = True
                        return
                    if not self._another(data):
                        raise DamagedStreamError("data after the end of the stream", trailing=True)
                    self._decoder, self._tail = self._fresh(), b""
                elif not more:
                    return
        except self._errors as exc:
            raise DamagedStreamError(str(exc)) from exc

    def _step(self, data: bytes) -> tuple[bytes, bool]:
        """At most one piece, and whether the decoder has more without new input."""
        if self._zlib_api:  # zlib's API keeps the unread input in unconsumed_tail
            piece = self._decoder.decompress(self._tail + data, self._piece)
            self._tail = self._decoder.unconsumed_tail  # type: ignore[attr-defined]
            return piece, bool(self._tail)
        piece = self._decoder.decompress(data, self._piece)  # bz2 and lzma keep it themselves
        return piece, not self._decoder.needs_input  # type: ignore[attr-defined]


def _gzip_member(data: bytes) -> bool:
    return data[:2] == b"\x1f\x8b"


def _content_decoder(response: httpx.Response) -> Inflate | None:
    """The decoder of the response's ``Content-Encoding``: identity, gzip (members may
    follow each other) and deflate are what the clients accept; another is refused."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in {"", "identity"}:
        return None
    if encoding in {"gzip", "x-gzip"}:
        return Inflate(lambda: zlib.decompressobj(zlib.MAX_WBITS | 16), another=_gzip_member)
    if encoding == "deflate":
        return Inflate(lambda: zlib.decompressobj(zlib.MAX_WBITS))
    raise _invalid(response, f"a body in Content-Encoding {encoding!r}")


def _invalid(response: httpx.Response, reason: str, limit: int | None = None) -> InvalidResponse:
    request = response.request
    cls = InvalidResponse if limit is None else BodyTooLarge
    error = cls(
        code=response.status_code,
        method=request.method,
        url=safe_url(request.url, drop_query=True),
        headers=_redact(response.headers),
        reason=reason,
    )
    if isinstance(error, BodyTooLarge) and limit is not None:
        error.limit = limit
    return error


def too_long(response: httpx.Response, limit: int, option: str) -> BodyTooLarge:
    """The error for a body past ``limit`` bytes; ``option`` is the setting that raises it."""
    error = _invalid(response, f"the body goes on past {limit} bytes ({option})", limit)
    assert isinstance(error, BodyTooLarge)
    return error


class _CappedBody:
    """A body undone from its encoding a piece at a time and kept up to ``limit`` bytes;
    past it, :class:`BodyTooLarge` (``truncate``: the rest is dropped instead)."""

    def __init__(
        self, response: httpx.Response, limit: int, option: str, *, truncate: bool = False
    ) -> None:
        self._response = response
        self._limit = limit
        self._option = option
        self._truncate = truncate
        self._body = bytearray()
        self.full = False
        self._decoder = _content_decoder(response)

    def feed(self, raw: bytes) -> None:
        if self._decoder is None:
            self._grow(raw)
            return
        try:
            for piece in self._decoder.pieces(raw):
                self._grow(piece)
                if self.full:
                    return
        except DamagedStreamError as exc:
            if not self._truncate:
                raise _invalid(self._response, f"a damaged encoded body ({exc})") from exc
            self.full = True

    def _grow(self, piece: bytes) -> None:
        self._body += piece
        if len(self._body) > self._limit:  # the caller closes the response unread
            if not self._truncate:
                raise too_long(self._response, self._limit, self._option)
            del self._body[self._limit :]
            self.full = True

    def keep(self) -> bytes:
        """Hand the body to the response as its content, as ``read()`` would have."""
        content = bytes(self._body)
        self._response._content = content
        return content


def _already_read(response: httpx.Response, limit: int, option: str) -> bool:
    """A transport (or an auth flow) may hand the body over read already: then only its
    size is checked."""
    if not hasattr(response, "_content"):
        return False
    if len(response.content) > limit:
        raise too_long(response, limit, option)
    return True


def read_capped(response: httpx.Response, limit: int, option: str = "body_limit") -> bytes:
    """Read a streamed response's body into ``response.content``, undone from its
    encoding; :class:`BodyTooLarge` once past ``limit`` bytes (``option`` names the
    setting in the message). httpx errors of the transport pass through."""
    if _already_read(response, limit, option):
        return response.content
    body = _CappedBody(response, limit, option)
    for raw in response.iter_raw():
        body.feed(raw)
    return body.keep()


async def aread_capped(response: httpx.Response, limit: int, option: str = "body_limit") -> bytes:
    """The awaitable twin of :func:`read_capped`."""
    if _already_read(response, limit, option):
        return response.content
    body = _CappedBody(response, limit, option)
    async for raw in response.aiter_raw():
        body.feed(raw)
    return body.keep()


def read_prefix(response: httpx.Response, limit: int = ERROR_BODY_LIMIT) -> bytes:
    """At most the first ``limit`` bytes of an error answer's body (decoded), for its
    message; the rest is not read, and a body that breaks off gives what came."""
    if hasattr(response, "_content"):
        return response.content[:limit]
    body = _CappedBody(response, limit, "error body", truncate=True)
    try:
        for raw in response.iter_raw():
            body.feed(raw)
            if body.full:
                break
    except (httpx.HTTPError, InvalidResponse):
        pass  # the status says enough; the body only adds detail
    finally:
        response.close()
    return bytes(body.keep())


async def aread_prefix(response: httpx.Response, limit: int = ERROR_BODY_LIMIT) -> bytes:
    """The awaitable twin of :func:`read_prefix`."""
    if hasattr(response, "_content"):
        return response.content[:limit]
    body = _CappedBody(response, limit, "error body", truncate=True)
    try:
        async for raw in response.aiter_raw():
            body.feed(raw)
            if body.full:
                break
    except (httpx.HTTPError, InvalidResponse):
        pass
    finally:
        await response.aclose()
    return bytes(body.keep())


DIRECT_BODY = 32 << 20
"""Bodies from this size on are read by :func:`iter_body` from the connection itself.

Such a read costs its connection (httpcore closes one whose parser did not see the body
end): the next request opens a new one, a TCP and a TLS handshake, two or three round
trips. Over a WAN that is a tenth of a second a body, a few per cent of a 32 MiB one's
transfer there; on a LAN or loopback, where the CPU is the limit, the direct read moves
1.5-2x the bytes per CPU second. Smaller bodies keep httpx's path and their pooled
connection."""
BODY_READ = 1 << 20
"""Most bytes one read of :func:`iter_body` hands over: a relay or a hash pays per piece,
not per byte, and a stream holds at most a few of them."""


class _DirectBody:
    """The part of a ``Content-Length`` body still on the connection, read through
    httpcore's ``network_stream`` extension (the interface httpcore documents for reading
    a connection past the response; it undoes TLS, also TLS inside a proxy's TLS).

    Shared by `iter_body` and `aiter_body`: what to ask for next, what came, and the
    error when it ends early — the httpx error httpx would have raised, as the cause."""

    def __init__(self, response: httpx.Response, got: int, size: int) -> None:
        self.response = response
        self.stream: Any = response.extensions["network_stream"]
        self.length = _content_length(response) or 0
        self.got = got
        self.size = size
        self.timeout = response.request.extensions.get("timeout", {}).get("read")

    @staticmethod
    def usable(response: httpx.Response) -> bool:
        """An HTTP/1.1 ``Content-Length`` body of at least `DIRECT_BODY` bytes on a
        connection httpcore hands over (a mock transport or HTTP/2 has none)."""
        length = _content_length(response)
        stream = response.extensions.get("network_stream")
        return (
            response.http_version == "HTTP/1.1"
            and "transfer-encoding" not in response.headers
            and length is not None
            and length >= DIRECT_BODY
            and callable(getattr(stream, "read", None))
        )

    def wanted(self) -> int:
        """Bytes to ask for next; 0 when the body is through."""
        return min(self.length - self.got, self.size)

    def took(self, piece: bytes) -> bytes:
        if not piece:
            error, cause = self.failed(
                httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body",
                    request=self.response.request,
                )
            )
            raise error from cause
        self.got += len(piece)
        return piece

    def failed(self, exc: Exception) -> tuple[InvalidResponse, httpx.HTTPError]:
        """The error to raise and its cause: the httpx error for ``exc``."""
        cause: httpx.HTTPError
        if isinstance(exc, httpx.HTTPError):
            cause = exc
        elif isinstance(exc, httpcore.TimeoutException):
            cause = httpx.ReadTimeout(str(exc) or "timed out", request=self.response.request)
        else:
            reason = str(exc) or type(exc).__name__
            cause = httpx.ReadError(reason, request=self.response.request)
        if cause is not exc:
            cause.__cause__ = exc
        detail = "timed out" if isinstance(cause, httpx.TimeoutException) else str(cause)
        error = invalid_response(
            self.response,
            f"body ended after {self.got} of {self.length} bytes ({detail})",
            IncompleteBody,
        )
        return error, cause


_READ_FAILURES = (httpcore.TimeoutException, httpcore.NetworkError, OSError)
"""What a read of the connection raises (httpcore maps the socket's errors to its own)."""


def _nothing() -> None:
    pass


def _content_length(response: httpx.Response) -> int | None:
    announced = response.headers.get("content-length", "")
    return int(announced) if announced.isascii() and announced.isdigit() else None


def iter_body(response: httpx.Response, size: int = BODY_READ) -> Iterator[bytes]:
    """A streamed response's raw body (as sent, encoding not undone) in pieces of up to
    ``size`` bytes, for large bodies: layers and blobs the transfers hash and the v1 face
    relays.

    httpx hands a body over as its HTTP/1.1 parser takes it in: 64 KiB reads, each
    copied three times on the way (h11's buffer, its slice, the bytes handed out) and a
    pass through the parser's state machine — more CPU than the sockets' own work,
    measured as half a relay's throughput. So a ``Content-Length`` body of at least
    `DIRECT_BODY` bytes is taken from the parser only for what it holds already (its first
    piece: the parser hands over all it has buffered at once), and the rest from the
    connection (`_DirectBody`), one read of up to ``size`` bytes per piece, no copy. The
    connection is closed afterwards rather than reused (httpcore does so for a response
    its parser did not see to the end). Everything else (chunked, HTTP/2, a transport
    without a connection such as a mock, small bodies) is ``iter_raw`` as it comes.
    Pieces are handed out as they arrive, never held back to fill one: a layer read
    resumes from the last byte that came, and a stall guard sees a trickle as it is.

    A direct body that ends early, stalls past the read timeout or fails on the socket
    raises :class:`IncompleteBody` saying how much came, its cause the httpx error httpx
    would have raised (``ReadTimeout`` for a stall); on the other path httpx's own errors
    pass through (the caller maps them, e.g. with ``body_error``)."""
    pieces = response.iter_raw()
    if not _DirectBody.usable(response):
        yield from pieces
        return
    first = next(pieces, b"")  # the parser's buffer (or one read of its own): all it holds
    body = _DirectBody(response, len(first), size)
    if first:
        yield first
    # ``pieces`` stays open until the body is through: closing it closes the connection.
    try:
        while wanted := body.wanted():
            try:
                piece = body.stream.read(wanted, body.timeout)
            except _READ_FAILURES as exc:
                error, cause = body.failed(exc)
                raise error from cause
            yield body.took(piece)
    finally:
        getattr(pieces, "close", _nothing)()


async def aiter_body(response: httpx.Response, size: int = BODY_READ) -> AsyncIterator[bytes]:
    """The awaitable twin of :func:`iter_body`."""
    pieces = response.aiter_raw()
    if not _DirectBody.usable(response):
        async for piece in pieces:
            yield piece
        return
    first = await anext(pieces, b"")
    body = _DirectBody(response, len(first), size)
    if first:
        yield first
    try:
        while wanted := body.wanted():
            try:
                piece = await body.stream.read(wanted, body.timeout)
            except _READ_FAILURES as exc:
                error, cause = body.failed(exc)
                raise error from cause
            yield body.took(piece)
    finally:
        if (aclose := getattr(pieces, "aclose", None)) is not None:
            await aclose()


class StallGuard:
    """curl's ``--speed-limit/--speed-time`` for one transfer: :meth:`seen` is called with
    each chunk's size as it passes, and raises :class:`TransferStalled` once the rate
    over the last ``speed_time`` seconds is below ``speed_limit`` bytes/s. A server
    that sends nothing at all is caught by the read timeout, which the clients cap at
    ``speed_time`` for these transfers (:meth:`read_timeout`).

    ``speed_limit=0`` switches the guard off."""

    def __init__(
        self,
        speed_limit: int,
        speed_time: float,
        *,
        method: str = "GET",
        url: str = "?",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.speed_limit = speed_limit
        self.speed_time = speed_time
        self.method = method
        self.url = url
        self._clock = clock
        self._since = clock()
        self._bytes = 0

    def restart(self) -> None:
        """A new attempt: the window starts now (waiting for an answer counts, as in curl)."""
        self._since, self._bytes = self._clock(), 0

    def seen(self, size: int) -> None:
        if self.speed_limit <= 0:
            return
        self._bytes += size
        now = self._clock()
        elapsed = now - self._since
        if elapsed < self.speed_time:
            return
        rate = self._bytes / elapsed
        if rate < self.speed_limit:
            raise self.stalled(rate)
        self._since, self._bytes = now, 0

    def pass_through(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks`` as an upload body, measured: the clock starts when the first one is
        taken, and the next is taken only once the previous one has been sent."""
        first = True
        for chunk in chunks:
            if first:
                self.restart()
                first = False
            self.seen(len(chunk))
            yield chunk

    def stalled(self, rate: float | None = None) -> TransferStalled:
        """The error for this transfer (``rate``: bytes/s measured, when known)."""
        measured = (
            f"no progress for {self.speed_time:g} s"
            if rate is None
            else f"{rate:.0f} bytes/s over {self.speed_time:g} s"
        )
        return TransferStalled(
            self.method,
            self.url,
            f"stalled: {measured}, below the speed limit of {self.speed_limit} bytes/s "
            "(--speed-limit/--speed-time)",
        )


def stall_timeout(timeout: httpx.Timeout, speed_limit: int, speed_time: float) -> httpx.Timeout:
    """``timeout`` with its read and write phases capped at ``speed_time`` (when the guard
    is on): a server silent that long has sent less than any positive speed limit."""
    if speed_limit <= 0:
        return timeout
    read = speed_time if timeout.read is None else min(timeout.read, speed_time)
    write = speed_time if timeout.write is None else min(timeout.write, speed_time)
    return httpx.Timeout(connect=timeout.connect, read=read, write=write, pool=timeout.pool)


class _Timed(Protocol):
    _timeout: Timeout | Keep

    @property
    def _http(self) -> httpx.Client | httpx.AsyncClient: ...

    def with_options(self, *, timeout: Timeout | Keep = ...) -> Self: ...


C = TypeVar("C", bound=_Timed)


def stall_guarded(client: C, policy: RetryPolicy) -> C:
    """``client`` for a layer transfer under ``policy``'s stall limit: its read and write
    timeouts capped at ``speed_time`` (see :func:`stall_timeout`)."""
    if policy.speed_limit <= 0:
        return client
    current = client._http.timeout if client._timeout is KEEP else httpx.Timeout(client._timeout)
    return client.with_options(
        timeout=stall_timeout(current, policy.speed_limit, policy.speed_time)
    )
