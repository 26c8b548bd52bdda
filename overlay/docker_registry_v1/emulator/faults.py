"""Runtime fault injection: make the emulator misbehave the way real servers and networks do.

Rules are matched per request by path glob, method and listener role; each may
be limited to the first K matching requests. They can be added and cleared from
any thread while the server runs.
"""

from __future__ import annotations

import asyncio
import enum
import fnmatch
import threading
from collections.abc import Iterable

import attrs
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Body sent by the malformed-JSON fault: JSON cut off mid-string.
MALFORMED_JSON = b'{"error": "truncat'


class ConnectionAbort(Exception):  # noqa: N818 - it is a signal, not an error condition
    """Raised inside a response to make uvicorn close the TCP connection mid-body."""


class FaultKind(enum.Enum):
    """What a :class:`FaultRule` does to the requests it matches."""

    LATENCY = "latency"
    DROP_AFTER = "drop_after"
    ERROR = "error"
    MALFORMED_JSON = "malformed_json"
    HTML_ERROR = "html_error"
    IGNORE_RANGE = "ignore_range"
    REDIRECT = "redirect"
    WRONG_LENGTH = "wrong_length"


_ANSWERING = (FaultKind.ERROR, FaultKind.HTML_ERROR, FaultKind.REDIRECT)


