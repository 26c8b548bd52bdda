"""Every facade operation, written once for both clients: check the input, say how to build
the request, say how to read the answer.

Each function here validates its arguments before returning, so bad input never
reaches the wire, and returns an :class:`Operation`: the generated module's
``build_request`` (method, path, percent-encoding and headers come from the spec) and
a reader for a 2xx answer. ``Client`` and ``AsyncClient`` send it (``client.py``);
non-2xx answers never reach a reader, they are raised as typed errors there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

import anyio.to_thread
import attrs
import httpx
from docker_registry_v1_api.api.index import (
    create_repository,
    list_repository_images,
    update_repository_images,
)
from docker_registry_v1_api.api.registry import (
    add_image_layer,
    add_image_metadata,
    get_image_ancestry,
    get_image_layer,
    get_image_metadata,
    put_image_checksum,
)
from docker_registry_v1_api.api.registry import delete_repository as delete_repository_api
from docker_registry_v1_api.api.registry import delete_tag as delete_tag_api
from docker_registry_v1_api.api.registry import get_image_id as get_image_id_api
from docker_registry_v1_api.api.registry import list_tags as list_tags_api
from docker_registry_v1_api.api.registry import ping as ping_api
from docker_registry_v1_api.api.registry import set_tag as set_tag_api
from docker_registry_v1_api.api.search import search as search_api
from docker_registry_v1_api.api.users import check_login, create_user, update_user
from docker_registry_v1_api.models import RepositoryImage, UserCreate, UserUpdate
from docker_registry_v1_api.models import SearchResults as GeneratedSearchResults
from docker_registry_v1_api.types import UNSET

from .auth import Access, TokenAuth
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
from .names import RepositoryName, check_header_value, check_image_id, check_single_line, check_tag

T = TypeVar("T")
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


def _ignore(response: httpx.Response) -> None:
    """The reader of calls whose 2xx answer carries nothing (bodies differ by server)."""
    del response


@attrs.frozen
class Operation(Generic[T]):
    """One request and how to read a 2xx answer to it (after its body has been read).

    ``stream`` operations hand their response over with the body unread instead.
    """

    build: Callable[[HTTPClient], httpx.Request]
    read: Callable[[httpx.Response], T]
    stream: bool = False


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


def _string_list(what: str) -> Callable[[httpx.Response], list[str]]:
    def read(response: httpx.Response) -> list[str]:
        data = _json(response)
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            raise invalid_response(response, f"{what} is not a JSON list of strings")
        return data

    return read


def _token(access: Access, name: RepositoryName, hint: str) -> Callable[..., TokenAuth]:
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


def _index_images(images: Iterable[IndexImage | str]) -> list[RepositoryImage]:
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
            RepositoryImage(
                id=entry.id, checksum=checksum, tag=UNSET if entry.tag is None else entry.tag
            )
        )
    return body


def read_token(repo: str) -> Operation[TokenAuth]:
    name = RepositoryName.parse(repo)
    return Operation(
        lambda http: list_repository_images.build_request(
            http,
            name.namespace,
            name.repository,
            x_docker_token="true",  # noqa: S106 - a flag, not a secret
        ),
        _token(Access.READ, name, _NO_ISSUER_HINT),
    )


def write_token(repo: str, images: Iterable[IndexImage | str]) -> Operation[TokenAuth]:
    name, body = RepositoryName.parse(repo), _index_images(images)
    return Operation(
        lambda http: create_repository.build_request(
            http,
            name.namespace,
            name.repository,
            body=body,
            x_docker_token="true",  # noqa: S106 - a flag, not a secret
        ),
        _token(Access.WRITE, name, _NO_ISSUER_HINT),
    )


def delete_token(repo: str) -> Operation[TokenAuth]:
    name = RepositoryName.parse(repo)
    return Operation(
        lambda http: delete_repository_api.build_request(
            http,
            name.namespace,
            name.repository,
            body=[],
            x_docker_token="true",  # noqa: S106 - a flag, not a secret
        ),
        _token(Access.DELETE, name, _DELETE_HINT),
    )


def confirm_delete(repo: str, endpoints: Iterable[str]) -> Operation[None]:
    """The Hub delete flow's last step: the index DELETE again, without the token flag."""
    name = RepositoryName.parse(repo)
    if isinstance(endpoints, str):
        raise InvalidInput("endpoints", "expected a list of registry URLs, not one string")
    listed = ", ".join(check_single_line("endpoints", item) for item in endpoints)
    header = check_header_value("endpoints", listed) if listed else UNSET
    return Operation(
        lambda http: delete_repository_api.build_request(
            http, name.namespace, name.repository, x_docker_endpoints=header
        ),
        _ignore,
    )


# ---------------------------------------------------------------- images


