"""A vetted index of an uncompressed tar, and streams over its members without extracting.

Every member is checked once, up front, before anything in the archive is
trusted: no absolute or `..` paths, no links leaving the archive, no devices or
FIFOs, no duplicate names, no member reaching past the end of the file, no
oversized headers. Reading then goes straight to a member's bytes in place.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tarfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

import attrs

from .ancestry import DEFAULT_MAX_ANCESTRY
from .compression import ExpansionLimits
from .errors import CorruptStreamError, MalformedArchiveError, UnsafeArchiveError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_MIB = 1 << 20
_MAX_LINK_HOPS = 16


@attrs.frozen
class ReadLimits:
    """Bounds on what an archive may ask of the reader."""

    max_members: int = attrs.field(default=100_000, validator=attrs.validators.gt(0))
    max_header_bytes: int = attrs.field(default=_MIB, validator=attrs.validators.ge(512))
    max_metadata_bytes: int = attrs.field(default=64 * _MIB, validator=attrs.validators.gt(0))
    max_chain_length: int = attrs.field(
        default=DEFAULT_MAX_ANCESTRY, validator=attrs.validators.gt(0)
    )
    expansion: ExpansionLimits = attrs.field(factory=ExpansionLimits)


class _HeaderGuard:
    """File wrapper for indexing: tarfile reads whole pax/long-name headers into memory."""

    def __init__(self, raw: IO[bytes], path: Path, limit: int) -> None:
        self._raw = raw
        self._path = path
        self._limit = limit

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._limit:
            raise UnsafeArchiveError(
                f"{self._path}: a tar header at offset {self._raw.tell()} needs "
                f"{'all remaining' if size < 0 else size} bytes, over the {self._limit} byte limit"
            )
        return self._raw.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _clean_name(name: str, where: str) -> str:
    if name.startswith("/"):
        raise UnsafeArchiveError(f"{where}: absolute path {name!r}")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{where}: path {name!r} climbs out with '..'")
    return "/".join(parts)


class MemberIndex:
    """The checked members of one tar file on disk, by normalised name."""

    def __init__(self, path: Path, limits: ReadLimits) -> None:
        self.path = path
        self._members: dict[str, tarfile.TarInfo] = {}
        archive_size = path.stat().st_size
        try:
            with open(path, "rb") as raw:
                guard = _HeaderGuard(raw, path, limits.max_header_bytes)
                with tarfile.open(fileobj=guard, mode="r:") as tar:  # type: ignore[call-overload]
                    while (member := tar.next()) is not None:
                        if len(self._members) >= limits.max_members:
                            raise UnsafeArchiveError(
                                f"{path}: more than {limits.max_members} members"
                            )
                        self._admit(member, archive_size)
                        tar.members.clear()  # the index keeps its own copy
        except (tarfile.TarError, EOFError) as exc:
            raise MalformedArchiveError(f"{path} is not a readable tar archive ({exc})") from exc

    def _admit(self, member: tarfile.TarInfo, archive_size: int) -> None:
        where = f"{self.path}: member {member.name!r}"
        name = _clean_name(member.name, f"{self.path}")
        if member.ischr() or member.isblk() or member.isfifo():
            raise UnsafeArchiveError(f"{where} is a device or FIFO")
        if member.issparse():
            raise UnsafeArchiveError(f"{where} is a sparse file")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise UnsafeArchiveError(f"{where} has unsupported type {member.type!r}")
        if member.offset_data + member.size > archive_size:
            raise UnsafeArchiveError(
                f"{where} claims {member.size} bytes, past the end of the "
                f"{archive_size}-byte archive"
            )
        if member.issym():
            if member.linkname.startswith("/"):
                raise UnsafeArchiveError(f"{where} links to absolute path {member.linkname!r}")
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
            if target == ".." or target.startswith("../"):
                raise UnsafeArchiveError(
                    f"{where} links to {member.linkname!r}, outside the archive"
                )
        elif member.islnk():
            _clean_name(member.linkname, f"{where} hard link")
        if not name:
            if member.isdir():
                return
            raise UnsafeArchiveError(f"{where} has an empty name")
        if name in self._members:
            raise UnsafeArchiveError(f"{where} appears twice")
        self._members[name] = member

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def names(self) -> list[str]:
        return list(self._members)

    def resolve(self, name: str) -> tarfile.TarInfo:
        """The regular member `name` designates, following links inside the archive."""
        current = _clean_name(name, f"{self.path}: reference")
        for _ in range(_MAX_LINK_HOPS):
            member = self._members.get(current)
            if member is None:
                raise MalformedArchiveError(f"{self.path}: {name!r} is missing")
            if member.isreg():
                return member
            if member.issym():
                current = posixpath.normpath(
                    posixpath.join(posixpath.dirname(current), member.linkname)
                )
            elif member.islnk():
                current = _clean_name(member.linkname, f"{self.path}: hard link")
            else:
                raise MalformedArchiveError(f"{self.path}: {name!r} is not a file")
        raise MalformedArchiveError(f"{self.path}: {name!r} is a link loop")

    def read_bytes(self, name: str, limit: int) -> bytes:
        """The whole content of a small member (metadata), refusing anything over `limit`."""
        member = self.resolve(name)
        if member.size > limit:
            raise MalformedArchiveError(
                f"{self.path}: {name!r} is {member.size} bytes, over the {limit} byte limit"
            )
        with self.open(name) as stream:
            return stream.read()

    def open(self, name: str, expected_sha256: str | None = None) -> MemberReader:
        member = self.resolve(name)
        return MemberReader(self.path, member.offset_data, member.size, name, expected_sha256)


class MemberReader(io.RawIOBase):
    """A seekable stream over one member's bytes with its own file handle.

    Each reader owns its handle, so several layers can be streamed at once, from
    several threads. With `expected_sha256`, reading to the end verifies the
    content and raises `CorruptStreamError` on a mismatch.
    """

    def __init__(
        self, path: Path, offset: int, size: int, name: str, expected_sha256: str | None
    ) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._offset = offset
        self._size = size
        self._position = 0
        self._name = name
        self._expected = expected_sha256
        self._hash: hashlib._Hash | None = hashlib.sha256() if expected_sha256 else None

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target == 0 and self._expected:
            self._hash = hashlib.sha256()
        elif target != self._position:
            self._hash = None  # a partial range cannot be verified
        self._position = target
        return target

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        count = max(0, min(len(view), self._size - self._position))
        if count == 0:
            self._verify()
            return 0
        self._file.seek(self._offset + self._position)
        data = self._file.read(count)
        if len(data) != count:
            raise CorruptStreamError(f"{self._name}: archive ended inside the member")
        view[:count] = data
        self._position += count
        if self._hash is not None:
            self._hash.update(data)
        return count

    def _verify(self) -> None:
        if self._hash is None or self._expected is None:
            return
        actual = self._hash.hexdigest()
        self._hash = None
        if actual != self._expected:
            raise CorruptStreamError(
                f"{self._name}: content hashes to sha256:{actual}, expected sha256:{self._expected}"
            )

    def close(self) -> None:
        self._file.close()
        super().close()


class DirectoryIndex:
    """The files of an OCI image layout directory behind `MemberIndex`'s interface, so
    the archive reader's OCI index walk reads a layout (``oci:DIR``) without a second
    parser. Names are checked as a tar member's are and may not leave the directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._root = path.resolve()

    def _file(self, name: str) -> Path:
        clean = _clean_name(name, f"{self.path}: reference")
        try:
            target = (self._root / clean).resolve()
        except (RuntimeError, OSError) as exc:  # a link loop (RuntimeError before 3.13)
            raise MalformedArchiveError(
                f"{self.path}: {name!r} cannot be resolved ({exc})"
            ) from None
        if not target.is_relative_to(self._root):
            raise UnsafeArchiveError(f"{self.path}: {name!r} leads out of the layout")
        return target

    def __contains__(self, name: str) -> bool:
        try:
            return self._file(name).is_file()
        except UnsafeArchiveError:
            return False

    def names(self) -> list[str]:
        return [
            str(path.relative_to(self._root))
            for path in sorted(self._root.rglob("*"))
            if path.is_file()
        ]

    def resolve(self, name: str) -> tarfile.TarInfo:
        """A stand-in member for the file ``name`` (only its size is used)."""
        target = self._file(name)
        if not target.is_file():
            raise MalformedArchiveError(f"{self.path}: {name!r} is missing")
        info = tarfile.TarInfo(name)
        info.size = target.stat().st_size
        return info

    def read_bytes(self, name: str, limit: int) -> bytes:
        """The whole content of a small file (metadata), refusing anything over `limit`."""
        if self.resolve(name).size > limit:
            raise MalformedArchiveError(f"{self.path}: {name!r} is over the {limit} byte limit")
        with self.open(name) as stream:
            return stream.read()

    def open(self, name: str, expected_sha256: str | None = None) -> MemberReader:
        """A stream over the file, verified against ``expected_sha256`` when read to the end."""
        size = self.resolve(name).size
        return MemberReader(self._file(name), 0, size, name, expected_sha256)
