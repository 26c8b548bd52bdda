"""Typed failures of the archive layer, so callers can tell hostile input from bad input."""

from __future__ import annotations


class ArchiveError(Exception):
    """Root of every failure raised by `docker_registry_v1.formats.archive`."""


class MalformedArchiveError(ArchiveError):
    """The archive is readable but does not hold a consistent image layout."""


class UnsafeArchiveError(ArchiveError):
    """The archive contains something a trustworthy image archive never holds."""


class DecompressionBombError(ArchiveError):
    """A compressed stream expanded beyond the configured ratio or size."""


class CorruptStreamError(ArchiveError):
    """A compressed stream is truncated or its data is invalid."""


class UnsupportedCompressionError(ArchiveError):
    """The stream uses a compression format the standard library cannot read."""


class InvalidChainError(ArchiveError, ValueError):
    """The v1 chain handed to the writer is not a consistent base-first chain."""


class InvalidAncestryError(ArchiveError, ValueError):
    """A registry's ancestry answer cannot be trusted for a pull."""


class DiffIdMismatchError(ArchiveError):
    """A layer's uncompressed bytes do not hash to the config's ``rootfs.diff_ids`` entry
    for it: the archive is damaged or was tampered with (skopeo: "Digest did not match")."""
