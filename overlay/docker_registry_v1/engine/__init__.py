"""One copy engine for every transfer: a source yields an image as a base-first v1
chain (with the original config and manifest when it is OCI), a destination decides
per layer whether it can reuse it before the source is read, takes the others through
its own path, and commits last. See docs/architecture.md."""

from .destinations import ArchiveDestination, LayoutDestination, RegistryDestination, V1Destination
from .model import Layer, OCIOrigin, SourceImage, TransferResult
from .run import Committed, Feed, ImageDestination, copy_image
from .sources import ArchiveSource, GivenImage, ImageSource, LayoutSource, V1RegistrySource

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
