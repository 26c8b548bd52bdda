"""Which thing a 404 was about: a tag, a repository, or the whole v1 API (a v2-only server).

A v1 registry answers 404 for a missing tag, a missing (or hidden) repository, and,
when it is no v1 registry at all, for every ``/v1/`` path. People need to know which,
and the status alone does not say. The reference registry's bodies help only in part:
``Repository not found`` is plain, but ``Tag not found`` is also its answer for a tag
of a repository it does not know. So, on the error path only, a few requests decide:

- a tag's 404 (unless the body already named the repository): the repository's tag
  list. Read without the tag → :class:`TagNotFound`; 404 → the repository's case below.
- a repository's 404 with any other body than ``Repository not found``, a search or
  ``_ping`` 404: ``GET /v1/_ping`` (unless that was the request) and ``GET /v2/``. A
  ``_ping`` 404 and a ``/v2/`` 200 or 401 with ``Docker-Distribution-Api-Version``
  (distribution and the registries that copy it) → :class:`V2OnlyRegistry`, decided
  once per client. Otherwise :class:`RepositoryNotFound` (or the 404 as it was).

A success never costs a request, and a probe that fails for any reason leaves the
original error as it was. The plans are generators of :class:`Operation` so that the
sync and the async client drive the same decisions (``Client._explained``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
from docker_registry_v1_api.api import registry

from ..core.errors import (
    NotFound,
    RegistryError,
    RepositoryNotFound,
    TagNotFound,
    V2OnlyRegistry,
)
from .auth import NilAuth
from .services import Missing, Operation, _read_tags

__all__ = ["Plan", "explain_not_found"]

#: Yields operations to send, is sent their answers, returns the error to raise.
Plan = Generator[Operation[Any], Any, RegistryError]

_V2_KEY = "v2_only"
_V2_HEADER = "Docker-Distribution-Api-Version"
_V2_ANSWERS = frozenset({200, 401})


def _says(error: RegistryError, text: str) -> bool:
    return text in (error.message or "").lower()


def _kept(error: RegistryError) -> RegistryError:
    """An answer the probe takes as it is: a 404 (or another refusal) is a fact too."""
    return error


def _refused(error: RegistryError) -> RegistryError:
    if isinstance(error, NotFound):
        return error
    raise error


def _tag_list(missing: Missing, auth: Any) -> Operation[Any]:
    namespace, _, name = (missing.repository or "").partition("/")
    return Operation(
        lambda http: registry.list_tags.build_request(http, namespace, name),
        _read_tags,
        auth,
        otherwise=_refused,
    )


def _ping() -> Operation[RegistryError | None]:
    return Operation(registry.ping.build_request, lambda _: None, otherwise=_kept)


def _v2_root(http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
    return http.build_request("GET", f"{str(http.base_url).rstrip('/')}/v2/")


def _v2_answer(response: httpx.Response) -> tuple[int, bool]:
    return response.status_code, _V2_HEADER in response.headers


def _v2_refusal(error: RegistryError) -> tuple[int, bool]:
    return error.code, _V2_HEADER in error.headers


def _v2_probe() -> Operation[tuple[int, bool]]:
    """``GET /v2/`` without credentials: a 401 answers the question as well as a 200."""
    return Operation(_v2_root, _v2_answer, NilAuth(), otherwise=_v2_refusal)


def _v2_status(learned: dict[str, Any], error: RegistryError) -> Generator[Any, Any, int | None]:
    """``/v2/``'s status when the server speaks only v2, else ``None`` (asked once)."""
    if _V2_KEY not in learned:
        pinged = httpx.URL(error.url).path.endswith("/_ping")
        ping_missing = pinged or isinstance((yield _ping()), NotFound)
        status: int | None = None
        if ping_missing:
            code, versioned = yield _v2_probe()
            status = code if code in _V2_ANSWERS and versioned else None
        learned[_V2_KEY] = status
    found: int | None = learned[_V2_KEY]
    return found


def _v2_only(error: RegistryError, status: int, missing: Missing) -> V2OnlyRegistry:
    netloc = httpx.URL(error.url).netloc.decode("ascii")
    name = missing.repository
    shown = None if name is None else f"docker://{netloc}/{name.removeprefix('library/')}"
    return V2OnlyRegistry(error, netloc, status, shown)


def _repository(learned: dict[str, Any], error: RegistryError, missing: Missing) -> Plan:
    repository = missing.repository or ""
    if _says(error, "repository not found"):  # a v1 registry said so itself
        return RepositoryNotFound(error, repository)
    status = yield from _v2_status(learned, error)
    if status is not None:
        return _v2_only(error, status, missing)
    return RepositoryNotFound(error, repository)


def _tag(learned: dict[str, Any], error: RegistryError, missing: Missing, auth: Any) -> Plan:
    repository, tag = missing.repository or "", missing.tag or ""
    if _says(error, "repository not found"):
        return RepositoryNotFound(error, repository)
    listed = yield _tag_list(missing, auth)
    if isinstance(listed, NotFound):
        return (yield from _repository(learned, listed, missing))
    if tag in listed:  # listed, yet not served: the 404 means something else
        return error
    return TagNotFound(error, repository, tag)


def _registry(learned: dict[str, Any], error: RegistryError, missing: Missing) -> Plan:
    status = yield from _v2_status(learned, error)
    return error if status is None else _v2_only(error, status, missing)


def explain_not_found(learned: dict[str, Any], operation: Operation[Any], error: NotFound) -> Plan:
    """The plan that turns ``operation``'s 404 ``error`` into what it means.

    ``learned`` is the client's memory of the registry (the v2 decision is kept there).
    """
    missing = operation.missing or Missing()
    if missing.tag is not None:
        return _tag(learned, error, missing, operation.auth)
    if missing.repository is not None:
        return _repository(learned, error, missing)
    return _registry(learned, error, missing)
