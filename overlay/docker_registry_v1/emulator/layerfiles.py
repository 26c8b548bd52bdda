"""The reference server's ``GET /v1/images/{id}/files``: one entry per member of the layer tar."""

from __future__ import annotations

import posixpath
import tarfile
from typing import IO

_TYPES = {
    tarfile.REGTYPE: "f",
    tarfile.AREGTYPE: "f",
    tarfile.LNKTYPE: "l",
    tarfile.SYMTYPE: "s",
    tarfile.CHRTYPE: "c",
    tarfile.BLKTYPE: "b",
    tarfile.DIRTYPE: "d",
    tarfile.FIFOTYPE: "i",
    tarfile.CONTTYPE: "t",
    tarfile.GNUTYPE_LONGNAME: "L",
    tarfile.GNUTYPE_LONGLINK: "K",
    tarfile.GNUTYPE_SPARSE: "S",
}

WHITEOUT = ".wh."

FilesEntry = list[str | bool | int]


class LayerFormatError(ValueError):
    """The layer is not a (plain, gzip, bzip2 or xz) tar archive."""


def _entry(member: tarfile.TarInfo) -> FilesEntry:
    name = posixpath.normpath("/" + member.name.lstrip("/"))
    folder, base = posixpath.split(name)
    deleted = base.startswith(WHITEOUT)
    if deleted:
        name = posixpath.join(folder, base[len(WHITEOUT) :])
    return [
        name,
        _TYPES.get(member.type, "u"),
        deleted,
        member.size,
        int(member.mtime),
        member.mode,
        member.uid,
        member.gid,
    ]


def list_layer(stream: IO[bytes]) -> list[FilesEntry]:
    """Read the tar sequentially (never seeking, never holding it whole)."""
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            return [_entry(member) for member in archive]
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise LayerFormatError("Layer format not supported") from exc
