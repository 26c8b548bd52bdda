"""Typed errors raised by the facade.

Status errors keep the Go package's message prefix (``<METHOD> <URL> returned <code>``)
so code that matched on it keeps working, and add what that threw away: the server's
``{"error": …}`` message, a sanitised excerpt of any other body and the response
headers. Secrets are never carried: token and cookie headers are redacted and URLs
lose their user-info (and, after a redirect, their query, which often holds a
storage signature).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TypeVar

import httpx

E = TypeVar("E", bound="RegistryError")
_EXCERPT_LIMIT = 200
_REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-docker-token"}
)


class DockerRegistryError(Exception):
    """Root of every error this package raises for trouble on the remote side."""


class InvalidInput(ValueError):  # noqa: N818 - the public names the API promises
    """A caller-supplied value that must not reach the wire (bad name, id, tag, header)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class RegistryError(DockerRegistryError):
    """An HTTP answer the facade cannot accept (non-2xx, or a 2xx it cannot use)."""

    def __init__(
        self,
        *,
        code: int,
        method: str,
        url: str,
        message: str | None = None,
        excerpt: str | None = None,
        headers: Sequence[tuple[bytes, bytes]] | Sequence[tuple[str, str]] | None = None,
        reason: str | None = None,
    ) -> None:
        self.code = code
        self.method = method
        self.url = url
        self.message = message
        self.excerpt = excerpt
        self.headers = httpx.Headers(headers or {})
        detail = reason or message or excerpt
        text = f"{method} {url} returned {code}"
        super().__init__(f"{text}: {detail}" if detail else text)


class BadRequest(RegistryError):  # noqa: N818 - the public names the API promises
    """400: the registry refused the request as malformed or out of sequence."""


class UploadInProgress(BadRequest):
    """400 ``Image is being uploaded, retry later``: the image was never finalised."""


class ChecksumMismatch(BadRequest):
    """400 ``Checksum mismatch``: the payload checksum does not match the uploaded bytes."""


class Unauthorized(RegistryError):  # noqa: N818 - the public names the API promises
    """401: credentials missing, wrong, or a token the registry does not accept."""


class Forbidden(RegistryError):  # noqa: N818 - the public names the API promises
    """403: authenticated but not allowed (inactive account, automated build, …)."""


class NotFound(RegistryError):  # noqa: N818 - the public names the API promises
    """404: unknown image, repository, tag or user (the reference registry: or a bad image id)."""


class RepositoryNotFound(NotFound):
    """404 for a repository: the registry does not know it, or hides it from this caller.

    Told apart from :class:`TagNotFound` by what the server said (``Repository not
    found``) or, when its answer could mean either, by one request for the tag list.
    """

    def __init__(self, error: RegistryError, repository: str) -> None:
        self.repository = repository
        _refine(self, error, f"repository {repository} not found, or no access to it")


class TagNotFound(NotFound):
    """404 for a tag of a repository that exists: the tag list was read, the tag is not in it."""

    def __init__(self, error: RegistryError, repository: str, tag: str) -> None:
        self.repository = repository
        self.tag = tag
        _refine(self, error, f"tag {tag} not found in repository {repository}")


class V2OnlyRegistry(NotFound):
    """A v1 request answered 404 by a server that speaks only the v2 registry API.

    Decided on the error path only: ``/v1/_ping`` answers 404 and ``/v2/`` answers 200
    or 401 with ``Docker-Distribution-Api-Version``. Being a :class:`NotFound`, code
    that caught the plain 404 still catches it; the message says what to use instead.
    ``suggestion`` is the ``docker://`` reference to name (``HOST/…`` when unknown).
    """

    def __init__(
        self, error: RegistryError, registry: str, v2_status: int, suggestion: str | None = None
    ) -> None:
        self.registry = registry
        self.v2_status = v2_status
        self.suggestion = suggestion or f"docker://{registry}/…"
        _refine(self, error, None)
        self.args = (
            f"{registry} speaks the v2 registry API only (GET /v2/ answered {v2_status}); "
            f"use {self.suggestion} as a destination or skopeo for v2 sources",
        )

    def suggesting(self, reference: str) -> V2OnlyRegistry:
        """The same answer, suggesting ``reference`` (what the user meant to write to)."""
        return V2OnlyRegistry(self, self.registry, self.v2_status, reference)


def _refine(error: RegistryError, original: RegistryError, reason: str | None) -> None:
    """Give ``error`` the request, status, server message and headers of ``original``."""
    RegistryError.__init__(
        error,
        code=original.code,
        method=original.method,
        url=original.url,
        message=original.message,
        excerpt=original.excerpt,
        headers=original.headers.multi_items(),
        reason=reason,
    )


class Conflict(RegistryError):  # noqa: N818 - the public names the API promises
    """409: the image (or its checksum) is already final on the registry."""


