"""The services of the Go package (Hub, Image, Repository, Search) plus Users, sync and async.

Each method is one line: it picks the operation from ``operations.py`` and hands it
to the client's runner with the per-call ``auth`` (``None`` means the client's
default, like passing the same Authenticator to every Go call).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager

import httpx

from . import operations as ops
from . import seam
from .auth import Authenticator, NilAuth, TokenAuth
from .models import (
    ImageMetadata,
    IndexImage,
    LayerUpload,
    RawMetadata,
    SearchResult,
    SearchResults,
    TagMap,
)
from .runner import AsyncRunner, SyncRunner
from .steps import BinaryWriter, UploadSource

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

Auth = Authenticator | None


class HubService:
    """Index tokens: read (anonymous or with credentials), write and delete."""

    def __init__(self, runner: SyncRunner) -> None:
        self._run = runner.run

    def get_read_token(self, repo: str) -> TokenAuth:
        return self._run(ops.read_token(repo), NilAuth())

    def get_read_token_with_auth(self, repo: str, auth: Auth = None) -> TokenAuth:
        return self._run(ops.read_token(repo), auth)

    def get_write_token(
        self, repo: str, auth: Auth = None, *, images: Iterable[IndexImage | str] = ()
    ) -> TokenAuth:
        """``images``: the image list to send (ids or entries); the Go package sends ``[]``."""
        return self._run(ops.write_token(repo, images), auth)

    def get_delete_token(self, repo: str, auth: Auth = None) -> TokenAuth:
        return self._run(ops.delete_token(repo), auth)

    def confirm_delete(
        self, repo: str, auth: Auth = None, *, endpoints: Iterable[str] = ()
    ) -> None:
        """Tell the index the registry deleted ``repo`` (the Hub flow's last step);
        ``endpoints``: the registry URLs the delete went to, e.g. ``str(token.endpoint)``."""
        return self._run(ops.confirm_delete(repo, endpoints), auth)


class ImageService:
    """``/v1/images/{id}/…``: ancestry, layers, metadata and the checksum that finalises."""

    def __init__(self, runner: SyncRunner) -> None:
        self._run = runner.run
        self._open = runner.open_stream

    def get_ancestry(self, image_id: str, *, auth: Auth = None) -> list[str]:
        return self._run(ops.get_ancestry(image_id), auth)

    def stream_layer(
        self, image_id: str, *, range_: str | None = None, auth: Auth = None
    ) -> AbstractContextManager[httpx.Response]:
        """The layer GET's response, before its body is read: for callers that resume
        (``range_="bytes=N-"``) and verify themselves, as the transfers do. Registry
        errors raise as usual; a body cut short raises :class:`RegistryConnectionError`."""
        return self._open(seam.layer_stream(image_id, range_), auth)

    def get_layer(self, image_id: str, writer: BinaryWriter, *, auth: Auth = None) -> int:
        """Stream the layer into ``writer``; returns the number of bytes written."""
        return self._run(ops.get_layer(image_id, writer), auth)

    def add_layer(
        self,
        image_id: str,
        layer: UploadSource,
        *,
        metadata_json: bytes | None = None,
        auth: Auth = None,
    ) -> LayerUpload:
        """Stream ``layer`` up; pass the exact image JSON sent to get the payload checksum."""
        return self._run(ops.add_layer(image_id, layer, metadata_json), auth)

    def get_metadata(self, image_id: str, *, auth: Auth = None) -> ImageMetadata:
        return self._run(ops.get_metadata(image_id), auth)

    def get_metadata_raw(self, image_id: str, *, auth: Auth = None) -> RawMetadata:
        return self._run(ops.get_metadata_raw(image_id), auth)

    def add_metadata(self, image_id: str, metadata: ImageMetadata, *, auth: Auth = None) -> bytes:
        """Upload ``metadata``; returns the exact bytes sent (hash these for the checksum)."""
        return self._run(ops.add_metadata(image_id, metadata), auth)

    def add_metadata_raw(self, image_id: str, json_bytes: bytes, *, auth: Auth = None) -> None:
        return self._run(ops.add_metadata_raw(image_id, json_bytes), auth)

    def put_checksum(self, image_id: str, checksum: str, *, auth: Auth = None) -> None:
        return self._run(ops.put_checksum(image_id, checksum), auth)


class RepositoryService:
    """``/v1/repositories/{ns}/{repo}/…``: tags, deletion and the index image list."""

    def __init__(self, runner: SyncRunner) -> None:
        self._run = runner.run

    def list_tags(self, repo: str, *, auth: Auth = None) -> TagMap:
        return self._run(ops.list_tags(repo), auth)

    def get_image_id(self, repo: str, tag: str, *, auth: Auth = None) -> str:
        return self._run(ops.get_image_id(repo, tag), auth)

    def set_tag(self, repo: str, image_id: str, tag: str, *, auth: Auth = None) -> None:
        """Point ``tag`` at ``image_id`` (the Go order; prefer keywords to avoid swaps)."""
        return self._run(ops.set_tag(repo, image_id, tag), auth)

    def delete_tag(self, repo: str, tag: str, *, auth: Auth = None) -> None:
        return self._run(ops.delete_tag(repo, tag), auth)

    def delete(self, repo: str, *, auth: Auth = None) -> None:
        return self._run(ops.delete_repository(repo), auth)

    def list_images(self, repo: str, *, auth: Auth = None) -> list[IndexImage]:
        return self._run(ops.list_images(repo), auth)

    def update_images(
        self, repo: str, images: Iterable[IndexImage | str] = (), *, auth: Auth = None
    ) -> None:
        """The final ``PUT …/images`` of a push (expects 204)."""
        return self._run(ops.update_images(repo, images), auth)


class SearchService:
    def __init__(self, runner: SyncRunner) -> None:
        self._run = runner.run

    def query(
        self, query: str, page: int = 1, num: int = 25, *, auth: Auth = None
    ) -> SearchResults:
        return self._run(ops.search(query, page, num), auth)

    def iter_results(
        self, query: str, num: int = 25, *, auth: Auth = None
    ) -> Iterator[SearchResult]:
        """Every result of every page, until the server's paging says there is no more."""
        page: int | None = 1
        while page is not None:
            results = self.query(query, page, num, auth=auth)
            yield from results.results
            page = ops.next_page(results, page)


class UsersService:
    """Index accounts: ``login`` checks credentials (401/403 raise), create, update."""

    def __init__(self, runner: SyncRunner) -> None:
        self._run = runner.run

    def login(self, auth: Auth = None) -> None:
        return self._run(ops.login(), auth)

    def create(self, username: str, password: str, email: str, *, auth: Auth = None) -> None:
        return self._run(ops.create(username, password, email), auth)

    def update(
        self,
        username: str,
        *,
        email: str | None = None,
        password: str | None = None,
        auth: Auth = None,
    ) -> None:
        return self._run(ops.update(username, email, password), auth)


class AsyncHubService:
    def __init__(self, runner: AsyncRunner) -> None:
        self._run = runner.run

    async def get_read_token(self, repo: str) -> TokenAuth:
        return await self._run(ops.read_token(repo), NilAuth())

    async def get_read_token_with_auth(self, repo: str, auth: Auth = None) -> TokenAuth:
        return await self._run(ops.read_token(repo), auth)

    async def get_write_token(
        self, repo: str, auth: Auth = None, *, images: Iterable[IndexImage | str] = ()
    ) -> TokenAuth:
        return await self._run(ops.write_token(repo, images), auth)

    async def get_delete_token(self, repo: str, auth: Auth = None) -> TokenAuth:
        return await self._run(ops.delete_token(repo), auth)

    async def confirm_delete(
        self, repo: str, auth: Auth = None, *, endpoints: Iterable[str] = ()
    ) -> None:
        return await self._run(ops.confirm_delete(repo, endpoints), auth)


class AsyncImageService:
    def __init__(self, runner: AsyncRunner) -> None:
        self._run = runner.run
        self._open = runner.open_stream

    def stream_layer(
        self, image_id: str, *, range_: str | None = None, auth: Auth = None
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """The async twin of :meth:`ImageService.stream_layer` (``async with``)."""
        return self._open(seam.layer_stream(image_id, range_), auth)

    async def get_ancestry(self, image_id: str, *, auth: Auth = None) -> list[str]:
        return await self._run(ops.get_ancestry(image_id), auth)

    async def get_layer(self, image_id: str, writer: BinaryWriter, *, auth: Auth = None) -> int:
        """``writer.write`` may be a plain method or a coroutine function."""
        return await self._run(ops.get_layer(image_id, writer), auth)

    async def add_layer(
        self,
        image_id: str,
        layer: UploadSource,
        *,
        metadata_json: bytes | None = None,
        auth: Auth = None,
    ) -> LayerUpload:
        """Async iterables stream directly; sync files are read in a worker thread."""
        return await self._run(ops.add_layer(image_id, layer, metadata_json), auth)

    async def get_metadata(self, image_id: str, *, auth: Auth = None) -> ImageMetadata:
        return await self._run(ops.get_metadata(image_id), auth)

    async def get_metadata_raw(self, image_id: str, *, auth: Auth = None) -> RawMetadata:
        return await self._run(ops.get_metadata_raw(image_id), auth)

    async def add_metadata(
        self, image_id: str, metadata: ImageMetadata, *, auth: Auth = None
    ) -> bytes:
        return await self._run(ops.add_metadata(image_id, metadata), auth)

    async def add_metadata_raw(
        self, image_id: str, json_bytes: bytes, *, auth: Auth = None
    ) -> None:
        return await self._run(ops.add_metadata_raw(image_id, json_bytes), auth)

    async def put_checksum(self, image_id: str, checksum: str, *, auth: Auth = None) -> None:
        return await self._run(ops.put_checksum(image_id, checksum), auth)


class AsyncRepositoryService:
    def __init__(self, runner: AsyncRunner) -> None:
        self._run = runner.run

    async def list_tags(self, repo: str, *, auth: Auth = None) -> TagMap:
        return await self._run(ops.list_tags(repo), auth)

    async def get_image_id(self, repo: str, tag: str, *, auth: Auth = None) -> str:
        return await self._run(ops.get_image_id(repo, tag), auth)

    async def set_tag(self, repo: str, image_id: str, tag: str, *, auth: Auth = None) -> None:
        return await self._run(ops.set_tag(repo, image_id, tag), auth)

    async def delete_tag(self, repo: str, tag: str, *, auth: Auth = None) -> None:
        return await self._run(ops.delete_tag(repo, tag), auth)

    async def delete(self, repo: str, *, auth: Auth = None) -> None:
        return await self._run(ops.delete_repository(repo), auth)

    async def list_images(self, repo: str, *, auth: Auth = None) -> list[IndexImage]:
        return await self._run(ops.list_images(repo), auth)

    async def update_images(
        self, repo: str, images: Iterable[IndexImage | str] = (), *, auth: Auth = None
    ) -> None:
        return await self._run(ops.update_images(repo, images), auth)


class AsyncSearchService:
    def __init__(self, runner: AsyncRunner) -> None:
        self._run = runner.run

    async def query(
        self, query: str, page: int = 1, num: int = 25, *, auth: Auth = None
    ) -> SearchResults:
        return await self._run(ops.search(query, page, num), auth)

    async def iter_results(
        self, query: str, num: int = 25, *, auth: Auth = None
    ) -> AsyncIterator[SearchResult]:
        page: int | None = 1
        while page is not None:
            results = await self.query(query, page, num, auth=auth)
            for result in results.results:
                yield result
            page = ops.next_page(results, page)


class AsyncUsersService:
    def __init__(self, runner: AsyncRunner) -> None:
        self._run = runner.run

    async def login(self, auth: Auth = None) -> None:
        return await self._run(ops.login(), auth)

    async def create(self, username: str, password: str, email: str, *, auth: Auth = None) -> None:
        return await self._run(ops.create(username, password, email), auth)

    async def update(
        self,
        username: str,
        *,
        email: str | None = None,
        password: str | None = None,
        auth: Auth = None,
    ) -> None:
        return await self._run(ops.update(username, email, password), auth)
