"""One copy engine for every transfer: a source yields an image as a base-first v1
chain (with the original config and manifest when it is OCI), a destination decides
per layer whether it can reuse it before the source is read, takes the others through
its own path, and commits last. See docs/architecture.md.

The names below load on first use (PEP 562): the package also holds what a plain pull
needs (layer reads, access tokens, thread pools, progress), and importing those must
not import the OCI side's compressor, which only the ``cli``/``copy`` extras install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .destinations import (
        ArchiveDestination,
        LayoutDestination,
        RegistryDestination,
        V1Destination,
    )
    from .model import Layer, OCIOrigin, SourceImage, TransferResult
    from .run import Committed, Feed, ImageDestination, copy_image
    from .sources import ArchiveSource, GivenImage, ImageSource, LayoutSource, V1RegistrySource

_LAZY = {
    **dict.fromkeys(
        ("ArchiveDestination", "LayoutDestination", "RegistryDestination", "V1Destination"),
        "destinations",
    ),
    **dict.fromkeys(("Layer", "OCIOrigin", "SourceImage", "TransferResult"), "model"),
    **dict.fromkeys(("Committed", "Feed", "ImageDestination", "copy_image"), "run"),
    **dict.fromkeys(
        ("ArchiveSource", "GivenImage", "ImageSource", "LayoutSource", "V1RegistrySource"),
        "sources",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


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
    "RegistryDestination",
    "SourceImage",
    "TransferResult",
    "V1Destination",
    "V1RegistrySource",
    "copy_image",
]
