"""The blob facts a copy keeps between runs, and the pieces every OCI destination shares.

`BlobCache` maps a v1 layer (and every setting its gzip bytes depend on) to the blob
an earlier copy made of it, and remembers which repositories of a registry hold a
blob (mount sources) and which refused to lend it. `LayoutBlobStore` puts an
`OCILayout` behind the few registry calls a copy makes. Copy, migrate and the engine
share them.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path

from ..errors import InvalidInput
from ..oci.client import MountResult
from ..oci.compress import BLOCK, LEVELS, LayerBlob
from ..oci.layout import OCILayout
from .journal import ACCESS_REFUSED, REFUSED_MOUNTS, migrate_schema
from .model import RESTARTS, SourceRestarted, SourceRestartedError

__all__ = [
    "RESTARTS",
    "BlobCache",
    "LayoutBlobStore",
    "SourceRestarted",
    "SourceRestartedError",
    "check_level",
    "default_cache_path",
]

_CACHE_MIGRATIONS: tuple[tuple[str, ...], ...] = ((REFUSED_MOUNTS,),)
"""The cache's schema changes (see `journal.migrate_schema`): 1 added refused mounts."""


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/docker-registry-v1/oci-blobs.sqlite`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "docker-registry-v1" / "oci-blobs.sqlite"


class BlobCache:
    """v1 layer → v2 blob facts (digest, diff_id, sizes) from earlier copies.

    Keyed by the v1 image id and payload checksum plus everything the blob's bytes
    depend on (ISA-L version, level, block size), so a changed compressor never
    reuses a stale digest. SQLite, so parallel copies may share it; a lost or
    corrupt cache only costs a re-read.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, digest TEXT, "
                "size INTEGER, diff_id TEXT, plain_size INTEGER, source TEXT, empty INTEGER)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS placed (digest TEXT, registry TEXT, repository TEXT, "
                "PRIMARY KEY (digest, registry, repository))"
            )
        try:
            migrate_schema(self._db, _CACHE_MIGRATIONS, self.path)
        except BaseException:
            self._db.close()
            raise

    @staticmethod
    def key(image_id: str, checksum: str | None, level: int) -> str:
        """The cache key: a v1 layer and every setting its blob's bytes depend on."""
        return f"{image_id}|{checksum or ''}|isal-{version('isal')}|level-{level}|block-{BLOCK}"

    def get(self, key: str) -> LayerBlob | None:
        """The blob an earlier copy made from this layer, or None when none is known."""
        with self._lock:
            row = self._db.execute(
                "SELECT digest, size, diff_id, plain_size, source, empty FROM blobs WHERE key = ?",
                (key,),
            ).fetchone()
        return None if row is None else LayerBlob.from_row(row)

    def put(self, key: str, blob: LayerBlob) -> None:
        """Record the blob a copy made, once its upload is confirmed."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO blobs VALUES (?, ?, ?, ?, ?, ?, ?)", (key, *blob.row())
            )

    def place(self, digest: str, registry: str, repository: str) -> None:
        """Remember that ``registry``'s ``repository`` holds the blob (a mount source later)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO placed VALUES (?, ?, ?)", (digest, registry, repository)
            )

    def places(self, digest: str, registry: str) -> list[str]:
        """Repositories of ``registry`` that held the blob when last seen."""
        with self._lock:
            rows = self._db.execute(
                "SELECT repository FROM placed WHERE digest = ? AND registry = ? "
                "ORDER BY repository",
                (digest, registry),
            ).fetchall()
        return [row[0] for row in rows]

    def refused_mount(
        self, digest: str, registry: str, repository: str, source: str, status: int
    ) -> None:
        """``registry`` would not mount the blob from ``source`` into ``repository``."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO refused_mounts VALUES (?, ?, ?, ?, ?, ?)",
                (registry, repository, source, digest, status, time.time()),
            )

    def refused_sources(self, digest: str, registry: str, repository: str) -> set[str]:
        """Repositories not to mount the blob from into ``repository`` (as
        `Journal.refused_sources`: refused for it, or not readable at all)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT source FROM refused_mounts WHERE registry = ? AND digest = ? "
                "AND (repository = ? OR status IN (?, ?))",
                (registry, digest, repository, *ACCESS_REFUSED),
            ).fetchall()
        return {row[0] for row in rows}

    def close(self) -> None:
        """Close the database; the cache stays on disk for the next copy."""
        self._db.close()


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
        path = self.layout.blob_path(digest)
        return path.stat().st_size if path.is_file() else None

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
