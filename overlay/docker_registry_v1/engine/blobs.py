"""The pieces every OCI destination shares: where the copy cache lives by default,
`LayoutBlobStore` (an `OCILayout` behind the few registry calls a copy makes), the
compression level check and the source-restart signal.

`BlobCache` (the copy cache) is the journal's store (see `engine.journal`); it is
importable from here as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, MutableSet
from pathlib import Path

from ..core.errors import InvalidInput
from ..formats.compress import LEVELS
from ..formats.layout import OCILayout
from ..oci.client import MountResult
from .journal import BlobCache
from .model import RESTARTS, SourceRestarted, SourceRestartedError

__all__ = [
    "RESTARTS",
    "BlobCache",
    "LayoutBlobStore",
    "PresentBlobs",
    "SourceRestarted",
    "SourceRestartedError",
    "check_level",
    "default_cache_path",
]


_SHA256 = "sha256:"


class PresentBlobs(MutableSet[tuple[str, str]]):
    """(repository, digest) pairs, as compact as they can be kept: a migration's tags
    share one of these for every blob the run confirmed at the destination (tens of
    thousands at registry scale), so a sha256 digest is kept as its 32 bytes under its
    repository rather than as a tuple of two strings (about a third of the memory), and
    a repository the run is done with is dropped whole (`forget`). Another digest (not
    sha256, or not its hex) is kept as it is. Each step is one dict or set operation,
    so threads may share it as they share a set."""

    def __init__(self) -> None:
        self._by_repository: dict[str, set[bytes | str]] = {}

    @staticmethod
    def _key(digest: str) -> bytes | str:
        if digest.startswith(_SHA256) and len(digest) == len(_SHA256) + 64:
            try:
                return bytes.fromhex(digest[len(_SHA256) :])
            except ValueError:
                return digest
        return digest

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        repository, digest = item
        if not isinstance(repository, str) or not isinstance(digest, str):
            return False
        held = self._by_repository.get(repository)
        return held is not None and self._key(digest) in held

    def add(self, value: tuple[str, str]) -> None:
        repository, digest = value
        self._by_repository.setdefault(repository, set()).add(self._key(digest))

    def discard(self, value: tuple[str, str]) -> None:
        repository, digest = value
        held = self._by_repository.get(repository)
        if held is not None:
            held.discard(self._key(digest))

    def forget(self, repository: str) -> None:
        """Drop every pair of ``repository`` (the journal still has them: a later tag
        there asks the destination again rather than taking this run's word)."""
        self._by_repository.pop(repository, None)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for repository, held in list(self._by_repository.items()):
            for key in list(held):
                yield repository, key if isinstance(key, str) else _SHA256 + key.hex()

    def __len__(self) -> int:
        return sum(len(held) for held in list(self._by_repository.values()))


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/docker-registry-v1/oci-blobs.sqlite`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "docker-registry-v1" / "oci-blobs.sqlite"


class LayoutBlobStore:
    """An `OCILayout` behind the few registry calls `_copy` makes, so a copy into a
    layout runs the same per-layer path: a blob the cache knows and the layout holds
    is skipped before the source is read, a new one streams from the encoder into the
    layout's blob writer, and ``index.json`` changes last (with the manifest)."""

    def __init__(self, layout: OCILayout) -> None:
        self.layout = layout
        self.base_url = f"oci:{layout.root.resolve()}"

    def ping(self) -> None:
        """A layout is always ready: `OCILayout` checked its directory when opened."""

    def blob_size(self, _name: str, digest: str) -> int | None:
        """The blob's size if the layout holds it with the right bytes (hashed before
        it is first trusted: a planted file under a digest's name is not reused)."""
        return self.layout.blob_size(digest)

    def mount_blob(self, _name: str, _digest: str, _source: str) -> MountResult:
        """One layout has one blob store: a blob it holds was skipped already."""
        return MountResult(mounted=False, status=0)

    def upload_blob(
        self, _name: str, chunks: Iterable[bytes] | bytes, *, digest: str | None = None
    ) -> None:
        self.layout.write_blob([chunks] if isinstance(chunks, bytes) else chunks, digest=digest)

    def manifest_digest(self, _name: str, tag: str, *, accept: Iterable[str]) -> str | None:
        return self.layout.refs().get(tag)

    def put_manifest(self, _name: str, tag: str, data: bytes, media_type: str) -> None:
        self.layout.add_manifest(data, ref=tag, media_type=media_type)


def check_level(level: object) -> int:
    """The compression level, refused before anything is sent: the level is part of a
    blob's identity (its digest), so a copy and a migration must agree on the range."""
    if not isinstance(level, int) or isinstance(level, bool) or level not in LEVELS:
        raise InvalidInput(
            "level", f"expected a compression level in {LEVELS.start}..{LEVELS.stop - 1}"
        )
    return level
