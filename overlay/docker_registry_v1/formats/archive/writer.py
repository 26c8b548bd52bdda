"""Write one tar that `docker load`, `podman load` and skopeo's `docker-archive:` all accept.

The archive carries both layouts docker has written: the legacy v1 one
(`<id>/VERSION`, `<id>/json`, `<id>/layer.tar`, `repositories`), which keeps the
exact v1 JSON bytes, and the `manifest.json` one with an image config, which the
current tools read. Layers are stored uncompressed, as `docker save` stores them:
the config's diff_ids are then the plain digests of the stored members, and a
compressed input is decompressed once anyway to compute them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import secrets
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal, cast

import attrs

from .ancestry import is_image_id
from .compression import Compression, ExpansionLimits, detect_compression, expand
from .errors import ArchiveError, InvalidChainError
from .imageconfig import (
    EMPTY_TAR,
    byte_count,
    config_from_v1,
    dump_json,
    load_object,
    sha256_digest,
)
from .names import RepoTag, check_tag, familiar_repository

LayerSource = str | os.PathLike[str] | IO[bytes]
"""A layer as a file path (opened and closed here) or a readable binary stream (left open)."""

ReadProgress = Callable[[int], None]
"""Called with the size of each chunk read from the layers while the archive is written."""

_FILE_MODE = 0o644
_DIR_MODE = 0o755
_TAR_BLOCK = 512
_NEW_FILE_MODE = 0o666  # what open() asks for; the umask takes its share
_NAME_ATTEMPTS = 100


@attrs.frozen
class ChainImage:
    """One v1 image to archive: its id, its exact JSON bytes and its layer."""

    image_id: str
    json_bytes: bytes = attrs.field(repr=byte_count)
    layer: LayerSource


@attrs.frozen
class WrittenLayer:
    """What was stored for one image's layer."""

    image_id: str
    diff_id: str
    size: int
    source_compression: Compression


@attrs.frozen
class WrittenArchive:
    """The finished archive (``path`` is None when it went to a stream) and the
    identifiers docker will derive from it."""

    path: Path | None
    repo_tag: RepoTag
    config_digest: str
    layers: tuple[WrittenLayer, ...]


def write_loadable_archive(
    destination: str | os.PathLike[str],
    repository: str,
    tag: str,
    chain: Sequence[ChainImage],
    *,
    limits: ExpansionLimits | None = None,
    replace: bool = True,
    progress: ReadProgress | None = None,
) -> WrittenArchive:
    """Write `chain` (base first) tagged `repository:tag` to `destination`, atomically.

    Memory stays constant whatever the layer sizes: each layer is decompressed
    into a spool file next to the destination, then copied into the tar. The
    archive appears at `destination` only once it is complete and synced, with
    the mode any new file gets (0666 less the umask); on any failure nothing is
    left behind. An existing file there is replaced, unless `replace` is False:
    then `FileExistsError` is raised and the file is left alone. `repository` may
    start with a registry host, as docker names images pulled from one.
    """
    repo_tag = RepoTag(familiar_repository(repository), check_tag(tag))
    documents = _check_chain(chain)
    target = Path(destination)
    if target.is_dir():
        raise ArchiveError(f"destination {target} is a directory")
    if not replace:
        _refuse_existing(target)
    directory = target.parent
    fd, partial = _create_partial(target)
    try:
        with os.fdopen(fd, "wb") as out:
            config_digest, layers = _write_tar(
                out,
                directory,
                repo_tag,
                chain,
                documents,
                mode="w",
                limits=limits,
                progress=progress,
            )
            out.flush()
            os.fsync(out.fileno())
        if not replace:
            _refuse_existing(target)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    _fsync_directory(directory)
    return WrittenArchive(
        path=target, repo_tag=repo_tag, config_digest=config_digest, layers=layers
    )


