"""Every facade operation, written once: validate, say what to send, read the answer.

Each function is a generator (see ``steps.py``): it checks its arguments before the
first ``yield`` — so bad input never reaches the wire — then yields a generated-module
``Call`` or a seam ``Exchange`` and turns the ``Reply`` into the public result. Non-2xx
answers never get here: the runners' response hooks have raised typed errors already,
and a plan only catches the ones it knows are not errors (an empty layer's 416).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, Iterable
from typing import Any

import httpx
from docker_registry_v1_api.api.index import (
    create_repository,
    list_repository_images,
    update_repository_images,
)
from docker_registry_v1_api.api.registry import delete_repository as delete_repository_api
from docker_registry_v1_api.api.registry import delete_tag as delete_tag_api
from docker_registry_v1_api.api.registry import (
    get_image_ancestry,
    put_image_checksum,
)
from docker_registry_v1_api.api.registry import get_image_id as get_image_id_api
from docker_registry_v1_api.api.registry import list_tags as list_tags_api
from docker_registry_v1_api.api.registry import ping as ping_api
from docker_registry_v1_api.api.registry import set_tag as set_tag_api
from docker_registry_v1_api.api.search import search as search_api
from docker_registry_v1_api.api.users import check_login, create_user, update_user
from docker_registry_v1_api.models import RepositoryImage, UserCreate, UserUpdate
from docker_registry_v1_api.models import SearchResults as GeneratedSearchResults
from docker_registry_v1_api.models import TagMap as GeneratedTagMap
from docker_registry_v1_api.types import UNSET

from . import seam
from .auth import Access, TokenAuth
from .endpoints import normalise_token, parse_endpoints
from .errors import InvalidInput, InvalidResponse, RegistryError, invalid_response
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
from .names import (
    RepositoryName,
    check_header_value,
    check_image_id,
    check_single_line,
    check_tag,
)
from .steps import BinaryWriter, Call, Plan, Reply

_SIZE = re.compile(r"[0-9]{1,19}")  # ASCII digits that fit a 64-bit size; isdigit() takes "²"
_CHECKSUM_HEADERS = ("X-Docker-Checksum-Payload", "X-Docker-Payload-Checksum", "X-Docker-Checksum")
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

# ---------------------------------------------------------------- shared reading helpers


def _fail(reply: Reply, reason: str) -> InvalidResponse:
    return invalid_response(reply.response, reason)


def _json(reply: Reply) -> Any:
    try:
        return json.loads(reply.response.content)
    except (ValueError, RecursionError):
        raise _fail(reply, "body is not JSON") from None


def _string_list(reply: Reply, what: str) -> list[str]:
    data = reply.parsed
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise _fail(reply, f"{what} is not a JSON list of strings")
    return data


def _token(reply: Reply, access: Access, name: RepositoryName, hint: str) -> TokenAuth:
    response = reply.response
    token = normalise_token(response.headers.get_list("X-Docker-Token"))
    if token is None:
        raise _fail(reply, f"no X-Docker-Token header in the index answer; {hint}")
    try:
        endpoints = parse_endpoints(response.headers.get_list("X-Docker-Endpoints"), response.url)
        return TokenAuth(token=token, access=access, endpoints=endpoints, repository=str(name))
    except ValueError as exc:
        raise _fail(reply, str(exc)) from None


# ---------------------------------------------------------------- hub (index tokens)


def read_token(repo: str) -> Plan[TokenAuth]:
    name = RepositoryName.parse(repo)
    reply = yield Call(
        list_repository_images, (name.namespace, name.repository), {"x_docker_token": "true"}
    )
    return _token(reply, Access.READ, name, _NO_ISSUER_HINT)


def write_token(repo: str, images: Iterable[IndexImage | str] = ()) -> Plan[TokenAuth]:
    """``images``: what a token-checking registry will accept json PUTs for (docker 1.x
    sent every id, base first, one entry per tag); empty is the Go package's ``[]``."""
    name = RepositoryName.parse(repo)
    reply = yield Call(
        create_repository,
        (name.namespace, name.repository),
        {"body": _image_list(images), "x_docker_token": "true"},
    )
    return _token(reply, Access.WRITE, name, _NO_ISSUER_HINT)


def delete_token(repo: str) -> Plan[TokenAuth]:
    name = RepositoryName.parse(repo)
    reply = yield Call(
        delete_repository_api,
        (name.namespace, name.repository),
        {"body": [], "x_docker_token": "true"},
    )
    return _token(reply, Access.DELETE, name, _DELETE_HINT)


def confirm_delete(repo: str, endpoints: Iterable[str]) -> Plan[None]:
    """The Hub delete flow's last step: the index DELETE again, without the token flag."""
    name = RepositoryName.parse(repo)
    if isinstance(endpoints, str):
        raise InvalidInput("endpoints", "expected a list of registry URLs, not one string")
    listed = ", ".join(check_single_line("endpoints", item) for item in endpoints)
    extra = {"x_docker_endpoints": check_header_value("endpoints", listed)} if listed else {}
    yield Call(delete_repository_api, (name.namespace, name.repository), extra)


# ---------------------------------------------------------------- images


