"""Client, CLI and local emulator for the Docker Registry v1 and Index v1 APIs."""

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .auth import Access, Authenticator, BasicAuth, NilAuth, TokenAuth
from .client import DEFAULT_BASE_URL, AsyncClient, Client
from .endpoints import Endpoint
from .errors import (
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
    ServerError,
    Unauthorized,
    UploadInProgress,
)
from .models import (
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
from .names import RepositoryName
from .progress import AssemblyListener, PlannedLayer, ProgressListener, SilentProgress

if TYPE_CHECKING:
    from .transfer import MirrorResult, PullResult, PushResult, RetryPolicy, amirror, mirror

# Whole-image transfers pull in the archive layer; load them on first use so that
# `import docker_registry_v1` stays cheap for callers who only make API calls.
_TRANSFER_NAMES = frozenset(
    {"MirrorResult", "PullResult", "PushResult", "RetryPolicy", "amirror", "mirror"}
)


def __getattr__(name: str) -> Any:
    if name in _TRANSFER_NAMES:
        from . import transfer  # noqa: PLC0415 - deferred on purpose, see above

        return getattr(transfer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_BASE_URL",
    "Access",
    "AssemblyListener",
    "AsyncClient",
    "Authenticator",
    "BadRequest",
    "BasicAuth",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "ContainerConfig",
    "DockerRegistryError",
    "Endpoint",
    "Forbidden",
    "ImageMetadata",
    "IncompleteBody",
    "IndexImage",
    "InvalidInput",
    "InvalidResponse",
    "LayerUpload",
    "MirrorResult",
    "NilAuth",
    "NotFound",
    "Ping",
    "PlannedLayer",
    "ProgressListener",
    "PullResult",
    "PushResult",
    "RawMetadata",
    "RegistryConnectionError",
    "RegistryError",
    "RegistryTimeout",
    "RepositoryName",
    "RetryPolicy",
    "SearchResult",
    "SearchResults",
    "ServerError",
    "SilentProgress",
    "TagMap",
    "TokenAuth",
    "Unauthorized",
    "UploadInProgress",
    "__version__",
    "amirror",
    "mirror",
]
