"""``OCIClient`` and ``AsyncOCIClient``: an OCI Distribution (v2) registry, over the generated
``oci_distribution_api`` package.

Each call is written once, as a generator that yields the steps (:class:`_Step`: a
generated ``build_request`` plus what answer it expects) and receives each answer;
the sync client drives it with blocking sends, the async one with awaits. So the two
clients cannot drift apart, and every request goes the same way: the client's auth
(run only for the registry's own origin), a typed :class:`OCIError` from the error body
for an unexpected status, and the one retry policy of the send path (``retry.py``, the
v1 client's too) for the steps that are safe to repeat: idempotent methods with a body
in memory, and the POSTs a step declares repeatable (opening an upload session); never
a streamed body, which cannot be replayed, nor a mount or an upload's final PUT.

Names, tags and digests are checked against the OCI grammar before anything is sent.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import re
import ssl
import threading
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from typing import Any, Protocol, Self, TypeVar, cast, runtime_checkable
from urllib.parse import quote

import anyio
import attrs
import httpx
from oci_distribution_api.api.base import check_api
from oci_distribution_api.api.blobs import (
    blob_exists,
    cancel_upload,
    complete_upload,
    get_blob,
    start_upload,
    upload_chunk,
)
from oci_distribution_api.api.listing import list_repositories, list_tags
from oci_distribution_api.api.manifests import (
    delete_manifest,
    get_manifest,
    manifest_exists,
    put_manifest,
)
from oci_distribution_api.types import UNSET

from ..core import httplog
from ..core.budget import HostBudget, budget_for
from ..core.errors import (
    DockerRegistryError,
    InvalidInput,
    body_error,
    safe_url,
    transport_error,
)
from ..core.http import (
    ERROR_BODY_LIMIT,
    BodyLimits,
    StallGuard,
    aread_capped,
    aread_prefix,
    iter_body,
    read_capped,
    read_prefix,
    stall_guarded,
)
from ..core.names import origin_of
from ..core.retry import (
    DEFAULT_RETRY,
    KEEP,
    Keep,
    RetryPolicy,
    Timeout,
    as_policy,
    next_wait,
    with_timeout,
)
from ..v1.auth import BasicAuth, _host_matches
from ..v1.client import DEFAULT_TIMEOUT, USER_AGENT, _checking_hooks, api_root
from .auth import SCOPES as SCOPES_EXTENSION
from .auth import RegistryAuth
from .errors import DigestMismatch, EndlessPagingError, NotAV2Registry, OCIError, oci_error

__all__ = [
    "AsyncOCIClient",
    "BlobUpload",
    "Manifest",
    "ManifestPut",
    "MountResult",
    "OCIClient",
    "ReferrersPage",
]

T = TypeVar("T")
HTTP = httpx.Client | httpx.AsyncClient

_NAME = re.compile(
    r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_NAME_LIMIT = 255
MAX_PAGES = 100_000
"""Pages a tag list or catalog may take (a million names at ten a page): past it, or on a
``Link`` back to a page already read, the listing fails instead of going on forever."""
MONOLITHIC_LIMIT = 1 << 20
"""Blobs up to this size go up in one POST ``?digest=`` (plus the PUT distribution 2.8
wants after answering it with 202): given as bytes, or streamed from an iterator that
ends before this many bytes (held in memory meanwhile); larger ones use PATCH."""
MOUNT_REFUSED = frozenset({401, 403, 404})
"""Answers to a mount that only mean "not from there": no pull access to the source
(a token registry answers 401 with a challenge for the ``from`` scope), forbidden, or
no such source. The blob can still be uploaded."""
SESSION_MAX_AGE = 30.0
"""Seconds an upload session a refused mount opened is kept for the next upload into
that repository. The upload that wants it follows the mount at once; registries purge
idle sessions after hours or days, so one this young is still there. A streamed upload
cannot be sent twice, so an older session is dropped rather than tried (a small one is
retried with a fresh session if the registry no longer knows it)."""
MAX_REFERRER_PAGES = 100
"""Pages a referrers listing may take; a subject with more referrers than that is a
broken or hostile registry's answer."""
OCI_INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)


def check_name(name: object) -> str:
    """A repository name of the OCI grammar (``team/sub/app``), else :class:`InvalidInput`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            "name", f"{name!r} is not an OCI repository name (lowercase components joined by /)"
        )
    if len(name) > _NAME_LIMIT:
        raise InvalidInput("name", f"{name[:40]!r}… is longer than {_NAME_LIMIT} characters")
    return name


def check_reference(reference: object) -> str:
    """A tag or a digest, else :class:`InvalidInput`."""
    if isinstance(reference, str) and (_TAG.fullmatch(reference) or _DIGEST.fullmatch(reference)):
        return reference
    raise InvalidInput("reference", f"{reference!r} is neither a tag nor a sha256/sha512 digest")


def check_digest(digest: object, field: str = "digest") -> str:
    if isinstance(digest, str) and _DIGEST.fullmatch(digest):
        return digest
    raise InvalidInput(field, f"{digest!r} is not a sha256:/sha512: digest in lowercase hex")


class _OriginAuth(httpx.Auth):
    """Runs the given auth flow only for requests to the registry's own origin: a blob
    redirect to storage elsewhere, or a Location on another host, gets no credentials.

    An answer the flow passes over (a challenge) is read here under ``limit``, before
    httpx would read it whole."""

    def __init__(self, inner: httpx.Auth, origin: str, limit: int = ERROR_BODY_LIMIT) -> None:
        self._inner = inner
        self._origin = origin
        self._limit = limit

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if origin_of(request.url) != self._origin:
            yield request
            return
        flow = self._inner.sync_auth_flow(request)
        sent = next(flow)
        while True:
            response = yield sent
            try:
                sent = flow.send(response)
            except StopIteration:
                return
            if not hasattr(response, "_content"):  # httpx reads it whole, bomb or not
                read_capped(response, self._limit, "body_limits.error")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if origin_of(request.url) != self._origin:
            yield request
            return
        flow = self._inner.async_auth_flow(request)
        sent = await flow.__anext__()
        while True:
            response = yield sent
            try:
                sent = await flow.asend(response)
            except StopAsyncIteration:
                return
            if not hasattr(response, "_content"):
                await aread_capped(response, self._limit, "body_limits.error")


@attrs.frozen
class BlobUpload:
    """A blob the registry holds now: its digest and size, and whether it was mounted
    from another repository instead of sent."""

    digest: str
    size: int
    mounted: bool = False


@attrs.frozen
class MountResult:
    """What a cross-repository mount came to; true when the blob was mounted.

    ``status`` is the registry's answer: 201 mounted; 202 it opened an upload session
    instead (kept for the next upload into the repository, see `_Sessions`); 401, 403
    or 404 refused (see `MOUNT_REFUSED`); 0 when nothing was asked (an OCI layout)."""

    mounted: bool
    status: int

    @property
    def access_refused(self) -> bool:
        """401/403: the credentials may not read the source repository, whatever the
        target, so no mount from it is worth asking for again."""
        return self.status in {401, 403}

    def __bool__(self) -> bool:
        return self.mounted


class _Sessions:
    """Upload sessions that refused mounts opened, per repository, for the next upload.

    Per the distribution spec a 202 answer to a mount *is* an upload session; the
    upload that follows a refused mount uses it instead of cancelling it and POSTing a
    new one. A session is not tied to a digest, so any upload into the repository may
    take it; ones older than `SESSION_MAX_AGE` are dropped, and the client cancels
    what is left when it closes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, list[tuple[str, float]]] = {}
        self._stale: list[tuple[str, str]] = []

    def park(self, name: str, location: str) -> None:
        with self._lock:
            self._open.setdefault(name, []).append((location, time.monotonic()))

    def take(self, name: str) -> str | None:
        """A fresh session of ``name`` (the newest), or None; older ones wait for
        :meth:`drain`, so they are cancelled rather than left to the registry's purge."""
        oldest = time.monotonic() - SESSION_MAX_AGE
        with self._lock:
            parked = self._open.pop(name, [])
            fresh = [entry for entry in parked if entry[1] >= oldest]
            self._stale.extend((name, at) for at, when in parked if when < oldest)
            if not fresh:
                return None
            location, _ = fresh.pop()
            if fresh:
                self._open[name] = fresh
            return location

    def drain(self) -> list[tuple[str, str]]:
        """Every session not taken (repository, location), forgotten here (to be cancelled)."""
        with self._lock:
            found = [(name, at) for name, parked in self._open.items() for at, _ in parked]
            found += self._stale
            self._open.clear()
            self._stale = []
        return found


