"""The services of the Go package (Hub, Image, Repository, Search) plus Users, sync and async.

Each method is written once. Marked with :class:`call`, it checks its arguments (so
bad input never reaches the wire) and describes the call as an :class:`Operation`:
which generated ``build_request`` makes the request and how the answer is read. The
client the service belongs to sends it: on a :class:`Client` the method returns the
result, on an :class:`AsyncClient` it returns an awaitable of the same result.

``auth`` (keyword-only everywhere) is the call's authenticator; ``None`` means the
client's default, like passing the same Authenticator to every Go call. Every method
raises :class:`InvalidInput` for a bad argument, a :class:`RegistryError` subclass
for a non-2xx answer or one of the wrong shape (:class:`NotFound`,
:class:`Unauthorized`, :class:`InvalidResponse`, …) and
:class:`RegistryConnectionError` when no answer came back.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    Self,
    TypeVar,
    overload,
)

import httpx
from docker_registry_v1_api import models as api_models
from docker_registry_v1_api.api import index, registry, users
from docker_registry_v1_api.api import search as search_api
from docker_registry_v1_api.types import UNSET

from . import operations as ops
from .auth import Access, Authenticator, NilAuth, TokenAuth
from .errors import InvalidInput, RegistryError, body_error
from .models import (
    ImageMetadata,
    IndexImage,
    LayerUpload,
    RawMetadata,
    SearchResult,
    SearchResults,
    TagMap,
)
from .names import RepositoryName, check_header_value, check_image_id, check_single_line, check_tag
from .operations import BinaryWriter, Operation, UploadSource

if TYPE_CHECKING:
    from .client import AsyncClient, Client


AuthArg = Authenticator | None
C = TypeVar("C")
P = ParamSpec("P")
T = TypeVar("T")
_IDENTITY = {"Accept-Encoding": "identity"}  # layer bytes as stored: offsets and checksums hold
_TOKEN_WANTED: Literal["true"] = "true"  # noqa: S105 - the X-Docker-Token request flag


class _Service(Generic[C]):
    """A group of calls on one client: ``C`` is :class:`Client` or :class:`AsyncClient`."""

    def __init__(self, client: C) -> None:
        self._client = client
        self._awaits = inspect.iscoroutinefunction(getattr(client, "_send", None))


class call(Generic[P, T]):  # noqa: N801 - used as a decorator, read as a verb
    """Makes a method that describes an :class:`Operation` perform it on the service's client.

    On a :class:`Client`'s service the method returns the operation's result; on an
    :class:`AsyncClient`'s service it is a coroutine function returning the same.
    """

    def __init__(self, describe: Callable[Concatenate[Any, P], Operation[T]]) -> None:
        self.describe = describe
        self.__doc__ = describe.__doc__
        self.__name__ = describe.__name__

    @overload
    def __get__(self, service: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, service: _Service[Client], owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, service: _Service[AsyncClient], owner: type[Any]
    ) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, service: _Service[Any] | None, owner: type[Any]) -> Any:
        if service is None:
            return self
        describe, send = self.describe, service._client._send
        if service._awaits:

            async def perform_async(*args: P.args, **kwargs: P.kwargs) -> T:
                result: T = await send(describe(service, *args, **kwargs))
                return result

            return perform_async

        def perform(*args: P.args, **kwargs: P.kwargs) -> T:
            result: T = send(describe(service, *args, **kwargs))
            return result

        return perform


class _Hub(_Service[C]):
    @call
    def get_read_token(self, repo: str) -> Operation[TokenAuth]:
        """An anonymous read token for ``repo`` and the registry endpoints it is valid for."""
        return self._read_token(repo, NilAuth())

    @call
    def get_read_token_with_auth(self, repo: str, *, auth: AuthArg = None) -> Operation[TokenAuth]:
        """A read token for ``repo`` asked for with ``auth`` (usually :class:`BasicAuth`)."""
        return self._read_token(repo, auth)

    def _read_token(self, repo: str, auth: AuthArg) -> Operation[TokenAuth]:
        name = RepositoryName.parse(repo)
        read = ops.token_reader(Access.READ, name)
        build = index.list_repository_images.build_request
        return ops.request(build, read, auth, *name.parts, x_docker_token=_TOKEN_WANTED)

    @call
    def get_write_token(
        self, repo: str, *, images: Iterable[IndexImage | str] = (), auth: AuthArg = None
    ) -> Operation[TokenAuth]:
        """A write token from the index ``PUT …/{repo}/``; ``images`` is the list sent with it."""
        name, body = RepositoryName.parse(repo), ops.index_images(images)
        read = ops.token_reader(Access.WRITE, name)
        build = index.create_repository.build_request
        return ops.request(build, read, auth, *name.parts, body=body, x_docker_token=_TOKEN_WANTED)

    @call
    def get_delete_token(self, repo: str, *, auth: AuthArg = None) -> Operation[TokenAuth]:
        """A delete token from the index ``DELETE …/{repo}/``.

        Careful: a standalone registry has no index, so there the same request deletes the
        repository and all its tags at once (then :class:`InvalidResponse` says no token
        came back); ``ping().standalone`` tells the two apart first, as ``regv1 delete``
        does."""
        name = RepositoryName.parse(repo)
        read = ops.token_reader(Access.DELETE, name)
        build = registry.delete_repository.build_request
        return ops.request(build, read, auth, *name.parts, body=[], x_docker_token=_TOKEN_WANTED)

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
        return ops.request(build, ops.ignore, auth, *name.parts, x_docker_endpoints=header)


class HubService(_Hub["Client"]):
    """Index tokens: read (anonymous or with credentials), write and delete."""


class AsyncHubService(_Hub["AsyncClient"]):
    """:class:`HubService` of the :class:`AsyncClient`: every method is awaited."""


def _empty_layer(error: RegistryError) -> bool:
    """A bare 416 to our Range-less GET is the reference server's empty layer."""
    bare = error.message is None and error.excerpt is None
    return bare and ops.empty_layer(error.code, ops.header_size(error.headers), ranged=False)


