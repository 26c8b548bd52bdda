"""A read-only v1 registry over a v2 registry or an OCI layout (``regv1 serve --backend``).

The emulator's HTTP face answers v1 clients; `V2Face` is its storage (the emulator's
`V1Storage`), reading tags, manifests, v1 provenance and blobs from a `Backend`.
"""

from .backends import Backend, LayoutBackend, RegistryBackend
from .storage import Chain, ChainImage, Serve, V2Face

__all__ = ["Backend", "Chain", "ChainImage", "LayoutBackend", "RegistryBackend", "Serve", "V2Face"]