@attrs.frozen
class Manifest:
    """A manifest exactly as the registry stores it: ``data`` hashes to ``digest``."""

    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    media_type: str
    digest: str


@attrs.frozen
class ManifestPut:
    """What a manifest PUT answered: the digest (checked against the bytes) and the
    ``OCI-Subject`` header a registry with the referrers API sets when the manifest
    has a ``subject`` (``None`` when absent)."""

    digest: str
    subject: str | None = None


@attrs.frozen
class ReferrersPage:
    """One page of a referrers listing: its descriptors and the next page's URL."""

    manifests: list[dict[str, Any]]
    next_url: str | None = None


@attrs.frozen
class _Step:
    """One request: how to build it, which statuses answer it, what it is about (for
    errors), whether it may be sent again (``None``: by its method and body, see
    ``retry.replayable``; ``True`` for a POST that may), and a class for any error it gets."""

    build: Callable[[HTTP], httpx.Request]
    what: str
    ok: frozenset[int] = frozenset({200})
    repeatable: bool | None = None
    absent_ok: bool = False
    error: type[OCIError] | None = None
    scopes: tuple[str, ...] = ()
    """Token scopes the request needs, set as its ``auth.SCOPES`` extension for the bearer flow."""
    limit: str = "listing"
    """The `BodyLimits` field that caps the answer's body."""
    stalls: bool = False
    """A streamed upload under the policy's stall limit (its timeouts capped to match)."""


def _pull(name: str) -> tuple[str, ...]:
    return (f"repository:{name}:pull",)


def _push(name: str) -> tuple[str, ...]:
    return (f"repository:{name}:pull,push",)


Plan = Generator[_Step, httpx.Response, T]


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@runtime_checkable
class _SelfHashing(Protocol):
    """A blob body that computes its own sha256 while it is iterated (`EncodedLayer`
    does, for the manifest): the upload takes that digest rather than hash every byte a
    second time. The registry checks it against the bytes at the final PUT anyway."""

    def streamed_digest(self) -> str:
        """The sha256 of the bytes iterated, once they all have been."""
        ...


class _Resumed:
    """A sync body whose first chunks were read ahead (to see whether it is small):
    those first, then the rest of the same iterator."""

    def __init__(self, head: list[bytes], rest: Iterator[bytes]) -> None:
        self._head = head
        self._rest = rest

    def __iter__(self) -> Iterator[bytes]:
        yield from self._head
        self._head = []
        yield from self._rest


class _ResumedSelfHashing(_Resumed):
    """`_Resumed` over a body that hashes itself: its digest is passed on."""

    def __init__(self, head: list[bytes], rest: Iterator[bytes], source: _SelfHashing) -> None:
        super().__init__(head, rest)
        self._source = source

    def streamed_digest(self) -> str:
        return self._source.streamed_digest()


def _read_ahead(
    source: Iterable[bytes], limit: int
) -> tuple[bytes, None] | tuple[None, Iterable[bytes]]:
    """(all the bytes, None) when ``source`` ends within ``limit`` bytes, else (None, a
    body giving every chunk of it, the ones read ahead first)."""
    chunks = iter(source)
    head: list[bytes] = []
    size = 0
    for chunk in chunks:
        head.append(bytes(chunk))
        size += len(chunk)
        if size > limit:
            if isinstance(source, _SelfHashing):
                return None, _ResumedSelfHashing(head, chunks, source)
            return None, _Resumed(head, chunks)
    return b"".join(head), None


class _Hashing:
    """A blob body that hashes and counts what passes through it, sync or async."""

    def __init__(
        self, source: Iterable[bytes] | AsyncIterable[bytes], guard: StallGuard | None = None
    ) -> None:
        self._source = source
        self._guard = guard
        self._hash = None if isinstance(source, _SelfHashing) else hashlib.sha256()
        self.size = 0

    @property
    def digest(self) -> str:
        if self._hash is None:
            return cast("_SelfHashing", self._source).streamed_digest()
        return "sha256:" + self._hash.hexdigest()

    def _seen(self, chunk: bytes) -> bytes:
        if self._guard is not None:
            if not self.size:  # the clock starts when the registry takes the first bytes
                self._guard.restart()
            self._guard.seen(len(chunk))
        if self._hash is not None:
            self._hash.update(chunk)
        self.size += len(chunk)
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        if not isinstance(self._source, Iterable):
            raise InvalidInput("chunks", "an async iterable needs the AsyncOCIClient")
        for chunk in self._source:
            if chunk:
                yield self._seen(bytes(chunk))

    async def aiter(self) -> AsyncIterator[bytes]:
        if isinstance(self._source, AsyncIterable):
            async for chunk in self._source:
                if chunk:
                    yield self._seen(bytes(chunk))
        else:
            for chunk in self._source:
                if chunk:
                    yield self._seen(bytes(chunk))

    def body(self, http: HTTP) -> Iterable[bytes] | AsyncIterable[bytes]:
        return self.aiter() if isinstance(http, httpx.AsyncClient) else iter(self)


