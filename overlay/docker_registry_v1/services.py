"""The services of the Go package (Hub, Image, Repository, Search) plus Users, sync and async.

Each method picks its operation from ``operations.py`` (which checks the arguments
and says what to send) and hands it to the client with the call's ``auth``: ``None``
means the client's default, like passing the same Authenticator to every Go call.

Every method raises :class:`InvalidInput` for a bad argument (nothing is sent), a
:class:`RegistryError` subclass for a non-2xx answer or one of the wrong shape
(:class:`NotFound`, :class:`Unauthorized`, :class:`InvalidResponse`, …), and
:class:`RegistryConnectionError` when no answer came back. The async services'
methods are the awaitable twins of the sync ones, with the same results and errors.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING

import httpx

from . import operations as ops
from .auth import Authenticator, NilAuth, TokenAuth
from .errors import RegistryError
from .models import (
    ImageMetadata,
    IndexImage,
    LayerUpload,
    RawMetadata,
    SearchResult,
    SearchResults,
    TagMap,
)
from .operations import BinaryWriter, UploadSource

if TYPE_CHECKING:
    from .client import AsyncClient, Client

__all__ = [
    "AsyncHubService",
    "AsyncImageService",
    "AsyncRepositoryService",
    "AsyncSearchService",
    "AsyncUsersService",
    "HubService",
    "ImageService",
    "RepositoryService",
    "SearchService",
    "UsersService",
]

AuthArg = Authenticator | None


def _empty_layer(error: RegistryError) -> bool:
    """A bare 416 to our Range-less GET is the reference server's empty layer."""
    bare = error.message is None and error.excerpt is None
    return bare and ops.empty_layer(error.code, ops.header_size(error.headers), ranged=False)


