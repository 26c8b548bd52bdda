"""What the v1 read routes read, behind one protocol: the emulator's own store, or a face
over a v2 registry or an OCI layout (``docker_registry_v1.face``).

The routes (json, ancestry, layer, files, tags, repository metadata, the index image
list, search) are written once against :class:`V1Storage`; the write routes stay on the
emulator's :class:`~.store.Store` and, over a read-only storage, answer
:func:`read_only_answer` instead. The methods are synchronous: the store's are quick and
in memory, so they run inline; a storage that waits on the network or the disk says so
with ``blocking = True`` and the routes then call it in a worker thread (:func:`call`),
so the event loop never waits on a backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import anyio.to_thread
from starlette.responses import Response

from .blobs import Blob
from .responses import error
from .store import StoredImage

T = TypeVar("T")

READ_ONLY_STATUS = 405
READ_ONLY_MESSAGE = (
    "This registry is read-only: it serves the images of a v2 registry to v1 clients; "
    "push to the v2 registry instead"
)
READ_ONLY_ALLOW = "GET, HEAD, OPTIONS"
UNAVAILABLE_STATUS = 502


class StorageError(Exception):
    """The storage cannot answer now (its backend failed or is unreachable): the route
    answers ``502`` with this message as ``{"error": …}`` instead of a server error page."""


class V1Storage(Protocol):
    """The read side of a v1 registry's storage, as the routes need it.

    Repository names are ``namespace/repository`` as ``store.split_repository`` gives
    them; image ids are 16 or 64 hex characters (the routes check them first). A storage
    may also have a ``registry_version`` attribute: ``_ping`` then announces it in
    ``X-Docker-Registry-Version`` (REF 0.9.1 itself sends none).
    """

    @property
    def read_only(self) -> bool:
        """Writes are refused (the write routes answer `read_only_answer`)."""
        ...

    @property
    def blocking(self) -> bool:
        """Calls may wait on the network or the disk: run them in a worker thread."""
        ...

    def image(self, image_id: str) -> StoredImage | None:
        """The image's record (JSON bytes exactly as served, parent, ancestry top first,
        payload checksum, layer size); ``None`` when unknown."""
        ...

    def layer(self, image_id: str) -> Blob | None:
        """The layer exactly as served: its size known up front, ``open()`` gives a reader
        that may seek (a byte range) before it reads; ``None`` without a layer."""
        ...

    def cached_files(self, image_id: str) -> bytes | None:
        """The file listing of the image's layer computed earlier, ``None`` if not kept."""
        ...

    def cache_files(self, image_id: str, listing: bytes) -> None:
        """Keep a file listing (a storage may drop it again at any time)."""
        ...

    def tags(self, name: str) -> dict[str, str] | None:
        """Tag → image id, sorted by tag; ``None`` when the repository does not exist."""
        ...

    def unreadable_tags(self, name: str) -> list[str]:
        """Tags whose stored form cannot be read (their reads answer 500, as REF's)."""
        ...

    def tag_metadata(self, name: str, tag: str) -> dict[str, Any]:
        """What REF's ``…/tags/<tag>/json`` answers (the default metadata when none)."""
        ...

    def repository_metadata(self, name: str) -> dict[str, Any]:
        """What REF's ``…/json`` answers for the repository."""
        ...

    def access(self, name: str) -> str:
        """``"public"`` or ``"private"``."""
        ...

    def is_private(self, name: str) -> bool:
        """Whether only authenticated users may read the repository's index image list."""
        ...

    def index_list(self, name: str) -> bytes | None:
        """The index's image list of ``name`` (JSON bytes), ``None`` when there is none."""
        ...

    def search(self, query: str, *, include_private: bool) -> list[str]:
        """Repository names containing ``query`` (case-insensitive), sorted."""
        ...


async def call(storage: V1Storage, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``method(*args, **kwargs)`` of ``storage``: inline, or in a worker thread when the
    storage is `blocking`."""
    if not storage.blocking:
        return method(*args, **kwargs)
    return await anyio.to_thread.run_sync(lambda: method(*args, **kwargs))


def read_only_answer() -> Response:
    """What a write gets from a read-only storage: 405 with a JSON error saying why and
    ``Allow: GET, HEAD, OPTIONS`` (docs/emulator.md)."""
    return error(READ_ONLY_MESSAGE, READ_ONLY_STATUS, {"Allow": READ_ONLY_ALLOW})


def unavailable_answer(exc: StorageError) -> Response:
    """What a read gets when the storage failed: 502 and the reason (no traceback)."""
    return error(str(exc), UNAVAILABLE_STATUS)