def get_ancestry(image_id: str) -> Operation[list[str]]:
    checked = check_image_id(image_id)
    return Operation(
        lambda http: get_image_ancestry.build_request(http, checked), _string_list("ancestry")
    )


def stream_layer(image_id: str, range_: str | None) -> Operation[None]:
    """A layer GET whose body the caller reads, resuming with ``range_``.

    ``Accept-Encoding: identity`` keeps proxies from compressing the stream: offsets in
    ``Content-Range`` and the payload checksum both refer to the stored bytes.
    """
    checked = check_image_id(image_id)
    if range_ is not None and not _RANGE.fullmatch(range_):
        raise InvalidInput("range_", f"{range_!r} is not a single bytes=START-[END] range")
    return Operation(
        lambda http: get_image_layer.build_request(
            http,
            checked,
            range_=UNSET if range_ is None else range_,
            extra_headers={"Accept-Encoding": "identity"},
        ),
        _ignore,
        stream=True,
    )


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
class _Upload:
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
            return add_image_layer.build_request(http, image_id, body=self._count(self.source))
        if isinstance(http, httpx.AsyncClient):
            body: Iterator[bytes] | AsyncIterator[bytes] = self._achunks()
        elif hasattr(self.source, "__aiter__"):
            raise InvalidInput("layer", "async iterables need the AsyncClient")
        else:
            body = self._chunks()
        length = _remaining_length(self.source)
        return add_image_layer.build_request(
            http,
            image_id,
            body=body,
            extra_headers={} if length is None else {"Content-Length": str(length)},
        )


def add_layer(image_id: str, source: Any, metadata_json: bytes | None) -> Operation[LayerUpload]:
    checked = check_image_id(image_id)
    readable = callable(getattr(source, "read", None))
    if isinstance(source, str) or not (
        isinstance(source, bytes | Iterable | AsyncIterable) or readable
    ):
        raise InvalidInput("layer", "expected bytes, a binary reader or an iterable of bytes")
    if metadata_json is not None and not isinstance(metadata_json, bytes):
        raise InvalidInput("metadata_json", "expected the exact image JSON bytes")
    start = None if metadata_json is None else hashlib.sha256(metadata_json + b"\n")
    upload = _Upload(source, start)

    def read(response: httpx.Response) -> LayerUpload:
        del response
        digest = None if upload.hasher is None else "sha256:" + upload.hasher.hexdigest()
        return LayerUpload(size=upload.size, checksum=digest)

    return Operation(lambda http: upload.request(http, checked), read)


def _raw_metadata(response: httpx.Response) -> RawMetadata:
    headers = response.headers
    checksum = next((headers[name] for name in _CHECKSUM_HEADERS if name in headers), None)
    return RawMetadata(response.content, size=header_size(headers), checksum=checksum)


def _parsed_metadata(response: httpx.Response) -> ImageMetadata:
    try:
        return _raw_metadata(response).parse()
    except (ValueError, TypeError) as exc:
        raise invalid_response(response, f"image JSON: {exc}") from None


def get_metadata_raw(image_id: str) -> Operation[RawMetadata]:
    checked = check_image_id(image_id)
    return Operation(lambda http: get_image_metadata.build_request(http, checked), _raw_metadata)


def get_metadata(image_id: str) -> Operation[ImageMetadata]:
    checked = check_image_id(image_id)
    return Operation(lambda http: get_image_metadata.build_request(http, checked), _parsed_metadata)


def add_metadata_raw(image_id: str, json_bytes: bytes) -> Operation[None]:
    checked = check_image_id(image_id)
    if not isinstance(json_bytes, bytes):
        raise InvalidInput("json_bytes", "expected bytes")
    return Operation(
        lambda http: add_image_metadata.build_request(http, checked, body=json_bytes), _ignore
    )


def metadata_bytes(image_id: str, metadata: ImageMetadata) -> bytes:
    """The exact JSON ``add_metadata`` sends for ``metadata``, after checking it fits."""
    checked = check_image_id(image_id)
    if not isinstance(metadata, ImageMetadata):
        raise InvalidInput("metadata", "expected an ImageMetadata")
    if metadata.id != checked:
        raise InvalidInput("metadata", f"id {metadata.id!r} differs from image_id {checked!r}")
    return metadata.to_json()


def put_checksum(image_id: str, checksum: str) -> Operation[None]:
    checked = check_image_id(image_id)
    value = check_header_value("checksum", checksum)
    algorithm, _, digest = value.partition(":")
    if not algorithm or not digest:
        raise InvalidInput("checksum", f"{value!r} is not '<algorithm>:<hex>'")
    return Operation(
        lambda http: put_image_checksum.build_request(
            http, checked, x_docker_checksum_payload=value
        ),
        _ignore,
    )


# ---------------------------------------------------------------- repositories


