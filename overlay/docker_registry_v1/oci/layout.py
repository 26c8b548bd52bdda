"""An OCI image layout directory (skopeo's ``oci:DIR[:TAG]``) written crash-safely.

The order of writes is what keeps a layout valid whatever happens: ``oci-layout``
first, then each blob (temporary file in the layout directory, fsync, rename to
its digest, so a blob file is always complete and its name always its sha256),
then the manifest, and ``index.json`` last, replaced atomically under an
``fcntl.flock`` on a lock file, so concurrent writers never lose each other's
tags and a crash never leaves a tag pointing at a missing blob. Leftover
temporary files of a killed writer are harmless: they are not under ``blobs/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import attrs

from ..errors import InvalidInput
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


class LayoutError(Exception):
    """The layout directory cannot be used or a write into it was refused."""


class BlobMismatch(LayoutError):  # noqa: N818 - names what was found, like ChecksumMismatch
    """The bytes written do not have the digest (or size) they were announced with."""


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_dir(path.parent)


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
        handle, name = tempfile.mkstemp(dir=layout.root, prefix=".blob-", suffix=".partial")
        self._path = Path(name)
        self._file: IO[bytes] | None = os.fdopen(handle, "wb")

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
        """Make the blob visible under its digest; raises `BlobMismatch` (nothing kept) if wrong."""
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
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        target = self._layout.blob_path(digest)
        if target.exists():
            self._path.unlink()
        else:
            os.replace(self._path, target)
            _fsync_dir(target.parent)
        return Descriptor(digest, self._size)

    def discard(self) -> None:
        """Drop the partial blob (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()

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


class OCILayout:
    """A directory holding an OCI image layout, created if missing.

    Raises `LayoutError` when the directory holds a layout of another version or
    an ``index.json`` that is not an OCI index.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / "oci-layout"
        if marker.exists():
            try:
                version = json.loads(marker.read_bytes()).get("imageLayoutVersion")
            except (ValueError, AttributeError):
                version = None
            if version != LAYOUT_VERSION:
                raise LayoutError(f"{marker}: not an OCI image layout {LAYOUT_VERSION}")
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not marker.exists():
            _replace_atomically(marker, json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())
        self.index()

    def blob_path(self, digest: str) -> Path:
        """Where the blob with ``digest`` lives; raises `InvalidInput` for a malformed digest."""
        return self.root / "blobs" / "sha256" / sha256_hex(digest)

    def has_blob(self, digest: str) -> bool:
        """Whether the blob is present (ask before reading a source: present blobs are skipped)."""
        return self.blob_path(digest).is_file()

    def blob_writer(self, *, digest: str | None = None, size: int | None = None) -> BlobWriter:
        """A `BlobWriter`, checking the result against ``digest``/``size`` when given."""
        if digest is not None:
            sha256_hex(digest)
        return BlobWriter(self, digest=digest, size=size)

    def write_blob(
        self, chunks: Iterable[bytes], *, digest: str | None = None, size: int | None = None
    ) -> Descriptor:
        """Stream ``chunks`` into a blob; returns its descriptor, raises `BlobMismatch`.

        A blob already present is not rewritten (its bytes are still read and checked).
        """
        with self.blob_writer(digest=digest, size=size) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def index(self) -> dict[str, Any]:
        """The current ``index.json`` (an empty index when there is none yet)."""
        path = self.root / "index.json"
        if not path.exists():
            return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
        try:
            document = json.loads(path.read_bytes())
        except ValueError as exc:
            raise LayoutError(f"{path}: not JSON ({exc})") from exc
        except RecursionError:
            raise LayoutError(f"{path}: not JSON (nested too deeply)") from None
        if (
            not isinstance(document, dict)
            or document.get("schemaVersion") != 2
            or not isinstance(document.get("manifests"), list)
            or not all(_is_descriptor(entry) for entry in document["manifests"])
        ):
            raise LayoutError(f"{path}: not an OCI image index")
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
        with open(self.root / LOCK_FILE, "ab") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def add_manifest(
        self, manifest: bytes, *, ref: str | None = None, media_type: str | None = None
    ) -> Descriptor:
        """Store a manifest and list it in the index, tagged ``ref`` (replacing that tag).

        Every blob it names must be present already. Returns its descriptor;
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
        if ref is not None:
            entry["annotations"] = {REF_NAME: ref}
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
                self.root / "index.json", json.dumps(index, separators=(",", ":")).encode()
            )
        return descriptor

    def add_image(self, image: ConvertedImage, *, ref: str | None = None) -> Descriptor:
        """Store a converted image's config and manifest; its layer blobs must be written first."""
        self.write_blob([image.config], digest=image.config_digest)
        return self.add_manifest(image.manifest, ref=ref, media_type=image.media_type)
