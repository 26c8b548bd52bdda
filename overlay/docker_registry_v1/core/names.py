"""Validation of everything a caller passes that ends up in a URL path or a header.

Checks run before any request is built, so bad input never touches the wire. Rules
are deliberately permissive (real v1 registries accept more than docker 1.x's own
rules) but reject anything that would change the request's meaning: empty or dot
segments, extra slashes, a registry host smuggled into a repository name, control
characters in header values.
"""

from __future__ import annotations

import functools
import re
from typing import TypeGuard

import attrs
import httpx

from .errors import InvalidInput

DEFAULT_NAMESPACE = "library"

_PART = re.compile(r"[A-Za-z0-9_.-]{1,255}")
_IMAGE_ID = re.compile(r"[a-f0-9]{16}|[a-f0-9]{64}")
_HEX64 = re.compile(r"[a-f0-9]{64}")
# Docker's tag rule (its \w is ASCII only): the same for the wire and for archives.
TAG_RULE = "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_TAG = re.compile(TAG_RULE)
_HEADER_FORBIDDEN = re.compile(r"[\r\n\x00]")
# What h11 sends: visible ASCII, inner spaces/tabs, no surrounding whitespace (RFC 9110 5.5).
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*)?")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _require_str(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, f"expected a string, got {type(value).__name__}")
    return value


def check_single_line(field: str, value: object) -> str:
    """Reject values that would split or truncate a header once encoded (Basic, JSON)."""
    text = _require_str(field, value)
    if _HEADER_FORBIDDEN.search(text):
        raise InvalidInput(field, "must not contain CR, LF or NUL")
    return text


def check_header_value(field: str, value: object) -> str:
    """A value sent verbatim in a header: anything else fails deep in the HTTP stack."""
    text = check_single_line(field, value)
    if not _HEADER_VALUE.fullmatch(text):
        raise InvalidInput(field, "must be printable ASCII without leading or trailing whitespace")
    return text


def check_header_name(field: str, value: object) -> str:
    text = check_single_line(field, value)
    if not _HEADER_NAME.fullmatch(text):
        raise InvalidInput(field, f"{text!r} is not an HTTP header name")
    return text


def is_image_id(value: object) -> TypeGuard[str]:
    """Image ids are 16 or 64 lowercase hex characters (the reference server's rule)."""
    return isinstance(value, str) and _IMAGE_ID.fullmatch(value) is not None


def is_tag(value: object) -> TypeGuard[str]:
    """Tags are what docker accepts: :data:`TAG_RULE`."""
    return isinstance(value, str) and _TAG.fullmatch(value) is not None


def check_image_id(image_id: object) -> str:
    """``image_id`` if :func:`is_image_id` holds, else :class:`InvalidInput`."""
    text = _require_str("image_id", image_id)
    if not is_image_id(text):
        raise InvalidInput("image_id", f"{text!r} is not 16 or 64 lowercase hex characters")
    return text


def check_tag(tag: object) -> str:
    """``tag`` if :func:`is_tag` holds, else :class:`InvalidInput`."""
    text = _require_str("tag", tag)
    if not is_tag(text):
        raise InvalidInput("tag", f"{text!r} does not match {TAG_RULE}")
    return text


def origin_of(url: httpx.URL | str) -> str:
    """``scheme://host[:port]`` of ``url``: what Basic credentials are pinned to."""
    if isinstance(url, httpx.URL):
        return f"{url.scheme}://{url.netloc.decode('ascii')}"
    return _origin_of_text(url)


@functools.lru_cache(maxsize=256)
def _origin_of_text(url: str) -> str:
    """`origin_of` a string, parsed once: a client asks it of its base URL per request
    (credentials, budgets), and httpx's URL parser is the costliest part of a call."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


def _check_part(name: str, part: str, what: str) -> str:
    if not part:
        raise InvalidInput("repository", f"{name!r} has an empty {what}")
    if part in {".", ".."}:
        raise InvalidInput("repository", f"{name!r}: {what} {part!r} is not allowed")
    if not _PART.fullmatch(part):
        raise InvalidInput(
            "repository",
            f"{name!r}: {what} {part!r} may only contain letters, digits, '_', '.', '-'",
        )
    return part


def _looks_like_host(first: str, segments: int) -> bool:
    return ":" in first or (segments >= 3 and ("." in first or first == "localhost"))


@attrs.frozen
class RepositoryName:
    """A repository as the v1 wire wants it: namespace and name as separate path parts."""

    namespace: str
    repository: str

    @classmethod
    def parse(cls, name: object) -> RepositoryName:
        """``"ubuntu"`` means ``library/ubuntu``; ``"ns/repo"`` is taken as is."""
        text = _require_str("repository", name)
        parts = text.split("/")
        if len(parts) >= 2 and _looks_like_host(parts[0], len(parts)):
            rest = "/".join(parts[1:])
            raise InvalidInput(
                "repository",
                f"{text!r} starts with a registry address ({parts[0]!r}); the v1 API has no "
                f"host in repository names - point base_url at that registry "
                f"(e.g. base_url='http://{parts[0]}/v1/') and pass {rest!r}",
            )
        if len(parts) > 2:
            raise InvalidInput("repository", f"{text!r} must be 'name' or 'namespace/name'")
        if len(parts) == 1:
            repository = _check_part(text, parts[0], "name")
            if _HEX64.fullmatch(repository):
                raise InvalidInput(
                    "repository", f"{text!r} looks like an image id, not a repository"
                )
            return cls(DEFAULT_NAMESPACE, repository)
        return cls(_check_part(text, parts[0], "namespace"), _check_part(text, parts[1], "name"))

    @property
    def parts(self) -> tuple[str, str]:
        """``(namespace, repository)``: the two path parameters of the v1 routes."""
        return self.namespace, self.repository

    def __str__(self) -> str:
        return f"{self.namespace}/{self.repository}"
