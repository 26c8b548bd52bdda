"""Answers shaped as the reference server's: sorted-key JSON, Werkzeug HTML errors, caching."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any

from starlette.responses import Response

JSON = "application/json"
OCTETS = "application/octet-stream"
HTML = "text/html"

NO_CACHE = {"Cache-Control": "no-cache", "Expires": "-1", "Pragma": "no-cache"}
EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"
YEAR = 365 * 24 * 3600

REQUIRES_AUTHORIZATION = "Requires authorization"


def dumps(value: Any) -> bytes:
    """JSON as the reference server writes it: sorted keys, ``", "``/``": "`` separators."""
    return json.dumps(value, sort_keys=True).encode()


def cache_headers() -> dict[str, str]:
    """Headers of cacheable image answers (json, ancestry, layer, files)."""
    return {
        "Cache-Control": f"public, max-age={YEAR}",
        "Expires": formatdate(time.time() + YEAR, usegmt=True),
        "Last-Modified": EPOCH,
    }


def json_response(
    value: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    cacheable: bool = False,
) -> Response:
    base = cache_headers() if cacheable else dict(NO_CACHE)
    return Response(dumps(value), status, {**base, **(headers or {})}, media_type=JSON)


def raw_json_response(
    body: bytes, headers: Mapping[str, str] | None = None, *, cacheable: bool = False
) -> Response:
    base = cache_headers() if cacheable else dict(NO_CACHE)
    return Response(body, 200, {**base, **(headers or {})}, media_type=JSON)


def error(message: str, status: int = 400, headers: Mapping[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


def empty(status: int, headers: Mapping[str, str] | None = None) -> Response:
    """A bodiless answer (204, the reference server's 204s still say JSON)."""
    return Response(None, status, {**NO_CACHE, **(headers or {})}, media_type=JSON)


def not_modified() -> Response:
    """The reference server's 304: only ``Cache-Control`` and ``Expires``."""
    headers = cache_headers()
    del headers["Last-Modified"]
    return Response(None, 304, headers)


_TITLES = {
    301: ("301 Moved Permanently", "Redirecting..."),
    404: ("404 Not Found", "Not Found"),
    405: ("405 Method Not Allowed", "Method Not Allowed"),
    500: ("500 Internal Server Error", "Internal Server Error"),
}

_TEXTS = {
    404: "The requested URL was not found on the server.  If you entered the URL manually "
    "please check your spelling and try again.",
    405: "The method is not allowed for the requested URL.",
    500: "The server encountered an internal error and was unable to complete your request.  "
    "Either the server is overloaded or there is an error in the application.",
}


def html_page(
    status: int, headers: Mapping[str, str] | None = None, text: str | None = None
) -> Response:
    """A Werkzeug 0.9 error page (the framework answers of the reference server)."""
    title, heading = _TITLES[status]
    body = (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'
        f"<title>{title}</title>\n<h1>{heading}</h1>\n<p>{text or _TEXTS.get(status, '')}</p>\n"
    )
    return Response(body.encode(), status, dict(headers or {}), media_type=HTML)


def slash_redirect(location: str) -> Response:
    """Werkzeug's strict-slashes answer: 301 to the slashed URL with an HTML body."""
    text = (
        "You should be redirected automatically to target URL: "
        f'<a href="{location}">{location}</a>.  If not click the link.'
    )
    return html_page(301, {"Location": location}, text)
