"""Pull one tagged image into a ``docker load`` archive (threads; ``apull`` runs it too).

A front end of the copy engine, the same run as ``regv1 copy v1 docker-archive:``:
`V1RegistrySource` (the tag asked for while the token decision's ``_ping`` is out) →
`ArchiveDestination` through `copy_image`, which reads the image JSONs and the layers
in one pool (see ``engine.run``). Layers are spooled next to ``dest``; only when every
layer is verified is ``dest`` written atomically; on any failure neither ``dest`` nor a
spool file is left behind. That includes an interrupt: Ctrl-C stops the layer
downloads at once (see ``bounded``) and the KeyboardInterrupt (``apull``: the
cancellation) reaches the caller after the cleanup. A ``dest`` stream (stdout) gets the
archive written front to back once every layer is in; the spool directory is then in
the temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..core.errors import InvalidInput
from ..core.names import check_tag
from ..core.progress import ProgressListener
from ..engine.archive_destination import ArchiveDestination
from ..engine.run import copy_image
from ..engine.sources import V1RegistrySource
from ..formats.archive import ArchiveError
from ..formats.archive.names import familiar_repository
from .results import PullResult
from .retry import RetryPolicy, scoped
from .threaded import run_in_worker

if TYPE_CHECKING:  # the client module imports this package for Client.pull/push
    from ..v1.client import AsyncClient, Client

__all__ = ["apull", "pull"]

ArchiveOutput = str | os.PathLike[str] | IO[bytes]
"""Where a pull writes its archive: a path or an open binary file."""


def check_concurrency(concurrency: object) -> int:
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise InvalidInput("concurrency", "expected a positive integer")
    return concurrency


def _check_dest(dest: ArchiveOutput, *, overwrite: bool) -> Path | IO[bytes]:
    """A path whose directory exists (and, with ``overwrite`` off, no file yet), or a
    writable binary stream; refused before any request."""
    if isinstance(dest, str | os.PathLike):
        target = Path(dest)
        if target.is_dir():
            raise InvalidInput("dest", f"{target} is a directory")
        if not target.parent.is_dir():
            raise InvalidInput("dest", f"{target.parent} does not exist")
        if not overwrite and os.path.lexists(target):
            raise InvalidInput("dest", f"{target} exists and overwrite is off")
        return target
    if callable(getattr(dest, "write", None)):
        return dest
    raise InvalidInput("dest", "expected a path or a writable binary stream")


def _check_archive_name(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        return familiar_repository(name)
    except ArchiveError as error:
        raise InvalidInput("archive_name", str(error)) from None


def pull(
    client: Client,
    repo: str,
    tag: str,
    dest: ArchiveOutput,
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
    target = _check_dest(dest, overwrite=overwrite)
    source = V1RegistrySource(
        client,
        repo,
        check_tag(tag),
        policy=client.retry or RetryPolicy(),
        concurrency=check_concurrency(concurrency),
        early_lookup=True,
    )
    name = _check_archive_name(archive_name) or source.repository
    destination = ArchiveDestination(target, name, source.tag, overwrite=overwrite)
    result = copy_image(
        source, destination, concurrency=concurrency, progress=progress, retry=client.retry
    )
    assert destination.written is not None
    return PullResult(
        path=destination.written.path,
        repository=source.repository,
        tag=source.tag,
        image_id=result.image_id,
        layers=destination.written.layers,
        bytes_transferred=result.bytes_transferred,
    )


async def apull(
    client: AsyncClient,
    repo: str,
    tag: str,
    dest: ArchiveOutput,
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