def _location(response: httpx.Response) -> str:
    location: str | None = response.headers.get("Location")
    if not location:
        raise oci_error(response, b"", "the upload answer has no Location", OCIError)
    return location


def _answered_digest(response: httpx.Response, expected: str, what: str) -> None:
    said = response.headers.get("Docker-Content-Digest")
    if said is not None and said != expected:
        raise oci_error(
            response,
            b"",
            f"{what}: the registry says {said}, the bytes are {expected}",
            DigestMismatch,
        )


def _ping() -> Plan[str | None]:
    answer = yield _Step(check_api.build_request, "GET /v2/", frozenset(range(200, 600)))
    challenged = answer.status_code == 401 and "WWW-Authenticate" in answer.headers
    if answer.status_code != 200 and not challenged:
        raise oci_error(
            answer,
            b"",
            f"not an OCI/v2 registry: GET /v2/ answered {answer.status_code}",
            NotAV2Registry,
        )
    version: str | None = answer.headers.get("Docker-Distribution-API-Version")
    return version


def _blob_size(name: str, digest: str) -> Plan[int | None]:
    answer = yield _Step(
        lambda http: blob_exists.build_request(http, name, digest),
        f"blob {digest} of {name}",
        absent_ok=True,
        scopes=_pull(name),
    )
    if answer.status_code == 404:
        return None
    length = answer.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else 0


def _get_blob(name: str, digest: str) -> Plan[bytes]:
    what = f"blob {digest} of {name}"
    answer = yield _Step(
        lambda http: get_blob.build_request(http, name, digest),
        what,
        scopes=_pull(name),
        limit="blob",
    )
    data = answer.content
    if digest.startswith("sha256:") and _sha256(data) != digest:
        raise oci_error(answer, b"", f"{what}: the bytes hash to {_sha256(data)}", DigestMismatch)
    return data


def _upload(
    name: str,
    chunks: Iterable[bytes] | AsyncIterable[bytes] | bytes,
    digest: str | None,
    sessions: _Sessions,
    policy: RetryPolicy,
    *,
    small_in_one: bool = False,
) -> Plan[BlobUpload]:
    what = f"blob {digest or '(streamed)'} of {name}"
    if isinstance(chunks, bytes | bytearray | memoryview):
        data = bytes(chunks)
        actual = _sha256(data)
        if digest is not None and digest != actual:
            raise InvalidInput(
                "digest", f"{digest} is not the sha256 of the {len(data)} bytes given"
            )
        if len(data) <= MONOLITHIC_LIMIT:
            return (yield from _upload_monolithic(name, data, actual, what, sessions))
        chunks = [data]
    elif small_in_one and isinstance(chunks, Iterable) and not isinstance(chunks, AsyncIterable):
        # A small streamed blob (a tiny layer) costs one request (two on distribution
        # 2.8) instead of POST + PATCH + PUT.
        small, rest = _read_ahead(chunks, MONOLITHIC_LIMIT)
        if rest is not None:
            chunks = rest
        else:
            assert small is not None
            actual = _sha256(small)
            if digest is not None and digest != actual:
                raise DigestMismatch(
                    code=0,
                    method="POST",
                    url=name,
                    reason=f"{what}: the bytes streamed hash to {actual}; nothing was sent",
                )
            return (yield from _upload_monolithic(name, small, actual, what, sessions))
    location = sessions.take(name)
    if location is None:
        started = yield _Step(
            lambda http: start_upload.build_request(http, name),
            what,
            frozenset({202}),
            repeatable=True,  # a second session only leaves the first one to expire
            scopes=_push(name),
        )
        location = _location(started)
    guard = StallGuard(policy.speed_limit, policy.speed_time, method="PATCH", url=what)
    body = _Hashing(chunks, guard)
    patched = yield _Step(
        lambda http: upload_chunk.build_request(http, location, body=body.body(http)),
        what,
        frozenset({202}),
        repeatable=False,
        scopes=_push(name),
        stalls=True,
    )
    computed = body.digest
    if digest is not None and computed != digest:
        yield _Step(
            lambda http: cancel_upload.build_request(http, _location(patched)),
            what,
            frozenset({204}),
            absent_ok=True,
            scopes=_push(name),
        )
        raise DigestMismatch(
            code=0,
            method="PATCH",
            url=location,
            reason=f"{what}: the bytes streamed hash to {computed}; nothing was committed",
        )
    final = _location(patched)
    done = yield _Step(
        lambda http: complete_upload.build_request(http, final, digest=computed),
        f"blob {computed} of {name}",
        frozenset({201}),
        repeatable=False,
        scopes=_push(name),
    )
    _answered_digest(done, computed, f"blob of {name}")
    return BlobUpload(computed, body.size)


def _upload_monolithic(
    name: str, data: bytes, digest: str, what: str, sessions: _Sessions
) -> Plan[BlobUpload]:
    parked = sessions.take(name)
    if parked is not None:  # a refused mount's session: one PUT with the bytes finishes it
        done = yield _Step(
            lambda http: complete_upload.build_request(
                http, parked, body=data, digest=digest, content_length=len(data)
            ),
            what,
            frozenset({201, 404}),  # 404: the registry dropped it; a new session follows
            repeatable=False,
            scopes=_push(name),
        )
        if done.status_code == 201:
            _answered_digest(done, digest, what)
            return BlobUpload(digest, len(data))
    started = yield _Step(
        lambda http: start_upload.build_request(
            http,
            name,
            body=data,
            digest=digest,
            content_length=len(data),
        ),
        what,
        frozenset({201, 202}),
        repeatable=True,  # content-addressed: the same blob twice is the same blob
        scopes=_push(name),
    )
    if started.status_code == 202:
        # distribution 2.8 opens a session for a monolithic POST and drops its body.
        location = _location(started)
        started = yield _Step(
            lambda http: complete_upload.build_request(
                http, location, body=data, digest=digest, content_length=len(data)
            ),
            what,
            frozenset({201}),
            repeatable=False,
            scopes=_push(name),
        )
    _answered_digest(started, digest, what)
    return BlobUpload(digest, len(data))


