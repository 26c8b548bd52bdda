"""The library's logger, and keeping secrets out of every log line about HTTP.

``logging.getLogger("docker_registry_v1")`` is the library's logger; it has only a
``NullHandler``, so nothing is printed unless the application configures logging
(``regv1 -v`` does). At DEBUG, ``docker_registry_v1.http`` logs each request (method,
URL, status, elapsed time) and each retry (why, how long it waits), and
``docker_registry_v1.transfer`` the transfers' decisions to reuse what the other side
already has (a HEAD hit, a mount, a cache or journal hit).

Secrets never reach a record: URLs lose their user-info and every query value but
those of a few harmless paging and upload parameters (a signed storage URL carries
its signature, expiry and token in the query: ``X-Amz-*``, ``Signature``, ``sig``…),
and no header value is logged by this package at all. httpx logs each request's URL at
INFO and httpcore every header at DEBUG; :func:`install` adds filters that apply the
same URL rule to the former and blank the secret headers (``Authorization``,
``Cookie``, ``X-Docker-Token``, ``WWW-Authenticate``…) of the latter.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from typing import Any

import httpx

LOGGER = logging.getLogger("docker_registry_v1")
LOGGER.addHandler(logging.NullHandler())
HTTP_LOGGER = logging.getLogger("docker_registry_v1.http")
TRANSFER_LOGGER = logging.getLogger("docker_registry_v1.transfer")

#: Query keys whose values say nothing secret and help reading a log: paging, search and
#: the OCI mount and digest parameters. Every other value is replaced.
QUERY_KEYS_SHOWN = frozenset({"n", "last", "q", "page", "mount", "from", "digest"})
_HIDDEN = "<redacted>"

_BYTES = r"""b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*\""""
_SECRET_HEADER = re.compile(
    rf"""\((b['"](?:authorization|proxy-authorization|cookie|set-cookie|x-docker-token|"""
    rf"""www-authenticate)['"]), (?:{_BYTES})\)""",
    re.IGNORECASE,
)
_LOCATION_HEADER = re.compile(
    r"""\((b['"](?:location|content-location)['"]), b(['"])((?:(?!\2)[^\\]|\\.)*)\2\)""",
    re.IGNORECASE,
)
_LOGGERS = ("httpcore.http11", "httpcore.http2", "httpcore.proxy", "httpcore.connection")


def loggable_url(url: httpx.URL | str) -> str:
    """``url`` as it may appear in a log: no user-info, no fragment, and the query's
    values kept only for :data:`QUERY_KEYS_SHOWN` (the keys stay, to show the shape)."""
    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError):
        return _HIDDEN
    query = "&".join(
        f"{key}={value if key in QUERY_KEYS_SHOWN else _HIDDEN}"
        for key, value in parsed.params.multi_items()
    )
    clean = parsed.copy_with(username=None, password=None, fragment=None, query=None)
    return f"{clean}?{query}" if query else str(clean)


def answered(response: httpx.Response, started: float) -> None:
    """One request done: its method, URL, status and time (after redirects: the last)."""
    if HTTP_LOGGER.isEnabledFor(logging.DEBUG):
        request = response.request
        HTTP_LOGGER.debug(
            "%s %s -> %d (%.3fs)",
            request.method,
            loggable_url(request.url),
            response.status_code,
            time.monotonic() - started,
        )


def failed(request: httpx.Request, error: BaseException, started: float) -> None:
    """One request without an answer (refused, reset, timed out)."""
    if HTTP_LOGGER.isEnabledFor(logging.DEBUG):
        HTTP_LOGGER.debug(
            "%s %s -> %s (%.3fs)",
            request.method,
            loggable_url(request.url),
            type(error).__name__,
            time.monotonic() - started,
        )


def retrying(request: httpx.Request, why: str, failures: int, attempts: int, wait: float) -> None:
    """A retry decided by the send path: which request, why, and the wait before it."""
    HTTP_LOGGER.debug(
        "retrying %s %s in %.2fs (attempt %d of %d): %s",
        request.method,
        loggable_url(request.url),
        wait,
        failures + 1,
        attempts,
        why,
    )


def reused(what: str, *args: Any) -> None:
    """A transfer skipping work because the other side has it already."""
    TRANSFER_LOGGER.debug(what, *args)


def _location(match: re.Match[str]) -> str:
    return f"({match.group(1)}, b{match.group(2)}{loggable_url(match.group(3))}{match.group(2)})"


class RedactSecretHeaders(logging.Filter):
    """httpcore's header dumps with the secret headers' values blanked, and a redirect's
    ``Location`` made :func:`loggable_url` (it may be a signed storage URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _SECRET_HEADER.sub(r"(\1, b'<redacted>')", message)
        cleaned = _LOCATION_HEADER.sub(_location, cleaned)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactURLs(logging.Filter):
    """httpx's ``HTTP Request: GET <url> …`` lines with the URL made :func:`loggable_url`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                loggable_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


@functools.cache
def install() -> None:
    """Add the filters to httpx's and httpcore's loggers, once: the first client does it."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretHeaders) for f in logger.filters):
            logger.addFilter(RedactSecretHeaders())
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactURLs) for f in logger.filters):
        logger.addFilter(RedactURLs())
