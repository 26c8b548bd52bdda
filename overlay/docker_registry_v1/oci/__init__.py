"""The v2/OCI side of a copy: v1 images converted to v2 blobs, config and manifest.

Needs the ``copy`` extra (`isal`, the pinned deflate library the blob digests
depend on).
"""

from .compress import BLOCK, DEFAULT_LEVEL, LEVELS, EncodedLayer, LayerBlob, LayerEncoder
from .convert import ConvertedImage, ImageConversionError, ManifestFormat, MediaTypes, convert_image

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