def _mount(name: str, digest: str, source: str, sessions: _Sessions) -> Plan[MountResult]:
    answer = yield _Step(
        lambda http: start_upload.build_request(http, name, mount=digest, from_=source),
        f"blob {digest} mounted from {source} into {name}",
        frozenset({201, 202} | MOUNT_REFUSED),
        repeatable=False,
        scopes=(*_push(name), *_pull(source)),
    )
    if answer.status_code == 202:
        # Not mounted: the registry opened an upload session instead (the spec's
        # fallback); the next upload into this repository goes there.
        sessions.park(name, _location(answer))
    return MountResult(answer.status_code == 201, answer.status_code)


def _cancel(name: str, location: str) -> _Step:
    return _Step(
        lambda http: cancel_upload.build_request(http, location),
        f"an unused upload session of {name}",
        frozenset({204}),
        absent_ok=True,
        scopes=_push(name),
    )


def _put_manifest(name: str, reference: str, data: bytes, media_type: str) -> Plan[str]:
    put = yield from _put_manifest_answer(name, reference, data, media_type)
    return put.digest


def _put_manifest_answer(
    name: str, reference: str, data: bytes, media_type: str
) -> Plan[ManifestPut]:
    digest = _sha256(data)
    what = (
        f"manifest {name}:{reference}" if ":" not in reference else f"manifest {name}@{reference}"
    )
    answer = yield _Step(
        lambda http: put_manifest.build_request(
            http, name, reference, body=data, content_type=media_type
        ),
        what,
        frozenset({201}),
        scopes=_push(name),
    )
    _answered_digest(answer, digest, what)
    subject = answer.headers.get("OCI-Subject")
    return ManifestPut(digest, str(subject) if subject else None)


def _delete_manifest(name: str, reference: str) -> Plan[None]:
    what = (
        f"manifest {name}:{reference}" if ":" not in reference else f"manifest {name}@{reference}"
    )
    yield _Step(
        lambda http: delete_manifest.build_request(http, name, reference),
        what,
        frozenset({202}),
        scopes=(f"repository:{name}:delete", *_push(name)),
    )


def _accept(accept: Iterable[str] | None) -> dict[str, str]:
    return {"Accept": ", ".join(MANIFEST_TYPES if accept is None else accept)}


def _get_manifest(name: str, reference: str, accept: Iterable[str] | None) -> Plan[Manifest]:
    what = f"manifest {name}:{reference}"
    answer = yield _Step(
        lambda http: get_manifest.build_request(
            http, name, reference, extra_headers=_accept(accept)
        ),
        what,
        scopes=_pull(name),
        limit="manifest",
    )
    data = answer.content
    digest = _sha256(data)
    expected = reference if _DIGEST.fullmatch(reference) else None
    if expected is not None and expected.startswith("sha256:") and expected != digest:
        raise oci_error(answer, b"", f"{what}: the bytes hash to {digest}", DigestMismatch)
    _answered_digest(answer, digest, what)
    media_type = answer.headers.get("Content-Type", "").split(";")[0].strip()
    return Manifest(data, media_type, digest)


def _referrers_page(
    name: str, digest: str, next_url: str | None, seen: set[str]
) -> Plan[ReferrersPage | None]:
    """One page of ``GET /v2/<name>/referrers/<digest>``; ``None`` when the registry
    answers 404 (it has no referrers API: the caller reads the fallback tag instead).
    Pages are capped like manifests (``body_limits.manifest``) and a ``Link`` back to a
    page already read, or on past `MAX_REFERRER_PAGES`, ends it with an error."""
    what = f"referrers of {name}@{digest}"

    def build(http: HTTP) -> httpx.Request:
        if next_url is not None:
            return http.build_request("GET", http.base_url.join(next_url))
        root = str(http.base_url).rstrip("/")
        url = f"{root}/v2/{quote(name, safe='/')}/referrers/{quote(digest, safe='')}"
        return http.build_request("GET", url, headers={"Accept": OCI_INDEX_TYPE})

    answer = yield _Step(build, what, absent_ok=True, scopes=_pull(name), limit="manifest")
    if answer.status_code == 404:
        if next_url is not None:  # a page the registry itself linked to
            raise oci_error(answer, b"", f"{what}: the next page is gone", OCIError)
        return None
    try:
        document = answer.json()
    except (ValueError, RecursionError):
        raise oci_error(answer, b"", f"{what}: the answer is not JSON", OCIError) from None
    entries = document.get("manifests") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise oci_error(answer, b"", f"{what}: the answer is not an OCI index", OCIError)
    following = _next_page(answer, what, seen, MAX_REFERRER_PAGES)
    return ReferrersPage([dict(entry) for entry in entries if isinstance(entry, dict)], following)


def _next_page(answer: httpx.Response, what: str, seen: set[str], limit: int) -> str | None:
    """The URL of the page after ``answer`` (its ``Link: <…>; rel="next"``), recorded in
    ``seen``; a link back to a page already asked for, or on past ``limit`` pages, is an
    `EndlessPagingError` (a broken or hostile registry) instead of a loop."""
    match = _LINK_NEXT.search(answer.headers.get("Link", ""))
    following = match.group(1) if match else None
    if following is not None:
        if following in seen or len(seen) >= limit:
            why = "leads back to a page already read" if following in seen else "goes on"
            raise oci_error(
                answer,
                b"",
                f"{what}: the Link header {why} after {len(seen)} pages ({following})",
                EndlessPagingError,
            )
        seen.add(following)
    return following


def _head_manifest(name: str, reference: str, accept: Iterable[str] | None) -> Plan[str | None]:
    answer = yield _Step(
        lambda http: manifest_exists.build_request(
            http, name, reference, extra_headers=_accept(accept)
        ),
        f"manifest {name}:{reference}",
        absent_ok=True,
        scopes=_pull(name),
    )
    if answer.status_code == 404:
        return None
    return str(answer.headers.get("Docker-Content-Digest", ""))


