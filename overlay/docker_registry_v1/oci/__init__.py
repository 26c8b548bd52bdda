"""The v2/OCI side of a copy: v1 images converted to v2 blobs, config and manifest.

Conversion needs the ``copy`` extra (`isal`, the pinned deflate library the blob
digests depend on); its names load on first use, so the OCI client
(``oci.client``) works without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compress import BLOCK, DEFAULT_LEVEL, LEVELS, EncodedLayer, LayerBlob, LayerEncoder
    from .convert import (
        ConvertedImage,
        ImageConversionError,
        ManifestFormat,
        MediaTypes,
        convert_image,
    )

_MODULES = {
    **dict.fromkeys(
        ("BLOCK", "DEFAULT_LEVEL", "LEVELS", "EncodedLayer", "LayerBlob", "LayerEncoder"),
        "compress",
    ),
    **dict.fromkeys(
        ("ConvertedImage", "ImageConversionError", "ManifestFormat", "MediaTypes", "convert_image"),
        "convert",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BLOCK",
    "DEFAULT_LEVEL",
    "LEVELS",
    "ConvertedImage",
    "EncodedLayer",
    "ImageConversionError",
    "LayerBlob",
    "LayerEncoder",
    "ManifestFormat",
    "MediaTypes",
    "convert_image",
]
