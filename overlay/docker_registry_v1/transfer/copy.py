"""Copy one tagged v1 image into an OCI/v2 registry, layers streamed, nothing staged on disk.

Flow: v1 read access, tag → id, ancestry, every image's JSON; the destination is
pinged (a v1-only server is refused before any layer moves). Each layer then goes
v1 GET in 1 MiB blocks (resumed by ``LayerFetch``) → deterministic gzip
(``oci.compress``, in a thread of its own running ahead: ``transfer.pipeline``) → one
streamed PATCH, a few layers at a time, and the digests it got are remembered in a
small local cache. A layer whose blob the cache knows and the destination already
holds (HEAD) is skipped before a byte of it is read from the source, so a second copy,
or a re-run after a crash, sends no blob again; a blob that another repository of the
same registry holds (as far as the cache knows) is mounted from there instead of sent.
The config blob follows, and the manifest goes up last, only once every blob is
confirmed; a tag already pointing at the same manifest is left alone.

When the source connection drops mid-layer the read resumes with ``Range`` while the
upload goes on; if the source restarts from byte 0 the bytes already sent cannot be
taken back, so that layer's upload is abandoned and started again cleanly.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ..archive import validate_ancestry
from ..errors import DockerRegistryError, InvalidInput
from ..httplog import reused
from ..models import RawMetadata
from ..names import RepositoryName, check_tag
from ..oci.client import AsyncOCIClient, MountResult, OCIClient, check_name, check_reference
from ..oci.compress import BLOCK, DEFAULT_LEVEL, LEVELS, LayerBlob
from ..oci.convert import ConvertedImage, ManifestFormat, convert_image
from ..oci.layout import OCILayout, check_ref
from ..progress import ProgressListener, SilentProgress
from .access import read_access
from .bounded import Stopped, run_threads
from .journal import ACCESS_REFUSED, REFUSED_MOUNTS, migrate_schema
from .layers import LayerFetch, iter_layer
from .pipeline import PipelinedLayer
from .pull import check_concurrency
from .retry import RetryPolicy, scoped, unretried
from .threaded import run_in_worker
from .tracking import Tracker

if TYPE_CHECKING:  # the client module imports the transfer package
    from ..auth import Authenticator
    from ..client import AsyncClient, Client

__all__ = [
    "BlobCache",
    "CopyResult",
    "SourceRestartedError",
    "acopy",
    "copy",
    "default_cache_path",
]

RESTARTS = 3
_CACHE_MIGRATIONS: tuple[tuple[str, ...], ...] = ((REFUSED_MOUNTS,),)
"""The cache's schema changes (see `journal.migrate_schema`): 1 added refused mounts."""
"""Times one layer's upload is started again after the source restarted from byte 0."""


@attrs.frozen
class CopyResult:
    """What a copy did: the tag set, the layer blobs sent and skipped, bytes read from
    the source, the manifest digest and the wall time."""

    registry: str
    repository: str
    tags: tuple[str, ...]
    image_id: str
    digest: str
    layers: tuple[str, ...]
    """Blob digests of the manifest's layers, base first."""
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    """Layer blobs the destination had already, or got by a cross-repository mount."""
    mounted: tuple[str, ...]
    """The skipped blobs that were mounted from another repository of the registry."""
    bytes_transferred: int
    seconds: float


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


class SourceRestarted(Exception):  # noqa: N818 - a signal inside one layer's copy
    """The source answered a resume from byte 0: the upload must start again."""


class SourceRestartedError(DockerRegistryError):
    """The source kept restarting a layer from byte 0 instead of resuming it."""

    def __init__(self, image_id: str) -> None:
        super().__init__(
            f"layer of {image_id}: the source restarted it {RESTARTS + 1} times; giving up"
        )


class LayoutDestination:
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


@attrs.frozen
class LayerSource:
    """What reading one v1 layer takes: its image, the JSON that came with it (size and
    payload checksum), the read access, the retry policy and the gzip level."""

    image_id: str
    metadata: RawMetadata
    auth: Authenticator | None
    policy: RetryPolicy
    level: int