def _page(
    first: Callable[[HTTP], httpx.Request],
    next_url: str | None,
    what: str,
    key: str,
    scopes: tuple[str, ...],
    *,
    seen: set[str],
) -> Plan[tuple[list[str], str | None]]:
    """One page, and the next one's URL; ``seen`` holds the pages already asked for, so a
    ``Link`` that leads back to one of them, or on past `MAX_PAGES`, ends the listing with
    an error instead of looping (a broken or hostile registry)."""

    def build(http: HTTP) -> httpx.Request:
        if next_url is None:
            return first(http)
        return http.build_request("GET", http.base_url.join(next_url))

    answer = yield _Step(build, what, scopes=scopes)
    try:
        document = answer.json()
    except (ValueError, RecursionError):  # RecursionError: nested past the decoder's bound
        raise oci_error(answer, b"", f"{what}: the answer is not JSON", OCIError) from None
    if not isinstance(document, dict):
        raise oci_error(answer, b"", f"{what}: the answer is not a JSON object", OCIError)
    items = document.get(key) or []
    if not isinstance(items, list):
        raise oci_error(answer, b"", f"{what}: the answer's {key!r} is not a list", OCIError)
    following = _next_page(answer, what, seen, MAX_PAGES)
    return [str(item) for item in items], following


def _tags_page(
    name: str, page_size: int | None, next_url: str | None, seen: set[str]
) -> Plan[tuple[list[str], str | None]]:
    n = UNSET if page_size is None else page_size
    return _page(
        lambda http: list_tags.build_request(http, name, n=n),
        next_url,
        f"tags of {name}",
        "tags",
        _pull(name),
        seen=seen,
    )


def _catalog_page(
    page_size: int | None, next_url: str | None, seen: set[str]
) -> Plan[tuple[list[str], str | None]]:
    n = UNSET if page_size is None else page_size
    return _page(
        lambda http: list_repositories.build_request(http, n=n),
        next_url,
        "the catalog",
        "repositories",
        ("registry:catalog:*",),
        seen=seen,
    )


def _request(step: _Step, http: HTTP) -> httpx.Request:
    request = step.build(http)
    if step.scopes:
        request.extensions[SCOPES_EXTENSION] = step.scopes
    return request


def _check_page_size(page_size: object) -> int | None:
    if page_size is None:
        return None
    if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
        raise InvalidInput("page_size", "expected a positive integer")
    return page_size


def _registry_auth(auth: httpx.Auth | None, origin: str, token_limit: int) -> httpx.Auth:
    """The flow a v2 registry needs: nothing or Basic credentials become a `RegistryAuth`,
    since a registry may answer with a Bearer challenge (token mode) whatever the
    caller expected; credentials pinned to another host stay as they are (never sent)."""
    if auth is None:
        return RegistryAuth(origin, body_limit=token_limit)
    if isinstance(auth, BasicAuth):
        if auth.host is None or _host_matches(auth.host, httpx.URL(origin)):
            return RegistryAuth(
                origin, username=auth.username, password=auth.password, body_limit=token_limit
            )
        return auth
    return auth