class _Images(_Service[C]):
    @call
    def get_ancestry(self, image_id: str, *, auth: AuthArg = None) -> Operation[list[str]]:
        """The ids from ``image_id`` down to its base image, tip first."""
        read = ops.string_list_reader("ancestry")
        return ops.request(
            registry.get_image_ancestry.build_request, read, auth, check_image_id(image_id)
        )

    def _stream(self, image_id: str, range_: str | None, auth: AuthArg) -> Operation[None]:
        checked, asked = check_image_id(image_id), ops.check_range(range_)
        range_header = UNSET if asked is None else asked
        build = registry.get_image_layer.build_request
        return ops.request(
            build, ops.ignore, auth, checked, range_=range_header, extra_headers=_IDENTITY
        )

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
        return ops.layer_upload(image_id, layer, metadata_json, auth)

    @call
    def get_metadata(self, image_id: str, *, auth: AuthArg = None) -> Operation[ImageMetadata]:
        """The image's JSON, parsed; :class:`InvalidResponse` when it is not image JSON."""
        build = registry.get_image_metadata.build_request
        return ops.request(build, ops.read_metadata, auth, check_image_id(image_id))

    @call
    def get_metadata_raw(self, image_id: str, *, auth: AuthArg = None) -> Operation[RawMetadata]:
        """The image's JSON exactly as sent, with its size and checksum headers."""
        build = registry.get_image_metadata.build_request
        return ops.request(build, ops.read_raw_metadata, auth, check_image_id(image_id))

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
        return ops.request(
            registry.add_image_metadata.build_request, lambda _: body, auth, checked, body=body
        )

    @call
    def add_metadata_raw(
        self, image_id: str, json_bytes: bytes, *, auth: AuthArg = None
    ) -> Operation[None]:
        """Upload the image JSON byte for byte; :class:`Conflict` when the image is final."""
        checked = check_image_id(image_id)
        if not isinstance(json_bytes, bytes):
            raise InvalidInput("json_bytes", "expected bytes")
        build = registry.add_image_metadata.build_request
        return ops.request(build, ops.ignore, auth, checked, body=json_bytes)

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
        return ops.request(build, ops.ignore, auth, checked, x_docker_checksum_payload=value)


class ImageService(_Images["Client"]):
    """``/v1/images/{id}/…``: ancestry, layers, metadata and the checksum that finalises."""

    def stream_layer(
        self, image_id: str, *, range_: str | None = None, auth: AuthArg = None
    ) -> AbstractContextManager[httpx.Response]:
        """The layer GET's response, before its body is read: for callers that resume
        (``range_="bytes=N-"``) and verify themselves, as the transfers do. Registry
        errors raise on entry; a body that breaks off raises
        :class:`RegistryConnectionError` (its cause the httpx error) from the ``with`` block."""
        return self._client._open(self._stream(image_id, range_, auth))

    def get_layer(self, image_id: str, writer: BinaryWriter, *, auth: AuthArg = None) -> int:
        """Stream the layer into ``writer``; returns the number of bytes written.
        :class:`IncompleteBody` when the body ends before its ``Content-Length``."""
        ops.check_writer(writer)
        written = 0
        try:
            with self.stream_layer(image_id, auth=auth) as response:
                try:
                    for chunk in response.iter_raw():
                        writer.write(chunk)
                        written += len(chunk)
                except httpx.RequestError as exc:
                    raise body_error(response, exc) from exc
        except RegistryError as error:
            if not _empty_layer(error):
                raise
        return written


