"""Archives for the archive properties: valid ones to damage, and a reader that reads all.

`read_all` opens an archive the way push does and reads every layer to its end, so a
property sees every failure the reader can raise, not only those of the index walk.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import attrs
from docker_registry_v1.formats.archive import (
    ArchiveError,
    ChainImage,
    ImageChain,
    Layout,
    is_image_id,
    open_layout_directory,
    open_saved_archive,
    stream_loadable_archive,
)


@attrs.frozen
class Read:
    """What an archive that was read successfully held."""

    layout: Layout
    chains: tuple[ImageChain, ...]
    layers: dict[str, bytes]


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer tar holding ``files``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_400_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def v1_chain(
    layers: list[bytes], seed: str, extra: dict[str, Any] | None = None
) -> list[ChainImage]:
    """A consistent base-first chain, one image per layer."""
    chain: list[ChainImage] = []
    parent: str | None = None
    for step, layer in enumerate(layers):
        image = hashlib.sha256(f"{seed}-{step}".encode()).hexdigest()
        document: dict[str, Any] = {"id": image, "created": "2014-10-13T21:19:18Z", **(extra or {})}
        if parent:
            document["parent"] = parent
        chain.append(ChainImage(image, json.dumps(document).encode(), io.BytesIO(layer)))
        parent = image
    return chain


def saved_archive(repository: str, tag: str, chain: list[ChainImage], spool: Path) -> bytes:
    """What the writer makes of ``chain``: both of docker's layouts in one tar."""
    out = io.BytesIO()
    stream_loadable_archive(out, repository, tag, chain, spool_dir=spool)
    return out.getvalue()


def members(archive: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Every member of ``archive`` with its data (None for non-files)."""
    found = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for info in tar.getmembers():
            handle = tar.extractfile(info) if info.isreg() else None
            found.append((info, handle.read() if handle else None))
    return found


def rebuild(
    parts: list[tuple[tarfile.TarInfo, bytes | None]],
    *,
    replace: dict[str, bytes] | None = None,
    drop: Callable[[str], bool] = lambda _name: False,
) -> bytes:
    """``parts`` as a tar again, with some members' data replaced or members dropped."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in parts:
            if drop(info.name):
                continue
            header, content = info, data
            if replace and info.name in replace:
                content = replace[info.name]
                header = attrs_copy(info, len(content))
            tar.addfile(header, io.BytesIO(content) if content is not None else None)
    return out.getvalue()


def attrs_copy(info: tarfile.TarInfo, size: int) -> tarfile.TarInfo:
    """A header like ``info`` for ``size`` bytes of data."""
    fresh = tarfile.TarInfo(info.name)
    fresh.type, fresh.mode, fresh.mtime, fresh.size = info.type, info.mode, info.mtime, size
    return fresh


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def oci_archive(index: Any, blobs: list[bytes]) -> bytes:
    """An OCI layout tar: ``oci-layout``, ``index.json`` and each blob under its digest."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json_of(index)}
        files.update({f"blobs/sha256/{sha256(b)[7:]}": b for b in blobs})
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def json_of(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def compressed(archive: bytes, how: str) -> bytes:
    return gzip.compress(archive, mtime=0) if how == "gzip" else archive


def read_all(source: Path | IO[bytes], spool: Path, *, layout: bool = False) -> Read | ArchiveError:
    """The archive's chains and every layer's bytes, or the archive package's typed error;
    any other exception escapes (and fails the property). Checks the invariants every
    caller relies on: v1 ids, base-first parent links, the layers' declared sizes.
    ``layout``: ``source`` is an OCI layout directory (``oci:DIR``)."""
    try:
        opened = (
            open_layout_directory(source)
            if layout and isinstance(source, Path)
            else open_saved_archive(source, temp_dir=spool)
        )
        with opened as archive:
            layers: dict[str, bytes] = {}
            for chain in archive.chains:
                assert chain.images, "a chain without images"
                parent = None
                for image in chain.images:
                    assert is_image_id(image.image_id), image.image_id
                    assert image.parent == parent
                    parent = image.image_id
                    with image.open_layer() as stream:
                        data = stream.read()
                    assert len(data) == image.layer_size
                    layers[image.image_id] = data
            return Read(archive.layout, archive.chains, layers)
    except ArchiveError as exc:
        return exc