def send_layer(
    source: Client,
    layer: LayerSource,
    count: Callable[[Iterator[bytes]], Iterator[bytes]],
    rewind: Callable[[int], None],
    upload: Callable[[PipelinedLayer], object],
) -> LayerBlob:
    """Stream one v1 layer from ``source`` through the deterministic gzip into
    ``upload``, and return the blob it made.

    The read resumes with ``Range`` when the connection drops; when the source answers a
    resume from byte 0, or the upload breaks off (as ``layer.policy`` allows), the bytes
    already sent cannot be taken back, so the layer starts again cleanly, ``rewind``
    taking back what had been counted. Copy and migrate share this one path."""
    failures = 0

    def restarted(lost: int) -> None:
        rewind(lost)
        raise SourceRestarted

    while True:
        fetch = LayerFetch(layer.image_id, layer.metadata, layer.auth, layer.policy, restarted)
        chunks = count(iter_layer(source, fetch, block=BLOCK))
        where = f"layer of {layer.image_id[:12]}"
        try:
            with PipelinedLayer(chunks, level=layer.level, where=where) as encoded:
                upload(encoded)
            return encoded.blob
        except SourceRestarted as error:
            failures += 1
            if failures > RESTARTS:
                raise SourceRestartedError(layer.image_id) from error
        except DockerRegistryError as error:
            failures += 1
            # the source's own resume loop has spent its attempts: do not multiply them
            wait = None if error is fetch.gave_up else layer.policy.delay(failures, error)
            if wait is None:
                raise
            rewind(fetch.received)
            time.sleep(wait)


def check_level(level: object) -> int:
    """The compression level, refused before anything is sent: the level is part of a
    blob's identity (its digest), so a copy and a migration must agree on the range."""
    if not isinstance(level, int) or isinstance(level, bool) or level not in LEVELS:
        raise InvalidInput(
            "level", f"expected a compression level in {LEVELS.start}..{LEVELS.stop - 1}"
        )
    return level


