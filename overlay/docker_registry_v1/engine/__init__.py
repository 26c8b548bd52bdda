"""One copy engine for every transfer: a source yields an image as a base-first v1
chain (with the original config and manifest when it is OCI), a destination decides
per layer whether it can reuse it before the source is read, takes the others through
its own path, and commits last. See docs/architecture.md.

The names load on first use: ``pull`` (a v1 registry into an archive) needs no OCI
module, and the OCI destinations load isal, which only the ``cli`` and ``copy`` extras
install (a library-only install still pulls).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports

if TYPE_CHECKING:
    from .archive_destination import ArchiveDestination
    from .destinations import LayoutDestination, RegistryDestination, V1Destination
    from .model import Layer, OCIOrigin, PendingImage, SourceImage, TransferResult
    from .run import Committed, Feed, ImageDestination, copy_image
    from .sources import (
        ArchiveSource,
        GivenImage,
        ImageSource,
        LayoutSource,
        OverlappingSource,
        V1RegistrySource,
    )

_LAZY = {
    "ArchiveDestination": "archive_destination",
    **dict.fromkeys(("LayoutDestination", "RegistryDestination", "V1Destination"), "destinations"),
    **dict.fromkeys(
        ("Layer", "OCIOrigin", "PendingImage", "SourceImage", "TransferResult"), "model"
    ),
    **dict.fromkeys(("Committed", "Feed", "ImageDestination", "copy_image"), "run"),
    **dict.fromkeys(
        (
            "ArchiveSource",
            "GivenImage",
            "ImageSource",
            "LayoutSource",
            "OverlappingSource",
            "V1RegistrySource",
        ),
        "sources",
    ),
}


__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "ArchiveDestination",
    "ArchiveSource",
    "Committed",
    "Feed",
    "GivenImage",
    "ImageDestination",
    "ImageSource",
    "Layer",
    "LayoutDestination",
    "LayoutSource",
    "OCIOrigin",
    "OverlappingSource",
    "PendingImage",
    "RegistryDestination",
    "SourceImage",
    "TransferResult",
    "V1Destination",
    "V1RegistrySource",
    "copy_image",
]
