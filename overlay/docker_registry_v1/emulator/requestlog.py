"""What reached the emulator, for tests to assert on the wire.

Credentials are replaced by short fingerprints so a test can tell which secret
reached which address while the log itself never holds one.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import threading
import time
from collections.abc import Iterable, Mapping

import attrs
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import ConnectionAbort

#: Request bodies up to this size are kept in the log (layers are never kept).
MAX_LOGGED_BODY = 4096

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def fingerprint(secret: str | bytes) -> str:
    """First 8 hex digits of SHA-256 of ``secret``: identifies it without revealing it."""
    data = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(data).hexdigest()[:8]


def redact_authorization(value: str) -> str:
    """``Basic <fp of user:password>``, ``Token <fp of token>``, ``<scheme> <fp>``.

    For Basic the fingerprint is over the decoded ``user:password``; for other
    schemes over everything after the first space, so a doubled ``Token Token``
    prefix shows up as a different fingerprint.
    """
    scheme, _, rest = value.partition(" ")
    if not rest:
        return fingerprint(value)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(rest.strip(), validate=True)
        except (binascii.Error, ValueError):
            decoded = rest.encode()
        return f"{scheme} {fingerprint(decoded)}"
    return f"{scheme} {fingerprint(rest)}"


def _redact_header(name: str, value: str) -> str:
    if name in ("authorization", "proxy-authorization"):
        return redact_authorization(value)
    return fingerprint(value)


@attrs.frozen
class LogEntry:
    """One request as the emulator saw it.

    ``headers`` has lower-case names (repeated headers joined with ``", "``) and
    fingerprints in place of credentials. ``body`` holds request bodies up to
    4 KiB, except on ``/v1/users`` routes (passwords); ``body_size`` is what
    the server read. ``status`` is ``None`` when no response was started;
    ``aborted`` is true when the emulator cut the connection on purpose.
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body_size: int
    body: bytes | None
    status: int | None
    role: str
    port: int
    response_size: int
    aborted: bool
    started: float

    @property
    def authorization(self) -> str | None:
        """The request's ``Authorization`` header, credentials fingerprinted; ``None`` if absent."""
        return self.headers.get("authorization")


class RequestLog:
    """Thread-safe list of :class:`LogEntry`, shared by every listener of an emulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LogEntry] = []

    @property
    def entries(self) -> list[LogEntry]:
        """A snapshot, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every entry, so a test sees only the requests that follow."""
        with self._lock:
            self._entries.clear()

    def append(self, entry: LogEntry) -> None:
        """Record one request; listeners call it as each request ends."""
        with self._lock:
            self._entries.append(entry)

    def find(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        role: str | None = None,
        port: int | None = None,
        status: int | None = None,
    ) -> list[LogEntry]:
        """Entries matching every given filter; ``path`` is a glob (``/v1/images/*/layer``)."""
        return [
            e
            for e in self.entries
            if (method is None or e.method == method.upper())
            and (path is None or fnmatch.fnmatchcase(e.path, path))
            and (role is None or e.role == role)
            and (port is None or e.port == port)
            and (status is None or e.status == status)
        ]

    def last(self, **filters: object) -> LogEntry:
        """The newest matching entry; ``LookupError`` when none matches."""
        found = self.find(**filters)  # type: ignore[arg-type]
        if not found:
            raise LookupError(f"no request matches {filters!r}")
        return found[-1]

    def authorizations(self, *, role: str | None = None) -> set[str]:
        """Every (fingerprinted) ``Authorization`` value seen, optionally for one role."""
        return {
            e.authorization
            for e in self.entries
            if e.authorization is not None and (role is None or e.role == role)
        }


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in _SECRET_HEADERS:
            value = _redact_header(name, value)
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


@attrs.define
class _Progress:
    size: int = 0
    status: int | None = None
    announced: int | None = None
    sent: int = 0


class LogMiddleware:
    """Records each request once its response is complete (or the connection is cut).

    The entry is appended before the last body chunk leaves, so a client that
    has its response can already read the entry.
    """

    def __init__(
        self,
        app: ASGIApp,
        log: RequestLog,
        role: str,
        port: int,
        *,
        checks: tuple[RequestLog, bytes] | None = None,
    ) -> None:
        """``checks``: a second log, and the User-Agent whose requests go there instead
        (a hub registry asking its index, which is not client traffic)."""
        self.app = app
        self.log = log
        self.role = role
        self.port = port
        self.checks = checks

    def _log_for(self, scope: Scope) -> RequestLog:
        if self.checks is not None:
            agent = dict(scope["headers"]).get(b"user-agent")
            if agent == self.checks[1]:
                return self.checks[0]
        return self.log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        log = self._log_for(scope)
        keep_body = not scope["path"].startswith("/v1/users")
        body = bytearray()
        state = _Progress()
        recorded = False

        def record(aborted: bool) -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            size = state.size
            log.append(
                LogEntry(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode("latin-1"),
                    headers=_headers(scope["headers"]),
                    body_size=size,
                    body=bytes(body) if keep_body and size <= MAX_LOGGED_BODY else None,
                    status=state.status,
                    role=self.role,
                    port=self.port,
                    response_size=state.sent,
                    aborted=aborted,
                    started=started,
                )
            )

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                state.size += len(chunk)
                if keep_body and len(body) <= MAX_LOGGED_BODY:
                    body.extend(chunk[: MAX_LOGGED_BODY + 1 - len(body)])
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state.status = message["status"]
                length = dict(message.get("headers", [])).get(b"content-length")
                state.announced = int(length) if length is not None else None
            elif message["type"] == "http.response.body":
                state.sent += len(message.get("body", b""))
                announced = state.announced
                # The client may return as soon as it has Content-Length bytes.
                if not message.get("more_body", False) or (
                    announced is not None and 0 < announced <= state.sent
                ):
                    record(aborted=False)
            await send(message)

        started = time.time()
        try:
            await self.app(scope, counting_receive, recording_send)
        except ConnectionAbort:
            record(aborted=True)
            raise
        finally:
            record(aborted=False)
