"""Copy tags between two v1 registries, layers relayed from the GET into the PUT.

No byte touches the disk and memory stays at one chunk per layer: the upload's
body is a generator over the download, which resumes with
``Range`` when the source drops the connection. The payload checksum is computed
as the bytes pass and checked against the source's ``X-Docker-Checksum-Payload``
before the checksum PUT finalises the image on the target, so a corrupt copy is
never finalised or tagged. If the source can only start a layer over, the layer
PUT starts over too (bounded by the retry policy).

Every other request is one the clients retry themselves; the relay's loop is the
only one here, and it does not start over for a source that its own resume loop
has given up on already (that would multiply the layer GET's attempts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from ..core.errors import DockerRegistryError, InvalidInput, RegistryConnectionError
from ..core.models import IndexImage, LayerUpload, RawMetadata, TagMap
from ..core.names import RepositoryName, check_tag
from ..core.progress import ProgressListener, SilentProgress
from ..engine.access import (
    index_list,
    is_present,
    read_access,
    write_access,
)
from ..engine.layers import LayerFetch
from ..engine.tracking import Tracker
from ..formats.archive import validate_ancestry
from ..v1.auth import Authenticator
from .results import MirrorResult
from .retry import RetryPolicy, scoped
from .threaded import run_in_worker

if TYPE_CHECKING:  # the client module imports this package for Client.pull/push
    from ..v1.client import AsyncClient, Client

__all__ = ["amirror", "mirror"]


class LayerRestartError(RegistryConnectionError):
    """The source sent a layer from its start again; the relayed upload must start over."""


@attrs.define
class _MirrorJob:
    source: RepositoryName
    target: RepositoryName
    wanted: tuple[str, ...] | None
    policy: RetryPolicy
    tracker: Tracker
    tags: dict[str, str] = attrs.field(factory=dict)
    ids: list[str] = attrs.field(factory=list)
    metadata: dict[str, RawMetadata] = attrs.field(factory=dict)
    checksums: dict[str, str] = attrs.field(factory=dict)
    source_gave_up: BaseException | None = None

    @classmethod
    def create(
        cls,
        source_repo: str,
        target_repo: str,
        tags: Sequence[str] | None,
        progress: ProgressListener | None,
        retry: RetryPolicy | None,
    ) -> _MirrorJob:
        if isinstance(tags, str):
            raise InvalidInput("tags", "expected a sequence of tags, not one string")
        return cls(
            source=RepositoryName.parse(source_repo),
            target=RepositoryName.parse(target_repo),
            wanted=None if tags is None else tuple(check_tag(t) for t in tags),
            policy=retry or RetryPolicy(),
            tracker=Tracker(progress or SilentProgress()),
        )

    def select(self, available: TagMap) -> list[str]:
        """The tags to copy; each names an image id to resolve next."""
        names = list(available) if self.wanted is None else list(self.wanted)
        missing = [name for name in names if name not in available]
        if missing:
            raise InvalidInput("tags", f"not in {self.source}: {', '.join(missing)}")
        if not available.short_ids:
            self.tags = {name: available[name] for name in names}
        return names

    def add_ancestry(self, image_id: str, ancestry: list[str]) -> None:
        for ancestor in reversed(validate_ancestry(ancestry, image_id)):
            if ancestor not in self.ids:
                self.ids.append(ancestor)

    def plan(self) -> None:
        self.tracker.plan(
            (image_id, self.metadata[image_id].size if image_id in self.metadata else None)
            for image_id in self.ids
        )
        for image_id in self.ids:
            if image_id not in self.metadata:
                self.tracker.skip(image_id)

    def fetch(self, image_id: str, auth: Authenticator | None) -> LayerFetch:
        def restart(lost: int) -> None:
            raise LayerRestartError(
                "GET", f"/v1/images/{image_id}/layer", f"restarted after {lost} bytes"
            )

        return LayerFetch(image_id, self.metadata[image_id], auth, self.policy, restart)

    def relayed(self, fetch: LayerFetch, upload: LayerUpload) -> str:
        """The checksum to finalise with: computed on the way out, equal to the source's."""
        fetch.verify()
        assert upload.checksum is not None  # metadata_json was given
        self.tracker.done(fetch.image_id)
        return upload.checksum

    def again(self, failures: int, error: DockerRegistryError) -> float:
        """Seconds before a relayed layer starts over, or raises ``error``: the target's
        PUT broke off, or the source restarted the layer; not when the source's own
        resume loop has given up already."""
        wait = None if error is self.source_gave_up else self.policy.delay(failures, error)
        if wait is None:
            raise error
        return wait

    def uploaded(self) -> list[IndexImage]:
        """The final ``PUT …/images``: the copied ids with their checksums."""
        return [IndexImage(id=i, checksum=c) for i, c in self.checksums.items()]

    def result(self) -> MirrorResult:
        return MirrorResult(
            repository=str(self.target),
            tags=tuple(self.tags),
            copied=tuple(self.tracker.moved),
            skipped=tuple(self.tracker.skipped),
            bytes_transferred=self.tracker.transferred,
        )


