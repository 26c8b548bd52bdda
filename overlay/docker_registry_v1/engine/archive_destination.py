"""A ``docker load`` archive as the engine's destination.

Apart from the other destinations because it needs no OCI module: ``pull`` runs it on
an install without the ``copy`` extra (no isal), and importing the other destinations
would load that.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..core.errors import InvalidInput
from ..core.names import check_tag
from ..formats.archive import (
    ChainImage,
    WrittenArchive,
    stream_loadable_archive,
    write_loadable_archive,
)
from .model import Layer, SourceImage
from .run import Committed, Feed
from .tracking import Tracker

__all__ = ["ArchiveDestination"]


class ArchiveDestination:
    """A ``docker load`` archive: each layer is spooled, as the source stores it, into a
    private directory next to the archive; the archive is written (atomically) once
    every layer is in, uncompressed layers hashed as they are copied into the tar.
    ``name``: the archive's repository (default: the source's, in docker's familiar
    form). ``path`` may be a binary stream (stdout): the archive is then written front
    to back once every layer is in, and the spool directory is in the temporary
    directory. ``overwrite`` False: an archive that appears meanwhile is left alone
    (``FileExistsError``). It reuses nothing, so a v1 registry's layers are read while
    their JSONs are (`overlaps`)."""

    sequential = False
    overlaps = True

    def __init__(
        self,
        path: str | os.PathLike[str] | IO[bytes],
        name: str | None,
        tag: str | None,
        *,
        overwrite: bool = True,
    ) -> None:
        self.path: Path | None = None
        self.stream: IO[bytes] | None = None
        if isinstance(path, str | os.PathLike):
            self.path = Path(path)
        else:
            self.stream = path
        self.name = name
        self.tag = tag
        self.overwrite = overwrite
        self.written: WrittenArchive | None = None
        """What `commit` wrote."""
        self._spool: tempfile.TemporaryDirectory[str] | None = None
        self._written: list[str] = []
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Refuse a directory as the archive before the source is read."""
        if self.path is not None and self.path.is_dir():
            raise InvalidInput("destination", f"{self.path} is a directory")

    def begin(self, image: SourceImage) -> None:
        """Name the image (NAME:TAG given, else the source's) and open the spool directory."""
        self.name = self.name or image.repository
        if not self.name:
            raise InvalidInput(
                "destination", "the source names no repository: give docker-archive:FILE:NAME:TAG"
            )
        self.tag = check_tag(self.tag or image.tag)
        directory = None if self.path is None else self.path.resolve().parent
        self._spool = tempfile.TemporaryDirectory(dir=directory, prefix=".regv1-spool-")
        os.chmod(self._spool.name, 0o700)

    def _file(self, layer: Layer) -> Path:
        assert self._spool is not None
        return Path(self._spool.name) / layer.image_id

    def reuse(self, layer: Layer) -> bool:
        """An archive being written holds nothing yet: every layer is read."""
        return False

    def put(self, layer: Layer, feed: Feed) -> bool:
        """Spool the layer as stored; a new attempt, or the source starting the layer
        over, empties the file first."""
        with open(self._file(layer), "wb") as out:

            def rewound() -> None:
                out.seek(0)
                out.truncate()

            def spooled(chunks: Iterator[bytes]) -> None:
                rewound()
                for chunk in chunks:
                    out.write(chunk)

            feed.send(spooled, rewound)
        with self._lock:
            self._written.append(layer.image_id)
        return True

    def commit(self, image: SourceImage, tracker: Tracker) -> Committed:
        """Write the ``docker load`` archive from the spooled layers (to a file
        atomically); ``tracker`` hears of the bytes read from the spool."""
        assert self.name is not None
        assert self.tag is not None
        assert self._spool is not None
        chain = [
            ChainImage(layer.image_id, layer.json_bytes, self._file(layer))
            for layer in image.layers
        ]
        tracker.assembling(sum(self._file(layer).stat().st_size for layer in image.layers))
        if self.stream is not None:
            written = stream_loadable_archive(
                self.stream,
                self.name,
                self.tag,
                chain,
                spool_dir=self._spool.name,
                progress=tracker.assembled,
            )
        else:
            assert self.path is not None
            written = write_loadable_archive(
                self.path,
                self.name,
                self.tag,
                chain,
                replace=self.overwrite,
                progress=tracker.assembled,
            )
        self.written = written
        return Committed(
            destination="-" if self.path is None else str(self.path),
            repository=str(written.repo_tag.repository),
            tags=(self.tag,),
            digest=None,
            layers=tuple(layer.image_id for layer in image.layers),
            uploaded=tuple(self._written),
            skipped=(),
        )

    def close(self) -> None:
        """Remove the spool directory, whatever happened."""
        if self._spool is not None:
            with contextlib.suppress(OSError):
                self._spool.cleanup()
            self._spool = None
