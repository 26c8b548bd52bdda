"""An OCI image layout directory (skopeo's ``oci:DIR[:TAG]``) written crash-safely,
in a directory someone else may have prepared.

The order of writes is what keeps a layout valid whatever happens: ``oci-layout``
first, then each blob (temporary file in the layout directory, fsync, rename to
its digest, so a blob file is always complete and its name always its sha256),
then the manifest, and ``index.json`` last, replaced atomically under an
``fcntl.flock`` on a lock file, so concurrent writers never lose each other's
tags and a crash never leaves a tag pointing at a missing blob.

Nothing in the directory is trusted by name, as the directory may be shared or
restored from elsewhere: ``blobs/``, ``blobs/sha256/``, ``index.json``,
``oci-layout``, the lock file and each blob are opened relative to directory
descriptors with ``O_NOFOLLOW``, so a planted symbolic link is a `LayoutError`
naming it and nothing is ever written outside the directory; a blob already
present is hashed before it is reused, and a wrong one is replaced (atomically).
Files are created with mode 0666 less the umask (0644 under 022, as skopeo
writes them; ``mkstemp``'s 0600 would make a layout others cannot read).

Temporary files (``.blob-*.partial``, ``.index.json-*.tmp``) live at the top of the
directory, never under ``blobs/``, and each is ``flock``-ed by its writer: an
interrupted writer removes its own (``close``, and at exit for the threads Ctrl-C
leaves behind), and one a ``kill -9`` left is removed by the next `OCILayout` on the
directory once no writer holds it. A first copy into a new directory that fails
leaves nothing behind (`OCILayout.close`), so no half layout looks complete.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import stat
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from ..core.errors import InvalidInput
from .errors import BlobMismatch, LayoutError

if TYPE_CHECKING:  # conversion loads isal; a layout is read (pull, copy from oci:) without it
    from .convert import ConvertedImage

LAYOUT_VERSION = "1.0.0"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
LOCK_FILE = "index.json.lock"
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_REF_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_REF = re.compile(rf"{_REF_COMPONENT}(?:/{_REF_COMPONENT})*")


def _is_descriptor(entry: object) -> bool:
    """An index entry the layout code can read: an object whose annotations, if any, are
    an object too (a planted ``index.json`` may hold anything)."""
    return isinstance(entry, dict) and isinstance(entry.get("annotations") or {}, dict)


#: Names of this module's temporary files: a leftover matching one is never trusted.
_TEMPORARY = re.compile(r"\.(?:blob|index\.json|oci-layout)-[0-9a-f]{16}\.(?:partial|tmp)")
#: A temporary file younger than this is left alone by the sweep even when unlocked:
#: its writer may be between creating it and locking it.
_SWEEP_GRACE = 5.0
_CHUNK = 1 << 20
#: ``oci-layout`` is a few bytes; anything much larger is not one.
_MARKER_LIMIT = 64 << 10
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_MODE = 0o666  # less the umask, as open(…, "w") creates files


@attrs.frozen
class Descriptor:
    """What an OCI descriptor says of a blob: its media type (if known), digest and size."""

    digest: str
    size: int
    media_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"digest": self.digest, "size": self.size}
        if self.media_type is not None:
            out = {"mediaType": self.media_type, **out}
        return out


def sha256_hex(digest: str) -> str:
    """The hex part of a ``sha256:<64 hex>`` digest (a blob's file name in the layout);
    raises `InvalidInput` for anything else."""
    match = _DIGEST.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise InvalidInput("digest", f"{digest!r} is not sha256:<64 lowercase hex digits>")
    return match.group(1)


def check_ref(ref: str) -> str:
    """A valid ``org.opencontainers.image.ref.name`` value, or `InvalidInput`."""
    if not isinstance(ref, str) or not _REF.fullmatch(ref):
        raise InvalidInput("tag", f"{ref!r} is not an OCI layout reference name")
    return ref


def parse_layout_reference(text: str) -> tuple[Path, str | None]:
    """``oci:DIR[:TAG]`` (skopeo's syntax: the directory ends at the first ``:``) → (DIR, TAG).

    Raises `InvalidInput` for another transport, an empty directory or a bad tag.
    """
    if not text.startswith("oci:"):
        raise InvalidInput("destination", f"{text!r} is not oci:DIR[:TAG]")
    directory, _, tag = text[4:].partition(":")
    if not directory:
        raise InvalidInput("destination", f"{text!r} names no directory")
    return Path(directory), check_ref(tag) if tag else None


def _linked(path: Path) -> LayoutError:
    return LayoutError(
        f"{path} is a symbolic link; refusing to follow it (remove it, or use another directory)",
        path,
    )


def _refused(path: Path, exc: OSError) -> LayoutError:
    """The `LayoutError` for an ``O_NOFOLLOW`` open that failed."""
    if exc.errno == errno.ELOOP:
        return _linked(path)
    return LayoutError(f"{path}: {exc.strerror or exc}", path)


def check_layout(directory: str | os.PathLike[str]) -> None:
    """Refuse a layout to be read whose ``blobs/``, ``blobs/sha256/``, ``index.json``
    or ``oci-layout`` is a symbolic link (`LayoutError` naming it): a reader must not
    be steered to files outside the directory the user named."""
    root = Path(directory)
    for name in ("blobs", "blobs/sha256", "index.json", "oci-layout"):
        path = root / name
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise _linked(path)


def _open_dir(parent: int, name: str, shown: Path, *, create: bool) -> int:
    """A descriptor of the directory ``name`` in ``parent`` (made if ``create``), never
    through a symbolic link."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=parent)
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=parent)
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            try:
                linked = stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
            except OSError:
                linked = False
            if linked:
                raise _linked(shown) from None
            raise LayoutError(f"{shown} is not a directory", shown) from None
        raise _refused(shown, exc) from None


def _read_regular(fd: int, shown: Path, limit: int | None = None) -> bytes:
    """The whole content of the open file ``fd``, which must be a regular file."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise LayoutError(f"{shown} is not a regular file", shown)
    if limit is not None and info.st_size > limit:
        raise LayoutError(f"{shown} is over {limit} bytes", shown)
    parts = []
    while chunk := os.read(fd, _CHUNK):
        parts.append(chunk)
    return b"".join(parts)


# Temporary files of every layout of this process still being written: removed at exit,
# as Ctrl-C ends the process without waiting for the (daemon) threads writing them.
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()


def _remove_live() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
        _LIVE.clear()
    for path in leftovers:
        with contextlib.suppress(OSError):
            os.unlink(path)


atexit.register(_remove_live)


class _Temporary:
    """A new file at the top of the layout, created 0666 less the umask without
    following a link, ``flock``-ed for its life so the sweep leaves it alone."""

    def __init__(self, layout: OCILayout, kind: str, suffix: str) -> None:
        if layout.closed:
            raise LayoutError(f"{layout.root}: the layout is closed")
        self._layout = layout
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW
        while True:
            self.name = f".{kind}-{secrets.token_hex(8)}.{suffix}"
            try:
                self.fd: int | None = os.open(
                    self.name, flags, _NEW_FILE_MODE, dir_fd=layout.root_fd
                )
                break
            except FileExistsError:
                continue
        self.shown = str(layout.root / self.name)
        with _LIVE_LOCK:
            _LIVE.add(self.shown)
            layout.temporaries.add(self.name)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def finish(self) -> None:
        """Sync the file; it stays open and locked until `rename` or `discard`."""
        assert self.fd is not None
        os.fsync(self.fd)

    def _owned(self) -> bool:
        """Whether the file is still this writer's: `OCILayout.close` takes it away."""
        with _LIVE_LOCK:
            return self.name in self._layout.temporaries

    def rename(self, dir_fd: int, target: str) -> None:
        """Move the file to ``target`` in ``dir_fd`` (replacing what is there, a link
        itself and not what it points at)."""
        if not self._owned():
            raise LayoutError(f"{self.shown}: the layout was closed while it was written")
        os.replace(self.name, target, src_dir_fd=self._layout.root_fd, dst_dir_fd=dir_fd)
        self._forget()

    def discard(self) -> None:
        """Remove the file if it is still there (idempotent)."""
        if self.fd is None:
            return
        if self._owned():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.name, dir_fd=self._layout.root_fd)
        self._forget()

    def _forget(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self.shown)
            self._layout.temporaries.discard(self.name)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _replace_atomically(layout: OCILayout, name: str, data: bytes) -> None:
    """Write ``name`` at the top of the layout: a temporary file, fsync, rename, fsync."""
    temporary = _Temporary(layout, name, "tmp")
    try:
        temporary.write(data)
        temporary.finish()
        temporary.rename(layout.root_fd, name)
    finally:
        temporary.discard()
    os.fsync(layout.root_fd)


