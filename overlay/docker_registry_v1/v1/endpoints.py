"""Turning an index answer's ``X-Docker-Token`` / ``X-Docker-Endpoints`` into a credential.

The seed parsed the whole endpoints header as one URL, which breaks on lists,
``host:port`` values and bare IP addresses. The rules here:

* every ``X-Docker-Endpoints`` line is split on commas and trimmed; empty items go;
* an item with a scheme keeps it, an item without one gets the index URL's scheme;
* an ``http`` item announced by an ``https`` index is dropped (never downgrade);
* items that are not a bare ``host[:port]`` (user-info, paths other than ``/v1/``,
  queries, bad ports, odd characters) are dropped;
* duplicates are dropped and at most ``MAX_ENDPOINTS`` are kept, in order;
* no header at all means the index itself; a header whose every item was dropped
  is an error, because guessing a host would send the token somewhere unintended.

Every ``X-Docker-Token`` value loses one leading ``Token `` (any case) — the reference
server includes it, the Hub did not — and the values are joined with ``,``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import attrs
import httpx

MAX_ENDPOINTS = 8

_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
_IPV6 = re.compile(r"[0-9a-f:.]+")
_SCHEMES = frozenset({"http", "https"})
_PATH_SUFFIXES = ("/v1/", "/v1", "/")


@attrs.frozen
class Endpoint:
    """A registry address handed out with a token: ``[scheme://]host[:port]``."""

    host: str
    port: int | None = None
    scheme: str | None = None

    @property
    def netloc(self) -> str:
        """``host[:port]`` as it goes into a ``Host`` header (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}" if self.scheme else self.netloc

    @classmethod
    def parse(cls, text: str, *, default_scheme: str | None = None) -> Endpoint:
        """Parse ``[scheme://]host[:port][/v1/]``; raise ``ValueError`` on anything else."""
        item = text.strip()
        if not item or any(ch.isspace() or not ch.isprintable() for ch in item):
            raise ValueError(f"not a host[:port]: {text!r}")
        scheme = default_scheme
        if "://" in item:
            given, _, item = item.partition("://")
            scheme = given.lower()
            if scheme not in _SCHEMES:
                raise ValueError(f"unsupported scheme in {text!r}")
            for suffix in _PATH_SUFFIXES:
                if item.endswith(suffix):
                    item = item[: -len(suffix)]
                    break
        if not item or any(ch in item for ch in "/?#@\\%"):
            raise ValueError(f"not a host[:port]: {text!r}")
        parts = urlsplit("//" + item)
        host = parts.hostname or ""
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
        bracketed = item.startswith("[")
        if not (_IPV6 if bracketed else _HOSTNAME).fullmatch(host) or port == 0:
            raise ValueError(f"not a host[:port]: {text!r}")
        return cls(host=host, port=port, scheme=scheme)


def parse_endpoints(values: Iterable[str], index_url: httpx.URL) -> tuple[Endpoint, ...]:
    """Apply the module's rules to the header lines of one index answer."""
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    if not items:
        return (Endpoint(host=index_url.host, port=index_url.port, scheme=index_url.scheme),)
    endpoints: list[Endpoint] = []
    for item in items:
        try:
            endpoint = Endpoint.parse(item, default_scheme=index_url.scheme)
        except ValueError:
            continue
        if index_url.scheme == "https" and endpoint.scheme == "http":
            continue
        if endpoint not in endpoints:
            endpoints.append(endpoint)
        if len(endpoints) == MAX_ENDPOINTS:
            break
    if not endpoints:
        raise ValueError(
            f"X-Docker-Endpoints named no usable registry ({len(items)} item(s) rejected: "
            "not host[:port], or an http endpoint from an https index)"
        )
    return tuple(endpoints)


def normalise_token(values: Iterable[str]) -> str | None:
    """Join all token values after stripping one ``Token `` prefix from each."""
    tokens = []
    for value in values:
        token = value.strip()
        if token[:6].lower() == "token ":
            token = token[6:].strip()
        if token:
            tokens.append(token)
    return ",".join(tokens) or None
