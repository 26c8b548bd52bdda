"""The one store of transfer facts: the migration journal and the copy cache.

Both are the same schema (versioned by ``PRAGMA user_version``, upgraded in place one
committed step at a time): which v2 blob a v1 layer became (and from which source
registry that was learned: a v1 id is only trusted for the registry that named it),
which repositories of a registry hold a blob, which refused to lend it by a mount, and
for a migration the tags written and failed. `Journal` opens a migration's file,
locked and strict (an unusable file is an error naming it); `BlobCache` opens the copy
cache, shared by parallel copies and forgiving (an unusable file costs a re-read and a
`CacheWarning`).

The journal: what a run learned and finished, so the next run skips it.
One SQLite file (stdlib ``sqlite3``, WAL) per (source, destination) pair. Every fact
is committed as soon as it is learned, so ``kill -9`` loses at most the work that
was in flight. The journal is only a hint: the destination stays the source of
truth, and every blob the journal knows is checked there (HEAD) before a tag that
needs it skips it — a blob the registry lost is then sent again. A tag whose manifest
is still the one the journal recorded is current without its blobs being looked up
again; ``migrate --repair`` looks them up, forgets what it finds gone
(`forget_placed`, `forget_manifest`) and so has them sent again.

A layer's blob (digest, diff_id, sizes) is recorded the moment its last byte has
been streamed, *before* the upload is committed, together with the repository it
was going to: if the process dies between the registry's 201 and the next commit,
the rerun still knows which digest to look for, so no blob is uploaded twice.

Two runs on one journal would race on the same uploads, so a run holds an
``fcntl.flock`` on ``<journal>.lock`` (released by the kernel even after
``kill -9``); a second run is refused with `JournalLocked`, naming the holder's pid.

The journal may live in a shared or writable-by-others folder, so its files are
opened without following symbolic links: a ``.lock`` (or journal, ``-wal``, ``-shm``)
planted as a link to another file would otherwise have that file truncated or
written. A new lock or journal is created mode 0600; an existing file that is not a
journal (not SQLite, or SQLite without these tables) is refused and left as it is.
The folder must exist, except the default one, which is created (0700). Every error
names the file (`JournalError`; SQLite's own errors get the path in their message).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import os
import re
import sqlite3
import stat
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import IO, TypeAlias, TypeVar

import attrs

from ..core.errors import DockerRegistryError
from ..core.models import RawMetadata
from ..formats.compress import BLOCK, LayerBlob

__all__ = [
    "BlobCache",
    "CacheWarning",
    "Journal",
    "JournalError",
    "JournalLocked",
    "JournalManifest",
    "JournalReader",
    "PlannedCopy",
    "SchemaTooNew",
    "default_journal_path",
    "migrate_schema",
]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS layers (key TEXT PRIMARY KEY, image_id TEXT, digest TEXT, "
    "size INTEGER, diff_id TEXT, plain_size INTEGER, source TEXT, empty INTEGER)",
    "CREATE TABLE IF NOT EXISTS placed (registry TEXT, repository TEXT, digest TEXT, "
    "confirmed INTEGER, PRIMARY KEY (registry, repository, digest))",
    "CREATE TABLE IF NOT EXISTS manifests (registry TEXT, repository TEXT, tag TEXT, "
    "digest TEXT, image_id TEXT, source TEXT, at REAL, PRIMARY KEY (registry, repository, tag))",
    "CREATE TABLE IF NOT EXISTS failures (registry TEXT, repository TEXT, tag TEXT, "
    "reason TEXT, at REAL, PRIMARY KEY (registry, repository, tag))",
)
REFUSED_MOUNTS = (
    "CREATE TABLE IF NOT EXISTS refused_mounts (registry TEXT, repository TEXT, "
    "source TEXT, digest TEXT, status INTEGER, at REAL, "
    "PRIMARY KEY (registry, repository, source, digest))"
)
_LAYERS_V2 = (
    "CREATE TABLE layers_v2 (key TEXT, origin TEXT, image_id TEXT, digest TEXT, "
    "size INTEGER, diff_id TEXT, plain_size INTEGER, source TEXT, empty INTEGER, "
    "PRIMARY KEY (key, origin))"
)


def _one_store(db: sqlite3.Connection) -> None:
    """Version 2: the copy cache and the journal become one schema, and every layer
    fact names the source registry it was learned from (``origin``).

    A copy cache of version 0/1 (tables ``blobs`` and ``placed (digest, registry,
    repository)``) has its blobs moved into ``layers`` and its placements into the
    journal's ``placed`` (confirmed: the cache recorded only confirmed ones). Facts
    from before this version have no known origin (``''``): they are kept, but a v1 id
    is no longer trusted from them, so such a layer is read (hashed) once more."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    placed = {row[1] for row in db.execute("PRAGMA table_info(placed)")}
    if "confirmed" not in placed:  # a copy cache: its placements were all confirmed
        db.execute("ALTER TABLE placed RENAME TO placed_v1")
        db.execute(_SCHEMA[1])
        db.execute(
            "INSERT OR IGNORE INTO placed SELECT registry, repository, digest, 1 FROM placed_v1"
        )
        db.execute("DROP TABLE placed_v1")
    db.execute(_LAYERS_V2)
    db.execute(
        "INSERT OR IGNORE INTO layers_v2 SELECT key, '', image_id, digest, size, diff_id, "
        "plain_size, source, empty FROM layers"
    )
    if "blobs" in tables:
        db.execute(
            "INSERT OR IGNORE INTO layers_v2 SELECT key, '', substr(key, 1, instr(key, '|') - 1), "
            "digest, size, diff_id, plain_size, source, empty FROM blobs"
        )
        db.execute("DROP TABLE blobs")
    db.execute("DROP TABLE layers")
    db.execute("ALTER TABLE layers_v2 RENAME TO layers")
    db.execute("CREATE INDEX IF NOT EXISTS layers_by_image ON layers (image_id, origin)")


