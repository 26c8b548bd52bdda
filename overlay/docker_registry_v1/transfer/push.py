"""Push images from a ``docker save`` archive (legacy, manifest.json or OCI layout).

Flow: index ``PUT …/{repo}/`` for a write token, then per image,
base first: existence probe (200 ⇒ skip), ``PUT json`` with the archive's exact
bytes (409 ⇒ skip), the layer streamed from the archive while the payload
checksum is computed, ``PUT checksum``; then the tags — only once every image
they need is complete — and the final ``PUT …/images`` expecting 204.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import attrs

from ..core.models import IndexImage
from ..core.names import RepositoryName, check_tag
from ..core.progress import ProgressListener, SilentProgress
from ..engine.access import (
    index_list,
)
from ..engine.layers import CountingReader
from ..engine.tracking import Tracker
from ..formats.archive import (
    ArchiveImage,
    ImageChain,
    ImageNotInArchiveError,
    SavedArchive,
    check_diff_ids,
)
from ..formats.archive import open_saved_archive as _open_saved_archive
from ..formats.archive.names import familiar_repository
from .results import PushResult
from .retry import RetryPolicy, scoped
from .threaded import run_in_worker

if TYPE_CHECKING:  # the client module imports this package for Client.pull/push
    from ..v1.client import AsyncClient, Client

__all__ = ["apush", "push", "select_chains"]

DEFAULT_TAG = "latest"


def select_chains(
    saved: SavedArchive, name: RepositoryName, tag: str | None
) -> list[tuple[ImageChain, tuple[str, ...]]]:
    """The chains to push and the tags each gets.

    The archive's own name for ``name`` wins; an archive holding a single image
    is pushed under ``name`` (and ``tag``) whatever it was called.
    """
    wanted = familiar_repository(str(name))
    named = []
    for chain in saved.chains:
        tags = tuple(rt.tag for rt in chain.repo_tags if rt.repository in (wanted, None))
        if tags:
            named.append((chain, tags))
    if tag is not None:
        for chain, tags in named:
            if tag in tags:
                return [(chain, (tag,))]
        if len(saved.chains) == 1:
            return [(saved.chains[0], (tag,))]
        raise ImageNotInArchiveError(f"no image tagged {wanted}:{tag} in the archive")
    if named:
        return named
    if len(saved.chains) == 1:
        only = saved.chains[0]
        tags = tuple(dict.fromkeys(rt.tag for rt in only.repo_tags)) or (DEFAULT_TAG,)
        return [(only, tags)]
    raise ImageNotInArchiveError(
        f"the archive holds {len(saved.chains)} images and none is named {wanted}; pass a tag"
    )


@attrs.define
class _PushJob:
    name: RepositoryName
    tag: str | None
    policy: RetryPolicy
    tracker: Tracker
    images: list[ArchiveImage] = attrs.field(factory=list)
    tags: dict[str, str] = attrs.field(factory=dict)
    checksums: dict[str, str] = attrs.field(factory=dict)

    @classmethod
    def create(
        cls,
        repo: str,
        tag: str | None,
        progress: ProgressListener | None,
        retry: RetryPolicy | None,
    ) -> _PushJob:
        return cls(
            name=RepositoryName.parse(repo),
            tag=None if tag is None else check_tag(tag),
            policy=retry or RetryPolicy(),
            tracker=Tracker(progress or SilentProgress()),
        )

    @property
    def repo(self) -> str:
        return str(self.name)

    def select(self, saved: SavedArchive) -> None:
        seen: set[str] = set()
        for chain, tags in select_chains(saved, self.name, self.tag):
            for image in chain.images:
                if image.image_id not in seen:
                    seen.add(image.image_id)
                    self.images.append(image)
            self.tags.update(dict.fromkeys(tags, chain.tip.image_id))
        self.tracker.plan((image.image_id, image.layer_size) for image in self.images)

    def listed(self) -> list[IndexImage]:
        return index_list((image.image_id for image in self.images), self.tags)

    def uploaded(self) -> list[IndexImage]:
        """The final ``PUT …/images``: the pushed ids with their checksums."""
        return [IndexImage(id=i, checksum=c) for i, c in self.checksums.items()]

    def reader(self, image: ArchiveImage, stream: object) -> CountingReader:
        return CountingReader(stream, image.image_id, self.tracker.listener)

    def sent(self, image: ArchiveImage, reader: CountingReader, ok: bool) -> None:
        if ok:
            self.tracker.transferred += reader.sent
        else:
            self.tracker.rewind(image.image_id, reader.sent)

    def result(self) -> PushResult:
        return PushResult(
            repository=self.repo,
            tags=tuple(self.tags),
            pushed=tuple(self.tracker.moved),
            skipped=tuple(self.tracker.skipped),
            bytes_transferred=self.tracker.transferred,
        )


def push(
    client: Client,
    archive: str | os.PathLike[str],
    repo: str,
    tag: str | None = None,
    *,
    progress: ProgressListener | None = None,
    retry: RetryPolicy | None = None,
) -> PushResult:
    """Push ``archive`` to ``repo``; ``tag=None`` pushes every tag the archive names.
    ``retry`` is the policy of every request (default: the client's own).

    A front end of the engine (`engine.V1Destination`): the selected chains go as one
    image whose layers are their union, base first, with every tag they get. Each layer
    is first checked against the archive config's diff_ids (``DiffIdMismatchError``
    before any request)."""
    from ..engine import GivenImage, SourceImage, V1Destination, copy_image  # noqa: PLC0415
    from ..engine.sources import archive_layer  # noqa: PLC0415

    client = scoped(client, retry)
    job = _PushJob.create(repo, tag, progress, client.retry)
    with _open_saved_archive(archive) as saved:
        seen: dict[str, ArchiveImage] = {}
        tags: dict[str, str] = {}
        chosen = select_chains(saved, job.name, job.tag)
        check_diff_ids((chain for chain, _ in chosen), str(archive))  # before any request
        for chain, names in chosen:
            seen.update((image.image_id, image) for image in chain.images)
            tags.update(dict.fromkeys(names, chain.tip.image_id))
        image = SourceImage(
            job.repo,
            next(iter(tags)),
            tuple(archive_layer(one) for one in seen.values()),
            tags=tuple(tags.items()),
        )
        done = copy_image(
            GivenImage(image),
            V1Destination(client, job.repo),
            progress=job.tracker.listener,
            retry=job.policy,
        )
    return PushResult(
        repository=done.repository,
        tags=done.tags,
        pushed=done.uploaded,
        skipped=done.skipped,
        bytes_transferred=done.bytes_transferred,
    )


async def apush(
    client: AsyncClient,
    archive: str | os.PathLike[str],
    repo: str,
    tag: str | None = None,
    *,
    progress: ProgressListener | None = None,
    retry: RetryPolicy | None = None,
) -> PushResult:
    """:func:`push` for the :class:`AsyncClient`: the same push, run in a worker thread on
    a sync twin of ``client`` (see ``transfer.threaded``); ``progress`` is called from
    that thread. Cancelling it stops the upload at its next chunk or request."""
    return await run_in_worker(
        lambda worker: push(
            worker.twin(client),
            archive,
            repo,
            tag,
            progress=worker.progress(progress),
            retry=retry,
        )
    )