class AsyncImageService(_Images["AsyncClient"]):
    """:class:`ImageService` of the :class:`AsyncClient`: every method is awaited but
    :meth:`stream_layer`, which is entered with ``async with``."""

    def stream_layer(
        self, image_id: str, *, range_: str | None = None, auth: AuthArg = None
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """See :meth:`ImageService.stream_layer`."""
        return self._client._open(self._stream(image_id, range_, auth))

    async def get_layer(self, image_id: str, writer: BinaryWriter, *, auth: AuthArg = None) -> int:
        """See :meth:`ImageService.get_layer`; ``writer.write`` may be a coroutine function."""
        ops.check_writer(writer)
        written = 0
        try:
            async with self.stream_layer(image_id, auth=auth) as response:
                try:
                    async for chunk in response.aiter_raw():
                        if inspect.isawaitable(done := writer.write(chunk)):
                            await done
                        written += len(chunk)
                except httpx.RequestError as exc:
                    raise body_error(response, exc) from exc
        except RegistryError as error:
            if not _empty_layer(error):
                raise
        return written


class _Repositories(_Service[C]):
    @call
    def list_tags(self, repo: str, *, auth: AuthArg = None) -> Operation[TagMap]:
        """Every tag of ``repo`` and the image id it points at."""
        name = RepositoryName.parse(repo)
        return ops.request(registry.list_tags.build_request, ops.read_tags, auth, *name.parts)

    @call
    def get_image_id(self, repo: str, tag: str, *, auth: AuthArg = None) -> Operation[str]:
        """The image id ``repo:tag`` points at."""
        name, checked = RepositoryName.parse(repo), check_tag(tag)
        build = registry.get_image_id.build_request
        return ops.request(build, ops.read_image_id, auth, *name.parts, checked)

    @call
    def set_tag(
        self, repo: str, image_id: str, tag: str, *, auth: AuthArg = None
    ) -> Operation[None]:
        """Point ``tag`` at ``image_id`` (the Go order; prefer keywords to avoid swaps)."""
        name, checked, image = RepositoryName.parse(repo), check_tag(tag), check_image_id(image_id)
        return ops.request(
            registry.set_tag.build_request, ops.ignore, auth, *name.parts, checked, body=image
        )

    @call
    def delete_tag(self, repo: str, tag: str, *, auth: AuthArg = None) -> Operation[None]:
        """Remove ``tag`` from ``repo``; the images stay."""
        name, checked = RepositoryName.parse(repo), check_tag(tag)
        return ops.request(
            registry.delete_tag.build_request, ops.ignore, auth, *name.parts, checked
        )

    @call
    def delete(self, repo: str, *, auth: AuthArg = None) -> Operation[None]:
        """Delete ``repo`` and its tags on the registry."""
        name = RepositoryName.parse(repo)
        return ops.request(registry.delete_repository.build_request, ops.ignore, auth, *name.parts)

    @call
    def list_images(self, repo: str, *, auth: AuthArg = None) -> Operation[list[IndexImage]]:
        """The index's image list for ``repo``."""
        name = RepositoryName.parse(repo)
        return ops.request(
            index.list_repository_images.build_request, ops.read_images, auth, *name.parts
        )

    @call
    def update_images(
        self, repo: str, images: Iterable[IndexImage | str] = (), *, auth: AuthArg = None
    ) -> Operation[None]:
        """The final ``PUT …/images`` of a push; :class:`InvalidResponse` unless it answers 204."""
        name, body = RepositoryName.parse(repo), ops.index_images(images)
        build = index.update_repository_images.build_request
        return ops.request(build, ops.read_no_content, auth, *name.parts, body=body)


class RepositoryService(_Repositories["Client"]):
    """``/v1/repositories/{ns}/{repo}/…``: tags, deletion and the index image list."""


class AsyncRepositoryService(_Repositories["AsyncClient"]):
    """:class:`RepositoryService` of the :class:`AsyncClient`: every method is awaited."""


class _Search(_Service[C]):
    @call
    def query(
        self, query: str, page: int = 1, num: int = 25, *, auth: AuthArg = None
    ) -> Operation[SearchResults]:
        """One page (1 to 100 000) of up to ``num`` (1 to 100) results for ``query``."""
        ops.check_search(query, page, num)
        read = ops.read_search_results
        return ops.request(search_api.search.build_request, read, auth, q=query, n=num, page=page)


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
            page = ops.next_page(results, page)


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
            page = ops.next_page(results, page)


class _Users(_Service[C]):
    @call
    def login(self, *, auth: AuthArg = None) -> Operation[None]:
        """Check the credentials in ``auth`` against the index (401/403 raise)."""
        return ops.request(users.check_login.build_request, ops.ignore, auth)

    @call
    def create(
        self, username: str, password: str, email: str, *, auth: AuthArg = None
    ) -> Operation[None]:
        """Create an index account."""
        body = api_models.UserCreate(
            username=ops.check_username(username),
            password=check_single_line("password", password),
            email=check_single_line("email", email),
        )
        return ops.request(users.create_user.build_request, ops.ignore, auth, body=body)

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
        user = ops.check_username(username)
        body = api_models.UserUpdate(
            email=UNSET if email is None else check_single_line("email", email),
            password=UNSET if password is None else check_single_line("password", password),
        )
        return ops.request(users.update_user.build_request, ops.ignore, auth, user, body=body)


class UsersService(_Users["Client"]):
    """Index accounts: check credentials, create, update."""


class AsyncUsersService(_Users["AsyncClient"]):
    """:class:`UsersService` of the :class:`AsyncClient`: every method is awaited."""
