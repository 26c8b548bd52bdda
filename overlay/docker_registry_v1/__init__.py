"""Client, CLI and local emulator for the Docker Registry v1 and Index v1 APIs."""

from typing import TYPE_CHECKING

from ._version import __version__
from .core.budget import HostBudget, add_pause_listener, remove_pause_listener, shared_budget
from .core.errors import (
    BadRequest,
    ChecksumMismatch,
    Conflict,
    DockerRegistryError,
    Forbidden,
    IncompleteBody,
    InvalidInput,
    InvalidResponse,
    NotFound,
    RegistryConnectionError,
    RegistryError,
    RegistryTimeout,
    RepositoryNotFound,
    ServerError,
    TagNotFound,
    Unauthorized,
    UploadInProgress,
    V2OnlyRegistry,
)
from .core.http import BodyLimits, BodyTooLarge, TransferStalled
from .core.lazy import lazy_exports
from .core.models import (
    ContainerConfig,
    ImageMetadata,
    IndexImage,
    LayerUpload,
    Ping,
    RawMetadata,
    SearchResult,
    SearchResults,
    TagMap,
)
from .core.names import RepositoryName
from .core.progress import AssemblyListener, PlannedLayer, ProgressListener, SilentProgress
from .core.retry import RetryPolicy
from .core.tls import TLSConfig, TLSVerificationError, choose_scheme, ssl_context
from .v1.auth import Access, Authenticator, BasicAuth, NilAuth, TokenAuth
from .v1.client import DEFAULT_BASE_URL, AsyncClient, Client
from .v1.endpoints import Endpoint

if TYPE_CHECKING:
    from .engine import (
        ArchiveDestination,
        ArchiveSource,
        LayoutDestination,
        LayoutSource,
        RegistryDestination,
        TransferResult,
        V1Destination,
        V1RegistrySource,
        copy_image,
    )
    from .engine.journal import (
        CacheWarning,
        Journal,
        JournalError,
        JournalLocked,
        JournalManifest,
        SchemaTooNew,
        default_journal_path,
    )
    from .formats.archive.errors import DiffIdMismatchError
    from .formats.convert import ManifestFormat
    from .formats.errors import LayoutError
    from .formats.layout import OCILayout
    from .oci.client import AsyncOCIClient, BlobUpload, Manifest, MountResult, OCIClient
    from .oci.errors import (
        BlobUnknown,
        Denied,
        DigestMismatch,
        EndlessPagingError,
        ManifestBlobUnknown,
        ManifestInvalid,
        ManifestUnknown,
        NameInvalid,
        NameUnknown,
        NotAV2Registry,
        OCIError,
        OCIUnauthorized,
        TooManyRequests,
    )
    from .transfer import MirrorResult, PullResult, PushResult
    from .transfer.copy import BlobCache, CopyResult, acopy, copy
    from .transfer.inventory import (
        ImageRecord,
        Inventory,
        InventoryListener,
        Problem,
        ProblemKind,
        RepositoryRecord,
        SearchUnavailable,
        ainventory,
        inventory,
    )
    from .transfer.migrate import (
        MigrationListener,
        MigrationReport,
        SilentMigration,
        TagOutcome,
        migrate,
    )
    from .transfer.migrate_bases import StagedBases, bases_repository, plan_bases, stage_bases
    from .transfer.migrate_create import (
        CreateRepository,
        CreateRepositoryError,
        repository_command,
    )
    from .transfer.migrate_plan import (
        BlobStoreSide,
        DestinationSide,
        LayoutSide,
        MigrationPlan,
        PlannedTag,
        RegistrySide,
        TagState,
        plan_migration,
    )
    from .transfer.migrate_repair import forget_lost_blobs, requeue_wrong_tags
    from .transfer.migrate_v1 import V1Side
    from .transfer.migrate_verify import Mismatch, VerifyReport, verify_migration
    from .transfer.mirror import amirror, mirror
    from .transfer.selection import Selection, TagChoice, shard_of