def get_ancestry(image_id: str) -> Plan[list[str]]:
    reply = yield Call(get_image_ancestry, (check_image_id(image_id),))
    return _string_list(reply, "ancestry")


def get_layer(image_id: str, writer: BinaryWriter) -> Plan[int]:
    if not callable(getattr(writer, "write", None)):
        raise InvalidInput("writer", "needs a write(bytes) method")
    exchange = seam.layer_download(check_image_id(image_id), writer)
    try:
        reply = yield exchange
    except RegistryError as exc:
        # We never send Range, so a bare 416 is the reference server's empty layer.
        empty = exc.message is None and exc.excerpt is None
        if exc.code == 416 and empty and exc.headers.get("X-Docker-Size", "0") == "0":
            return 0
        raise
    return reply.received


def add_layer(
    image_id: str,
    source: Any,
    metadata_json: bytes | None = None,
) -> Plan[LayerUpload]:
    checked = check_image_id(image_id)
    ok_source = isinstance(source, bytes | Iterable | AsyncIterable) or callable(
        getattr(source, "read", None)
    )
    if isinstance(source, str) or not ok_source:
        raise InvalidInput("layer", "expected bytes, a binary reader or an iterable of bytes")
    if metadata_json is not None and not isinstance(metadata_json, bytes):
        raise InvalidInput("metadata_json", "expected the exact image JSON bytes")
    exchange = seam.layer_upload(checked, source, metadata_json)
    yield exchange
    tally = exchange.tally
    assert tally is not None  # seam.layer_upload always counts
    digest = "sha256:" + tally.hasher.hexdigest() if tally.hasher is not None else None
    return LayerUpload(size=tally.size, checksum=digest)


def _raw_metadata(reply: Reply) -> RawMetadata:
    headers = reply.response.headers
    size_text = headers.get("X-Docker-Size", "")
    checksum = next((headers[name] for name in _CHECKSUM_HEADERS if name in headers), None)
    return RawMetadata(
        json_bytes=reply.response.content,
        size=int(size_text) if _SIZE.fullmatch(size_text) else None,
        checksum=checksum,
    )


def get_metadata_raw(image_id: str) -> Plan[RawMetadata]:
    reply = yield seam.metadata_download(check_image_id(image_id))
    return _raw_metadata(reply)


def get_metadata(image_id: str) -> Plan[ImageMetadata]:
    reply = yield seam.metadata_download(check_image_id(image_id))
    try:
        return _raw_metadata(reply).parse()
    except (ValueError, TypeError) as exc:
        raise _fail(reply, f"image JSON: {exc}") from None


def add_metadata(image_id: str, metadata: ImageMetadata) -> Plan[bytes]:
    checked = check_image_id(image_id)
    if not isinstance(metadata, ImageMetadata):
        raise InvalidInput("metadata", "expected an ImageMetadata")
    if metadata.id != checked:
        raise InvalidInput("metadata", f"id {metadata.id!r} differs from image_id {checked!r}")
    body = metadata.to_json()
    yield seam.metadata_upload(checked, body)
    return body


def add_metadata_raw(image_id: str, json_bytes: bytes) -> Plan[None]:
    checked = check_image_id(image_id)
    if not isinstance(json_bytes, bytes):
        raise InvalidInput("json_bytes", "expected bytes")
    yield seam.metadata_upload(checked, json_bytes)


def put_checksum(image_id: str, checksum: str) -> Plan[None]:
    checked = check_image_id(image_id)
    value = check_header_value("checksum", checksum)
    algorithm, _, digest = value.partition(":")
    if not algorithm or not digest:
        raise InvalidInput("checksum", f"{value!r} is not '<algorithm>:<hex>'")
    yield Call(put_image_checksum, (checked,), {"x_docker_checksum_payload": value})


# ---------------------------------------------------------------- repositories


def list_tags(repo: str) -> Plan[TagMap]:
    name = RepositoryName.parse(repo)
    reply = yield Call(list_tags_api, (name.namespace, name.repository))
    data = reply.parsed
    if isinstance(data, GeneratedTagMap):
        tags = data.additional_properties
        if all(isinstance(value, str) for value in tags.values()):
            return TagMap(tags)
    elif isinstance(data, list):
        return TagMap({entry.name: entry.layer for entry in data}, short_ids=True)
    raise _fail(reply, "tags are neither a map of strings nor a list of {layer, name}")


def get_image_id(repo: str, tag: str) -> Plan[str]:
    name = RepositoryName.parse(repo)
    reply = yield Call(get_image_id_api, (name.namespace, name.repository, check_tag(tag)))
    data = reply.parsed
    if isinstance(data, str):
        return data
    if isinstance(data, list) and data and isinstance(data[0].id, str):
        return data[0].id
    raise _fail(reply, "expected the image id as a JSON string")


def set_tag(repo: str, image_id: str, tag: str) -> Plan[None]:
    name = RepositoryName.parse(repo)
    args = (name.namespace, name.repository, check_tag(tag))
    yield Call(set_tag_api, args, {"body": check_image_id(image_id)})