def mirror(
    source: Client,
    source_repo: str,
    target: Client,
    target_repo: str,
    *,
    tags: Sequence[str] | None = None,
    progress: ProgressListener | None = None,
    retry: RetryPolicy | None = None,
) -> MirrorResult:
    """Copy ``tags`` (all when ``None``) of ``source_repo`` to ``target_repo``. ``retry``
    is the policy of every request on both sides (default: each client's own).

    A front end of the engine: the tags, their chains and what the target has are read
    here (the target is probed before any image JSON is read, so present images cost
    the source nothing); the images it lacks go through `engine.V1Destination`, each
    layer relayed from the source's GET into the target's PUT."""
    from ..engine import GivenImage, SourceImage, V1Destination, copy_image  # noqa: PLC0415
    from ..engine.sources import v1_layer  # noqa: PLC0415

    source, target = scoped(source, retry), scoped(target, retry)
    job = _MirrorJob.create(source_repo, target_repo, tags, progress, target.retry)
    src, dst = str(job.source), str(job.target)
    reader = read_access(source, src)
    for name in job.select(source.repository.list_tags(src, auth=reader)):
        if name not in job.tags:
            job.tags[name] = source.repository.get_image_id(src, name, auth=reader)
    parents: dict[str, str | None] = {}
    for image_id in set(job.tags.values()):
        ancestry = source.image.get_ancestry(image_id, auth=reader)
        job.add_ancestry(image_id, ancestry)
        parents.update(zip(ancestry, [*ancestry[1:], None], strict=True))
    access = write_access(target, dst, index_list(job.ids, job.tags))
    present = set()
    for image_id in job.ids:
        if is_present(target, dst, image_id, access):
            present.add(image_id)
        else:
            job.metadata[image_id] = source.image.get_metadata_raw(image_id, auth=reader)
    unread = RawMetadata(b"")  # present images: never read, their JSON not needed
    layers = tuple(
        v1_layer(
            source,
            image_id,
            job.metadata.get(image_id, unread),
            parents.get(image_id),
            reader,
            job.policy,
        )
        for image_id in job.ids
    )
    image = SourceImage(dst, next(iter(job.tags), ""), layers, tags=tuple(job.tags.items()))
    done = copy_image(
        GivenImage(image),
        V1Destination(target, dst, access=access, present=present),
        progress=job.tracker.listener,
        retry=job.policy,
    )
    return MirrorResult(
        repository=done.repository,
        tags=done.tags,
        copied=done.uploaded,
        skipped=done.skipped,
        bytes_transferred=done.bytes_transferred,
    )


async def amirror(
    source: AsyncClient,
    source_repo: str,
    target: AsyncClient,
    target_repo: str,
    *,
    tags: Sequence[str] | None = None,
    progress: ProgressListener | None = None,
    retry: RetryPolicy | None = None,
) -> MirrorResult:
    """:func:`mirror` for two :class:`AsyncClient` instances: the same mirror, run in a
    worker thread on sync twins of both (see ``transfer.threaded``); ``progress`` is
    called from that thread. Cancelling it stops the relay at its next chunk or request."""
    return await run_in_worker(
        lambda worker: mirror(
            worker.twin(source),
            source_repo,
            worker.twin(target),
            target_repo,
            tags=tags,
            progress=worker.progress(progress),
            retry=retry,
        )
    )
