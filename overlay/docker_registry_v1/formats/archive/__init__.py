"""Image archives without HTTP: write `docker load` archives, read `docker save` ones.

The pull, push and mirror code builds on this layer: a pull validates the
registry's ancestry and writes a loadable archive; a push reads an archive back
as v1 chains with exact JSON bytes and layer streams.
"""

from .ancestry import DEFAULT_MAX_ANCESTRY, is_image_id, validate_ancestry
from .compression import Compression, Expanded, ExpansionLimits, detect_compression, expand
from .diffids import check_diff_ids
from .errors import (
    ArchiveError,
    CorruptStreamError,
    DecompressionBombError,
    DiffIdMismatchError,
    InvalidAncestryError,
    InvalidChainError,
    MalformedArchiveError,
    UnsafeArchiveError,
    UnsupportedCompressionError,
)
from .members import ReadLimits
from .names import RepoTag
from .reader import (
    ArchiveImage,
    ImageChain,
    ImageNotInArchiveError,
    Layout,
    SavedArchive,
    open_layout_directory,
    open_saved_archive,
)
from .writer import (
    ChainImage,
    LayerSource,
    ReadProgress,
    WrittenArchive,
    WrittenLayer,
    stream_loadable_archive,
    write_loadable_archive,
)

__all__ = [
    "DEFAULT_MAX_ANCESTRY",
    "ArchiveError",
    "ArchiveImage",
    "ChainImage",
    "Compression",
    "CorruptStreamError",
    "DecompressionBombError",
    "DiffIdMismatchError",
    "Expanded",
    "ExpansionLimits",
    "ImageChain",
    "ImageNotInArchiveError",
    "InvalidAncestryError",
    "InvalidChainError",
    "LayerSource",
    "Layout",
    "MalformedArchiveError",
    "ReadLimits",
    "ReadProgress",
    "RepoTag",
    "SavedArchive",
    "UnsafeArchiveError",
    "UnsupportedCompressionError",
    "WrittenArchive",
    "WrittenLayer",
    "check_diff_ids",
    "detect_compression",
    "expand",
    "is_image_id",
    "open_layout_directory",
    "open_saved_archive",
    "stream_loadable_archive",
    "validate_ancestry",
    "write_loadable_archive",
]