def delete_tag(repo: str, tag: str) -> Plan[None]:
    name = RepositoryName.parse(repo)
    yield Call(delete_tag_api, (name.namespace, name.repository, check_tag(tag)))


def delete_repository(repo: str) -> Plan[None]:
    name = RepositoryName.parse(repo)
    yield Call(delete_repository_api, (name.namespace, name.repository))


def list_images(repo: str) -> Plan[list[IndexImage]]:
    name = RepositoryName.parse(repo)
    reply = yield Call(list_repository_images, (name.namespace, name.repository))
    if not isinstance(reply.parsed, list) or not all(
        isinstance(entry.id, str) for entry in reply.parsed
    ):
        raise _fail(reply, "expected a JSON list of images with string ids")
    return [
        IndexImage(
            id=entry.id,
            checksum=entry.checksum or None,
            tag=entry.tag or None,
        )
        for entry in reply.parsed
    ]


def _image_list(images: Iterable[IndexImage | str]) -> list[RepositoryImage]:
    body = []
    for image in images:
        entry = IndexImage(id=image) if isinstance(image, str) else image
        if not isinstance(entry, IndexImage) or not isinstance(entry.id, str):
            raise InvalidInput("images", "expected image ids or IndexImage entries")
        try:
            check_image_id(entry.id)
        except InvalidInput as exc:
            raise InvalidInput("images", str(exc)) from None
        body.append(
            RepositoryImage(
                id=entry.id,
                checksum=UNSET if entry.checksum is None else entry.checksum,
                tag=UNSET if entry.tag is None else entry.tag,
            )
        )
    return body


def update_images(repo: str, images: Iterable[IndexImage | str]) -> Plan[None]:
    name = RepositoryName.parse(repo)
    body = _image_list(images)
    reply = yield Call(update_repository_images, (name.namespace, name.repository), {"body": body})
    if reply.response.status_code != 204:
        raise _fail(reply, "the final image-list PUT must answer 204")


# ---------------------------------------------------------------- search, ping, users


def _page(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _result(entry: Any) -> SearchResult:
    extra = dict(entry.additional_properties)
    return SearchResult(
        name=entry.name,
        description=entry.description if isinstance(entry.description, str) else "",
        star_count=_optional_int(entry.star_count) or 0,
        is_official=entry.is_official is True,
        is_trusted=entry.is_trusted is True,
        is_automated=entry.is_automated is True,
        extra=extra,
    )


def search(query: str, page: int, num: int) -> Plan[SearchResults]:
    if not isinstance(query, str):
        raise InvalidInput("query", "expected a string")
    if len(query) > _MAX_QUERY:
        raise InvalidInput("query", f"longer than {_MAX_QUERY} characters (the spec's limit)")
    for field, value, most in (("page", page, _MAX_PAGE), ("num", num, _MAX_PAGE_SIZE)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
            raise InvalidInput(field, f"expected an integer from 1 to {most}")
    reply = yield Call(search_api, (), {"q": query, "n": num, "page": page})
    data = reply.parsed
    if not isinstance(data, GeneratedSearchResults):
        raise _fail(reply, "not a search result object")
    return SearchResults(
        query=data.query,
        num_results=data.num_results,
        results=tuple(_result(entry) for entry in data.results),
        num_pages=_optional_int(data.num_pages),
        page_size=_optional_int(data.page_size),
        page=_page(data.page),
    )


def next_page(results: SearchResults, page: int) -> int | None:
    """The page to ask for next, or ``None`` when the server's paging says we are done."""
    if results.num_pages is None or page >= min(results.num_pages, _MAX_PAGE):
        return None
    return page + 1 if results.results else None


def _standalone(headers: httpx.Headers, body: Any) -> bool | None:
    value = headers.get("X-Docker-Registry-Standalone")
    if value is not None:
        return value.strip().lower() in {"true", "1"}
    if isinstance(body, dict) and isinstance(body.get("standalone"), bool):
        return bool(body["standalone"])
    return None


def ping_registry() -> Plan[Ping]:
    reply = yield Call(ping_api)
    try:
        body = _json(reply)
    except InvalidResponse:  # an empty or non-JSON body still answers the ping
        body = None
    version = reply.response.headers.get("X-Docker-Registry-Version")
    if version is None and isinstance(body, dict) and isinstance(body.get("version"), str):
        version = body["version"]
    return Ping(version=version, standalone=_standalone(reply.response.headers, body), body=body)


def _username(username: str) -> str:
    text = check_single_line("username", username)
    if not text or "/" in text or not text.isprintable():
        raise InvalidInput("username", f"{text!r} is not a user name")
    return text


def login() -> Plan[None]:
    yield Call(check_login)


def create(username: str, password: str, email: str) -> Plan[None]:
    body = UserCreate(
        username=_username(username),
        password=check_single_line("password", password),
        email=check_single_line("email", email),
    )
    yield Call(create_user, (), {"body": body})


def update(username: str, email: str | None, password: str | None) -> Plan[None]:
    body = UserUpdate(
        email=UNSET if email is None else check_single_line("email", email),
        password=UNSET if password is None else check_single_line("password", password),
    )
    yield Call(update_user, (_username(username),), {"body": body})
