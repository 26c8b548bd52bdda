"""File formats, without HTTP: ``docker save``/``docker load`` archives (``archive``),
v1→OCI conversion (``convert``), deterministic layer compression (``compress``) and OCI
image layouts (``layout``).

Conversion and compression need the ``copy`` extra (``isal``, the pinned deflate
library the blob digests depend on); their names load on first use, so the archive
reader works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports, table

if TYPE_CHECKING:
    from .compress import BLOCK, DEFAULT_LEVEL, LEVELS, EncodedLayer, LayerBlob, LayerEncoder
    from .convert import (
        ConvertedImage,
        ImageConversionError,
        ManifestFormat,
        MediaTypes,
        convert_image,
    )

_COMPRESS = ("BLOCK", "DEFAULT_LEVEL", "LEVELS", "EncodedLayer", "LayerBlob", "LayerEncoder")
_CONVERT = (
    "ConvertedImage",
    "ImageConversionError",
    "ManifestFormat",
    "MediaTypes",
    "convert_image",
)
__getattr__ = lazy_exports(__name__, table((_COMPRESS, "compress"), (_CONVERT, "convert")))

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
