"""Copy one tagged v1 image into an OCI/v2 registry, layers streamed, nothing staged on disk.

Flow: v1 read access, tag → id, ancestry, every image's JSON; the destination is
pinged (a v1-only server is refused before any layer moves). Each layer then goes
v1 GET in 1 MiB blocks (resumed by ``LayerFetch``) → deterministic gzip
(``oci.compress``, in a thread of its own running ahead: ``engine.pipeline``) → one
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
import time
from typing import TYPE_CHECKING

import attrs

from ..core.errors import InvalidInput
from ..core.models import RawMetadata
from ..core.names import RepositoryName, check_tag
from ..core.progress import ProgressListener, SilentProgress
from ..engine import LayoutDestination, RegistryDestination, V1RegistrySource, copy_image
from ..engine.blobs import (
    RESTARTS,
    BlobCache,
    SourceRestartedError,
    check_level,
    default_cache_path,
)
from ..engine.tracking import Tracker
from ..formats.compress import DEFAULT_LEVEL
from ..formats.convert import ManifestFormat
from ..formats.layout import OCILayout, check_ref
from ..oci.client import AsyncOCIClient, OCIClient, check_name, check_reference
from .pull import check_concurrency
from .retry import RetryPolicy, scoped
from .threaded import run_in_worker

if TYPE_CHECKING:  # the client module imports the transfer package
    from ..v1.client import AsyncClient, Client

__all__ = [
    "RESTARTS",
    "BlobCache",
    "CopyResult",
    "SourceRestartedError",
    "acopy",
    "check_level",
    "copy",
    "default_cache_path",
]


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
    provenance: bool = True,
) -> CopyResult:
    """Copy the v1 image ``repo:tag`` of ``source`` to ``dest_repo:dest_tag`` of ``dest``
    (defaults: the same repository name and tag), an OCI/v2 registry or an OCI image
    layout (where only ``dest_tag`` applies: the layout's ref name). The manifest is
    Docker schema2 for a registry and an OCI image manifest for a layout unless
    ``manifest_format`` says otherwise (OCI tools such as umoci read only the latter).

    ``provenance``: attach the v1 provenance artifact to the manifest (see
    `engine.provenance`).

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
    into: LayoutDestination | RegistryDestination
    try:
        if isinstance(dest, OCILayout):
            into = LayoutDestination(
                dest,
                job.dest_tag,
                repository=job.dest_repo,
                manifest_format=manifest_format,
                level=job.level,
                cache=job.cache,
                provenance=provenance,
            )
        else:
            into = RegistryDestination(
                scoped(dest, retry),
                job.dest_repo,
                job.dest_tag,
                manifest_format=manifest_format,
                level=job.level,
                cache=job.cache,
                provenance=provenance,
            )
        done = copy_image(
            V1RegistrySource(
                source, job.source_repo, job.tag, policy=job.policy, concurrency=job.concurrency
            ),
            into,
            concurrency=job.concurrency,
            progress=job.tracker.listener,
            retry=job.policy,
        )
    finally:
        if owned:
            job.cache.close()
    return CopyResult(
        registry=done.destination,
        repository=done.repository,
        tags=done.tags,
        image_id=done.image_id,
        digest=done.digest or "",
        layers=done.layers,
        uploaded=done.uploaded,
        skipped=done.skipped,
        mounted=done.mounted,
        bytes_transferred=done.bytes_transferred,
        seconds=round(time.monotonic() - started, 3),
    )


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
    provenance: bool = True,
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
            provenance=provenance,
        )
    )