class ServerError(RegistryError):
    """5xx from the registry or a proxy in front of it."""


class InvalidResponse(RegistryError):  # noqa: N818 - the public names the API promises
    """A 2xx answer of the wrong shape: not JSON, wrong type, or missing token headers."""


class IncompleteBody(InvalidResponse):
    """A streamed body ended before the announced ``Content-Length``."""


class RegistryConnectionError(DockerRegistryError):
    """The request could not be completed at the transport level."""

    def __init__(self, method: str, url: str, detail: str) -> None:
        self.method = method
        self.url = url
        super().__init__(f"{method} {url} failed: {detail}")


class RegistryTimeout(RegistryConnectionError):  # noqa: N818 - the public names the API promises
    """A connect, read, write or pool timeout expired."""


def safe_url(url: httpx.URL, *, drop_query: bool = False) -> str:
    """Render a URL for messages: never user-info, optionally no query string."""
    clean = url.copy_with(username=None, password=None, fragment=None)
    return str(clean.copy_with(query=None) if drop_query else clean)


def _redact(headers: httpx.Headers) -> list[tuple[bytes, bytes]]:
    """Raw bytes in, raw bytes out: a server's non-ASCII header must not break the error."""
    out = []
    for name, value in headers.raw:
        lowered = name.lower().decode("latin-1")
        secret = lowered in _SECRET_HEADERS or (
            lowered == "www-authenticate" and b"=" in value and value[:6].lower() == b"token "
        )
        out.append((name, _REDACTED.encode() if secret else value))
    return out


def _printable(text: str, limit: int) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _server_message(content: bytes) -> str | None:
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return _printable(data["error"], 500)
    if isinstance(data, str) and data:
        return _printable(data, 500)
    return None


def _excerpt(content: bytes, content_type: str) -> str | None:
    text = content[:4096].decode("utf-8", "replace")
    if "html" in content_type.lower() or text.lstrip().startswith("<"):
        import html  # noqa: PLC0415 - its entity table is big, and error pages are rare

        text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", text)
        text = html.unescape(re.sub(r"(?s)<[^>]*>", " ", text))
    return _printable(text, _EXCERPT_LIMIT) or None


_BY_CODE: dict[int, type[RegistryError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}
_BY_400_MESSAGE = {"being uploaded": UploadInProgress, "checksum mismatch": ChecksumMismatch}


def _error_class(code: int, message: str | None) -> type[RegistryError]:
    if code == 400:
        lowered = (message or "").lower()
        return next((c for text, c in _BY_400_MESSAGE.items() if text in lowered), BadRequest)
    return ServerError if code >= 500 else _BY_CODE.get(code, RegistryError)


def _request_line(response: httpx.Response) -> tuple[str, str]:
    request = response.request
    return request.method, safe_url(request.url, drop_query=bool(response.history))


def _error(cls: type[E], response: httpx.Response, **why: str | None) -> E:
    """``cls`` for ``response``, its headers redacted."""
    method, url = _request_line(response)
    headers = _redact(response.headers)
    return cls(code=response.status_code, method=method, url=url, headers=headers, **why)


def error_from_response(response: httpx.Response, content: bytes) -> RegistryError:
    """Build the typed error for a non-2xx response from (the start of) its body."""
    message = _server_message(content)
    excerpt = None if message else _excerpt(content, response.headers.get("content-type", ""))
    cls = _error_class(response.status_code, message)
    return _error(cls, response, message=message, excerpt=excerpt)


def invalid_response(
    response: httpx.Response, reason: str, cls: type[InvalidResponse] = InvalidResponse
) -> InvalidResponse:
    """Build the error for a 2xx answer the facade cannot use, saying why."""
    return _error(cls, response, reason=reason)


def body_error(response: httpx.Response, exc: httpx.RequestError) -> DockerRegistryError:
    """The error for a body that broke off: :class:`IncompleteBody` when fewer bytes came
    than ``Content-Length`` announced, else the transport error itself."""
    announced = response.headers.get("Content-Length", "")
    got = response.num_bytes_downloaded
    if announced.isascii() and announced.isdigit() and got < int(announced):
        reason = f"body ended after {got} of {announced} bytes"
        return invalid_response(response, reason, IncompleteBody)
    return transport_error(exc)


def transport_error(exc: httpx.RequestError) -> RegistryConnectionError:
    """Wrap an httpx transport failure without leaking anything but method and URL."""
    try:
        request = exc.request
    except RuntimeError:
        method, url = "?", "?"
    else:
        method, url = request.method, safe_url(request.url)
    cls = RegistryTimeout if isinstance(exc, httpx.TimeoutException) else RegistryConnectionError
    detail = type(exc).__name__ + (f": {_printable(str(exc), 200)}" if str(exc) else "")
    return cls(method, url, detail)