class BlobWriter:
    """One blob being written: `write` chunks, then `commit`; leaving unfinished discards it.

    For sources that push bytes (an encoder, an async stream) rather than being
    iterated; `OCILayout.write_blob` wraps it for iterators. Memory use is one chunk.
    """

    def __init__(
        self, layout: OCILayout, *, digest: str | None = None, size: int | None = None
    ) -> None:
        self._layout = layout
        self._expected = digest
        self._expected_size = size
        self._hash = hashlib.sha256()
        self._size = 0
        self._file: _Temporary | None = _Temporary(layout, "blob", "partial")

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raises `BlobMismatch` (and discards) past the announced size."""
        if self._file is None:
            raise LayoutError("the blob is already committed or discarded")
        self._size += len(chunk)
        if self._expected_size is not None and self._size > self._expected_size:
            self.discard()
            raise BlobMismatch(f"more than the announced {self._expected_size} bytes")
        self._hash.update(chunk)
        self._file.write(chunk)

    def commit(self) -> Descriptor:
        """Make the blob visible under its digest; raises `BlobMismatch` (nothing kept) if
        wrong. A file already there is kept only if its bytes hash to its name."""
        if self._file is None:
            raise LayoutError("the blob is already committed or discarded")
        digest = "sha256:" + self._hash.hexdigest()
        problem = None
        if self._expected is not None and digest != self._expected:
            problem = f"the bytes have digest {digest}, not {self._expected}"
        elif self._expected_size is not None and self._size != self._expected_size:
            problem = f"{self._size} bytes, not the announced {self._expected_size}"
        if problem is not None:
            self.discard()
            raise BlobMismatch(problem)
        layout = self._layout
        try:
            self._file.finish()
            if layout.blob_size(digest) is None:
                self._file.rename(layout.blobs_fd, sha256_hex(digest))
                os.fsync(layout.blobs_fd)
                layout.trust(digest)
        finally:
            self.discard()
        return Descriptor(digest, self._size)

    def discard(self) -> None:
        """Drop the partial blob (idempotent)."""
        if self._file is not None:
            self._file.discard()
            self._file = None

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()


def _blob_digests(manifest: dict[str, Any]) -> list[str]:
    """Every blob a manifest (or a nested index) names, as the index must not dangle."""
    config = manifest.get("config")
    layers, manifests = manifest.get("layers", []), manifest.get("manifests", [])
    if not isinstance(layers, list) or not isinstance(manifests, list):
        raise InvalidInput("manifest", "layers and manifests must be lists")
    entries = [*([config] if config is not None else []), *layers]
    found: list[str] = []
    for entry in [*entries, *manifests]:
        digest = entry.get("digest") if isinstance(entry, dict) else None
        if not isinstance(digest, str):
            raise InvalidInput("manifest", "a descriptor has no digest")
        found.append(digest)
    return found


def _close_all(fds: list[int]) -> None:
    while fds:
        with contextlib.suppress(OSError):
            os.close(fds.pop())


class OCILayout:
    """A directory holding an OCI image layout, created if missing.

    Raises `LayoutError` when the directory holds a layout of another version or
    an ``index.json`` that is not an OCI index, or when ``blobs/``, ``blobs/sha256/``,
    ``index.json``, ``oci-layout`` or the lock file is a symbolic link (or not a
    file or directory as it should be). `close` (or ``with``) ends the use: it removes
    this process's unfinished temporary files and, when this `OCILayout` created the
    layout and no image was ever added, what it created.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._made_root = not os.path.lexists(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._fds: list[int] = []
        self._finalizer = weakref.finalize(self, _close_all, self._fds)
        self._lock = threading.Lock()
        self._verified: dict[str, tuple[int, int, int]] = {}
        self._written: set[str] = set()
        self.closed = False
        self.temporaries: set[str] = set()
        """Names of the temporary files being written (guarded by the module's lock)."""
        try:
            # the directory named by the user may itself be a link: their own choice
            self.root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._fds.append(self.root_fd)
            marker = self._read_marker()
            self.created = marker is None
            if marker is not None and marker != LAYOUT_VERSION:
                raise LayoutError(f"{self.root / 'oci-layout'}: not an OCI image layout 1.0.0")
            parent = _open_dir(self.root_fd, "blobs", self.root / "blobs", create=True)
            self._fds.append(parent)
            self.blobs_fd = _open_dir(parent, "sha256", self.root / "blobs" / "sha256", create=True)
            self._fds.append(self.blobs_fd)
            self._sweep()
            self._check_lock_file()
            if self.created:
                marker_json = json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode()
                _replace_atomically(self, "oci-layout", marker_json)
            self.index()
        except BaseException:
            self._finalizer()
            raise

    def _read_marker(self) -> str | None:
        """``oci-layout``'s version (``""`` for a file that says none), None if absent."""
        path = self.root / "oci-layout"
        try:
            fd = os.open("oci-layout", os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=self.root_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _refused(path, exc) from None
        try:
            data = _read_regular(fd, path, _MARKER_LIMIT)
        finally:
            os.close(fd)
        try:
            version = json.loads(data).get("imageLayoutVersion")
        except (ValueError, AttributeError):
            version = None
        return version if isinstance(version, str) else ""

    def _check_lock_file(self) -> None:
        """Refuse a planted lock file before anything is written, not at the first tag."""
        path = self.root / LOCK_FILE
        try:
            info = os.stat(LOCK_FILE, dir_fd=self.root_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode):
            raise _linked(path)
        if not stat.S_ISREG(info.st_mode):
            raise LayoutError(f"{path} is not a regular file", path)

    def _sweep(self) -> None:
        """Remove the temporary files a killed writer left (none is trusted: they are not
        under ``blobs/``); one a live writer holds locked, or just made, is left alone."""
        now = time.time()
        for name in os.listdir(self.root_fd):
            if not _TEMPORARY.fullmatch(name):
                continue
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=self.root_fd)
            except OSError:
                # a link or a special file under our name: not ours, but never followed
                with contextlib.suppress(OSError):
                    if not stat.S_ISREG(
                        os.stat(name, dir_fd=self.root_fd, follow_symlinks=False).st_mode
                    ):
                        os.unlink(name, dir_fd=self.root_fd)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                if now - os.fstat(fd).st_mtime >= _SWEEP_GRACE:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name, dir_fd=self.root_fd)
            finally:
                os.close(fd)

    def blob_path(self, digest: str) -> Path:
        """Where the blob with ``digest`` lives; raises `InvalidInput` for a malformed digest."""
        return self.root / "blobs" / "sha256" / sha256_hex(digest)

    def trust(self, digest: str) -> None:
        """Record that the blob file now in place was written (and hashed) by this writer."""
        name = sha256_hex(digest)
        info = os.stat(name, dir_fd=self.blobs_fd, follow_symlinks=False)
        with self._lock:
            self._verified[name] = (info.st_ino, info.st_size, info.st_mtime_ns)
            self._written.add(name)

    def blob_size(self, digest: str) -> int | None:
        """The size of the blob if the layout holds it with the right bytes, else None.

        A file is hashed before it is first trusted (then remembered while it stays the
        same file); a wrong one counts as absent, and is replaced when the blob is
        written. A symbolic link is a `LayoutError` naming it."""
        name = sha256_hex(digest)
        path = self.blob_path(digest)
        try:
            info = os.stat(name, dir_fd=self.blobs_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(info.st_mode):
            raise _linked(path)
        if not stat.S_ISREG(info.st_mode):
            raise LayoutError(f"{path} is not a regular file", path)
        seen = (info.st_ino, info.st_size, info.st_mtime_ns)
        with self._lock:
            if self._verified.get(name) == seen:
                return info.st_size
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=self.blobs_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _refused(path, exc) from None
        hasher = hashlib.sha256()
        try:
            info = os.fstat(fd)
            while chunk := os.read(fd, _CHUNK):
                hasher.update(chunk)
        finally:
            os.close(fd)
        if hasher.hexdigest() != name:
            return None
        with self._lock:
            self._verified[name] = (info.st_ino, info.st_size, info.st_mtime_ns)
        return info.st_size

    def has_blob(self, digest: str) -> bool:
        """Whether the blob is present with the right bytes (ask before reading a source:
        present blobs are skipped)."""
        return self.blob_size(digest) is not None

    def read_blob(self, digest: str) -> bytes:
        """A (small) blob's bytes, never through a link; `LayoutError` if they are wrong."""
        path = self.blob_path(digest)
        try:
            fd = os.open(
                sha256_hex(digest), os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=self.blobs_fd
            )
        except OSError as exc:
            raise _refused(path, exc) from None
        try:
            data = _read_regular(fd, path)
        finally:
            os.close(fd)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise LayoutError(f"{path}: the file's bytes hash differently", path)
        return data

    def blob_writer(self, *, digest: str | None = None, size: int | None = None) -> BlobWriter:
        """A `BlobWriter`, checking the result against ``digest``/``size`` when given."""
        if digest is not None:
            sha256_hex(digest)
        return BlobWriter(self, digest=digest, size=size)

    def write_blob(
        self, chunks: Iterable[bytes], *, digest: str | None = None, size: int | None = None
    ) -> Descriptor:
        """Stream ``chunks`` into a blob; returns its descriptor, raises `BlobMismatch`.

        A blob already present with the right bytes is not rewritten (its bytes are still
        read and checked); a wrong file under its name is replaced.
        """
        with self.blob_writer(digest=digest, size=size) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def index(self) -> dict[str, Any]:
        """The current ``index.json`` (an empty index when there is none yet)."""
        path = self.root / "index.json"
        try:
            fd = os.open("index.json", os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=self.root_fd)
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
        except OSError as exc:
            raise _refused(path, exc) from None
        try:
            data = _read_regular(fd, path)
        finally:
            os.close(fd)
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise LayoutError(f"{path}: not JSON ({exc})", path) from exc
        except RecursionError:
            raise LayoutError(f"{path}: not JSON (nested too deeply)", path) from None
        if (
            not isinstance(document, dict)
            or document.get("schemaVersion") != 2
            or not isinstance(document.get("manifests"), list)
            or not all(_is_descriptor(entry) for entry in document["manifests"])
        ):
            raise LayoutError(f"{path}: not an OCI image index", path)
        return document

    def refs(self) -> dict[str, str]:
        """Tag → manifest digest, for every tagged manifest in the index."""
        out = {}
        for entry in self.index()["manifests"]:
            ref = (entry.get("annotations") or {}).get(REF_NAME)
            if isinstance(ref, str) and isinstance(entry.get("digest"), str):
                out[ref] = entry["digest"]
        return out

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        path = self.root / LOCK_FILE
        flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | _NOFOLLOW
        try:
            fd = os.open(LOCK_FILE, flags, _NEW_FILE_MODE, dir_fd=self.root_fd)
        except OSError as exc:
            raise _refused(path, exc) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise LayoutError(f"{path} is not a regular file", path)
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def add_manifest(
        self,
        manifest: bytes,
        *,
        ref: str | None = None,
        media_type: str | None = None,
        artifact_type: str | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Descriptor:
        """Store a manifest and list it in the index, tagged ``ref`` (replacing that tag).

        An untagged artifact (a referrer: ``artifact_type``, ``annotations`` without a
        ref name) is listed once however often it is added. Every blob it names must be
        present already. Returns its descriptor;
        raises `InvalidInput` for a bad ref or manifest and `LayoutError` for
        missing blobs, before anything is written.
        """
        if ref is not None:
            check_ref(ref)
        try:
            document = json.loads(manifest)
        except ValueError as exc:
            raise InvalidInput("manifest", f"not JSON ({exc})") from exc
        except RecursionError:
            raise InvalidInput("manifest", "not JSON (nested too deeply)") from None
        if not isinstance(document, dict):
            raise InvalidInput("manifest", "not a JSON object")
        media_type = media_type or document.get("mediaType")
        if not isinstance(media_type, str):
            raise InvalidInput("manifest", "has no mediaType and none was given")
        missing = [digest for digest in _blob_digests(document) if not self.has_blob(digest)]
        if missing:
            raise LayoutError(f"the manifest names blobs the layout lacks: {', '.join(missing)}")
        stored = self.write_blob([manifest])
        descriptor = Descriptor(stored.digest, stored.size, media_type)
        entry = descriptor.to_json()
        if artifact_type is not None:
            entry["artifactType"] = artifact_type
        if annotations or ref is not None:
            entry["annotations"] = {**(annotations or {})}
            if ref is not None:
                entry["annotations"][REF_NAME] = ref
        with self._locked():
            index = self.index()
            kept = [
                old
                for old in index["manifests"]
                if not (
                    (ref is not None and (old.get("annotations") or {}).get(REF_NAME) == ref)
                    or (ref is None and old == entry)
                )
            ]
            index["manifests"] = [*kept, entry]
            _replace_atomically(
                self, "index.json", json.dumps(index, separators=(",", ":")).encode()
            )
        return descriptor

    def remove_ref(self, ref: str) -> str | None:
        """Take the ref name ``ref`` out of ``index.json``; the digest it named, or
        ``None`` when no entry had it. The manifest and its blobs stay in ``blobs/``
        (another ref may share them; a layout has no garbage collection here)."""
        check_ref(ref)
        with self._locked():
            index = self.index()
            named = [
                entry
                for entry in index["manifests"]
                if (entry.get("annotations") or {}).get(REF_NAME) == ref
            ]
            if not named:
                return None
            index["manifests"] = [entry for entry in index["manifests"] if entry not in named]
            _replace_atomically(
                self, "index.json", json.dumps(index, separators=(",", ":")).encode()
            )
        digest = named[-1].get("digest")
        return digest if isinstance(digest, str) else None

    def add_image(self, image: ConvertedImage, *, ref: str | None = None) -> Descriptor:
        """Store a converted image's config and manifest; its layer blobs must be written first."""
        self.write_blob([image.config], digest=image.config_digest)
        return self.add_manifest(image.manifest, ref=ref, media_type=image.media_type)

    def close(self) -> None:
        """End this use of the layout (idempotent). A layout this object created that
        holds no index (the first copy into it failed or was interrupted) is taken
        apart again: the blobs it wrote, ``blobs/``, ``oci-layout``, the lock file, and
        the directory itself if it made it and it is empty. Blobs others wrote meanwhile
        keep the skeleton in place."""
        if self.closed:
            return
        self.closed = True
        with _LIVE_LOCK:  # threads Ctrl-C left behind: their files go now, not at exit
            unfinished = list(self.temporaries)
            self.temporaries.clear()
            _LIVE.difference_update(str(self.root / name) for name in unfinished)
        for name in unfinished:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=self.root_fd)
        try:
            if self.created and not self._exists("index.json"):
                with self._locked():
                    if not self._exists("index.json"):
                        self._take_apart()
        finally:
            self._finalizer()
        if self._made_root:
            with contextlib.suppress(OSError):
                self.root.rmdir()

    def _exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.root_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def _take_apart(self) -> None:
        for name in self._written:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self.blobs_fd)
        try:
            os.rmdir("sha256", dir_fd=self._fds[1])
            os.rmdir("blobs", dir_fd=self.root_fd)
        except OSError:
            return  # someone else's blobs: the layout stays theirs
        for name in ("oci-layout", LOCK_FILE):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self.root_fd)

    def __enter__(self) -> OCILayout:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