@attrs.define(eq=False)
class FaultRule:
    """One fault. ``remaining`` counts down per matching request (``None``: forever).

    ``roles=None`` matches every listener except ``cdn`` (so a redirect to the
    CDN listener does not loop); name ``cdn`` explicitly to fault it.
    """

    kind: FaultKind
    path: str = "*"
    methods: frozenset[str] | None = None
    roles: frozenset[str] | None = None
    remaining: int | None = None
    seconds: float = 0.0
    nbytes: int = 0
    status: int = 503
    retry_after: int | None = None
    location: str = ""
    body: bytes | None = None
    """An ERROR's body as sent (``None``: a generic JSON error), e.g. the reference
    registry's ``{"error": "Image is being uploaded, retry later"}``."""
    hits: int = 0

    def matches(self, method: str, path: str, role: str) -> bool:
        """Whether the rule fires for this request; ``False`` once ``remaining`` is used up."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if self.roles is None:
            if role == "cdn":
                return False
        elif role not in self.roles:
            return False
        return fnmatch.fnmatchcase(path, self.path)


def _methods(method: str | Iterable[str] | None) -> frozenset[str] | None:
    if method is None:
        return None
    if isinstance(method, str):
        return frozenset({method.upper()})
    return frozenset(m.upper() for m in method)


def _roles(role: str | Iterable[str] | None) -> frozenset[str] | None:
    if role is None:
        return None
    return frozenset({role}) if isinstance(role, str) else frozenset(role)


class Faults:
    """The fault rules of one emulator (all its listeners)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    @property
    def rules(self) -> list[FaultRule]:
        """A snapshot of the rules in the order they were added."""
        with self._lock:
            return list(self._rules)

    def add(self, rule: FaultRule) -> FaultRule:
        """Install ``rule`` for every listener and return it, so a test can later remove it."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        """Uninstall ``rule`` (by identity); nothing happens when it is not installed."""
        with self._lock:
            self._rules = [r for r in self._rules if r is not rule]

    def clear(self) -> None:
        """Uninstall every rule: the emulator answers normally again."""
        with self._lock:
            self._rules.clear()

    def take(self, method: str, path: str, role: str) -> list[FaultRule]:
        """The rules that fire for this request, counting it against their limits."""
        fired = []
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path, role):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    fired.append(rule)
        return fired

    def _new(
        self,
        kind: FaultKind,
        path: str,
        method: str | Iterable[str] | None,
        role: str | Iterable[str] | None,
        times: int | None,
        **params: object,
    ) -> FaultRule:
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        rule = FaultRule(
            kind=kind,
            path=path,
            methods=_methods(method),
            roles=_roles(role),
            remaining=times,
            **params,  # type: ignore[arg-type]
        )
        return self.add(rule)

    def latency(
        self,
        path: str = "*",
        seconds: float = 0.2,
        *,
        method: str | Iterable[str] | None = None,
        role: str | Iterable[str] | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Delay matching requests by ``seconds`` before handling them."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        return self._new(FaultKind.LATENCY, path, method, role, times, seconds=seconds)

    def drop_after(
        self,
        path: str,
        nbytes: int,
        *,
        method: str | Iterable[str] | None = None,
        role: str | Iterable[str] | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Send the headers and ``nbytes`` of the body, then abort the TCP connection."""
        if nbytes < 0:
            raise ValueError("nbytes must not be negative")
        return self._new(FaultKind.DROP_AFTER, path, method, role, times, nbytes=nbytes)

    def error(
        self,
        path: str = "*",
        status: int = 503,
        *,
        retry_after: int | None = None,
        method: str | Iterable[str] | None = None,
        role: str | Iterable[str] | None = None,
        times: int | None = 1,
        body: bytes | None = None,
    ) -> FaultRule:
        """Answer ``status`` (JSON error body, optional ``Retry-After``) to the first ``times``;
        ``body``: the exact body a real server sends in that state."""
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        return self._new(
            FaultKind.ERROR,
            path,
            method,
            role,
            times,
            status=status,
            retry_after=retry_after,
            body=body,
        )

    def html_error(
        self,
        path: str = "*",
        status: int = 500,
        *,
        method: str | Iterable[str] | None = None,
        role: str | Iterable[str] | None = None,
        times: int | None = 1,
    ) -> FaultRule:
        """Answer with an HTML error page, as a proxy or the framework would."""
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        return self._new(FaultKind.HTML_ERROR, path, method, role, times, status=status)

    def malformed_json(
        self,
        path: str,
        *,
        method: str | Iterable[str] | None = None,
        role: str | Iterable[str] | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Keep the status but replace the body with JSON cut off mid-string."""
        return self._new(FaultKind.MALFORMED_JSON, path, method, role, times)

    def ignore_range(
        self,
        path: str = "/v1/images/*/layer",
        *,
        method: str | Iterable[str] | None = None,
        role: str | Iterable[str] | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Drop the request's ``Range`` header (a server or CDN without range support)."""
        return self._new(FaultKind.IGNORE_RANGE, path, method, role, times)

    def redirect(
        self,
        path: str,
        to: str,
        *,
        status: int = 302,
        method: str | Iterable[str] | None = "GET",
        role: str | Iterable[str] | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Redirect to ``to`` + the same path and query (e.g. the CDN listener's URL)."""
        if not 300 <= status <= 399:
            raise ValueError("status must be a 3xx code")
        return self._new(
            FaultKind.REDIRECT, path, method, role, times, status=status, location=to.rstrip("/")
        )

    def wrong_length(
        self,
        path: str,
        extra: int = 100,
        *,
        method: str | Iterable[str] | None = None,
        role: str | Iterable[str] | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Announce ``extra`` more bytes in ``Content-Length`` than are sent, then close."""
        if extra < 1:
            raise ValueError("extra must be at least 1")
        return self._new(FaultKind.WRONG_LENGTH, path, method, role, times, nbytes=extra)


def _simple_response(
    status: int, content_type: bytes, body: bytes, extra: list[tuple[bytes, bytes]]
) -> list[Message]:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


def _answer(rule: FaultRule, scope: Scope) -> list[Message]:
    if rule.kind is FaultKind.REDIRECT:
        query = scope.get("query_string", b"")
        target = rule.location + scope["path"] + ("?" + query.decode("latin-1") if query else "")
        return _simple_response(rule.status, b"text/html", b"", [(b"location", target.encode())])
    if rule.kind is FaultKind.HTML_ERROR:
        page = (
            f'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>{rule.status} '
            f"Injected</title>\n<h1>Injected error</h1>\n<p>Fault injected by the emulator.</p>\n"
        )
        return _simple_response(rule.status, b"text/html", page.encode(), [])
    extra = [] if rule.retry_after is None else [(b"retry-after", str(rule.retry_after).encode())]
    body = b'{"error": "Injected fault"}' if rule.body is None else rule.body
    return _simple_response(rule.status, b"application/json", body, extra)


def _set_header(
    headers: list[tuple[bytes, bytes]], name: bytes, value: bytes
) -> list[tuple[bytes, bytes]]:
    return [*((k, v) for k, v in headers if k.lower() != name), (name, value)]


class _ResponseTamperer:
    """Wraps ``send`` to apply the response-changing faults."""

    def __init__(self, send: Send, rules: list[FaultRule]) -> None:
        self.send = send
        self.drop = min((r.nbytes for r in rules if r.kind is FaultKind.DROP_AFTER), default=None)
        self.extra = max(
            (r.nbytes for r in rules if r.kind is FaultKind.WRONG_LENGTH), default=None
        )
        self.malformed = any(r.kind is FaultKind.MALFORMED_JSON for r in rules)
        self.sent = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if self.malformed:
                headers = _set_header(headers, b"content-type", b"application/json")
                headers = _set_header(headers, b"content-length", str(len(MALFORMED_JSON)).encode())
            elif self.extra is not None:
                length = dict(headers).get(b"content-length")
                if length is not None:
                    headers = _set_header(
                        headers, b"content-length", str(int(length) + self.extra).encode()
                    )
            await self.send({**message, "headers": headers})
            return
        if message["type"] != "http.response.body":
            await self.send(message)
            return
        more = message.get("more_body", False)
        if self.malformed:
            if not more:
                await self.send({"type": "http.response.body", "body": MALFORMED_JSON})
            return
        chunk = message.get("body", b"")
        if (
            self.drop is not None
            and self.sent + len(chunk) >= self.drop
            and (more or self.sent + len(chunk) > self.drop)
        ):
            await self.send(
                {
                    "type": "http.response.body",
                    "body": chunk[: self.drop - self.sent],
                    "more_body": True,
                }
            )
            raise ConnectionAbort("drop_after fault")
        self.sent += len(chunk)
        if self.extra is not None and not more:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
            raise ConnectionAbort("wrong_length fault")
        await self.send(message)


class FaultMiddleware:
    """Applies the matching rules of a :class:`Faults` to each request of one listener."""

    def __init__(self, app: ASGIApp, faults: Faults, role: str) -> None:
        self.app = app
        self.faults = faults
        self.role = role

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rules = self.faults.take(scope["method"], scope["path"], self.role)
        if not rules:
            await self.app(scope, receive, send)
            return
        for rule in rules:
            if rule.kind is FaultKind.LATENCY:
                await asyncio.sleep(rule.seconds)
        for rule in rules:
            if rule.kind in _ANSWERING:
                for message in _answer(rule, scope):
                    await send(message)
                return
        if any(r.kind is FaultKind.IGNORE_RANGE for r in rules):
            scope = {
                **scope,
                "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"range"],
            }
        tampering = [
            r
            for r in rules
            if r.kind in (FaultKind.DROP_AFTER, FaultKind.WRONG_LENGTH, FaultKind.MALFORMED_JSON)
        ]
        await self.app(scope, receive, _ResponseTamperer(send, tampering) if tampering else send)
