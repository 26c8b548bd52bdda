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
import io
import os
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from .ancestry import is_image_id
from .compression import Compression, ExpansionLimits, expand
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

_FILE_MODE = 0o644
_DIR_MODE = 0o755
_TAR_BLOCK = 512


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
    """The finished archive and the identifiers docker will derive from it."""

    path: Path
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
) -> WrittenArchive:
    """Write `chain` (base first) tagged `repository:tag` to `destination`, atomically.

    Memory stays constant whatever the layer sizes: each layer is decompressed
    into a spool file next to the destination, then copied into the tar. The
    archive appears at `destination` (replacing any file there) only once it is
    complete and synced; on any failure nothing is left behind.
    """
    repo_tag = RepoTag(familiar_repository(repository), check_tag(tag))
    documents = _check_chain(chain)
    target = Path(destination)
    if target.is_dir():
        raise ArchiveError(f"destination {target} is a directory")
    directory = target.parent
    fd, partial = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            config_digest, layers = _write_tar(
                out, directory, repo_tag, chain, documents, limits=limits or ExpansionLimits()
            )
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    _fsync_directory(directory)
    return WrittenArchive(
        path=target, repo_tag=repo_tag, config_digest=config_digest, layers=layers
    )


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
    limits: ExpansionLimits,
) -> tuple[str, tuple[WrittenLayer, ...]]:
    layers: list[WrittenLayer] = []
    with (
        tempfile.TemporaryDirectory(dir=directory, prefix=".regv1-spool-") as spool,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for image in chain:
            _add_directory(tar, f"{image.image_id}/")
            _add_bytes(tar, f"{image.image_id}/VERSION", b"1.0")
            _add_bytes(tar, f"{image.image_id}/json", image.json_bytes)
            layers.append(_add_layer(tar, image, Path(spool), limits))
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


@contextlib.contextmanager
def _opened(layer: LayerSource) -> Iterator[IO[bytes]]:
    if isinstance(layer, str | os.PathLike):
        with open(layer, "rb") as stream:
            yield stream
    else:
        yield layer


def _add_layer(
    tar: tarfile.TarFile, image: ChainImage, spool_dir: Path, limits: ExpansionLimits
) -> WrittenLayer:
    where = f"layer of image {image.image_id}"
    with _opened(image.layer) as source, tempfile.TemporaryFile(dir=spool_dir) as spool:
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