def _tags(response: httpx.Response) -> TagMap:
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


def list_tags(repo: str) -> Operation[TagMap]:
    name = RepositoryName.parse(repo)
    return Operation(
        lambda http: list_tags_api.build_request(http, name.namespace, name.repository), _tags
    )


def _image_id(response: httpx.Response) -> str:
    data = _json(response)
    if isinstance(data, str):
        return data
    if isinstance(data, list) and data and isinstance(data[0], dict):
        first = data[0].get("id")
        if isinstance(first, str):
            return first
    raise invalid_response(response, "expected the image id as a JSON string")


def get_image_id(repo: str, tag: str) -> Operation[str]:
    name, checked = RepositoryName.parse(repo), check_tag(tag)
    return Operation(
        lambda http: get_image_id_api.build_request(http, name.namespace, name.repository, checked),
        _image_id,
    )


def set_tag(repo: str, image_id: str, tag: str) -> Operation[None]:
    name, checked, image = RepositoryName.parse(repo), check_tag(tag), check_image_id(image_id)
    return Operation(
        lambda http: set_tag_api.build_request(
            http, name.namespace, name.repository, checked, body=image
        ),
        _ignore,
    )


def delete_tag(repo: str, tag: str) -> Operation[None]:
    name, checked = RepositoryName.parse(repo), check_tag(tag)
    return Operation(
        lambda http: delete_tag_api.build_request(http, name.namespace, name.repository, checked),
        _ignore,
    )


def delete_repository(repo: str) -> Operation[None]:
    name = RepositoryName.parse(repo)
    return Operation(
        lambda http: delete_repository_api.build_request(http, name.namespace, name.repository),
        _ignore,
    )


def _images(response: httpx.Response) -> list[IndexImage]:
    data = list_repository_images.parse_response(response)
    if not isinstance(data, list) or not all(isinstance(entry.id, str) for entry in data):
        raise invalid_response(response, "expected a JSON list of images with string ids")
    return [IndexImage(e.id, checksum=e.checksum or None, tag=e.tag or None) for e in data]


def list_images(repo: str) -> Operation[list[IndexImage]]:
    name = RepositoryName.parse(repo)
    return Operation(
        lambda http: list_repository_images.build_request(http, name.namespace, name.repository),
        _images,
    )


def _no_content(response: httpx.Response) -> None:
    if response.status_code != 204:
        raise invalid_response(response, "the final image-list PUT must answer 204")


def update_images(repo: str, images: Iterable[IndexImage | str]) -> Operation[None]:
    name, body = RepositoryName.parse(repo), _index_images(images)
    return Operation(
        lambda http: update_repository_images.build_request(
            http, name.namespace, name.repository, body=body
        ),
        _no_content,
    )


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


def _search_results(response: httpx.Response) -> SearchResults:
    try:
        data = search_api.parse_response(response)
        if not isinstance(data, GeneratedSearchResults):
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


def search(query: str, page: int, num: int) -> Operation[SearchResults]:
    if not isinstance(query, str):
        raise InvalidInput("query", "expected a string")
    if len(query) > _MAX_QUERY:
        raise InvalidInput("query", f"longer than {_MAX_QUERY} characters (the spec's limit)")
    for field, value, most in (("page", page, _MAX_PAGE), ("num", num, _MAX_PAGE_SIZE)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
            raise InvalidInput(field, f"expected an integer from 1 to {most}")
    return Operation(
        lambda http: search_api.build_request(http, q=query, n=num, page=page), _search_results
    )


def next_page(results: SearchResults, page: int) -> int | None:
    """The page to ask for next, or ``None`` when the server's paging says we are done."""
    if results.num_pages is None or page >= min(results.num_pages, _MAX_PAGE):
        return None
    return page + 1 if results.results else None


def _ping(response: httpx.Response) -> Ping:
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


def ping_registry() -> Operation[Ping]:
    return Operation(ping_api.build_request, _ping)


def _username(username: str) -> str:
    text = check_single_line("username", username)
    if not text or "/" in text or not text.isprintable():
        raise InvalidInput("username", f"{text!r} is not a user name")
    return text


def login() -> Operation[None]:
    return Operation(check_login.build_request, _ignore)


def create(username: str, password: str, email: str) -> Operation[None]:
    body = UserCreate(
        username=_username(username),
        password=check_single_line("password", password),
        email=check_single_line("email", email),
    )
    return Operation(lambda http: create_user.build_request(http, body=body), _ignore)


def update(username: str, email: str | None, password: str | None) -> Operation[None]:
    user = _username(username)
    body = UserUpdate(
        email=UNSET if email is None else check_single_line("email", email),
        password=UNSET if password is None else check_single_line("password", password),
    )
    return Operation(lambda http: update_user.build_request(http, user, body=body), _ignore)