#: Version 3: the lookups by blob digest get their own indexes. ``placed``'s key starts
#: with the repository, so asking which repositories of a registry hold a digest (before
#: every cross-repository mount) scanned the registry's whole table, under the store's
#: lock: a cost per tag that grew with the registry.
_BY_DIGEST = (
    "CREATE INDEX IF NOT EXISTS placed_by_digest ON placed (registry, digest)",
    "CREATE INDEX IF NOT EXISTS refused_by_digest ON refused_mounts (registry, digest)",
)

#: Version 4: the destination repositories a ``--create-repo-cmd`` made, so a rerun does
#: not run the command again (its primary key serves the one lookup).
_CREATED_REPOSITORIES = (
    "CREATE TABLE IF NOT EXISTS created_repositories (registry TEXT, repository TEXT, "
    "at REAL, PRIMARY KEY (registry, repository))",
)

#: Version 5: the source's image JSONs a migration read, exactly as served, each with its
#: parent (the chain the inventory checked): a rerun, or the run itself once its inventory
#: is done, takes them from here instead of asking the source again. Kept per source
#: registry (``origin``): a v1 id is a name one registry gave.
_SOURCE_IMAGES = (
    "CREATE TABLE IF NOT EXISTS source_images (origin TEXT, image_id TEXT, parent TEXT, "
    "json BLOB, size INTEGER, checksum TEXT, at REAL, PRIMARY KEY (origin, image_id))",
)
#: Version 6: the tags a run set out to copy, each row gone once the tag is written or
#: has failed: after ``kill -9`` the next run continues these before anything else,
#: without reading the inventory again (`Journal.planned`).
_PLANNED = (
    "CREATE TABLE IF NOT EXISTS planned (registry TEXT, repository TEXT, tag TEXT, "
    "plan TEXT, position INTEGER, source_repository TEXT, source_tag TEXT, image_id TEXT, "
    "chain TEXT, new_repository INTEGER, PRIMARY KEY (registry, repository, tag))",
    "CREATE INDEX IF NOT EXISTS planned_by_plan ON planned (registry, plan, position)",
)
#: Version 7: the v1 provenance artifact attached to each tag's manifest (its subject,
#: its own digest, and how it is found: the referrers API or the fallback tag), so a
#: rerun neither writes it twice nor asks whether it is there.
_PROVENANCE = (
    "CREATE TABLE IF NOT EXISTS provenance (registry TEXT, repository TEXT, tag TEXT, "
    "subject TEXT, artifact TEXT, mechanism TEXT, at REAL, "
    "PRIMARY KEY (registry, repository, tag))",
)
#: The page cache of each reading connection, in KiB (SQLite's default is 2,000).
_READER_CACHE_KIB = 256
#: The writing connection's page cache, in KiB: its writes go by key (a few pages each),
#: and the default 2 MiB would fill as the journal grows (memory growing with the registry).
_WRITER_CACHE_KIB = 1024
#: The deepest chain a source image may have: docker refused more than 127 layers; a
#: chain of stored parents longer than this is a loop, never walked to its end.
MAX_CHAIN = 512

_T = TypeVar("_T")
Migration: TypeAlias = tuple[str, ...] | Callable[[sqlite3.Connection], None]
_MIGRATIONS: tuple[Migration, ...] = (
    (REFUSED_MOUNTS,),
    _one_store,
    _BY_DIGEST,
    _CREATED_REPOSITORIES,
    _SOURCE_IMAGES,
    _PLANNED,
    _PROVENANCE,
)
"""Schema changes since the first journals, in order: entry N-1 takes a store file from
``PRAGMA user_version`` N-1 to N. 1 added the refused-mount table; 2 merged the copy
cache's schema into the journal's and gave every layer fact its ``origin``; 3 indexed
the lookups by blob digest; 4 recorded the repositories a create command made; 5 kept
the source's image JSONs and chains; 6 the tags a run set out to copy; 7 the provenance
artifact attached to each tag.
Journals and copy caches share these versions (they were both 1 before the merge)."""
#: The ``PRAGMA user_version`` a store file has once every change above is applied.
SCHEMA_VERSION = len(_MIGRATIONS)
#: The copy cache's tables before version 2, accepted (and converted) as a store.
_CACHE_COLUMNS = {
    "placed": {"digest", "registry", "repository"},
}
ACCESS_REFUSED = (401, 403)
#: The tables and columns every journal has had since the first version: a file with
#: tables but not these is some other program's database.
_JOURNAL_COLUMNS = {
    "layers": {"key", "image_id", "digest", "size", "diff_id", "plain_size", "source", "empty"},
    "placed": {"registry", "repository", "digest", "confirmed"},
    "manifests": {"registry", "repository", "tag", "digest", "image_id", "source", "at"},
    "failures": {"registry", "repository", "tag", "reason", "at"},
}
_SQLITE_HEADER = b"SQLite format 3\x00"
#: Files SQLite opens next to the journal by name (WAL mode), checked like the journal.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
_NEW_FILE = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_PID = re.compile(rb"\s*\d*\s*")


