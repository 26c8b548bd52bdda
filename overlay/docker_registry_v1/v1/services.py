"""The services of the Go package (Hub, Image, Repository, Search) plus Users, sync and async.

Each call is written once, here, from its arguments to its answer: the method checks
its arguments (bad input never reaches the wire) and returns an :class:`Operation`
(which generated ``build_request`` makes the one request, and how a 2xx answer is
read: the readers follow the methods). Marked with :class:`call`, the method hands
the operation to its client, which sends it (``client.py``): on a :class:`Client`
the method returns the result, on an :class:`AsyncClient` an awaitable of it.

``auth`` (keyword-only everywhere) is the call's authenticator; ``None`` means the
client's default, like passing the same Authenticator to every Go call. Every method
raises :class:`InvalidInput` for a bad argument, a :class:`RegistryError` subclass
for a non-2xx answer or one of the wrong shape (:class:`NotFound`,
:class:`Unauthorized`, :class:`InvalidResponse`, …) and
:class:`RegistryConnectionError` when no answer came back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    Self,
    TypeVar,
    overload,
)

import attrs
import httpx
from docker_registry_v1_api import models as api_models
from docker_registry_v1_api.api import index, registry, users
from docker_registry_v1_api.api import search as search_api
from docker_registry_v1_api.types import UNSET

from ..core.errors import InvalidInput, RegistryError, invalid_response
from ..core.models import (
    ImageMetadata,
    IndexImage,
    LayerUpload,
    RawMetadata,
    SearchResult,
    SearchResults,
    TagMap,
)
from ..core.names import (
    RepositoryName,
    check_header_value,
    check_image_id,
    check_single_line,
    check_tag,
)
from .auth import Access, Authenticator, NilAuth, TokenAuth
from .endpoints import normalise_token, parse_endpoints

if TYPE_CHECKING:
    from .client import AsyncClient, Client

AuthArg = Authenticator | None
HTTPClient = httpx.Client | httpx.AsyncClient
C = TypeVar("C")
P = ParamSpec("P")
T = TypeVar("T")
# Uploads read 1 MiB at a time: fewer reads, sends and (async) thread hops per layer.
UPLOAD_CHUNK_SIZE = 1 << 20
_IDENTITY = {"Accept-Encoding": "identity"}
_TOKEN_WANTED = "true"  # noqa: S105 - the X-Docker-Token request flag
_SIZE = re.compile(r"[0-9]{1,19}")  # ASCII digits that fit a 64-bit size; isdigit() takes "²"
_RANGE = re.compile(r"bytes=[0-9]+-[0-9]*")
_CHECKSUM_HEADERS = ("X-Docker-Checksum-Payload", "X-Docker-Payload-Checksum", "X-Docker-Checksum")
_MAX_QUERY, _MAX_PAGE_SIZE, _MAX_PAGE = 255, 100, 100_000  # the spec's (the Hub's) search limits
_NO_ISSUER_HINT = (
    "servers that issue no tokens (standalone or private registries) take BasicAuth or no "
    "auth directly on every call"
)
_DELETE_HINT = (
    "a standalone reference registry has no index DELETE: this request has already deleted "
    "the repository and no token was issued; with such servers call repository.delete() "
    "with BasicAuth or no auth instead"
)


class BinaryReader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class BinaryWriter(Protocol):
    """Anything with ``write(bytes)``; for the async client ``write`` may be a coroutine."""

    def write(self, data: bytes, /) -> object: ...


UploadSource = BinaryReader | bytes | Iterable[bytes] | AsyncIterable[bytes]


@attrs.frozen
class Missing:
    """What a 404 to an operation may be about, for the client to say which on the error
    path (``missing.py``): the registry's v1 API itself (``_ping``, search), a repository,
    or one tag of it. Nothing is sent for it unless the operation failed with a 404."""

    repository: str | None = None
    tag: str | None = None


@attrs.frozen
class Operation(Generic[T]):
    """One call: how to build its request, how to read a 2xx answer (its body read), and
    the call's ``auth`` (``None``: the client's default). ``sink``, when given, takes the
    body's bytes as they arrive instead; ``otherwise`` may turn a typed error into the
    call's answer (it re-raises the errors it does not accept); ``missing``, when there
    is no ``otherwise``, lets the client turn a 404 into the :class:`NotFound` subclass
    that says what is missing. ``repeatable`` is what
    the client's retry needs to know beyond the method and body: ``False`` for the
    requests the v1 upload state machine must never see twice (the checksum PUT, the
    index PUTs), ``True`` for a POST that may be sent again, ``None``: by method."""

    build: Callable[[HTTPClient], httpx.Request]
    read: Callable[[httpx.Response], T]
    auth: Authenticator | None = None
    sink: Callable[[bytes], object] | None = None
    otherwise: Callable[[RegistryError], T] | None = None
    repeatable: bool | None = None
    missing: Missing | None = None


def request(
    build: Callable[Concatenate[HTTPClient, P], httpx.Request],
    read: Callable[[httpx.Response], T],
    auth: Authenticator | None,
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> Operation[T]:
    """The :class:`Operation` that sends ``build(http, *args, **kwargs)``."""
    return Operation(lambda http: build(http, *args, **kwargs), read, auth)


class _Service(Generic[C]):
    """A group of calls on one client: ``C`` is :class:`Client` or :class:`AsyncClient`."""

    def __init__(self, client: C) -> None:
        self._client = client


class call(Generic[P, T]):  # noqa: N801 - used as a decorator, read as a verb
    """Makes a method that describes an :class:`Operation` perform it on its client.

    On a :class:`Client` (or one of its services) the method returns the operation's
    result; on an :class:`AsyncClient`'s it is a coroutine function returning the same.
    """

    def __init__(self, describe: Callable[Concatenate[Any, P], Operation[T]]) -> None:
        self.describe = describe
        self.__doc__ = describe.__doc__
        self.__name__ = describe.__name__

    @overload
    def __get__(self, owner: None, cls: type[Any]) -> Self: ...
    @overload
    def __get__(self, owner: _Service[Client] | Client, cls: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, owner: _Service[AsyncClient] | AsyncClient, cls: type[Any]
    ) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, owner: Any, cls: type[Any]) -> Any:
        if owner is None:
            return self
        describe, client = self.describe, getattr(owner, "_client", owner)
        send = client._send
        if client._awaits:

            async def perform_async(*args: P.args, **kwargs: P.kwargs) -> T:
                result: T = await send(describe(owner, *args, **kwargs))
                return result

            return perform_async

        def perform(*args: P.args, **kwargs: P.kwargs) -> T:
            result: T = send(describe(owner, *args, **kwargs))
            return result

        return perform


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        raise invalid_response(response, "body is not JSON") from None


# ---------------------------------------------------------------- hub (index tokens)


class _Hub(_Service[C]):
    @call
    def get_read_token(self, repo: str) -> Operation[TokenAuth]:
        """An anonymous read token for ``repo`` and the registry endpoints it is valid for."""
        return _token(index.list_repository_images.build_request, Access.READ, repo, NilAuth())

    @call
    def get_read_token_with_auth(self, repo: str, *, auth: AuthArg = None) -> Operation[TokenAuth]:
        """A read token for ``repo`` asked for with ``auth`` (usually :class:`BasicAuth`)."""
        return _token(index.list_repository_images.build_request, Access.READ, repo, auth)

    @call
    def get_write_token(
        self, repo: str, *, images: Iterable[IndexImage | str] = (), auth: AuthArg = None
    ) -> Operation[TokenAuth]:
        """A write token from the index ``PUT …/{repo}/``; ``images`` is the list sent with it."""
        body = _index_images(images)
        return _token(index.create_repository.build_request, Access.WRITE, repo, auth, body=body)

    @call
    def get_delete_token(self, repo: str, *, auth: AuthArg = None) -> Operation[TokenAuth]:
        """A delete token from the index ``DELETE …/{repo}/``.

        Careful: a standalone registry has no index, so there the same request deletes the
        repository and all its tags at once (then :class:`InvalidResponse` says no token
        came back); ``ping().standalone`` tells the two apart first, as ``regv1 delete``
        does."""
        return _token(registry.delete_repository.build_request, Access.DELETE, repo, auth, body=[])

    @call
    def confirm_delete(
        self, repo: str, *, endpoints: Iterable[str] = (), auth: AuthArg = None
    ) -> Operation[None]:
        """Tell the index the registry deleted ``repo`` (the Hub flow's last step);
        ``endpoints``: the registry URLs the delete went to, e.g. ``str(token.endpoint)``."""
        name = RepositoryName.parse(repo)
        if isinstance(endpoints, str):
            raise InvalidInput("endpoints", "expected a list of registry URLs, not one string")
        listed = ", ".join(check_single_line("endpoints", item) for item in endpoints)
        header = check_header_value("endpoints", listed) if listed else UNSET
        build = registry.delete_repository.build_request
        return request(build, _ignore, auth, *name.parts, x_docker_endpoints=header)


class HubService(_Hub["Client"]):
    """Index tokens: read (anonymous or with credentials), write and delete."""


class AsyncHubService(_Hub["AsyncClient"]):
    """:class:`HubService` of the :class:`AsyncClient`: every method is awaited."""


def _token(
    build: Callable[..., httpx.Request], access: Access, repo: str, auth: AuthArg, **body: Any
) -> Operation[TokenAuth]:
    """Ask the index for a token (``X-Docker-Token: true``) with the request ``build`` makes."""
    name = RepositoryName.parse(repo)
    hint = _DELETE_HINT if access is Access.DELETE else _NO_ISSUER_HINT

    def read(response: httpx.Response) -> TokenAuth:
        token = normalise_token(response.headers.get_list("X-Docker-Token"))
        if token is None:
            raise invalid_response(
                response, f"no X-Docker-Token header in the index answer; {hint}"
            )
        try:
            endpoints = parse_endpoints(
                response.headers.get_list("X-Docker-Endpoints"), response.url
            )
        except ValueError as exc:
            raise invalid_response(response, str(exc)) from None
        return TokenAuth(token=token, access=access, endpoints=endpoints, repository=str(name))

    operation = request(build, read, auth, *name.parts, **body, x_docker_token=_TOKEN_WANTED)
    # The index PUT (write) and DELETE (delete) register the request: never sent twice.
    # A read token's 404 is the index not knowing the repository.
    if body:
        return attrs.evolve(operation, repeatable=False)
    return attrs.evolve(operation, missing=Missing(str(name)))


def _index_images(images: Iterable[IndexImage | str]) -> list[api_models.RepositoryImage]:
    if isinstance(images, str):
        raise InvalidInput("images", "expected a list of image ids, not one string")
    body = []
    for image in images:
        entry = IndexImage(id=image) if isinstance(image, str) else image
        if not isinstance(entry, IndexImage) or not isinstance(entry.id, str):
            raise InvalidInput("images", "expected image ids or IndexImage entries")
        try:
            check_image_id(entry.id)
        except InvalidInput as exc:
            raise InvalidInput("images", str(exc)) from None
        checksum = UNSET if entry.checksum is None else entry.checksum
        tag = UNSET if entry.tag is None else entry.tag
        body.append(api_models.RepositoryImage(id=entry.id, checksum=checksum, tag=tag))
    return body


def _ignore(response: httpx.Response) -> None:
    """The reader of calls whose 2xx answer carries nothing (bodies differ by server)."""
    del response


# ---------------------------------------------------------------- images


class _Images(_Service[C]):
    @call
    def get_ancestry(self, image_id: str, *, auth: AuthArg = None) -> Operation[list[str]]:
        """The ids from ``image_id`` down to its base image, tip first."""
        build = registry.get_image_ancestry.build_request
        return request(build, _read_ancestry, auth, check_image_id(image_id))

    @call
    def get_layer(
        self, image_id: str, writer: BinaryWriter, *, auth: AuthArg = None
    ) -> Operation[int]:
        """Stream the layer into ``writer`` (on the :class:`AsyncClient` its ``write`` may be
        a coroutine function); returns the number of bytes written.
        :class:`IncompleteBody` when the body ends before its ``Content-Length``."""
        if not callable(getattr(writer, "write", None)):
            raise InvalidInput("writer", "needs a write(bytes) method")
        written = _Written(writer.write)
        return Operation(_layer_get(image_id, None), written.count, auth, written.write, _empty)

    @call
    def add_layer(
        self,
        image_id: str,
        layer: UploadSource,
        *,
        metadata_json: bytes | None = None,
        auth: AuthArg = None,
    ) -> Operation[LayerUpload]:
        """Stream ``layer`` (bytes, a binary reader or an iterable of chunks; on the
        :class:`AsyncClient` also an async iterable) up. Returns its size and, given the
        exact image JSON sent as ``metadata_json``, the payload checksum to finalise with."""
        checked = check_image_id(image_id)
        readable = callable(getattr(layer, "read", None))
        if isinstance(layer, str) or not (
            isinstance(layer, bytes | Iterable | AsyncIterable) or readable
        ):
            raise InvalidInput("layer", "expected bytes, a binary reader or an iterable of bytes")
        if metadata_json is not None and not isinstance(metadata_json, bytes):
            raise InvalidInput("metadata_json", "expected the exact image JSON bytes")
        start = None if metadata_json is None else hashlib.sha256(metadata_json + b"\n")
        body = LayerBody(layer, start)
        return Operation(lambda http: body.request(http, checked), body.sent, auth)

    @call
    def get_metadata(self, image_id: str, *, auth: AuthArg = None) -> Operation[ImageMetadata]:
        """The image's JSON, parsed; :class:`InvalidResponse` when it is not image JSON."""
        build = registry.get_image_metadata.build_request
        return request(build, _read_metadata, auth, check_image_id(image_id))

    @call
    def get_metadata_raw(self, image_id: str, *, auth: AuthArg = None) -> Operation[RawMetadata]:
        """The image's JSON exactly as sent, with its size and checksum headers."""
        build = registry.get_image_metadata.build_request
        return request(build, _read_raw_metadata, auth, check_image_id(image_id))

    @call
    def add_metadata(
        self, image_id: str, metadata: ImageMetadata, *, auth: AuthArg = None
    ) -> Operation[bytes]:
        """Upload ``metadata``; returns the exact bytes sent (hash these for the checksum)."""
        checked = check_image_id(image_id)
        if not isinstance(metadata, ImageMetadata):
            raise InvalidInput("metadata", "expected an ImageMetadata")
        if metadata.id != checked:
            raise InvalidInput("metadata", f"id {metadata.id!r} differs from image_id {checked!r}")
        body = metadata.to_json()
        build = registry.add_image_metadata.build_request
        return request(build, lambda _: body, auth, checked, body=body)

    @call
    def add_metadata_raw(
        self, image_id: str, json_bytes: bytes, *, auth: AuthArg = None
    ) -> Operation[None]:
        """Upload the image JSON byte for byte; :class:`Conflict` when the image is final."""
        checked = check_image_id(image_id)
        if not isinstance(json_bytes, bytes):
            raise InvalidInput("json_bytes", "expected bytes")
        build = registry.add_image_metadata.build_request
        return request(build, _ignore, auth, checked, body=json_bytes)

    @call
    def put_checksum(
        self, image_id: str, checksum: str, *, auth: AuthArg = None
    ) -> Operation[None]:
        """Finalise the image with its payload checksum (``<algorithm>:<hex>``)."""
        checked, value = check_image_id(image_id), check_header_value("checksum", checksum)
        algorithm, _, digest = value.partition(":")
        if not algorithm or not digest:
            raise InvalidInput("checksum", f"{value!r} is not '<algorithm>:<hex>'")
        build = registry.put_image_checksum.build_request
        operation = request(build, _ignore, auth, checked, x_docker_checksum_payload=value)
        return attrs.evolve(operation, repeatable=False)  # it finalises: never twice


class ImageService(_Images["Client"]):
    """``/v1/images/{id}/…``: ancestry, layers, metadata and the checksum that finalises."""

    def stream_layer(
        self, image_id: str, *, range_: str | None = None, auth: AuthArg = None
    ) -> AbstractContextManager[httpx.Response]:
        """The layer GET's response, before its body is read: for callers that resume
        (``range_="bytes=N-"``) and verify themselves, as the transfers do. Registry
        errors raise on entry; a body that breaks off raises
        :class:`RegistryConnectionError` (its cause the httpx error) from the ``with`` block."""
        return self._client._open(Operation(_layer_get(image_id, range_), _ignore, auth))


class AsyncImageService(_Images["AsyncClient"]):
    """:class:`ImageService` of the :class:`AsyncClient`: every method is awaited but
    :meth:`stream_layer`, which is entered with ``async with``."""

    def stream_layer(
        self, image_id: str, *, range_: str | None = None, auth: AuthArg = None
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """See :meth:`ImageService.stream_layer`."""
        return self._client._open(Operation(_layer_get(image_id, range_), _ignore, auth))


def _layer_get(image_id: str, range_: str | None) -> Callable[[HTTPClient], httpx.Request]:
    """The layer GET, in the encoding it is stored in: offsets and checksums hold."""
    checked = check_image_id(image_id)
    if range_ is not None and not _RANGE.fullmatch(range_):
        raise InvalidInput("range_", f"{range_!r} is not a single bytes=START-[END] range")
    header = UNSET if range_ is None else range_
    return lambda http: registry.get_image_layer.build_request(
        http, checked, range_=header, extra_headers=_IDENTITY
    )


@attrs.define
class _Written:
    """A layer GET's sink that counts what it handed on: the bytes written (raw, as the
    registry stored them), also when the body was read past httpx (``iter_body``)."""

    sink: Callable[[bytes], object]
    total: int = 0

    def write(self, chunk: bytes) -> object:
        self.total += len(chunk)
        return self.sink(chunk)

    def count(self, response: httpx.Response) -> int:
        del response
        return self.total


def empty_layer(status: int, size: int | None, *, ranged: bool) -> bool:
    """The reference server answers 416 to a whole-layer GET when the layer is empty."""
    return (
        status == httpx.codes.REQUESTED_RANGE_NOT_SATISFIABLE and not ranged and size in (0, None)
    )


def header_size(headers: httpx.Headers) -> int | None:
    """``X-Docker-Size`` when it is a plain size, else unknown."""
    text = headers.get("X-Docker-Size", "")
    return int(text) if _SIZE.fullmatch(text) else None


def _empty(error: RegistryError) -> int:
    """A bare 416 to our Range-less GET is the reference server's empty layer: 0 bytes."""
    bare = error.message is None and error.excerpt is None
    if bare and empty_layer(error.code, header_size(error.headers), ranged=False):
        return 0
    raise error


def _remaining_length(source: Any) -> int | None:
    """Bytes left in a file-like source, when that can be known without reading it."""
    try:
        info = os.fstat(source.fileno())
        if stat.S_ISREG(info.st_mode):
            return max(int(info.st_size - source.tell()), 0)
    except (AttributeError, OSError, ValueError):
        pass
    try:
        if source.seekable():
            here = source.tell()
            end = source.seek(0, os.SEEK_END)
            source.seek(here)
            return int(end - here)
    except (AttributeError, OSError, ValueError):
        pass
    return None


@attrs.define
class LayerBody:
    """A layer body on its way out: counted and, given the image JSON, hashed.

    Each request built starts the count and the hash over (a refused connection is
    retried on the token's next endpoint with a fresh request).
    """

    source: Any
    start: Any
    hasher: Any = None
    size: int = 0

    def _count(self, chunk: bytes) -> bytes:
        if not isinstance(chunk, bytes):
            raise InvalidInput("layer", f"chunks must be bytes, got {type(chunk).__name__}")
        self.size += len(chunk)
        if self.hasher is not None:
            self.hasher.update(chunk)
        return chunk

    def _chunks(self) -> Iterator[bytes]:
        read = getattr(self.source, "read", None)
        for chunk in self.source if read is None else iter(lambda: read(UPLOAD_CHUNK_SIZE), b""):
            yield self._count(chunk)

    async def _achunks(self) -> AsyncIterator[bytes]:
        import anyio.to_thread  # noqa: PLC0415 - only async uploads from a reader need it

        read = getattr(self.source, "read", None)
        if hasattr(self.source, "__aiter__"):
            async for chunk in self.source:
                yield self._count(chunk)
        elif read is not None:
            while chunk := await anyio.to_thread.run_sync(read, UPLOAD_CHUNK_SIZE):
                yield self._count(chunk)
        else:
            for chunk in self.source:
                yield self._count(chunk)

    def request(self, http: HTTPClient, image_id: str) -> httpx.Request:
        """Bytes go as they are; anything else streams, sized when the source knows it."""
        self.size, self.hasher = 0, None if self.start is None else self.start.copy()
        build = registry.add_image_layer.build_request
        if isinstance(self.source, bytes):
            return build(http, image_id, body=self._count(self.source))
        if isinstance(http, httpx.AsyncClient):
            body: Iterator[bytes] | AsyncIterator[bytes] = self._achunks()
        elif hasattr(self.source, "__aiter__"):
            raise InvalidInput("layer", "async iterables need the AsyncClient")
        else:
            body = self._chunks()
        length = _remaining_length(self.source)
        sized = {} if length is None else {"Content-Length": str(length)}
        return build(http, image_id, body=body, extra_headers=sized)

    def sent(self, response: httpx.Response) -> LayerUpload:
        """What went out: the reader of the upload's answer."""
        del response
        digest = None if self.hasher is None else "sha256:" + self.hasher.hexdigest()
        return LayerUpload(size=self.size, checksum=digest)


def _read_ancestry(response: httpx.Response) -> list[str]:
    data = _json(response)
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise invalid_response(response, "ancestry is not a JSON list of strings")
    return data


def _read_raw_metadata(response: httpx.Response) -> RawMetadata:
    headers = response.headers
    checksum = next((headers[name] for name in _CHECKSUM_HEADERS if name in headers), None)
    return RawMetadata(response.content, size=header_size(headers), checksum=checksum)


def _read_metadata(response: httpx.Response) -> ImageMetadata:
    try:
        return ImageMetadata.from_json(response.content)
    except (ValueError, TypeError, RecursionError) as exc:
        raise invalid_response(response, f"image JSON: {exc}") from None


# ---------------------------------------------------------------- repositories


class _Repositories(_Service[C]):
    @call
    def list_tags(self, repo: str, *, auth: AuthArg = None) -> Operation[TagMap]:
        """Every tag of ``repo`` and the image id it points at."""
        name = RepositoryName.parse(repo)
        operation = request(registry.list_tags.build_request, _read_tags, auth, *name.parts)
        return attrs.evolve(operation, missing=Missing(str(name)))

    @call
    def get_image_id(self, repo: str, tag: str, *, auth: AuthArg = None) -> Operation[str]:
        """The image id ``repo:tag`` points at."""
        name, checked = RepositoryName.parse(repo), check_tag(tag)
        build = registry.get_image_id.build_request
        operation = request(build, _read_image_id, auth, *name.parts, checked)
        return attrs.evolve(operation, missing=Missing(str(name), checked))

    @call
    def set_tag(
        self, repo: str, image_id: str, tag: str, *, auth: AuthArg = None
    ) -> Operation[None]:
        """Point ``tag`` at ``image_id`` (the Go order; prefer keywords to avoid swaps)."""
        name, checked, image = RepositoryName.parse(repo), check_tag(tag), check_image_id(image_id)
        build = registry.set_tag.build_request
        return request(build, _ignore, auth, *name.parts, checked, body=image)

    @call
    def delete_tag(self, repo: str, tag: str, *, auth: AuthArg = None) -> Operation[None]:
        """Remove ``tag`` from ``repo``; the images stay."""
        name, checked = RepositoryName.parse(repo), check_tag(tag)
        operation = request(registry.delete_tag.build_request, _ignore, auth, *name.parts, checked)
        return attrs.evolve(operation, missing=Missing(str(name), checked))

    @call
    def delete(self, repo: str, *, auth: AuthArg = None) -> Operation[None]:
        """Delete ``repo`` and its tags on the registry."""
        name = RepositoryName.parse(repo)
        return request(registry.delete_repository.build_request, _ignore, auth, *name.parts)

    @call
    def list_images(self, repo: str, *, auth: AuthArg = None) -> Operation[list[IndexImage]]:
        """The index's image list for ``repo``."""
        name = RepositoryName.parse(repo)
        build = index.list_repository_images.build_request
        return request(build, _read_images, auth, *name.parts)

    @call
    def update_images(
        self, repo: str, images: Iterable[IndexImage | str] = (), *, auth: AuthArg = None
    ) -> Operation[None]:
        """The final ``PUT …/images`` of a push; :class:`InvalidResponse` unless it answers 204."""
        name, body = RepositoryName.parse(repo), _index_images(images)
        build = index.update_repository_images.build_request
        operation = request(build, _read_no_content, auth, *name.parts, body=body)
        return attrs.evolve(operation, repeatable=False)  # an index PUT: never twice


class RepositoryService(_Repositories["Client"]):
    """``/v1/repositories/{ns}/{repo}/…``: tags, deletion and the index image list."""


class AsyncRepositoryService(_Repositories["AsyncClient"]):
    """:class:`RepositoryService` of the :class:`AsyncClient`: every method is awaited."""


def _read_tags(response: httpx.Response) -> TagMap:
    data = _json(response)
    if isinstance(data, dict) and all(isinstance(value, str) for value in data.values()):
        return TagMap(data)
    if isinstance(data, list) and all(
        isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("layer"), str)
        for entry in data
    ):
        return TagMap({entry["name"]: entry["layer"] for entry in data}, short_ids=True)
    raise invalid_response(
        response, "tags are neither a map of strings nor a list of {layer, name}"
    )


def _read_image_id(response: httpx.Response) -> str:
    data = _json(response)
    if isinstance(data, str):
        return data
    if isinstance(data, list) and data and isinstance(data[0], dict):
        first = data[0].get("id")
        if isinstance(first, str):
            return first
    raise invalid_response(response, "expected the image id as a JSON string")


def _read_images(response: httpx.Response) -> list[IndexImage]:
    data = index.list_repository_images.parse_response(response)
    if not isinstance(data, list) or not all(isinstance(entry.id, str) for entry in data):
        raise invalid_response(response, "expected a JSON list of images with string ids")
    return [IndexImage(e.id, checksum=e.checksum or None, tag=e.tag or None) for e in data]


def _read_no_content(response: httpx.Response) -> None:
    if response.status_code != httpx.codes.NO_CONTENT:
        raise invalid_response(response, "the final image-list PUT must answer 204")


# ---------------------------------------------------------------- search


class _Search(_Service[C]):
    @call
    def query(
        self, query: str, page: int = 1, num: int = 25, *, auth: AuthArg = None
    ) -> Operation[SearchResults]:
        """One page (1 to 100 000) of up to ``num`` (1 to 100) results for ``query``."""
        if not isinstance(query, str):
            raise InvalidInput("query", "expected a string")
        if len(query) > _MAX_QUERY:
            raise InvalidInput("query", f"longer than {_MAX_QUERY} characters (the spec's limit)")
        for field, value, most in (("page", page, _MAX_PAGE), ("num", num, _MAX_PAGE_SIZE)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
                raise InvalidInput(field, f"expected an integer from 1 to {most}")
        build = search_api.search.build_request
        operation = request(build, _read_search_results, auth, q=query, n=num, page=page)
        return attrs.evolve(operation, missing=Missing())


class SearchService(_Search["Client"]):
    """``GET /v1/search``: one page at a time, or every page."""

    def iter_results(
        self, query: str, num: int = 25, *, auth: AuthArg = None
    ) -> Iterator[SearchResult]:
        """Every result of every page, until the server's paging says there is no more."""
        page: int | None = 1
        while page is not None:
            results = self.query(query, page, num, auth=auth)
            yield from results.results
            page = next_page(results, page)


class AsyncSearchService(_Search["AsyncClient"]):
    """:class:`SearchService` of the :class:`AsyncClient`: awaited, ``async for`` pages."""

    async def iter_results(
        self, query: str, num: int = 25, *, auth: AuthArg = None
    ) -> AsyncIterator[SearchResult]:
        """See :meth:`SearchService.iter_results`."""
        page: int | None = 1
        while page is not None:
            results = await self.query(query, page, num, auth=auth)
            for result in results.results:
                yield result
            page = next_page(results, page)


def next_page(results: SearchResults, page: int) -> int | None:
    """The page to ask for next, or ``None`` when the server's paging says we are done."""
    if results.num_pages is None or page >= min(results.num_pages, _MAX_PAGE):
        return None
    return page + 1 if results.results else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_search_results(response: httpx.Response) -> SearchResults:
    try:
        data = search_api.search.parse_response(response)
        if not isinstance(data, api_models.SearchResults):
            raise TypeError(response.status_code)
        page = (
            int(data.page) if isinstance(data.page, str) and data.page.strip().isdigit() else None
        )
        results = tuple(
            SearchResult(
                name=entry.name,
                description=entry.description if isinstance(entry.description, str) else "",
                star_count=_int(entry.star_count) or 0,
                is_official=entry.is_official is True,
                is_trusted=entry.is_trusted is True,
                is_automated=entry.is_automated is True,
                extra=dict(entry.additional_properties),
            )
            for entry in data.results
        )
        return SearchResults(
            query=data.query,
            num_results=data.num_results,
            results=results,
            num_pages=_int(data.num_pages),
            page_size=_int(data.page_size),
            page=_int(data.page) if page is None else page,
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise invalid_response(response, "not a search result object") from None


# ---------------------------------------------------------------- users


def _username(username: str) -> str:
    text = check_single_line("username", username)
    if not text or "/" in text or not text.isprintable():
        raise InvalidInput("username", f"{text!r} is not a user name")
    return text


class _Users(_Service[C]):
    @call
    def login(self, *, auth: AuthArg = None) -> Operation[None]:
        """Check the credentials in ``auth`` against the index (401/403 raise)."""
        return request(users.check_login.build_request, _ignore, auth)

    @call
    def create(
        self, username: str, password: str, email: str, *, auth: AuthArg = None
    ) -> Operation[None]:
        """Create an index account."""
        body = api_models.UserCreate(
            username=_username(username),
            password=check_single_line("password", password),
            email=check_single_line("email", email),
        )
        return request(users.create_user.build_request, _ignore, auth, body=body)

    @call
    def update(
        self,
        username: str,
        *,
        email: str | None = None,
        password: str | None = None,
        auth: AuthArg = None,
    ) -> Operation[None]:
        """Change an account's e-mail address or password."""
        user = _username(username)
        body = api_models.UserUpdate(
            email=UNSET if email is None else check_single_line("email", email),
            password=UNSET if password is None else check_single_line("password", password),
        )
        return request(users.update_user.build_request, _ignore, auth, user, body=body)


class UsersService(_Users["Client"]):
    """Index accounts: check credentials, create, update."""


class AsyncUsersService(_Users["AsyncClient"]):
    """:class:`UsersService` of the :class:`AsyncClient`: every method is awaited."""