def stream_loadable_archive(
    out: IO[bytes],
    repository: str,
    tag: str,
    chain: Sequence[ChainImage],
    *,
    limits: ExpansionLimits | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    progress: ReadProgress | None = None,
) -> WrittenArchive:
    """Write the same archive as :func:`write_loadable_archive` to a stream (a pipe,
    stdout), front to back without seeking; the layers are spooled in `spool_dir`
    (default: the temporary directory). A failure part-way leaves a cut-off tar."""
    repo_tag = RepoTag(familiar_repository(repository), check_tag(tag))
    documents = _check_chain(chain)
    directory = Path(spool_dir if spool_dir is not None else tempfile.gettempdir())
    config_digest, layers = _write_tar(
        out, directory, repo_tag, chain, documents, mode="w|", limits=limits, progress=progress
    )
    out.flush()
    return WrittenArchive(path=None, repo_tag=repo_tag, config_digest=config_digest, layers=layers)


def _refuse_existing(target: Path) -> None:
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "the file exists (not replaced)", str(target))


def _create_partial(target: Path) -> tuple[int, str]:
    """A new file next to `target`, created the way `open(…, "w")` creates one so that
    the rename leaves the archive with the usual permissions (mkstemp's are 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_NAME_ATTEMPTS):
        partial = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.partial")
        try:
            return os.open(partial, flags, _NEW_FILE_MODE), partial
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused name for the partial archive", str(target))


def _check_chain(chain: Sequence[ChainImage]) -> list[dict[str, Any]]:
    if not chain:
        raise InvalidChainError("the chain is empty")
    documents: list[dict[str, Any]] = []
    parent: str | None = None
    seen: set[str] = set()
    for position, image in enumerate(chain):
        where = f"chain entry {position} ({image.image_id!r})"
        if not is_image_id(image.image_id):
            raise InvalidChainError(f"{where}: image id is not 16 or 64 lowercase hex")
        if image.image_id in seen:
            raise InvalidChainError(f"{where}: image id appears twice")
        seen.add(image.image_id)
        try:
            document = load_object(image.json_bytes, f"{where} JSON")
        except ArchiveError as exc:
            raise InvalidChainError(str(exc)) from exc
        if document.get("id") != image.image_id:
            raise InvalidChainError(f"{where}: JSON id is {document.get('id')!r}")
        declared = document.get("parent") or None
        if declared != parent:
            raise InvalidChainError(
                f"{where}: JSON parent is {declared!r}, the chain says {parent!r}"
            )
        documents.append(document)
        parent = image.image_id
    return documents


def _write_tar(
    out: IO[bytes],
    directory: Path,
    repo_tag: RepoTag,
    chain: Sequence[ChainImage],
    documents: list[dict[str, Any]],
    *,
    mode: Literal["w", "w|"],
    limits: ExpansionLimits | None,
    progress: ReadProgress | None,
) -> tuple[str, tuple[WrittenLayer, ...]]:
    layers: list[WrittenLayer] = []
    with (
        tempfile.TemporaryDirectory(dir=directory, prefix=".regv1-spool-") as spool,
        tarfile.open(fileobj=out, mode=mode, format=tarfile.PAX_FORMAT) as tar,
    ):
        for image in chain:
            _add_directory(tar, f"{image.image_id}/")
            _add_bytes(tar, f"{image.image_id}/VERSION", b"1.0")
            _add_bytes(tar, f"{image.image_id}/json", image.json_bytes)
            layer = _add_layer(tar, image, Path(spool), limits or ExpansionLimits(), progress)
            layers.append(layer)
        config = config_from_v1(documents, [layer.diff_id for layer in layers])
        config_digest = sha256_digest(config)
        config_name = f"{config_digest.removeprefix('sha256:')}.json"
        _add_bytes(tar, config_name, config)
        manifest = [
            {
                "Config": config_name,
                "RepoTags": [str(repo_tag)],
                "Layers": [f"{image.image_id}/layer.tar" for image in chain],
            }
        ]
        _add_bytes(tar, "manifest.json", dump_json(manifest))
        repositories = {repo_tag.repository: {repo_tag.tag: chain[-1].image_id}}
        _add_bytes(tar, "repositories", dump_json(repositories))
    return config_digest, tuple(layers)


def _member(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = kind
    info.mode = _DIR_MODE if kind == tarfile.DIRTYPE else _FILE_MODE
    return info


def _add_directory(tar: tarfile.TarFile, name: str) -> None:
    tar.addfile(_member(name, kind=tarfile.DIRTYPE))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_member(name, len(data)), io.BytesIO(data))


@attrs.define
class _Metered:
    """A layer source that reports what is read from it."""

    source: IO[bytes]
    report: ReadProgress

    def read(self, size: int = -1, /) -> bytes:
        chunk = self.source.read(size)
        if chunk:
            self.report(len(chunk))
        return chunk


@contextlib.contextmanager
def _opened(layer: LayerSource) -> Iterator[IO[bytes]]:
    if isinstance(layer, str | os.PathLike):
        with open(layer, "rb") as stream:
            yield stream
    else:
        yield layer


def _add_layer(
    tar: tarfile.TarFile,
    image: ChainImage,
    spool_dir: Path,
    limits: ExpansionLimits,
    progress: ReadProgress | None,
) -> WrittenLayer:
    where = f"layer of image {image.image_id}"
    if (stored := _add_plain_file(tar, image, limits, progress, where)) is not None:
        return stored
    with _opened(image.layer) as opened, tempfile.TemporaryFile(dir=spool_dir) as spool:
        source = opened if progress is None else cast(IO[bytes], _Metered(opened, progress))
        expanded = expand(source, spool.write, limits=limits, where=where)
        if expanded.size == 0:
            spool.write(EMPTY_TAR)
            diff_id, size = sha256_digest(EMPTY_TAR), len(EMPTY_TAR)
        else:
            diff_id, size = f"sha256:{expanded.sha256}", expanded.size
        spool.seek(0)
        _check_tar_start(spool.read(_TAR_BLOCK), where)
        spool.seek(0)
        tar.addfile(_member(f"{image.image_id}/layer.tar", size), spool)
    return WrittenLayer(
        image_id=image.image_id,
        diff_id=diff_id,
        size=size,
        source_compression=expanded.compression,
    )


class _Hashing:
    """A layer file read into the tar once: hashed (its diff_id) and reported on the way."""

    def __init__(self, source: IO[bytes], progress: ReadProgress | None) -> None:
        self.source, self.progress, self.digest = source, progress, hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        chunk = self.source.read(size)
        self.digest.update(chunk)
        if chunk and self.progress is not None:
            self.progress(len(chunk))
        return chunk


def _add_plain_file(
    tar: tarfile.TarFile,
    image: ChainImage,
    limits: ExpansionLimits,
    progress: ReadProgress | None,
    where: str,
) -> WrittenLayer | None:
    """An uncompressed, non-empty layer file goes into the tar as it is, without the spool
    copy a compressed one needs (a pull's layers often are plain tars); ``None`` for the
    rest."""
    if not isinstance(image.layer, str | os.PathLike):
        return None
    with open(image.layer, "rb") as opened:
        head = opened.read(_TAR_BLOCK)
        size = os.fstat(opened.fileno()).st_size
        if not head or detect_compression(head) is not Compression.NONE or size > limits.max_bytes:
            return None
        _check_tar_start(head, where)
        opened.seek(0)
        hashing = _Hashing(opened, progress)
        tar.addfile(_member(f"{image.image_id}/layer.tar", size), cast(IO[bytes], hashing))
    return WrittenLayer(
        image_id=image.image_id,
        diff_id=f"sha256:{hashing.digest.hexdigest()}",
        size=size,
        source_compression=Compression.NONE,
    )


def _check_tar_start(block: bytes, where: str) -> None:
    """Refuse a layer that is not a tar, which `docker load` would reject half-way through."""
    if block == bytes(len(block)) and len(block) == _TAR_BLOCK:
        return
    try:
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError as exc:
        raise InvalidChainError(f"{where} is not a tar archive ({exc})") from exc


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; best effort where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
