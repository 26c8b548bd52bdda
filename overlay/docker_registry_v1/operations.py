"""What facade calls are made of: :class:`Operation`, input checks and answer readers.

Service methods (``services.py``) check their arguments with the helpers here and
describe an :class:`Operation`; the client (``client.py``) sends it and raises non-2xx
answers as typed errors, so readers only ever see a 2xx answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

import anyio.to_thread
import attrs
import httpx
from docker_registry_v1_api import models as api_models
from docker_registry_v1_api.api import index, registry
from docker_registry_v1_api.api import search as search_api
from docker_registry_v1_api.types import UNSET

from .auth import Access, Authenticator, TokenAuth
from .endpoints import normalise_token, parse_endpoints
from .errors import InvalidInput, invalid_response
from .models import (
    ImageMetadata,
    IndexImage,
    LayerUpload,
    Ping,
    RawMetadata,
    SearchResult,
    SearchResults,
    TagMap,
)
from .names import RepositoryName, check_image_id, check_single_line

T = TypeVar("T")
P = ParamSpec("P")
HTTPClient = httpx.Client | httpx.AsyncClient

# Uploads read 1 MiB at a time: fewer reads, sends and (async) thread hops per layer.
UPLOAD_CHUNK_SIZE = 1 << 20
_SIZE = re.compile(r"[0-9]{1,19}")  # ASCII digits that fit a 64-bit size; isdigit() takes "²"
_RANGE = re.compile(r"bytes=[0-9]+-[0-9]*")
_CHECKSUM_HEADERS = ("X-Docker-Checksum-Payload", "X-Docker-Payload-Checksum", "X-Docker-Checksum")
_RANGE_NOT_SATISFIABLE = 416
# The spec's bounds on search paging (the Hub's own limits).
_MAX_QUERY = 255
_MAX_PAGE_SIZE = 100
_MAX_PAGE = 100_000
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


def ignore(response: httpx.Response) -> None:
    """The reader of calls whose 2xx answer carries nothing (bodies differ by server)."""
    del response


@attrs.frozen
class Operation(Generic[T]):
    """One call: how to build its request, how to read a 2xx answer (its body read), and
    the call's ``auth`` (``None``: the client's default)."""

    build: Callable[[HTTPClient], httpx.Request]
    read: Callable[[httpx.Response], T]
    auth: Authenticator | None = None


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


def empty_layer(status: int, size: int | None, *, ranged: bool) -> bool:
    """The reference server answers 416 to a whole-layer GET when the layer is empty."""
    return status == _RANGE_NOT_SATISFIABLE and not ranged and size in (0, None)


def header_size(headers: httpx.Headers) -> int | None:
    """``X-Docker-Size`` when it is a plain size, else unknown."""
    text = headers.get("X-Docker-Size", "")
    return int(text) if _SIZE.fullmatch(text) else None


# ---------------------------------------------------------------- reading helpers


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        raise invalid_response(response, "body is not JSON") from None


def string_list_reader(what: str) -> Callable[[httpx.Response], list[str]]:
    def read(response: httpx.Response) -> list[str]:
        data = _json(response)
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            raise invalid_response(response, f"{what} is not a JSON list of strings")
        return data

    return read


def token_reader(access: Access, name: RepositoryName) -> Callable[[httpx.Response], TokenAuth]:
    hint = _DELETE_HINT if access is Access.DELETE else _NO_ISSUER_HINT

    def read(response: httpx.Response) -> TokenAuth:
        token = normalise_token(response.headers.get_list("X-Docker-Token"))
        if token is None:
            raise invalid_response(
                response, f"no X-Docker-Token header in the index answer; {hint}"
            )
        try:
            listed = response.headers.get_list("X-Docker-Endpoints")
            endpoints = parse_endpoints(listed, response.url)
        except ValueError as exc:
            raise invalid_response(response, str(exc)) from None
        return TokenAuth(token=token, access=access, endpoints=endpoints, repository=str(name))

    return read


# ---------------------------------------------------------------- hub (index tokens)


def index_images(images: Iterable[IndexImage | str]) -> list[api_models.RepositoryImage]:
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
        body.append(
            api_models.RepositoryImage(
                id=entry.id, checksum=checksum, tag=UNSET if entry.tag is None else entry.tag
            )
        )
    return body


# ---------------------------------------------------------------- images


def check_range(range_: str | None) -> str | None:
    if range_ is not None and not _RANGE.fullmatch(range_):
        raise InvalidInput("range_", f"{range_!r} is not a single bytes=START-[END] range")
    return range_


def check_writer(writer: object) -> None:
    if not callable(getattr(writer, "write", None)):
        raise InvalidInput("writer", "needs a write(bytes) method")


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
        if isinstance(self.source, bytes):
            return registry.add_image_layer.build_request(
                http, image_id, body=self._count(self.source)
            )
        if isinstance(http, httpx.AsyncClient):
            body: Iterator[bytes] | AsyncIterator[bytes] = self._achunks()
        elif hasattr(self.source, "__aiter__"):
            raise InvalidInput("layer", "async iterables need the AsyncClient")
        else:
            body = self._chunks()
        length = _remaining_length(self.source)
        return registry.add_image_layer.build_request(
            http,
            image_id,
            body=body,
            extra_headers={} if length is None else {"Content-Length": str(length)},
        )


def layer_upload(
    image_id: str, source: Any, metadata_json: bytes | None, auth: Authenticator | None
) -> Operation[LayerUpload]:
    """Stream ``source`` as the layer of ``image_id``; the answer says what was sent."""
    checked = check_image_id(image_id)
    readable = callable(getattr(source, "read", None))
    if isinstance(source, str) or not (
        isinstance(source, bytes | Iterable | AsyncIterable) or readable
    ):
        raise InvalidInput("layer", "expected bytes, a binary reader or an iterable of bytes")
    if metadata_json is not None and not isinstance(metadata_json, bytes):
        raise InvalidInput("metadata_json", "expected the exact image JSON bytes")
    body = LayerBody(
        source, None if metadata_json is None else hashlib.sha256(metadata_json + b"\n")
    )

    def read(response: httpx.Response) -> LayerUpload:
        del response
        digest = None if body.hasher is None else "sha256:" + body.hasher.hexdigest()
        return LayerUpload(size=body.size, checksum=digest)

    return Operation(lambda http: body.request(http, checked), read, auth)


def read_raw_metadata(response: httpx.Response) -> RawMetadata:
    headers = response.headers
    checksum = next((headers[name] for name in _CHECKSUM_HEADERS if name in headers), None)
    return RawMetadata(response.content, size=header_size(headers), checksum=checksum)


def read_metadata(response: httpx.Response) -> ImageMetadata:
    try:
        return ImageMetadata.from_json(response.content)
    except (ValueError, TypeError, RecursionError) as exc:
        raise invalid_response(response, f"image JSON: {exc}") from None


# ---------------------------------------------------------------- repositories


def read_tags(response: httpx.Response) -> TagMap:
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


def read_image_id(response: httpx.Response) -> str:
    data = _json(response)
    if isinstance(data, str):
        return data
    if isinstance(data, list) and data and isinstance(data[0], dict):
        first = data[0].get("id")
        if isinstance(first, str):
            return first
    raise invalid_response(response, "expected the image id as a JSON string")


def read_images(response: httpx.Response) -> list[IndexImage]:
    data = index.list_repository_images.parse_response(response)
    if not isinstance(data, list) or not all(isinstance(entry.id, str) for entry in data):
        raise invalid_response(response, "expected a JSON list of images with string ids")
    return [IndexImage(e.id, checksum=e.checksum or None, tag=e.tag or None) for e in data]


def read_no_content(response: httpx.Response) -> None:
    if response.status_code != 204:
        raise invalid_response(response, "the final image-list PUT must answer 204")


# ---------------------------------------------------------------- search, ping, users


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _page(value: object) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return _optional_int(value)


def _result(entry: Any) -> SearchResult:
    return SearchResult(
        name=entry.name,
        description=entry.description if isinstance(entry.description, str) else "",
        star_count=_optional_int(entry.star_count) or 0,
        is_official=entry.is_official is True,
        is_trusted=entry.is_trusted is True,
        is_automated=entry.is_automated is True,
        extra=dict(entry.additional_properties),
    )


def read_search_results(response: httpx.Response) -> SearchResults:
    try:
        data = search_api.search.parse_response(response)
        if not isinstance(data, api_models.SearchResults):
            raise TypeError(response.status_code)
        return SearchResults(
            query=data.query,
            num_results=data.num_results,
            results=tuple(_result(entry) for entry in data.results),
            num_pages=_optional_int(data.num_pages),
            page_size=_optional_int(data.page_size),
            page=_page(data.page),
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise invalid_response(response, "not a search result object") from None


def check_search(query: object, page: object, num: object) -> None:
    if not isinstance(query, str):
        raise InvalidInput("query", "expected a string")
    if len(query) > _MAX_QUERY:
        raise InvalidInput("query", f"longer than {_MAX_QUERY} characters (the spec's limit)")
    for field, value, most in (("page", page, _MAX_PAGE), ("num", num, _MAX_PAGE_SIZE)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
            raise InvalidInput(field, f"expected an integer from 1 to {most}")


def next_page(results: SearchResults, page: int) -> int | None:
    """The page to ask for next, or ``None`` when the server's paging says we are done."""
    if results.num_pages is None or page >= min(results.num_pages, _MAX_PAGE):
        return None
    return page + 1 if results.results else None


def read_ping(response: httpx.Response) -> Ping:
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):  # an empty or non-JSON body still answers the ping
        body = None
    headers = response.headers
    version = headers.get("X-Docker-Registry-Version")
    if version is None and isinstance(body, dict) and isinstance(body.get("version"), str):
        version = body["version"]
    standalone = None
    if (flag := headers.get("X-Docker-Registry-Standalone")) is not None:
        standalone = flag.strip().lower() in {"true", "1"}
    elif isinstance(body, dict) and isinstance(body.get("standalone"), bool):
        standalone = body["standalone"]
    return Ping(version=version, standalone=standalone, body=body)


def check_username(username: str) -> str:
    text = check_single_line("username", username)
    if not text or "/" in text or not text.isprintable():
        raise InvalidInput("username", f"{text!r} is not a user name")
    return text