@attrs.define
class _CopyJob:
    source_repo: str
    tag: str
    dest_repo: str
    dest_tag: str
    manifest_format: ManifestFormat
    level: int
    concurrency: int
    policy: RetryPolicy
    tracker: Tracker
    cache: BlobCache
    ids: tuple[str, ...] = ()
    metadata: dict[str, RawMetadata] = attrs.field(factory=dict)
    uploaded: list[str] = attrs.field(factory=list)
    skipped: list[str] = attrs.field(factory=list)
    mounted: list[str] = attrs.field(factory=list)
    registry: str = ""

    @classmethod
    def create(  # noqa: PLR0917 - the public signature's options, checked in one place
        cls,
        repo: str,
        tag: str,
        dest_repo: str | None,
        dest_tag: str | None,
        manifest_format: ManifestFormat,
        level: int,
        concurrency: int,
        progress: ProgressListener | None,
        retry: RetryPolicy | None,
        cache: BlobCache | str | os.PathLike[str] | None,
        *,
        layout: bool = False,
    ) -> tuple[_CopyJob, bool]:
        """The job, every argument checked; and whether it owns (must close) its cache.

        ``layout``: ``dest_tag`` is a layout's ref name, which may be ``REPO:TAG`` as
        migrate writes them, not only a tag.
        """
        name = RepositoryName.parse(repo)
        default = str(name).removeprefix("library/")
        target = check_name(dest_repo if dest_repo is not None else default)
        check = check_ref if layout and dest_tag is not None else check_reference
        target_tag = check(dest_tag if dest_tag is not None else check_tag(tag))
        if not isinstance(manifest_format, ManifestFormat):
            raise InvalidInput("manifest_format", "expected a ManifestFormat")
        job = cls(
            source_repo=str(name),
            tag=check_tag(tag),
            dest_repo=target,
            dest_tag=target_tag,
            manifest_format=manifest_format,
            level=check_level(level),
            concurrency=check_concurrency(concurrency),
            policy=retry or RetryPolicy(),
            tracker=Tracker(progress or SilentProgress()),
            cache=cache
            if isinstance(cache, BlobCache)
            else BlobCache(cache or default_cache_path()),
        )
        return job, not isinstance(cache, BlobCache)

    def set_chain(self, image_id: str, ancestry: list[str]) -> None:
        self.ids = tuple(reversed(validate_ancestry(ancestry, image_id)))

    def set_metadata(self, found: list[RawMetadata]) -> None:
        self.metadata = dict(zip(self.ids, found, strict=True))
        self.tracker.plan((i, self.metadata[i].size) for i in self.ids)

    def known(self, image_id: str) -> LayerBlob | None:
        return self.cache.get(self.key(image_id))

    def mount_sources(self, blob: LayerBlob) -> list[str]:
        """Other repositories of this registry the cache saw holding ``blob``, but none
        that refused to lend it before (see `BlobCache.refused_sources`)."""
        refused = self.cache.refused_sources(blob.digest, self.registry, self.dest_repo)
        return [
            repo
            for repo in self.cache.places(blob.digest, self.registry)
            if repo != self.dest_repo and repo not in refused
        ]

    def mount_refused(self, blob: LayerBlob, source: str, answer: MountResult) -> None:
        """Remember the refusal, so no later copy asks ``source`` for this blob again;
        the layer is uploaded instead (into the session a 202 opened)."""
        if answer.status:  # 0: nothing was asked (a layout)
            self.cache.refused_mount(
                blob.digest, self.registry, self.dest_repo, source, answer.status
            )

    def skipped_layer(self, image_id: str, blob: LayerBlob, *, mounted: bool = False) -> LayerBlob:
        how = "mounted" if mounted else "empty" if blob.empty else "on the destination already"
        reused("layer of %s: cache hit %s, %s", image_id, blob.digest, how)
        self.tracker.skip(image_id)
        self.skipped.append(blob.digest)
        if mounted:
            self.mounted.append(blob.digest)
        if not blob.empty:
            self.cache.place(blob.digest, self.registry, self.dest_repo)
        return blob

    def uploaded_layer(self, image_id: str, blob: LayerBlob) -> LayerBlob:
        self.cache.put(self.key(image_id), blob)
        self.cache.place(blob.digest, self.registry, self.dest_repo)
        self.uploaded.append(blob.digest)
        self.tracker.done(image_id)
        return blob

    def image(self, layers: list[LayerBlob]) -> ConvertedImage:
        chain = [self.metadata[i].json_bytes for i in self.ids]
        return convert_image(chain, layers, manifest_format=self.manifest_format)

    def result(self, dest: str, image: ConvertedImage, image_id: str, started: float) -> CopyResult:
        return CopyResult(
            registry=dest.rstrip("/"),
            repository=self.dest_repo,
            tags=(self.dest_tag,),
            image_id=image_id,
            digest=image.manifest_digest,
            layers=tuple(blob.digest for blob in image.layers),
            uploaded=tuple(self.uploaded),
            skipped=tuple(self.skipped),
            mounted=tuple(self.mounted),
            bytes_transferred=self.tracker.transferred,
            seconds=round(time.monotonic() - started, 3),
        )

    def again(
        self, image_id: str, fetch: LayerFetch, failures: int, error: DockerRegistryError
    ) -> float:
        """Seconds to wait before the layer's upload starts again, or raises ``error``.

        The upload broke off (destination 5xx, a connection lost): those bytes are gone
        with the session, so the layer starts again from byte 0. Not when the source's
        resume loop gave up: its attempts are spent already."""
        wait = None if error is fetch.gave_up else self.policy.delay(failures, error)
        if wait is None:
            raise error
        self.tracker.rewind(image_id, fetch.received)
        return wait

    def key(self, image_id: str) -> str:
        return BlobCache.key(image_id, self.metadata[image_id].checksum, self.level)

    def counted(
        self, image_id: str, chunks: Iterator[bytes], stop: threading.Event
    ) -> Iterator[bytes]:
        for chunk in chunks:
            if stop.is_set():
                raise Stopped
            self.tracker.advanced(image_id, len(chunk))
            yield chunk


def copy(
    source: Client,
    repo: str,
    tag: str,
    dest: OCIClient | OCILayout,
    *,
    dest_repo: str | None = None,
    dest_tag: str | None = None,
    manifest_format: ManifestFormat | None = None,
    level: int = DEFAULT_LEVEL,
    concurrency: int = 4,
    progress: ProgressListener | None = None,
    retry: RetryPolicy | None = None,
    cache: BlobCache | str | os.PathLike[str] | None = None,
) -> CopyResult:
    """Copy the v1 image ``repo:tag`` of ``source`` to ``dest_repo:dest_tag`` of ``dest``
    (defaults: the same repository name and tag), an OCI/v2 registry or an OCI image
    layout (where only ``dest_tag`` applies: the layout's ref name). The manifest is
    Docker schema2 for a registry and an OCI image manifest for a layout unless
    ``manifest_format`` says otherwise (OCI tools such as umoci read only the latter).

    Returns a :class:`CopyResult`. Raises :class:`InvalidInput` for a bad name, tag,
    level or concurrency before anything is sent; :class:`NotAV2Registry` when ``dest``
    is no v2 registry; an :class:`OCIError` subclass naming the image when the
    destination refuses a name, blob or manifest (nothing is tagged then);
    :class:`LayoutError` when a layout refuses a write; and the v1 side's errors for
    the source.
    """
    started = time.monotonic()
    if manifest_format is None:
        manifest_format = (
            ManifestFormat.OCI if isinstance(dest, OCILayout) else ManifestFormat.DOCKER
        )
    source = scoped(source, retry)
    job, owned = _CopyJob.create(
        repo,
        tag,
        dest_repo,
        dest_tag,
        manifest_format,
        level,
        concurrency,
        progress,
        source.retry,
        cache,
        layout=isinstance(dest, OCILayout),
    )
    try:
        target = LayoutDestination(dest) if isinstance(dest, OCILayout) else scoped(dest, retry)
        return _copy(source, target, job, started)
    finally:
        if owned:
            job.cache.close()