class HubService:
    """Index tokens: read (anonymous or with credentials), write and delete."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get_read_token(self, repo: str) -> TokenAuth:
        """An anonymous read token for ``repo`` and the registry endpoints it is valid for."""
        return self._client._send(ops.read_token(repo), NilAuth())

    def get_read_token_with_auth(self, repo: str, *, auth: AuthArg = None) -> TokenAuth:
        """A read token for ``repo`` asked for with ``auth`` (usually :class:`BasicAuth`)."""
        return self._client._send(ops.read_token(repo), auth)

    def get_write_token(
        self, repo: str, *, images: Iterable[IndexImage | str] = (), auth: AuthArg = None
    ) -> TokenAuth:
        """A write token from the index ``PUT …/{repo}/``; ``images`` is the list sent with it."""
        return self._client._send(ops.write_token(repo, images), auth)

    def get_delete_token(self, repo: str, *, auth: AuthArg = None) -> TokenAuth:
        """A delete token from the index ``DELETE …/{repo}/`` (on a standalone registry that
        request deletes the repository and :class:`InvalidResponse` says so)."""
        return self._client._send(ops.delete_token(repo), auth)

    def confirm_delete(
        self, repo: str, *, endpoints: Iterable[str] = (), auth: AuthArg = None
    ) -> None:
        """Tell the index the registry deleted ``repo`` (the Hub flow's last step);
        ``endpoints``: the registry URLs the delete went to, e.g. ``str(token.endpoint)``."""
        return self._client._send(ops.confirm_delete(repo, endpoints), auth)


class ImageService:
    """``/v1/images/{id}/…``: ancestry, layers, metadata and the checksum that finalises."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get_ancestry(self, image_id: str, *, auth: AuthArg = None) -> list[str]:
        """The ids from ``image_id`` down to its base image, tip first."""
        return self._client._send(ops.get_ancestry(image_id), auth)

    def stream_layer(
        self, image_id: str, *, range_: str | None = None, auth: AuthArg = None
    ) -> AbstractContextManager[httpx.Response]:
        """The layer GET's response, before its body is read: for callers that resume
        (``range_="bytes=N-"``) and verify themselves, as the transfers do. Registry
        errors raise on entry; a body that breaks off raises :class:`IncompleteBody` or
        :class:`RegistryConnectionError` from the ``with`` block."""
        return self._client._open(ops.stream_layer(image_id, range_), auth)

    def get_layer(self, image_id: str, writer: BinaryWriter, *, auth: AuthArg = None) -> int:
        """Stream the layer into ``writer``; returns the number of bytes written."""
        ops.check_writer(writer)
        written = 0
        try:
            with self.stream_layer(image_id, auth=auth) as response:
                for chunk in response.iter_raw():
                    writer.write(chunk)
                    written += len(chunk)
        except RegistryError as error:
            if not _empty_layer(error):
                raise
        return written

    def add_layer(
        self,
        image_id: str,
        layer: UploadSource,
        *,
        metadata_json: bytes | None = None,
        auth: AuthArg = None,
    ) -> LayerUpload:
        """Stream ``layer`` up; returns its size and, given the exact image JSON sent as
        ``metadata_json``, the payload checksum to finalise the image with."""
        return self._client._send(ops.add_layer(image_id, layer, metadata_json), auth)

    def get_metadata(self, image_id: str, *, auth: AuthArg = None) -> ImageMetadata:
        """The image's JSON, parsed; :class:`InvalidResponse` when it is not image JSON."""
        return self._client._send(ops.get_metadata(image_id), auth)

    def get_metadata_raw(self, image_id: str, *, auth: AuthArg = None) -> RawMetadata:
        """The image's JSON exactly as sent, with its size and checksum headers."""
        return self._client._send(ops.get_metadata_raw(image_id), auth)

    def add_metadata(
        self, image_id: str, metadata: ImageMetadata, *, auth: AuthArg = None
    ) -> bytes:
        """Upload ``metadata``; returns the exact bytes sent (hash these for the checksum)."""
        body = ops.metadata_bytes(image_id, metadata)
        self._client._send(ops.add_metadata_raw(image_id, body), auth)
        return body

    def add_metadata_raw(self, image_id: str, json_bytes: bytes, *, auth: AuthArg = None) -> None:
        """Upload the image JSON byte for byte; :class:`Conflict` when the image is final."""
        return self._client._send(ops.add_metadata_raw(image_id, json_bytes), auth)

    def put_checksum(self, image_id: str, checksum: str, *, auth: AuthArg = None) -> None:
        """Finalise the image with its payload checksum (``sha256:<hex>``)."""
        return self._client._send(ops.put_checksum(image_id, checksum), auth)


class RepositoryService:
    """``/v1/repositories/{ns}/{repo}/…``: tags, deletion and the index image list."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list_tags(self, repo: str, *, auth: AuthArg = None) -> TagMap:
        """Every tag of ``repo`` and the image id it points at."""
        return self._client._send(ops.list_tags(repo), auth)

    def get_image_id(self, repo: str, tag: str, *, auth: AuthArg = None) -> str:
        """The image id ``repo:tag`` points at."""
        return self._client._send(ops.get_image_id(repo, tag), auth)

    def set_tag(self, repo: str, image_id: str, tag: str, *, auth: AuthArg = None) -> None:
        """Point ``tag`` at ``image_id`` (the Go order; prefer keywords to avoid swaps)."""
        return self._client._send(ops.set_tag(repo, image_id, tag), auth)

    def delete_tag(self, repo: str, tag: str, *, auth: AuthArg = None) -> None:
        """Remove ``tag`` from ``repo``; the images stay."""
        return self._client._send(ops.delete_tag(repo, tag), auth)

    def delete(self, repo: str, *, auth: AuthArg = None) -> None:
        """Delete ``repo`` and its tags on the registry."""
        return self._client._send(ops.delete_repository(repo), auth)

    def list_images(self, repo: str, *, auth: AuthArg = None) -> list[IndexImage]:
        """The index's image list for ``repo``."""
        return self._client._send(ops.list_images(repo), auth)

    def update_images(
        self, repo: str, images: Iterable[IndexImage | str] = (), *, auth: AuthArg = None
    ) -> None:
        """The final ``PUT …/images`` of a push; :class:`InvalidResponse` unless it answers 204."""
        return self._client._send(ops.update_images(repo, images), auth)


class SearchService:
    """``GET /v1/search``: one page at a time, or every page."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def query(
        self, query: str, page: int = 1, num: int = 25, *, auth: AuthArg = None
    ) -> SearchResults:
        """One page (1 to 100 000) of up to ``num`` (1 to 100) results for ``query``."""
        return self._client._send(ops.search(query, page, num), auth)

    def iter_results(
        self, query: str, num: int = 25, *, auth: AuthArg = None
    ) -> Iterator[SearchResult]:
        """Every result of every page, until the server's paging says there is no more."""
        page: int | None = 1
        while page is not None:
            results = self.query(query, page, num, auth=auth)
            yield from results.results
            page = ops.next_page(results, page)


class UsersService:
    """Index accounts: ``login`` checks credentials (401/403 raise), create, update."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def login(self, *, auth: AuthArg = None) -> None:
        """Check the credentials in ``auth`` against the index."""
        return self._client._send(ops.login(), auth)

    def create(self, username: str, password: str, email: str, *, auth: AuthArg = None) -> None:
        """Create an index account."""
        return self._client._send(ops.create(username, password, email), auth)

    def update(
        self,
        username: str,
        *,
        email: str | None = None,
        password: str | None = None,
        auth: AuthArg = None,
    ) -> None:
        """Change an account's e-mail address or password."""
        return self._client._send(ops.update(username, email, password), auth)


class AsyncHubService:
    """The awaitable twin of :class:`HubService`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get_read_token(self, repo: str) -> TokenAuth:
        """See :meth:`HubService.get_read_token`."""
        return await self._client._send(ops.read_token(repo), NilAuth())

    async def get_read_token_with_auth(self, repo: str, *, auth: AuthArg = None) -> TokenAuth:
        """See :meth:`HubService.get_read_token_with_auth`."""
        return await self._client._send(ops.read_token(repo), auth)

    async def get_write_token(
        self, repo: str, *, images: Iterable[IndexImage | str] = (), auth: AuthArg = None
    ) -> TokenAuth:
        """See :meth:`HubService.get_write_token`."""
        return await self._client._send(ops.write_token(repo, images), auth)

    async def get_delete_token(self, repo: str, *, auth: AuthArg = None) -> TokenAuth:
        """See :meth:`HubService.get_delete_token`."""
        return await self._client._send(ops.delete_token(repo), auth)

    async def confirm_delete(
        self, repo: str, *, endpoints: Iterable[str] = (), auth: AuthArg = None
    ) -> None:
        """See :meth:`HubService.confirm_delete`."""
        return await self._client._send(ops.confirm_delete(repo, endpoints), auth)


class AsyncImageService:
    """The awaitable twin of :class:`ImageService`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get_ancestry(self, image_id: str, *, auth: AuthArg = None) -> list[str]:
        """See :meth:`ImageService.get_ancestry`."""
        return await self._client._send(ops.get_ancestry(image_id), auth)

    def stream_layer(
        self, image_id: str, *, range_: str | None = None, auth: AuthArg = None
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """See :meth:`ImageService.stream_layer` (``async with``)."""
        return self._client._open(ops.stream_layer(image_id, range_), auth)

    async def get_layer(self, image_id: str, writer: BinaryWriter, *, auth: AuthArg = None) -> int:
        """See :meth:`ImageService.get_layer`; ``writer.write`` may be a coroutine function."""
        ops.check_writer(writer)
        written = 0
        try:
            async with self.stream_layer(image_id, auth=auth) as response:
                async for chunk in response.aiter_raw():
                    if inspect.isawaitable(done := writer.write(chunk)):
                        await done
                    written += len(chunk)
        except RegistryError as error:
            if not _empty_layer(error):
                raise
        return written

    async def add_layer(
        self,
        image_id: str,
        layer: UploadSource,
        *,
        metadata_json: bytes | None = None,
        auth: AuthArg = None,
    ) -> LayerUpload:
        """See :meth:`ImageService.add_layer`; sync files are read in a worker thread."""
        return await self._client._send(ops.add_layer(image_id, layer, metadata_json), auth)

    async def get_metadata(self, image_id: str, *, auth: AuthArg = None) -> ImageMetadata:
        """See :meth:`ImageService.get_metadata`."""
        return await self._client._send(ops.get_metadata(image_id), auth)

    async def get_metadata_raw(self, image_id: str, *, auth: AuthArg = None) -> RawMetadata:
        """See :meth:`ImageService.get_metadata_raw`."""
        return await self._client._send(ops.get_metadata_raw(image_id), auth)

    async def add_metadata(
        self, image_id: str, metadata: ImageMetadata, *, auth: AuthArg = None
    ) -> bytes:
        """See :meth:`ImageService.add_metadata`."""
        body = ops.metadata_bytes(image_id, metadata)
        await self._client._send(ops.add_metadata_raw(image_id, body), auth)
        return body

    async def add_metadata_raw(
        self, image_id: str, json_bytes: bytes, *, auth: AuthArg = None
    ) -> None:
        """See :meth:`ImageService.add_metadata_raw`."""
        return await self._client._send(ops.add_metadata_raw(image_id, json_bytes), auth)

    async def put_checksum(self, image_id: str, checksum: str, *, auth: AuthArg = None) -> None:
        """See :meth:`ImageService.put_checksum`."""
        return await self._client._send(ops.put_checksum(image_id, checksum), auth)


class AsyncRepositoryService:
    """The awaitable twin of :class:`RepositoryService`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list_tags(self, repo: str, *, auth: AuthArg = None) -> TagMap:
        """See :meth:`RepositoryService.list_tags`."""
        return await self._client._send(ops.list_tags(repo), auth)

    async def get_image_id(self, repo: str, tag: str, *, auth: AuthArg = None) -> str:
        """See :meth:`RepositoryService.get_image_id`."""
        return await self._client._send(ops.get_image_id(repo, tag), auth)

    async def set_tag(self, repo: str, image_id: str, tag: str, *, auth: AuthArg = None) -> None:
        """See :meth:`RepositoryService.set_tag`."""
        return await self._client._send(ops.set_tag(repo, image_id, tag), auth)

    async def delete_tag(self, repo: str, tag: str, *, auth: AuthArg = None) -> None:
        """See :meth:`RepositoryService.delete_tag`."""
        return await self._client._send(ops.delete_tag(repo, tag), auth)

    async def delete(self, repo: str, *, auth: AuthArg = None) -> None:
        """See :meth:`RepositoryService.delete`."""
        return await self._client._send(ops.delete_repository(repo), auth)

    async def list_images(self, repo: str, *, auth: AuthArg = None) -> list[IndexImage]:
        """See :meth:`RepositoryService.list_images`."""
        return await self._client._send(ops.list_images(repo), auth)

    async def update_images(
        self, repo: str, images: Iterable[IndexImage | str] = (), *, auth: AuthArg = None
    ) -> None:
        """See :meth:`RepositoryService.update_images`."""
        return await self._client._send(ops.update_images(repo, images), auth)


class AsyncSearchService:
    """The awaitable twin of :class:`SearchService`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def query(
        self, query: str, page: int = 1, num: int = 25, *, auth: AuthArg = None
    ) -> SearchResults:
        """See :meth:`SearchService.query`."""
        return await self._client._send(ops.search(query, page, num), auth)

    async def iter_results(
        self, query: str, num: int = 25, *, auth: AuthArg = None
    ) -> AsyncIterator[SearchResult]:
        """See :meth:`SearchService.iter_results` (``async for``)."""
        page: int | None = 1
        while page is not None:
            results = await self.query(query, page, num, auth=auth)
            for result in results.results:
                yield result
            page = ops.next_page(results, page)


class AsyncUsersService:
    """The awaitable twin of :class:`UsersService`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def login(self, *, auth: AuthArg = None) -> None:
        """See :meth:`UsersService.login`."""
        return await self._client._send(ops.login(), auth)

    async def create(
        self, username: str, password: str, email: str, *, auth: AuthArg = None
    ) -> None:
        """See :meth:`UsersService.create`."""
        return await self._client._send(ops.create(username, password, email), auth)

    async def update(
        self,
        username: str,
        *,
        email: str | None = None,
        password: str | None = None,
        auth: AuthArg = None,
    ) -> None:
        """See :meth:`UsersService.update`."""
        return await self._client._send(ops.update(username, email, password), auth)