def _damaged(exc: BaseException) -> bool:
    """The error says the file is damaged: SQLite found a page corrupt (or the file no
    database), or a value read back from a damaged page no longer decodes (text that is
    not UTF-8, a compression name that is none). A value that cannot be stored (text
    with a lone surrogate: UnicodeEncodeError) is no damage of the file."""
    if isinstance(exc, UnicodeEncodeError):
        return False
    if isinstance(exc, UnicodeDecodeError) or not isinstance(exc, sqlite3.Error):
        return True
    if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("Could not decode"):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class JournalError(DockerRegistryError):
    """The journal file (or its lock, or its folder) cannot be used; the message names it.

    Raised before anything is migrated: a symbolic link where a journal file goes, a
    missing folder, a file that is not a journal."""


class JournalLocked(JournalError):  # noqa: N818 - says what the journal is
    """Another run holds the journal; two runs on one journal would send blobs twice."""

    def __init__(self, path: Path, holder: str) -> None:
        who = f"process {holder}" if holder else "another process"
        super().__init__(f"journal {path} is in use by {who}; wait for it or use --journal")


@attrs.frozen
class PlannedCopy:
    """A tag a run set out to copy and had not finished (see `Journal.planned`)."""

    source_repository: str
    source_tag: str
    image_id: str
    chain: tuple[str, ...]
    """The v1 images, base first, as the plan found them."""
    repository: str
    tag: str
    new_repository: bool
    """The plan found the destination repository missing or empty."""


@attrs.frozen
class JournalManifest:
    """A tag the journal saw written: where, which digest, from which v1 image."""

    repository: str
    tag: str
    digest: str
    image_id: str
    source: str
    """The source ``repository:tag`` it was copied from."""


def _state_home() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "docker-registry-v1"


def default_journal_path(
    source: str, destination: str, shard: tuple[int, int] | None = None
) -> Path:
    """``$XDG_STATE_HOME/docker-registry-v1/migrate-<hosts>-<hash>.sqlite``: one file per
    (source, destination) pair, readable names plus a hash so distinct pairs never meet.

    A shard ``(I, N)`` gets ``…-shard-I-of-N.sqlite``: shards of one migration run at
    once on one machine (GNU parallel), and one journal would admit only one of them.
    """
    digest = hashlib.sha256(f"{source}\n{destination}".encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9.]+", "_", f"{source}-{destination}").strip("_")[:80]
    part = "" if shard is None else f"-shard-{shard[0]}-of-{shard[1]}"
    return _state_home() / f"migrate-{slug}-{digest}{part}.sqlite"


class SchemaTooNew(JournalError):  # noqa: N818 - says what is wrong with the file
    """The file was written by a newer version of this package; it is left alone."""

    def __init__(self, path: Path, found: int, known: int) -> None:
        super().__init__(
            f"{path} has schema version {found}; this version knows up to {known}: "
            "upgrade, or use another file"
        )


def migrate_schema(db: sqlite3.Connection, migrations: Sequence[Migration], path: Path) -> None:
    """Bring the database up to ``len(migrations)`` (its ``PRAGMA user_version``), one
    committed step at a time, so an older file keeps what it knows and a newer one is
    refused rather than misread.

    Each step is one write transaction (``BEGIN IMMEDIATE``: DDL too, which Python's
    sqlite3 would otherwise run outside any transaction) that reads the version again
    first: a ``kill -9`` mid-step leaves the file as it was, and two processes opening
    an old shared cache at once upgrade it once (the second waits, then finds it done)."""
    while True:
        with db:
            db.execute("BEGIN IMMEDIATE")
            found = int(db.execute("PRAGMA user_version").fetchone()[0])
            if found > len(migrations):
                raise SchemaTooNew(path, found, len(migrations))
            if found < 0:  # a damaged header: no version writes one (and it would index back)
                raise JournalError(f"{path} has schema version {found}; it is damaged")
            if found == len(migrations):
                return
            statements = migrations[found]
            if callable(statements):
                statements(db)
            else:
                for statement in statements:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {found + 1}")


@functools.cache
def _isal_version() -> str:
    """The installed isal's version, read once: the package metadata lookup is slow, and
    a key is built for every layer of every tag."""
    return version("isal")