async def acopy(
    source: AsyncClient,
    repo: str,
    tag: str,
    dest: AsyncOCIClient,
    *,
    dest_repo: str | None = None,
    dest_tag: str | None = None,
    manifest_format: ManifestFormat = ManifestFormat.DOCKER,
    level: int = DEFAULT_LEVEL,
    concurrency: int = 4,
    progress: ProgressListener | None = None,
    retry: RetryPolicy | None = None,
    cache: BlobCache | str | os.PathLike[str] | None = None,
) -> CopyResult:
    """:func:`copy` for the async clients: the same copy, run in a worker thread on sync
    twins of ``source`` and ``dest`` (see ``transfer.threaded``), so compression runs in
    threads (ISA-L releases the GIL) and concurrent layers use every core; ``progress``
    is called from threads. Cancelling it stops every layer at its next block."""
    return await run_in_worker(
        lambda worker: copy(
            worker.twin(source),
            repo,
            tag,
            worker.twin(dest),
            dest_repo=dest_repo,
            dest_tag=dest_tag,
            manifest_format=manifest_format,
            level=level,
            concurrency=concurrency,
            progress=worker.progress(progress),
            retry=retry,
            cache=cache,
        )
    )


def _copy(
    source: Client, dest: OCIClient | LayoutDestination, job: _CopyJob, started: float
) -> CopyResult:
    policy = job.policy
    job.registry = dest.base_url
    dest.ping()
    auth = read_access(source, job.source_repo)
    image_id = source.repository.get_image_id(job.source_repo, job.tag, auth=auth)
    job.set_chain(image_id, source.image.get_ancestry(image_id, auth=auth))
    stop = threading.Event()
    # send_layer's loop retries a layer's upload as a whole: its requests are sent once
    uploads = unretried(dest) if isinstance(dest, OCIClient) else dest

    def metadata(one: str) -> Callable[[], RawMetadata]:
        return lambda: source.image.get_metadata_raw(one, auth=auth)

    job.set_metadata(run_threads([metadata(i) for i in job.ids], job.concurrency * 4, stop))

    def layer(image_id: str) -> Callable[[], LayerBlob]:
        def run() -> LayerBlob:
            known = job.known(image_id)
            if known is not None:
                if known.empty or dest.blob_size(job.dest_repo, known.digest) is not None:
                    return job.skipped_layer(image_id, known)
                for other in job.mount_sources(known):
                    answer = dest.mount_blob(job.dest_repo, known.digest, other)
                    if answer.mounted:
                        return job.skipped_layer(image_id, known, mounted=True)
                    job.mount_refused(known, other, answer)

            def rewind(lost: int) -> None:
                job.tracker.rewind(image_id, lost)

            blob = send_layer(
                source,
                LayerSource(image_id, job.metadata[image_id], auth, policy, job.level),
                lambda chunks: job.counted(image_id, chunks, stop),
                rewind,
                lambda encoded: uploads.upload_blob(job.dest_repo, encoded),
            )
            return job.uploaded_layer(image_id, blob)

        return run

    image = job.image(run_threads([layer(i) for i in job.ids], job.concurrency, stop))
    if dest.blob_size(job.dest_repo, image.config_digest) is None:
        dest.upload_blob(job.dest_repo, image.config, digest=image.config_digest)
    current = dest.manifest_digest(job.dest_repo, job.dest_tag, accept=[image.media_type])
    if current != image.manifest_digest:
        dest.put_manifest(job.dest_repo, job.dest_tag, image.manifest, image.media_type)
    return job.result(dest.base_url, image, image_id, started)
