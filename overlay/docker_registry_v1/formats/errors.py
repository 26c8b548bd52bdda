"""Errors of the file formats that the CLI expects, in a module that loads nothing heavy:
the layout code needs isal (through conversion), but a command that never touched a
layout must still be able to name the error type it catches."""

from __future__ import annotations

from pathlib import Path


class LayoutError(Exception):
    """The layout directory cannot be used or a write into it was refused.

    ``path``: the file or directory at fault, when there is one (a planted link)."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class BlobMismatch(LayoutError):  # noqa: N818 - names what was found, like ChecksumMismatch
    """The bytes written do not have the digest (or size) they were announced with."""