class _Store:
    """The facts of the one schema over one open connection: `Journal` (a migration's
    file, locked, strict) and `BlobCache` (the copy cache, shared, forgiving) open it."""

    _kind = "journal"
    path: Path
    _db: sqlite3.Connection
    _lock: threading.Lock

    def _create(self) -> None:
        """WAL, the tables of a new file, then every schema change the file lacks, each
        committed on its own (see `migrate_schema`)."""
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA cache_size = -{_WRITER_CACHE_KIB}")
        with self._db:
            for statement in _SCHEMA:
                self._db.execute(statement)
        migrate_schema(self._db, _MIGRATIONS, self.path)

    @contextlib.contextmanager
    def _named_errors(self) -> Iterator[None]:
        """SQLite's errors (disk full, read-only) say nothing of which file: the same
        error type, its message prefixed with the journal's path. A damaged file (found
        at any query, not only when opened: SQLite reads pages as it needs them) is a
        `JournalError` naming it, as a file that is no journal at all is."""
        try:
            yield
        except (sqlite3.Error, UnicodeDecodeError, ValueError) as exc:
            if _damaged(exc):
                raise JournalError(
                    f"{self._kind} {self.path} is damaged ({exc}); it is left as it is"
                    + (": give another --journal" if self._kind == "journal" else "")
                ) from None
            if not isinstance(exc, sqlite3.Error):
                raise
            named = type(exc)(f"{self._kind} {self.path}: {exc}")
            for attribute in ("sqlite_errorcode", "sqlite_errorname"):
                if hasattr(exc, attribute):
                    setattr(named, attribute, getattr(exc, attribute))
            raise named from exc

    def _open_readers(self) -> None:
        """Reads go through connections of their own (WAL lets them run beside the one
        writer), so a lookup never waits for another thread's write. Idle ones are kept
        for the next read: as many as ever read at once, however many threads come and
        go (a connection per thread would pile up with the engine's short-lived ones)."""
        self._idle: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._readers_closed = False

    def _close_readers(self) -> None:
        """Close the idle readers; one in use is closed by its thread when its read ends
        (closing it under a running query would crash SQLite: after Ctrl-C, worker
        threads may still be finishing one)."""
        with self._readers_lock:
            self._readers_closed = True
            for db in self._idle:
                db.close()
            self._idle.clear()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        if str(self.path) == ":memory:":  # a cache in memory: one database, one connection
            with self._lock, self._named_errors():
                yield self._db
            return
        with self._readers_lock:
            if self._readers_closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            db = self._idle.pop() if self._idle else None
        with self._named_errors():
            if db is None:
                db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
                db.execute("PRAGMA query_only = ON")
                # each lookup reads a few pages by a key; the default 2 MiB page cache per
                # connection would fill as the journal grows, a reader per thread reading
                # at once, and memory would grow with the registry
                db.execute(f"PRAGMA cache_size = -{_READER_CACHE_KIB}")
            try:
                yield db
            finally:
                with self._readers_lock:
                    if self._readers_closed:
                        db.close()
                    else:
                        self._idle.append(db)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._named_errors(), self._db:
            yield self._db

    def layer(self, key: str, origin: str) -> LayerBlob | None:
        """The blob an earlier run made from the v1 layer ``key`` (see `BlobCache.key`)
        read from the source registry ``origin``: a v1 id is a name the source gave, so
        a fact learned from another source (or none, before version 2) is not used."""
        if not origin:
            return None
        with self._read() as db:
            row = db.execute(
                "SELECT digest, size, diff_id, plain_size, source, empty FROM layers "
                "WHERE key = ? AND origin = ?",
                (key, origin),
            ).fetchone()
            return None if row is None else LayerBlob.from_row(row)  # damaged: a JournalError

    def diff_id(self, image_id: str, origin: str) -> tuple[str, bool] | None:
        """The recorded diff_id of the v1 image's layer (read from ``origin``) and
        whether it is empty."""
        if not origin:
            return None
        with self._read() as db:
            row = db.execute(
                "SELECT diff_id, empty FROM layers WHERE image_id = ? AND origin = ? LIMIT 1",
                (image_id, origin),
            ).fetchone()
        return None if row is None else (row[0], bool(row[1]))

    def learned(
        self,
        key: str,
        image_id: str,
        blob: LayerBlob,
        registry: str,
        repository: str,
        *,
        origin: str,
    ) -> None:
        """The layer's blob (read from the source registry ``origin``) is known and about
        to be committed into ``repository``."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO layers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, origin, image_id, *blob.row()),
            )
            db.execute(
                "INSERT OR IGNORE INTO placed VALUES (?, ?, ?, 0)",
                (registry, repository, blob.digest),
            )

    def remember(self, key: str, blob: LayerBlob, origin: str) -> None:
        """The blob made from the v1 layer ``key`` read from ``origin`` (a copy records it
        once the upload is confirmed, with `placed`)."""
        image_id = key.partition("|")[0]
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO layers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, origin, image_id, *blob.row()),
            )

    def intend(self, registry: str, repository: str, digest: str) -> None:
        """A blob of known digest is about to be uploaded into ``repository``."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO placed VALUES (?, ?, ?, 0)", (registry, repository, digest)
            )

    def placed(self, registry: str, repository: str, digest: str) -> None:
        """The destination confirmed ``repository`` holds the blob."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO placed VALUES (?, ?, ?, 1)", (registry, repository, digest)
            )

    def places(self, registry: str, digest: str) -> list[str]:
        """Repositories of ``registry`` that hold (or were receiving) the blob, confirmed first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT repository FROM placed WHERE registry = ? AND digest = ? "
                "ORDER BY confirmed DESC, repository",
                (registry, digest),
            ).fetchall()
        return [row[0] for row in rows]

    def forget_placed(self, registry: str, repository: str, digest: str) -> None:
        """The destination was found without the blob in ``repository`` (a repair's HEAD):
        the fact that it holds it is dropped, so no run skips the blob or mounts it from
        there on the journal's word, and the next run that needs it sends it again."""
        with self._write() as db:
            db.execute(
                "DELETE FROM placed WHERE registry = ? AND repository = ? AND digest = ?",
                (registry, repository, digest),
            )

    def confirmed_blobs(self, registry: str) -> set[str]:
        """Every digest the destination confirmed in some repository."""
        with self._read() as db:
            rows = db.execute(
                "SELECT DISTINCT digest FROM placed WHERE registry = ? AND confirmed = 1",
                (registry,),
            ).fetchall()
        return {row[0] for row in rows}

    def refused_mount(
        self, registry: str, repository: str, source: str, digest: str, status: int
    ) -> None:
        """``registry`` would not mount the blob from ``source`` into ``repository``
        (``status``: 401/403/404, or 202 for an upload session instead); it was uploaded."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO refused_mounts VALUES (?, ?, ?, ?, ?, ?)",
                (registry, repository, source, digest, status, time.time()),
            )

    def refused_sources(self, registry: str, repository: str, digest: str) -> set[str]:
        """Repositories not to mount the blob from into ``repository``: those that refused
        it for this repository, and those ``registry`` would not let us read at all
        (401/403 for the ``from`` repository's pull scope do not depend on the target)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT source FROM refused_mounts WHERE registry = ? AND digest = ? "
                "AND (repository = ? OR status IN (?, ?))",
                (registry, digest, repository, *ACCESS_REFUSED),
            ).fetchall()
        return {row[0] for row in rows}

    def manifest_written(self, registry: str, manifest: JournalManifest) -> None:
        """The tag now points at ``manifest.digest``; any earlier failure of it is over."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO manifests VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    registry,
                    manifest.repository,
                    manifest.tag,
                    manifest.digest,
                    manifest.image_id,
                    manifest.source,
                    time.time(),
                ),
            )
            db.execute(
                "DELETE FROM failures WHERE registry = ? AND repository = ? AND tag = ?",
                (registry, manifest.repository, manifest.tag),
            )
            db.execute(
                "DELETE FROM planned WHERE registry = ? AND repository = ? AND tag = ?",
                (registry, manifest.repository, manifest.tag),
            )

    def manifests(self, registry: str) -> list[JournalManifest]:
        """Every tag written into ``registry``, by repository and tag."""
        with self._read() as db:
            rows = db.execute(
                "SELECT repository, tag, digest, image_id, source FROM manifests "
                "WHERE registry = ? ORDER BY repository, tag",
                (registry,),
            ).fetchall()
        return [JournalManifest(*row) for row in rows]

    def each_manifest(self, registry: str, *, page: int = 512) -> Iterator[JournalManifest]:
        """`manifests` a page at a time (by repository and tag, each page one short read):
        a pass over every tag written holds one page in memory, not the registry's."""
        after = ("", "")
        while True:
            with self._read() as db:
                rows = db.execute(
                    "SELECT repository, tag, digest, image_id, source FROM manifests "
                    "WHERE registry = ? AND (repository, tag) > (?, ?) "
                    "ORDER BY repository, tag LIMIT ?",
                    (registry, *after, page),
                ).fetchall()
            for row in rows:
                yield JournalManifest(*row)
            if len(rows) < page:
                return
            after = (rows[-1][0], rows[-1][1])

    def forget_manifest(self, registry: str, repository: str, tag: str) -> None:
        """The tag is no longer known to be written (a repair found it wrong): the next
        plan asks the destination about it instead of taking the journal's word, and
        attaches its provenance again."""
        with self._write() as db:
            for table in ("manifests", "provenance"):
                db.execute(
                    f"DELETE FROM {table} WHERE registry = ? AND repository = ? AND tag = ?",  # noqa: S608 - fixed names
                    (registry, repository, tag),
                )

    def provenance_attached(
        self,
        registry: str,
        repository: str,
        tag: str,
        *,
        subject: str,
        artifact: str,
        mechanism: str,
    ) -> None:
        """The tag's manifest ``subject`` has the provenance artifact ``artifact``,
        found through ``mechanism`` (``referrers`` or ``fallback``)."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO provenance VALUES (?, ?, ?, ?, ?, ?, ?)",
                (registry, repository, tag, subject, artifact, mechanism, time.time()),
            )

    def attached(self, registry: str) -> dict[tuple[str, str], tuple[str, str, str]]:
        """(repository, tag) → (subject, artifact, mechanism) of every provenance
        artifact recorded for ``registry``."""
        with self._read() as db:
            rows = db.execute(
                "SELECT repository, tag, subject, artifact, mechanism FROM provenance "
                "WHERE registry = ?",
                (registry,),
            ).fetchall()
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}

    def forget_tag(self, registry: str, repository: str, tag: str) -> None:
        """The tag was removed from ``registry`` (``migrate --prune``: its source tag is
        gone): neither its manifest nor any failure of it is remembered, so it is no
        longer reported as a deleted source tag, and a tag of that name pushed to the
        source again is migrated as new."""
        with self._write() as db:
            for table in ("manifests", "failures", "provenance"):
                db.execute(
                    f"DELETE FROM {table} WHERE registry = ? AND repository = ? AND tag = ?",  # noqa: S608 - fixed names
                    (registry, repository, tag),
                )

    def failed(self, registry: str, repository: str, tag: str, reason: str) -> None:
        """The tag could not be migrated this time, and why (a plan's next run plans it
        again rather than continuing it)."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
                (registry, repository, tag, reason, time.time()),
            )
            db.execute(
                "DELETE FROM planned WHERE registry = ? AND repository = ? AND tag = ?",
                (registry, repository, tag),
            )

    def plan_started(self, registry: str, plan: str, tags: Sequence[PlannedCopy]) -> None:
        """A run into ``registry`` sets out to copy ``tags`` (in this order), under the
        name ``plan`` (what was asked: source, selection, destination). It replaces any
        earlier run's rows: only the latest plan is continued."""
        with self._write() as db:
            db.execute("DELETE FROM planned WHERE registry = ?", (registry,))
            db.executemany(
                "INSERT OR REPLACE INTO planned VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        registry,
                        one.repository,
                        one.tag,
                        plan,
                        position,
                        one.source_repository,
                        one.source_tag,
                        one.image_id,
                        " ".join(one.chain),
                        int(one.new_repository),
                    )
                    for position, one in enumerate(tags)
                ],
            )

    def planned(self, registry: str, plan: str) -> list[PlannedCopy]:
        """The tags the last run under the name ``plan`` set out to copy and neither
        wrote nor failed (it was killed, or stopped by ``--on-error abort``), in its order."""
        with self._read() as db:
            rows = db.execute(
                "SELECT source_repository, source_tag, image_id, chain, repository, tag, "
                "new_repository FROM planned WHERE registry = ? AND plan = ? ORDER BY position",
                (registry, plan),
            ).fetchall()
        return [
            PlannedCopy(src, src_tag, image, tuple(chain.split()), repo, tag, bool(new))
            for src, src_tag, image, chain, repo, tag, new in rows
        ]

    def repository_created(self, registry: str, repository: str) -> None:
        """The create command succeeded for ``repository`` of ``registry``: a rerun does
        not run it again."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO created_repositories VALUES (?, ?, ?)",
                (registry, repository, time.time()),
            )

    def was_created(self, registry: str, repository: str) -> bool:
        """Whether an earlier run's create command succeeded for ``repository``."""
        with self._read() as db:
            row = db.execute(
                "SELECT 1 FROM created_repositories WHERE registry = ? AND repository = ?",
                (registry, repository),
            ).fetchone()
        return row is not None

    def source_images_read(
        self, origin: str, images: Sequence[tuple[str, str | None, RawMetadata]]
    ) -> None:
        """The source ``origin`` served these images' JSONs (``(id, parent, json)``, each
        chain checked to its base): one transaction for all, so a listing of thousands
        costs one commit, and a kill before it loses only a re-read."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO source_images VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (origin, image_id, parent, raw.json_bytes, raw.size, raw.checksum, now)
                    for image_id, parent, raw in images
                ],
            )

    def source_image(self, origin: str, image_id: str) -> RawMetadata | None:
        """The image's JSON as ``origin`` served it to an earlier inventory, if kept."""
        with self._read() as db:
            row = db.execute(
                "SELECT json, size, checksum FROM source_images WHERE origin = ? AND image_id = ?",
                (origin, image_id),
            ).fetchone()
        return None if row is None else RawMetadata(bytes(row[0]), row[1], row[2])

    def source_chain(self, origin: str, image_id: str) -> tuple[str, ...] | None:
        """``image_id`` and its ancestors (itself first, as a v1 ancestry) when every one
        of them is kept down to a base image; ``None`` when any is missing (or the stored
        parents loop): then the source is asked. One query, each step by the key."""
        with self._read() as db:
            rows = db.execute(
                "WITH RECURSIVE chain(image_id, parent, depth) AS ("
                "SELECT image_id, parent, 0 FROM source_images "
                "WHERE origin = ?1 AND image_id = ?2 "
                "UNION ALL SELECT s.image_id, s.parent, c.depth + 1 FROM chain c "
                "JOIN source_images s ON s.origin = ?1 AND s.image_id = c.parent "
                "WHERE c.depth < ?3) "
                "SELECT image_id, parent FROM chain ORDER BY depth",
                (origin, image_id, MAX_CHAIN),
            ).fetchall()
        if not rows or rows[-1][1] is not None:
            return None
        return tuple(row[0] for row in rows)

    def failures(self, registry: str) -> dict[tuple[str, str], str]:
        """(repository, tag) → reason of the tags whose last attempt failed."""
        with self._read() as db:
            rows = db.execute(
                "SELECT repository, tag, reason FROM failures WHERE registry = ?", (registry,)
            ).fetchall()
        return {(repo, tag): reason for repo, tag, reason in rows}

    def registries(self) -> list[str]:
        """The destinations this journal recorded written tags for (usually one)."""
        with self._read() as db:
            rows = db.execute("SELECT DISTINCT registry FROM manifests ORDER BY registry")
            return [row[0] for row in rows.fetchall()]

    def source_origins(self) -> list[str]:
        """The source registries whose image JSONs are kept (usually one: a journal
        belongs to one source), by the key's index."""
        with self._read() as db:
            rows = db.execute("SELECT DISTINCT origin FROM source_images ORDER BY origin")
            return [row[0] for row in rows.fetchall()]

    def layer_facts(self, image_id: str, origin: str) -> list[LayerBlob]:
        """Every blob recorded for the v1 image's layer read from ``origin`` (one per
        compression setting it was ever made with), in a stable order."""
        with self._read() as db:
            rows = db.execute(
                "SELECT digest, size, diff_id, plain_size, source, empty FROM layers "
                "WHERE image_id = ? AND origin = ? ORDER BY key",
                (image_id, origin),
            ).fetchall()
        return [LayerBlob.from_row(row) for row in rows]


