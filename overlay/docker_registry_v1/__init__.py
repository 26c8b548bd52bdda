"""Client, CLI and local emulator for the Docker Registry v1 and Index v1 APIs."""

from importlib.metadata import version as _version

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
from .progress import PlannedLayer, ProgressListener, SilentProgress
from .transfer import (
    MirrorResult,
    PullResult,
    PushResult,
    RetryPolicy,
    amirror,
    mirror,
)

__version__ = _version("docker-registry-v1")

__all__ = [
    "DEFAULT_BASE_URL",
    "Access",
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