class _Base:
    _http: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        base_url: str | httpx.URL,
        auth: httpx.Auth | None,
        retry: RetryPolicy | None,
        headers: dict[str, str] | None,
        *,
        body_limits: BodyLimits,
        budget: HostBudget | None,
    ) -> None:
        """``retry=None`` switches retries off, as on the v1 client (it used to mean the
        default policy; the default is now the parameter's default)."""
        httplog.install()
        self._root = api_root(base_url, "/v2")
        origin = origin_of(self._root)
        if auth is not None and not isinstance(auth, httpx.Auth):
            raise InvalidInput("auth", f"expected an httpx.Auth, got {type(auth).__name__}")
        if not isinstance(body_limits, BodyLimits):
            raise InvalidInput("body_limits", "expected a BodyLimits")
        self.body_limits = body_limits
        self._auth = _OriginAuth(
            _registry_auth(auth, origin, body_limits.token), origin, body_limits.error
        )
        self.retry = as_policy(retry)
        self._timeout: Timeout | Keep = KEEP
        self._sessions = _Sessions()
        self.referrers_api: bool | None = None
        """Whether the registry answered a referrers listing (None: not asked yet). A
        registry without the API (404) is not asked again by this client (and its
        `with_options` copies made after): a migration's every tag would pay for it."""
        # this origin's request budget (else the process's shared one, see core/budget.py)
        # and the cancel check its waits call (a sync twin's)
        self._own_budget = budget
        self._check: Callable[[], None] | None = None
        self._options: dict[str, Any] = {
            "base_url": self._root,
            "headers": {"User-Agent": USER_AGENT, **(headers or {})},
            "follow_redirects": True,
        }

    @property
    def base_url(self) -> str:
        """The registry's base URL (``/v2/`` is joined to it)."""
        return str(self._root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def with_options(
        self, *, retry: RetryPolicy | Keep | None = KEEP, timeout: Timeout | Keep = KEEP
    ) -> Self:
        """A copy for some calls with another ``retry`` policy (``None``: off) or
        ``timeout``, sharing the connection pool and the auth (tokens included); see
        :meth:`docker_registry_v1.Client.with_options`."""
        clone = copy.copy(self)
        if retry is not KEEP:
            clone.retry = as_policy(retry)
        if timeout is not KEEP:
            httpx.Timeout(timeout)  # refused here, not at the first request
            clone._timeout = timeout
        return clone

    def _build(self, step: _Step) -> httpx.Request:
        request = _request(step, self._http)
        if step.stalls:
            with_timeout(request, stall_guarded(self, self.retry)._timeout)
        else:
            with_timeout(request, self._timeout)
        return request

    def _answers(self, step: _Step, response: httpx.Response) -> bool:
        return response.status_code in step.ok or (step.absent_ok and response.status_code == 404)

    @property
    def budget(self) -> HostBudget | None:
        """The ``budget=`` this client was given for its own origin; ``None``: it uses the
        process's shared budget of that origin (``shared_budget``)."""
        return self._own_budget

    def _budget(self, request: httpx.Request) -> HostBudget:
        return budget_for(request.url, self._own_budget, origin_of(self._root))

    def _answer(self, step: _Step, response: httpx.Response, body: bytes) -> httpx.Response | None:
        """``response`` when it answers ``step``; raises the typed error otherwise."""
        if self._answers(step, response):
            return response
        raise oci_error(response, body[: self.body_limits.error], step.what, step.error)

    def _failed(self, step: _Step, exc: httpx.RequestError) -> DockerRegistryError:
        """The error for a request that got no answer: a streamed upload whose write or
        read timed out under the stall limit (its timeouts are capped at ``speed_time``)
        has stalled."""
        policy = self.retry
        if step.stalls and policy.speed_limit > 0 and isinstance(exc, httpx.TimeoutException):
            request = exc.request
            guard = StallGuard(
                policy.speed_limit,
                policy.speed_time,
                method=request.method,
                url=safe_url(request.url, drop_query=True),
            )
            return guard.stalled()
        return transport_error(exc)

    def _limit(self, step: _Step) -> tuple[int, str]:
        """The cap on the body of ``step``'s answer, and the option that sets it."""
        return getattr(self.body_limits, step.limit), f"body_limits.{step.limit}"


class OCIClient(_Base):
    """Synchronous OCI registry client; use it as a context manager or call :meth:`close`.

    ``auth`` is any ``httpx.Auth`` (``BasicAuth``, a bearer token flow), used only for
    the registry's own origin. Every method raises :class:`InvalidInput` for a bad
    name, reference or digest, an :class:`OCIError` subclass for an answer it cannot
    accept and :class:`RegistryConnectionError` when no answer came back. ``budget``
    limits the requests to this registry's origin, as on :class:`~docker_registry_v1.Client`.
    """

    _http: httpx.Client

    def __init__(
        self,
        base_url: str | httpx.URL,
        *,
        auth: httpx.Auth | None = None,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        verify: ssl.SSLContext | str | bool = True,
        transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
        body_limits: BodyLimits = BodyLimits(),  # noqa: B008 - frozen, so shared safely
        budget: HostBudget | None = None,
    ) -> None:
        super().__init__(base_url, auth, retry, headers, body_limits=body_limits, budget=budget)
        self._http = httpx.Client(
            **self._options, timeout=timeout, verify=verify, transport=transport
        )
        self._http.event_hooks = {"response": [self._redirected]}

    def _redirected(self, response: httpx.Response) -> None:
        """A redirect's body is read by httpx whole: here under ``body_limits.error``."""
        if response.has_redirect_location:
            read_capped(response, self.body_limits.error, "body_limits.error")

    def _once(self, step: _Step) -> httpx.Response:
        response = self._opened(step)
        try:
            read_capped(response, *self._limit(step))
        except httpx.RequestError as exc:
            raise body_error(response, exc) from exc
        finally:
            response.close()
        return response

    def _retrying(
        self, step: _Step, attempt: Callable[[_Step], httpx.Response] | None = None
    ) -> httpx.Response:
        """The step's request until it is answered as expected or the policy gives up;
        each try is ``attempt`` (`_once`: body read; `_opened`: left to the caller)."""
        failures = 0
        while True:
            try:
                return (attempt or self._once)(step)
            except DockerRegistryError as error:
                failures += 1
                wait = next_wait(
                    self.retry, lambda: self._build(step), step.repeatable, failures, error
                )
                if wait is None:
                    raise
            time.sleep(wait)

    def _run(self, plan: Plan[T]) -> T:
        try:
            step = next(plan)
            while True:
                step = plan.send(self._retrying(step))
        except StopIteration as stop:
            result: T = stop.value
            return result

    def ping(self) -> str | None:
        """``GET /v2/``: the ``Docker-Distribution-API-Version`` it answers (``None`` when
        absent). A 401 with a challenge counts as a v2 registry. Raises
        :class:`NotAV2Registry` for any other answer (a v1-only server answers 404)."""
        return self._run(_ping())

    def blob_size(self, name: str, digest: str) -> int | None:
        """``HEAD`` the blob: its size when the repository has it, else ``None``."""
        return self._run(_blob_size(check_name(name), check_digest(digest)))

    def upload_blob(
        self,
        name: str,
        chunks: Iterable[bytes] | bytes,
        *,
        digest: str | None = None,
        small_in_one: bool = False,
    ) -> BlobUpload:
        """Upload a blob from bytes or any iterator of chunks, hashed while it streams.

        Small bytes go up monolithically; anything else as POST + one streamed PATCH +
        PUT ``?digest=``. With ``digest`` given, bytes that hash differently raise
        :class:`DigestMismatch` and the upload is cancelled before it is committed.
        ``small_in_one``: an iterator that ends within `MONOLITHIC_LIMIT` bytes goes up
        monolithically too (read ahead into memory; a migration's tiny layers then cost
        one request, not three). Returns the digest and size the registry now holds."""
        check_name(name)
        if digest is not None:
            check_digest(digest)
        return self._run(
            _upload(name, chunks, digest, self._sessions, self.retry, small_in_one=small_in_one)
        )

    def get_blob(self, name: str, digest: str) -> bytes:
        """The whole blob, checked against ``digest``: for small blobs such as configs,
        since it is held in memory."""
        return self._run(_get_blob(check_name(name), check_digest(digest)))

    def _opened(self, step: _Step) -> httpx.Response:
        """``step``'s answer with its body still unread (the caller streams and closes it)."""
        request, started = self._build(step), time.monotonic()
        try:
            send = functools.partial(self._http.send, request, auth=self._auth, stream=True)
            response = self._budget(request).send(send, self._check, self.retry.max_delay)
        except httpx.RequestError as exc:
            httplog.failed(request, exc, started)
            raise self._failed(step, exc) from exc
        httplog.answered(response, started)
        if not self._answers(step, response):
            try:
                self._answer(step, response, read_prefix(response, self.body_limits.error))
            finally:
                response.close()
        return response

    @contextlib.contextmanager
    def open_blob(self, name: str, digest: str, *, offset: int = 0) -> Iterator[Iterator[bytes]]:
        """The blob's bytes from ``offset`` on, as they arrive, never held whole (a layer
        of any size): ``with client.open_blob(name, digest) as chunks: ...``.

        ``offset`` is asked for with ``Range``; from a registry that ignores it (200) the
        bytes before it are read and dropped here. Opening is retried as any GET is; the
        stream is not (its bytes may be on their way to someone already): a break while
        reading raises `RegistryConnectionError`. The bytes are not checked against
        ``digest`` (the caller hashes them if it must)."""
        name, digest = check_name(name), check_digest(digest)
        if not isinstance(offset, int) or offset < 0:
            raise InvalidInput("offset", "expected a byte offset of 0 or more")

        def build(http: HTTP) -> httpx.Request:
            request = get_blob.build_request(http, name, digest)
            if offset:
                request.headers["Range"] = f"bytes={offset}-"
            return request

        step = _Step(
            build, f"blob {digest} of {name}", ok=frozenset({200, 206}), scopes=_pull(name)
        )
        response = self._retrying(step, self._opened)

        def chunks() -> Iterator[bytes]:
            skip = offset if response.status_code == 200 else 0
            try:
                for chunk in iter_body(response):
                    if skip:
                        dropped = min(skip, len(chunk))
                        skip -= dropped
                        chunk = chunk[dropped:]  # noqa: PLW2901 - the part after the offset
                    if chunk:
                        yield chunk
            except httpx.RequestError as exc:
                raise body_error(response, exc) from exc

        try:
            yield chunks()
        finally:
            response.close()

    def mount_blob(self, name: str, digest: str, source: str) -> MountResult:
        """Cross-repository mount of ``digest`` from ``source`` into ``name``; the result
        is true when mounted. A refusal (401/403/404, or a 202 upload session instead)
        is no error: the blob can still be uploaded, and the next upload into ``name``
        uses the session a 202 opened."""
        return self._run(
            _mount(check_name(name), check_digest(digest), check_name(source), self._sessions)
        )

    def put_manifest(self, name: str, reference: str, data: bytes, media_type: str) -> str:
        """PUT the exact ``data`` as ``media_type``; returns its digest, checked against
        the registry's ``Docker-Content-Digest``. A rejected manifest raises e.g.
        :class:`ManifestInvalid` or :class:`ManifestBlobUnknown`."""
        if not isinstance(data, bytes):
            raise InvalidInput("data", "the manifest must be given as bytes")
        return self._run(
            _put_manifest(check_name(name), check_reference(reference), data, media_type)
        )

    def put_manifest_answer(
        self, name: str, reference: str, data: bytes, media_type: str
    ) -> ManifestPut:
        """:meth:`put_manifest`, also giving the answer's ``OCI-Subject`` header (a
        registry with the referrers API sets it for a manifest with a ``subject``)."""
        if not isinstance(data, bytes):
            raise InvalidInput("data", "the manifest must be given as bytes")
        return self._run(
            _put_manifest_answer(check_name(name), check_reference(reference), data, media_type)
        )

    def referrers(self, name: str, digest: str) -> list[dict[str, Any]] | None:
        """``GET /v2/<name>/referrers/<digest>``, every page: the descriptors listed, or
        ``None`` when the registry has no referrers API (it answered 404)."""
        check_name(name)
        check_digest(digest)
        found: list[dict[str, Any]] = []
        next_url: str | None = None
        seen: set[str] = set()
        while True:
            page = self._run(_referrers_page(name, digest, next_url, seen))
            self.referrers_api = page is not None
            if page is None:
                return None
            found.extend(page.manifests)
            if page.next_url is None:
                return found
            next_url = page.next_url

    def get_manifest(
        self, name: str, reference: str, *, accept: Iterable[str] | None = None
    ) -> Manifest:
        """The manifest's bytes, media type and digest (checked against the bytes)."""
        return self._run(_get_manifest(check_name(name), check_reference(reference), accept))

    def manifest_digest(
        self, name: str, reference: str, *, accept: Iterable[str] | None = None
    ) -> str | None:
        """``HEAD`` the manifest: its ``Docker-Content-Digest``, or ``None`` when absent."""
        return self._run(_head_manifest(check_name(name), check_reference(reference), accept))

    def delete_manifest(self, name: str, reference: str) -> None:
        """``DELETE`` the manifest ``reference`` of ``name``: a digest (which untags every
        tag pointing at it), or a tag where the registry takes OCI 1.1's tag delete.
        Distribution 2.8 answers a tag with 400 ``DIGEST_INVALID`` and any delete with 405
        ``UNSUPPORTED`` unless its storage allows deletes; both raise an `OCIError`."""
        self._run(_delete_manifest(check_name(name), check_reference(reference)))

    def tags(self, name: str, *, page_size: int | None = None) -> Iterator[str]:
        """Every tag of ``name``, page by page (``n=page_size``, following ``Link``)."""
        check_name(name)
        size = _check_page_size(page_size)
        next_url: str | None = None
        seen: set[str] = set()
        while True:
            items, next_url = self._run(_tags_page(name, size, next_url, seen))
            yield from items
            if next_url is None:
                return

    def catalog(self, *, page_size: int | None = None) -> Iterator[str]:
        """Every repository of the registry, page by page."""
        size = _check_page_size(page_size)
        next_url: str | None = None
        seen: set[str] = set()
        while True:
            items, next_url = self._run(_catalog_page(size, next_url, seen))
            yield from items
            if next_url is None:
                return

    def close(self) -> None:
        """Cancel the upload sessions refused mounts left unused; close the connections."""
        for name, location in self._sessions.drain():
            with contextlib.suppress(DockerRegistryError):  # the registry purges them too
                self._once(_cancel(name, location))
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncOCIClient(_Base):
    """The asynchronous twin of :class:`OCIClient` (same methods, awaited; blob chunks may
    also come from an async iterator)."""

    _http: httpx.AsyncClient

    def __init__(
        self,
        base_url: str | httpx.URL,
        *,
        auth: httpx.Auth | None = None,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        verify: ssl.SSLContext | str | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
        body_limits: BodyLimits = BodyLimits(),  # noqa: B008 - frozen, so shared safely
        budget: HostBudget | None = None,
    ) -> None:
        super().__init__(base_url, auth, retry, headers, body_limits=body_limits, budget=budget)
        self._http = httpx.AsyncClient(
            **self._options, timeout=timeout, verify=verify, transport=transport
        )
        self._http.event_hooks = {"response": [self._redirected]}
        # what a sync twin needs (_sync_twin); a transport of the caller's own cannot be
        # carried over to the other kind of client
        self._settings: dict[str, Any] | None = (
            None if transport is not None else {"timeout": timeout, "verify": verify}
        )

    @contextlib.contextmanager
    def _sync_twin(self, check: Callable[[], None] | None = None) -> Iterator[OCIClient]:
        """An :class:`OCIClient` for the same registry, for one whole-image transfer run
        in a worker thread (see :meth:`docker_registry_v1.AsyncClient._sync_twin`).

        It shares this client's auth flow (so its token cache: `RegistryAuth` keeps
        it under a lock and runs both flows) and its parked upload sessions, and has
        its settings and retry policy; only its connection pool is its own, closed on
        leaving (the sessions stay for this client, which cancels them when closed).
        Raises :class:`InvalidInput` for a client made with a ``transport=`` of its own."""
        if self._settings is None:
            raise InvalidInput(
                "dest",
                "an AsyncOCIClient made with transport=… cannot run a whole-image transfer "
                "(it runs on a sync OCIClient in a worker thread); use an OCIClient with a "
                "sync transport, or an AsyncOCIClient without transport=",
            )
        twin = OCIClient(
            self._root,
            retry=self.retry,
            timeout=self._settings["timeout"],
            verify=self._settings["verify"],
            headers=dict(self._options["headers"]),
            body_limits=self.body_limits,
            budget=self.budget,
        )
        twin._check = check
        twin._auth = self._auth
        twin._sessions = self._sessions
        twin._timeout = self._timeout
        if check is not None:
            hooks = _checking_hooks(check)
            hooks["response"] += twin._http.event_hooks["response"]
            twin._http.event_hooks = hooks
        try:
            yield twin
        finally:
            twin._http.close()

    async def _redirected(self, response: httpx.Response) -> None:
        """See :meth:`OCIClient._redirected`."""
        if response.has_redirect_location:
            await aread_capped(response, self.body_limits.error, "body_limits.error")

    async def _once(self, step: _Step) -> httpx.Response:
        request, started = self._build(step), time.monotonic()
        try:
            send = functools.partial(self._http.send, request, auth=self._auth, stream=True)
            response = await self._budget(request).asend(send, self.retry.max_delay)
        except httpx.RequestError as exc:
            httplog.failed(request, exc, started)
            raise self._failed(step, exc) from exc
        httplog.answered(response, started)
        if not self._answers(step, response):
            self._answer(step, response, await aread_prefix(response, self.body_limits.error))
        try:
            await aread_capped(response, *self._limit(step))
        except httpx.RequestError as exc:
            raise body_error(response, exc) from exc
        finally:
            await response.aclose()
        return response

    async def _retrying(self, step: _Step) -> httpx.Response:
        """See :meth:`OCIClient._retrying`."""
        failures = 0
        while True:
            try:
                return await self._once(step)
            except DockerRegistryError as error:
                failures += 1
                wait = next_wait(
                    self.retry, lambda: self._build(step), step.repeatable, failures, error
                )
                if wait is None:
                    raise
            await anyio.sleep(wait)

    async def _run(self, plan: Plan[T]) -> T:
        try:
            step = next(plan)
            while True:
                step = plan.send(await self._retrying(step))
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def ping(self) -> str | None:
        """See :meth:`OCIClient.ping`."""
        return await self._run(_ping())

    async def blob_size(self, name: str, digest: str) -> int | None:
        """See :meth:`OCIClient.blob_size`."""
        return await self._run(_blob_size(check_name(name), check_digest(digest)))

    async def get_blob(self, name: str, digest: str) -> bytes:
        """See :meth:`OCIClient.get_blob`."""
        return await self._run(_get_blob(check_name(name), check_digest(digest)))

    async def upload_blob(
        self,
        name: str,
        chunks: Iterable[bytes] | AsyncIterable[bytes] | bytes,
        *,
        digest: str | None = None,
    ) -> BlobUpload:
        """See :meth:`OCIClient.upload_blob`."""
        check_name(name)
        if digest is not None:
            check_digest(digest)
        return await self._run(_upload(name, chunks, digest, self._sessions, self.retry))

    async def mount_blob(self, name: str, digest: str, source: str) -> MountResult:
        """See :meth:`OCIClient.mount_blob`."""
        return await self._run(
            _mount(check_name(name), check_digest(digest), check_name(source), self._sessions)
        )

    async def put_manifest(self, name: str, reference: str, data: bytes, media_type: str) -> str:
        """See :meth:`OCIClient.put_manifest`."""
        if not isinstance(data, bytes):
            raise InvalidInput("data", "the manifest must be given as bytes")
        return await self._run(
            _put_manifest(check_name(name), check_reference(reference), data, media_type)
        )

    async def put_manifest_answer(
        self, name: str, reference: str, data: bytes, media_type: str
    ) -> ManifestPut:
        """See :meth:`OCIClient.put_manifest_answer`."""
        if not isinstance(data, bytes):
            raise InvalidInput("data", "the manifest must be given as bytes")
        return await self._run(
            _put_manifest_answer(check_name(name), check_reference(reference), data, media_type)
        )

    async def referrers(self, name: str, digest: str) -> list[dict[str, Any]] | None:
        """See :meth:`OCIClient.referrers`."""
        check_name(name)
        check_digest(digest)
        found: list[dict[str, Any]] = []
        next_url: str | None = None
        seen: set[str] = set()
        while True:
            page = await self._run(_referrers_page(name, digest, next_url, seen))
            self.referrers_api = page is not None
            if page is None:
                return None
            found.extend(page.manifests)
            if page.next_url is None:
                return found
            next_url = page.next_url

    async def get_manifest(
        self, name: str, reference: str, *, accept: Iterable[str] | None = None
    ) -> Manifest:
        """See :meth:`OCIClient.get_manifest`."""
        return await self._run(_get_manifest(check_name(name), check_reference(reference), accept))

    async def manifest_digest(
        self, name: str, reference: str, *, accept: Iterable[str] | None = None
    ) -> str | None:
        """See :meth:`OCIClient.manifest_digest`."""
        return await self._run(_head_manifest(check_name(name), check_reference(reference), accept))

    async def delete_manifest(self, name: str, reference: str) -> None:
        """See :meth:`OCIClient.delete_manifest`."""
        await self._run(_delete_manifest(check_name(name), check_reference(reference)))

    async def tags(self, name: str, *, page_size: int | None = None) -> AsyncIterator[str]:
        """See :meth:`OCIClient.tags`."""
        check_name(name)
        size = _check_page_size(page_size)
        next_url: str | None = None
        seen: set[str] = set()
        while True:
            items, next_url = await self._run(_tags_page(name, size, next_url, seen))
            for item in items:
                yield item
            if next_url is None:
                return

    async def catalog(self, *, page_size: int | None = None) -> AsyncIterator[str]:
        """See :meth:`OCIClient.catalog`."""
        size = _check_page_size(page_size)
        next_url: str | None = None
        seen: set[str] = set()
        while True:
            items, next_url = await self._run(_catalog_page(size, next_url, seen))
            for item in items:
                yield item
            if next_url is None:
                return

    async def aclose(self) -> None:
        """See :meth:`OCIClient.close`."""
        for name, location in self._sessions.drain():
            with contextlib.suppress(DockerRegistryError):  # the registry purges them too
                await self._once(_cancel(name, location))
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