class Journal(_Store):
    """The journal file, locked for this process while it is open."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._folder()
        self._lockfile = self._acquire(self.path.with_name(self.path.name + ".lock"))
        self._lock = threading.Lock()
        self._open_readers()
        try:
            self._check_files()
            with self._named_errors():
                self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
                try:
                    self._check_schema()
                except sqlite3.DatabaseError as exc:
                    raise JournalError(
                        f"{self.path} cannot be read as a migration journal ({exc}); "
                        "it is left as it is: give another --journal"
                    ) from None
                self._create()
        except BaseException:
            if hasattr(self, "_db"):
                self._db.close()
            self._lockfile.close()
            raise

    def _folder(self) -> None:
        """The default folder is made (0700: what was migrated where is private); one the
        user named must exist, as for any output file, rather than appear by mistake."""
        folder = self.path.parent
        if folder == _state_home():
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise JournalError(f"journal folder {folder}: {exc.strerror}") from None
        elif not folder.is_dir():
            raise JournalError(f"journal {self.path}: folder {folder} does not exist")

    def _acquire(self, lock_path: Path) -> IO[str]:
        """Open (or create, 0600) and lock ``lock_path``, never through a symbolic link.

        The lock file is rewritten with this process's id, so anything but a regular
        file of our own (empty or a pid, one link) is refused rather than truncated."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(lock_path, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise JournalError(
                    f"journal lock {lock_path} is a symbolic link; refusing to follow it "
                    "(remove it, or use another --journal)"
                ) from None
            raise JournalError(f"journal lock {lock_path}: {exc.strerror}") from None
        handle = os.fdopen(fd, "r+")
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise JournalError(f"journal lock {lock_path} is not a regular file")
            if info.st_nlink != 1:
                raise JournalError(
                    f"journal lock {lock_path} has other hard links; refusing to write to it"
                )
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = handle.read(64).strip()
                raise JournalLocked(self.path, holder) from None
            if not _PID.fullmatch(os.pread(fd, 64, 0)):
                raise JournalError(
                    f"journal lock {lock_path} holds something other than a process id; "
                    "refusing to overwrite it (remove it, or use another --journal)"
                )
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        except BaseException:
            handle.close()
            raise
        return handle

    def _check_files(self) -> None:
        """Refuse links and non-files where SQLite will open the journal and its
        companions; create a new journal 0600 ourselves, without following a link."""
        for suffix in ("", *_SQLITE_COMPANIONS):
            path = self.path.with_name(self.path.name + suffix)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise JournalError(f"journal {path}: {exc.strerror}") from None
            if stat.S_ISLNK(info.st_mode):
                raise JournalError(
                    f"journal {path} is a symbolic link; refusing to follow it "
                    "(remove it, or use another --journal)"
                )
            if not stat.S_ISREG(info.st_mode):
                raise JournalError(f"journal {path} is not a regular file")
        try:
            os.close(os.open(self.path, os.O_WRONLY | _NEW_FILE, 0o600))
            return
        except FileExistsError:
            pass
        except OSError as exc:
            raise JournalError(f"journal {self.path}: {exc.strerror}") from None
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise JournalError(f"journal {self.path}: {exc.strerror}") from None
        try:
            header = os.read(fd, len(_SQLITE_HEADER))
        finally:
            os.close(fd)
        if header and header != _SQLITE_HEADER:
            raise JournalError(
                f"{self.path} is not a migration journal (not an SQLite database); "
                "it is left as it is: give another --journal"
            )

    def _check_schema(self) -> None:
        """Before anything is written: a newer journal is refused (`SchemaTooNew`), and so
        is an SQLite database with other tables than a journal's; an empty one is new."""
        found = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if found > len(_MIGRATIONS):
            raise SchemaTooNew(self.path, found, len(_MIGRATIONS))
        tables = {
            name
            for (name,) in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if not tables and found == 0:
            return
        missing = [
            table
            for table, columns in _JOURNAL_COLUMNS.items()
            if table not in tables
            or not columns <= {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
        ]
        if missing:
            raise JournalError(
                f"{self.path} is an SQLite database but not a migration journal "
                f"(no journal table {missing[0]!r}); it is left as it is: give another --journal"
            )

    def close(self) -> None:
        """Close the database and release the lock; waits for a write under way (after
        Ctrl-C, worker threads may still be finishing one)."""
        with self._lock:
            self._db.close()
            self._close_readers()
        self._lockfile.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class JournalReader(_Store):
    """A journal opened only to be read (``regv1 provenance export``): no lock, so it can
    be read while a run writes it (WAL: each query sees the facts committed so far),
    nothing created, no schema change. A missing file, a file that is no journal, or
    a journal of a newer version is a `JournalError` naming it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._check()
        self._open_readers()

    def _check(self) -> None:
        try:
            with self.path.open("rb") as handle:
                header = handle.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            raise JournalError(f"no journal at {self.path}") from None
        except OSError as exc:
            raise JournalError(f"journal {self.path}: {exc.strerror}") from None
        if header != _SQLITE_HEADER:
            raise JournalError(f"{self.path} is not a migration journal (not an SQLite database)")
        with self._named_errors():
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                found = int(db.execute("PRAGMA user_version").fetchone()[0])
                tables = {
                    name
                    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
            finally:
                db.close()
        if found > len(_MIGRATIONS):
            raise SchemaTooNew(self.path, found, len(_MIGRATIONS))
        missing = sorted({*_JOURNAL_COLUMNS, "source_images"} - tables)
        if missing:
            raise JournalError(
                f"{self.path} is not a migration journal this version can read "
                f"(no table {missing[0]!r}; one written before version 5 keeps no v1 "
                "chains: a migrate run with this version adds them)"
            )

    def close(self) -> None:
        """Close the reading connections (nothing was written: nothing to wait for)."""
        self._close_readers()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CacheWarning(UserWarning):
    """The copy cache file cannot be used; this copy reuses nothing from it."""


class BlobCache:
    """The copy cache: the journal's schema in a file shared by every copy (no lock),
    kept as the v1 layer → v2 blob facts (digest, diff_id, sizes), the repositories of a
    registry that hold a blob (mount sources) and the mounts they refused.

    A layer is keyed by the v1 image id and payload checksum plus everything the blob's
    bytes depend on (ISA-L version, level, block size), so a changed compressor never
    reuses a stale digest; and a fact is used only for the source registry it was read
    from (a v1 id is a name, not content). A cache is only a hint: a file that cannot be
    read (corrupt, not SQLite, from a newer version) gives a `CacheWarning` naming it and
    is left alone, and the copy runs with an empty cache in memory, which only costs
    reading every layer again. Damage SQLite meets only later (it reads pages as a
    query needs them) costs the same, from that query on."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._swap = threading.Lock()
        self._retired: list[_CacheFile | Journal] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._store: _CacheFile | Journal = _CacheFile(self.path)
        except (OSError, sqlite3.Error, JournalError) as exc:
            self._warn(exc, stacklevel=3)
            self._store = _CacheFile(Path(":memory:"))
        self._borrowed = False

    @classmethod
    def over(cls, store: Journal) -> BlobCache:
        """An open journal's facts as the engine's cache: a migration's copies learn and
        reuse through the journal itself (one store). Closing it leaves the journal open."""
        cache = cls.__new__(cls)
        cache.path, cache._store, cache._borrowed = store.path, store, True
        cache._swap, cache._retired = threading.Lock(), []
        return cache

    def _warn(self, exc: BaseException, *, stacklevel: int) -> None:
        why = str(exc).removeprefix(f"copy cache {self.path}: ")
        warnings.warn(
            f"copy cache {self.path} cannot be used ({why}); it is left as it is and "
            "every layer is read again",
            CacheWarning,
            stacklevel=stacklevel,
        )

    def _forgiving(self, use: Callable[[_CacheFile | Journal], _T]) -> _T:
        """``use`` on the store; if the file fails it (damaged, disk full), the warning,
        then the rest of the copy on an empty cache in memory (parallel layers that meet
        the same failure switch once). A migration's journal (`over`) is not forgiven:
        its errors are the run's."""
        store = self._store
        if self._borrowed:
            return use(store)
        try:
            return use(store)
        except (sqlite3.Error, JournalError) as exc:
            with self._swap:
                if self._store is store:
                    self._warn(exc, stacklevel=4)
                    self._retired.append(store)  # closed with the cache: others may be in it
                    self._store = _CacheFile(Path(":memory:"))
            return use(self._store)

    @staticmethod
    def key(image_id: str, checksum: str | None, level: int) -> str:
        """The cache key: a v1 layer and every setting its blob's bytes depend on."""
        return f"{image_id}|{checksum or ''}|isal-{_isal_version()}|level-{level}|block-{BLOCK}"

    @property
    def facts(self) -> _CacheFacts:
        """The mount facts with the journal's argument order (`mount_known` takes them)."""
        return _CacheFacts(self)

    def get(self, key: str, *, origin: str) -> LayerBlob | None:
        """The blob an earlier copy made from this layer read from the source registry
        ``origin``, or None when none is known."""
        return self._forgiving(lambda store: store.layer(key, origin))

    def put(self, key: str, blob: LayerBlob, *, origin: str) -> None:
        """Record the blob a copy made from a layer of ``origin``, once its upload is
        confirmed."""
        self._forgiving(lambda store: store.remember(key, blob, origin))

    def place(self, digest: str, registry: str, repository: str) -> None:
        """Remember that ``registry``'s ``repository`` holds the blob (a mount source later)."""
        self._forgiving(lambda store: store.placed(registry, repository, digest))

    def intend(self, digest: str, registry: str, repository: str) -> None:
        """The blob is about to be uploaded into ``registry``'s ``repository`` (a migration
        mounts from a repository still receiving it)."""
        self._forgiving(lambda store: store.intend(registry, repository, digest))

    def places(self, digest: str, registry: str) -> list[str]:
        """Repositories of ``registry`` that held the blob when last seen."""
        return self._forgiving(lambda store: store.places(registry, digest))

    def refused_mount(
        self, digest: str, registry: str, repository: str, source: str, status: int
    ) -> None:
        """``registry`` would not mount the blob from ``source`` into ``repository``."""
        self._forgiving(
            lambda store: store.refused_mount(registry, repository, source, digest, status)
        )

    def refused_sources(self, digest: str, registry: str, repository: str) -> set[str]:
        """Repositories not to mount the blob from into ``repository`` (as
        `Journal.refused_sources`: refused for it, or not readable at all)."""
        return self._forgiving(lambda store: store.refused_sources(registry, repository, digest))

    def close(self) -> None:
        """Close the database; the cache stays on disk for the next copy."""
        stores = self._retired if self._borrowed else [*self._retired, self._store]
        for store in stores:
            with contextlib.suppress(sqlite3.Error):
                store.close()


@attrs.frozen
class _CacheFacts:
    """`BlobCache`'s mount facts in the journal's argument order, as forgiving as the
    cache (`engine.destinations.MountMemory`)."""

    cache: BlobCache

    def places(self, registry: str, digest: str) -> list[str]:
        return self.cache.places(digest, registry)

    def refused_sources(self, registry: str, repository: str, digest: str) -> set[str]:
        return self.cache.refused_sources(digest, registry, repository)

    def intend(self, registry: str, repository: str, digest: str) -> None:
        self.cache.intend(digest, registry, repository)

    def refused_mount(
        self, registry: str, repository: str, source: str, digest: str, status: int
    ) -> None:
        self.cache.refused_mount(digest, registry, repository, source, status)


class _CacheFile(_Store):
    """The store as a copy cache opens it: no lock (parallel copies share it), the
    folder made on demand, SQLite's errors raised for `BlobCache` to fall back on."""

    _kind = "copy cache"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._open_readers()
        with self._named_errors():
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
            try:
                self._create()
            except BaseException:
                self._db.close()
                raise

    def close(self) -> None:
        """Close the database (after a write under way)."""
        with self._lock:
            self._db.close()
            self._close_readers()