# Whole-image transfers pull in the archive layer, the OCI side the generated OCI package
# (and for copies isal): loaded on first use, so that `import docker_registry_v1` stays
# cheap for callers who only make API calls.
_LAZY = {
    **dict.fromkeys(("MirrorResult", "PullResult", "PushResult", "amirror", "mirror"), "transfer"),
    **dict.fromkeys(
        (
            "ImageRecord",
            "Inventory",
            "InventoryListener",
            "Problem",
            "ProblemKind",
            "RepositoryRecord",
            "SearchUnavailable",
            "ainventory",
            "inventory",
        ),
        "transfer.inventory",
    ),
    **dict.fromkeys(("Selection", "TagChoice", "shard_of"), "transfer.selection"),
    **dict.fromkeys(
        (
            "ArchiveDestination",
            "ArchiveSource",
            "LayoutDestination",
            "LayoutSource",
            "RegistryDestination",
            "TransferResult",
            "V1Destination",
            "V1RegistrySource",
            "copy_image",
        ),
        "engine",
    ),
    **dict.fromkeys(
        ("AsyncOCIClient", "BlobUpload", "Manifest", "MountResult", "OCIClient"), "oci.client"
    ),
    **dict.fromkeys(
        (
            "BlobUnknown",
            "Denied",
            "DigestMismatch",
            "EndlessPagingError",
            "ManifestBlobUnknown",
            "ManifestInvalid",
            "ManifestUnknown",
            "NameInvalid",
            "NameUnknown",
            "NotAV2Registry",
            "OCIError",
            "OCIUnauthorized",
            "TooManyRequests",
        ),
        "oci.errors",
    ),
    **dict.fromkeys(("BlobCache", "CopyResult", "acopy", "copy"), "transfer.copy"),
    "OCILayout": "formats.layout",
    "LayoutError": "formats.errors",
    "ManifestFormat": "formats.convert",
    "DiffIdMismatchError": "formats.archive.errors",
    **dict.fromkeys(
        (
            "CacheWarning",
            "Journal",
            "JournalError",
            "JournalLocked",
            "JournalManifest",
            "SchemaTooNew",
            "default_journal_path",
        ),
        "engine.journal",
    ),
    **dict.fromkeys(
        ("MigrationListener", "MigrationReport", "SilentMigration", "TagOutcome", "migrate"),
        "transfer.migrate",
    ),
    **dict.fromkeys(
        ("StagedBases", "bases_repository", "plan_bases", "stage_bases"),
        "transfer.migrate_bases",
    ),
    **dict.fromkeys(
        ("CreateRepository", "CreateRepositoryError", "repository_command"),
        "transfer.migrate_create",
    ),
    **dict.fromkeys(
        (
            "BlobStoreSide",
            "DestinationSide",
            "LayoutSide",
            "MigrationPlan",
            "PlannedTag",
            "RegistrySide",
            "TagState",
            "plan_migration",
        ),
        "transfer.migrate_plan",
    ),
    **dict.fromkeys(("Mismatch", "VerifyReport", "verify_migration"), "transfer.migrate_verify"),
    **dict.fromkeys(("forget_lost_blobs", "requeue_wrong_tags"), "transfer.migrate_repair"),
    "V1Side": "transfer.migrate_v1",
}


__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "DEFAULT_BASE_URL",
    "Access",
    "ArchiveDestination",
    "ArchiveSource",
    "AssemblyListener",
    "AsyncClient",
    "AsyncOCIClient",
    "Authenticator",
    "BadRequest",
    "BasicAuth",
    "BlobCache",
    "BlobStoreSide",
    "BlobUnknown",
    "BlobUpload",
    "BodyLimits",
    "BodyTooLarge",
    "CacheWarning",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "ContainerConfig",
    "CopyResult",
    "CreateRepository",
    "CreateRepositoryError",
    "Denied",
    "DestinationSide",
    "DiffIdMismatchError",
    "DigestMismatch",
    "DockerRegistryError",
    "EndlessPagingError",
    "Endpoint",
    "Forbidden",
    "HostBudget",
    "ImageMetadata",
    "ImageRecord",
    "IncompleteBody",
    "IndexImage",
    "InvalidInput",
    "InvalidResponse",
    "Inventory",
    "InventoryListener",
    "Journal",
    "JournalError",
    "JournalLocked",
    "JournalManifest",
    "LayerUpload",
    "LayoutDestination",
    "LayoutError",
    "LayoutSide",
    "LayoutSource",
    "Manifest",
    "ManifestBlobUnknown",
    "ManifestFormat",
    "ManifestInvalid",
    "ManifestUnknown",
    "MigrationListener",
    "MigrationPlan",
    "MigrationReport",
    "MirrorResult",
    "Mismatch",
    "MountResult",
    "NameInvalid",
    "NameUnknown",
    "NilAuth",
    "NotAV2Registry",
    "NotFound",
    "OCIClient",
    "OCIError",
    "OCILayout",
    "OCIUnauthorized",
    "Ping",
    "PlannedLayer",
    "PlannedTag",
    "Problem",
    "ProblemKind",
    "ProgressListener",
    "PullResult",
    "PushResult",
    "RawMetadata",
    "RegistryConnectionError",
    "RegistryDestination",
    "RegistryError",
    "RegistrySide",
    "RegistryTimeout",
    "RepositoryName",
    "RepositoryNotFound",
    "RepositoryRecord",
    "RetryPolicy",
    "SchemaTooNew",
    "SearchResult",
    "SearchResults",
    "SearchUnavailable",
    "Selection",
    "ServerError",
    "SilentMigration",
    "SilentProgress",
    "StagedBases",
    "TLSConfig",
    "TLSVerificationError",
    "TagChoice",
    "TagMap",
    "TagNotFound",
    "TagOutcome",
    "TagState",
    "TokenAuth",
    "TooManyRequests",
    "TransferResult",
    "TransferStalled",
    "Unauthorized",
    "UploadInProgress",
    "V1Destination",
    "V1RegistrySource",
    "V1Side",
    "V2OnlyRegistry",
    "VerifyReport",
    "__version__",
    "acopy",
    "add_pause_listener",
    "ainventory",
    "amirror",
    "bases_repository",
    "choose_scheme",
    "copy",
    "copy_image",
    "default_journal_path",
    "forget_lost_blobs",
    "inventory",
    "migrate",
    "mirror",
    "plan_bases",
    "plan_migration",
    "remove_pause_listener",
    "repository_command",
    "requeue_wrong_tags",
    "shard_of",
    "shared_budget",
    "ssl_context",
    "stage_bases",
    "verify_migration",
]
