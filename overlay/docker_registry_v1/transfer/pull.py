"""Pull one tagged image into a ``docker load`` archive (threads; ``apull`` runs it too).

Flow: read credentials, tag → id, ancestry (validated before anything is
downloaded), then every image's JSON (fetched several times as wide as the layers)
and, at the same time, the layers a few at a time into spool files in a private
directory next to ``dest``: a layer's GET goes out without waiting for the JSONs,
and its bytes are taken once every JSON is in and the listener has the plan. Only when every
layer is verified does ``write_loadable_archive`` write ``dest`` atomically; on
any failure neither ``dest`` nor a spool file is left behind. That includes an
interrupt: Ctrl-C stops the layer downloads at once (see ``bounded``) and the
KeyboardInterrupt (``apull``: the cancellation) reaches the caller after the cleanup.
A ``dest`` stream (stdout) gets the archive written front to back once every
layer is in; the spool directory is then in the temporary directory.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import IO, TYPE_CHECKING

import attrs

from ..archive import (
    ArchiveError,
    ChainImage,
    stream_loadable_archive,
    validate_ancestry,
    write_loadable_archive,
)
from ..archive.names import familiar_repository
from ..auth import Authenticator
from ..engine.access import read_access
from ..engine.bounded import Stopped, run_threads
from ..engine.layers import LayerFetch, iter_layer
from ..engine.tracking import Tracker
from ..errors import InvalidInput
from ..models import RawMetadata
from ..names import RepositoryName, check_tag
from ..progress import ProgressListener, SilentProgress
from .results import PullResult
from .retry import RetryPolicy, scoped
from .threaded import run_in_worker

if TYPE_CHECKING:  # the client module imports this package for Client.pull/push
    from ..client import AsyncClient, Client

__all__ = ["apull", "pull"]

Destination = str | os.PathLike[str] | IO[bytes]


# Image JSONs are a few hundred bytes, so their cost is the round trip alone: fetch them
# this many times as wide as the layers.
JSON_FANOUT = 4


def check_concurrency(concurrency: object) -> int:
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise InvalidInput("concurrency", "expected a positive integer")
    return concurrency


def _check_archive_name(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        return familiar_repository(name)
    except ArchiveError as error:
        raise InvalidInput("archive_name", str(error)) from None


@attrs.define
class _PullJob:
    """Everything about one pull except the I/O."""

    name: RepositoryName
    tag: str
    dest: Path | IO[bytes]
    concurrency: int
    policy: RetryPolicy
    tracker: Tracker
    overwrite: bool = True
    archive_name: str | None = None
    image_id: str = ""
    ids: tuple[str, ...] = ()
    metadata: dict[str, RawMetadata] = attrs.field(factory=dict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    @classmethod
    def create(
        cls,
        repo: str,
        tag: str,
        dest: Destination,
        *,
        concurrency: int,
        progress: ProgressListener | None,
        retry: RetryPolicy | None,
        overwrite: bool,
        archive_name: str | None,
    ) -> _PullJob:
        target: Path | IO[bytes]
        if isinstance(dest, str | os.PathLike):
            target = Path(dest)
            if target.is_dir():
                raise InvalidInput("dest", f"{target} is a directory")
            if not target.parent.is_dir():
                raise InvalidInput("dest", f"{target.parent} does not exist")
            if not overwrite and os.path.lexists(target):
                raise InvalidInput("dest", f"{target} exists and overwrite is off")
        elif callable(getattr(dest, "write", None)):
            target = dest
        else:
            raise InvalidInput("dest", "expected a path or a writable binary stream")
        return cls(
            name=RepositoryName.parse(repo),
            tag=check_tag(tag),
            dest=target,
            concurrency=check_concurrency(concurrency),
            policy=retry or RetryPolicy(),
            tracker=Tracker(progress or SilentProgress()),
            overwrite=overwrite,
            archive_name=_check_archive_name(archive_name),
        )

    @property
    def repo(self) -> str:
        return str(self.name)

    @property
    def metadata_width(self) -> int:
        """How many image JSONs are fetched at once; ``concurrency=1`` keeps the whole
        pull to one request at a time, as v1 clients did."""
        return 1 if self.concurrency == 1 else self.concurrency * JSON_FANOUT

    def set_ancestry(self, image_id: str, ancestry: list[str]) -> tuple[str, ...]:
        """Validate the tip-first answer; keep it base first."""
        self.image_id = image_id
        self.ids = tuple(reversed(validate_ancestry(ancestry, image_id)))
        return self.ids

    def add_metadata(self, image_id: str, metadata: RawMetadata) -> bool:
        """Keep one image JSON; the last one plans the transfer and returns True."""
        with self._lock:
            self.metadata[image_id] = metadata
            if len(self.metadata) < len(self.ids):
                return False
        self.tracker.plan((i, self.metadata[i].size) for i in self.ids)
        return True

    def workspace(self) -> tempfile.TemporaryDirectory[str]:
        if isinstance(self.dest, Path):
            return tempfile.TemporaryDirectory(
                dir=self.dest.parent, prefix=f".{self.dest.name}.pull-"
            )
        return tempfile.TemporaryDirectory(prefix="regv1-pull-")

    def fetch(self, image_id: str, auth: Authenticator | None, sink: IO[bytes]) -> LayerFetch:
        """A fetch whose image JSON comes from ``ready``, once the whole plan is out."""

        def restart(lost: int) -> None:
            sink.seek(0)
            sink.truncate()
            self.tracker.rewind(image_id, lost)

        return LayerFetch(image_id, None, auth, self.policy, restart)

    def finish(self, spool: Path, report: Callable[[int], None] | None = None) -> PullResult:
        """Write the archive; ``report`` (default: the tracker) sees the bytes read."""
        chain = [
            ChainImage(image_id, self.metadata[image_id].json_bytes, spool / image_id)
            for image_id in self.ids
        ]
        self.tracker.assembling(sum((spool / image_id).stat().st_size for image_id in self.ids))
        name = self.archive_name or self.repo
        progress = report or self.tracker.assembled
        if isinstance(self.dest, Path):
            written = write_loadable_archive(
                self.dest, name, self.tag, chain, replace=self.overwrite, progress=progress
            )
        else:
            written = stream_loadable_archive(
                self.dest, name, self.tag, chain, spool_dir=spool, progress=progress
            )
        return PullResult(
            path=written.path,
            repository=self.repo,
            tag=self.tag,
            image_id=self.image_id,
            layers=written.layers,
            bytes_transferred=self.tracker.transferred,
        )


def _access_and_image_id(client: Client, job: _PullJob) -> tuple[Authenticator | None, str]:
    """Read access, then the tag's image id. When the token decision needs a ``_ping``,
    the registry is nearly always one that issues no tokens, so the tag is asked for at
    the same time, with the auth it is then asked with (the client's default); a token
    makes that answer useless, and it is dropped. ``concurrency=1`` stays one at a time."""
    lookup = client.repository.get_image_id
    early: Future[str] | None = None
    if job.concurrency > 1 and client._tokens_known() is None:
        early = Future()
        threading.Thread(
            target=_settle, args=(early, lookup, job.repo, job.tag), daemon=True
        ).start()
    auth = read_access(client, job.repo)
    if early is not None and auth is None:
        return None, early.result()
    return auth, lookup(job.repo, job.tag, auth=auth)


def _settle(future: Future[str], call: Callable[..., str], *args: str) -> None:
    try:
        future.set_result(call(*args))
    except BaseException as error:  # handed to whoever waits for the answer
        future.set_exception(error)


def pull(
    client: Client,
    repo: str,
    tag: str,
    dest: Destination,
    *,
    concurrency: int = 4,
    progress: ProgressListener | None = None,
    retry: RetryPolicy | None = None,
    overwrite: bool = True,
    archive_name: str | None = None,
) -> PullResult:
    """Pull ``repo:tag`` into the archive ``dest`` (loadable by docker, podman, skopeo).

    ``dest`` is a path, or a binary stream to write the archive to (``path`` is then
    None in the result). An existing file is replaced unless ``overwrite`` is False:
    then the pull refuses before it starts (:class:`InvalidInput`), and
    ``FileExistsError`` is raised if one appears meanwhile. ``archive_name`` is the
    repository written in the archive's ``RepoTags`` (e.g. ``"localhost:5000/team/app"``,
    as docker names images pulled from that registry); default: ``repo`` in docker's
    familiar form (``library/busybox`` → ``busybox``). ``retry`` is the policy of every
    request (default: the client's own). Ctrl-C stops it at once and
    leaves nothing behind; the KeyboardInterrupt is re-raised after the cleanup.
    """
    client = scoped(client, retry)
    job = _PullJob.create(
        repo,
        tag,
        dest,
        concurrency=concurrency,
        progress=progress,
        retry=client.retry,
        overwrite=overwrite,
        archive_name=archive_name,
    )
    auth, image_id = _access_and_image_id(client, job)
    ancestry = client.image.get_ancestry(image_id, auth=auth)
    ids = job.set_ancestry(image_id, ancestry)
    stop, planned = threading.Event(), threading.Event()
    layer_slots = threading.Semaphore(job.concurrency)

    def metadata(image_id: str) -> Callable[[], None]:
        def run() -> None:
            try:
                raw = client.image.get_metadata_raw(image_id, auth=auth)
            except BaseException:
                stop.set()  # before waking the layers, so that they stop
                planned.set()
                raise
            if job.add_metadata(image_id, raw):
                planned.set()

        return run

    def ready(image_id: str) -> RawMetadata:
        planned.wait()
        if stop.is_set():
            raise Stopped
        return job.metadata[image_id]

    with job.workspace() as spool:

        def download(image_id: str) -> Callable[[], None]:
            def run() -> None:
                with layer_slots, open(Path(spool) / image_id, "wb") as sink:
                    fetch = job.fetch(image_id, auth, sink)
                    for chunk in iter_layer(client, fetch, lambda: ready(image_id)):
                        if stop.is_set():
                            raise Stopped
                        sink.write(chunk)
                        job.tracker.advanced(image_id, len(chunk))
                job.tracker.done(image_id)

            return run

        # JSON jobs first: the workers take jobs in order, so a layer never holds a
        # worker a JSON it waits for would need.
        jobs = [metadata(i) for i in ids] + [download(i) for i in ids]
        run_threads(jobs, job.metadata_width, stop)
        return job.finish(Path(spool))


async def apull(
    client: AsyncClient,
    repo: str,
    tag: str,
    dest: Destination,
    *,
    concurrency: int = 4,
    progress: ProgressListener | None = None,
    retry: RetryPolicy | None = None,
    overwrite: bool = True,
    archive_name: str | None = None,
) -> PullResult:
    """:func:`pull` for the :class:`AsyncClient`: the same pull, run in a worker thread
    on a sync twin of ``client`` (see ``transfer.threaded``); ``progress`` is called from
    threads. Cancelling it stops the downloads and the archive's assembly at once and
    leaves nothing behind. Raises :class:`InvalidInput` for a client made with a
    ``transport=`` of its own."""
    return await run_in_worker(
        lambda worker: pull(
            worker.twin(client),
            repo,
            tag,
            dest,
            concurrency=concurrency,
            progress=worker.progress(progress),
            retry=retry,
            overwrite=overwrite,
            archive_name=archive_name,
        )
    )
