"""Where the face reads images from: a v2 registry (`OCIClient`) or an OCI image layout.

Both answer the same few questions (`Backend`): which repositories and tags there are,
a manifest, a small blob (a config), the v1 provenance attached to a manifest, and a
blob streamed from an offset. Names here are the backend's own (v2) names.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Protocol

from ..core.errors import DockerRegistryError, InvalidInput
from ..formats.errors import LayoutError
from ..formats.layout import OCILayout
from ..formats.provenance import Provenance
from ..oci.client import MANIFEST_TYPES, Manifest, OCIClient
from ..oci.errors import ManifestUnknown, NameUnknown
from ..oci.referrers import read_provenance

CHUNK = 256 << 10


class Backend(Protocol):
    """What the face asks of the v2 side."""

    @property
    def label(self) -> str:
        """``docker://host/prefix`` or ``oci:DIR``, for messages."""
        ...

    def repositories(self) -> list[str] | None:
        """Every repository name, or ``None`` when the backend cannot list them (a
        registry without ``_catalog``)."""
        ...

    def tags(self, name: str) -> list[str] | None:
        """The repository's tags; ``None`` when it does not exist."""
        ...

    def manifest(self, name: str, reference: str) -> Manifest | None:
        """A manifest (or index) by tag or digest; ``None`` when there is none."""
        ...

    def small_blob(self, name: str, digest: str) -> bytes:
        """A config blob's bytes (checked against the digest, bounded)."""
        ...

    def provenance(self, name: str, digest: str) -> list[Provenance]:
        """The v1 provenance records attached to the manifest ``digest``."""
        ...

    def open_blob(
        self, name: str, digest: str, offset: int
    ) -> contextlib.AbstractContextManager[Iterator[bytes]]:
        """The blob's bytes from ``offset``, streamed."""
        ...


class RegistryBackend:
    """A v2 registry, through the project's `OCIClient` (its auth, TLS, retries, limits)."""

    def __init__(self, client: OCIClient, label: str) -> None:
        self.client = client
        self._label = label
        self._catalog_works: bool | None = None

    @property
    def label(self) -> str:
        return self._label

    def repositories(self) -> list[str] | None:
        if self._catalog_works is False:
            return None
        try:
            names = list(self.client.catalog())
        except DockerRegistryError as exc:
            if getattr(exc, "code", None) not in (401, 403, 404, 405):
                raise
            self._catalog_works = False
            return None
        self._catalog_works = True
        return names

    def tags(self, name: str) -> list[str] | None:
        try:
            return list(self.client.tags(name))
        except (NameUnknown, InvalidInput):
            return None
        except DockerRegistryError as exc:
            if getattr(exc, "code", None) == 404:
                return None
            raise

    def manifest(self, name: str, reference: str) -> Manifest | None:
        try:
            return self.client.get_manifest(name, reference, accept=MANIFEST_TYPES)
        except (ManifestUnknown, NameUnknown, InvalidInput):
            return None
        except DockerRegistryError as exc:
            if getattr(exc, "code", None) == 404:
                return None
            raise

    def small_blob(self, name: str, digest: str) -> bytes:
        return self.client.get_blob(name, digest)

    def provenance(self, name: str, digest: str) -> list[Provenance]:
        return read_provenance(self.client, name, digest)

    def open_blob(
        self, name: str, digest: str, offset: int
    ) -> contextlib.AbstractContextManager[Iterator[bytes]]:
        return self.client.open_blob(name, digest, offset=offset)


class LayoutBackend:
    """An OCI image layout directory. Its ref names are ``REPO:TAG`` as ``migrate`` writes
    them; a bare ``TAG`` belongs to the repository ``bare_repository``."""

    def __init__(self, layout: OCILayout, label: str, bare_repository: str = "library/layout"):
        self.layout = layout
        self._label = label
        self.bare_repository = bare_repository

    @property
    def label(self) -> str:
        return self._label

    def _refs(self) -> dict[str, dict[str, str]]:
        """Repository → tag → manifest digest."""
        found: dict[str, dict[str, str]] = {}
        for ref, digest in self.layout.refs().items():
            repository, sep, tag = ref.rpartition(":")
            if not sep or "/" in tag:
                repository, tag = self.bare_repository, ref
            found.setdefault(repository, {})[tag] = digest
        return found

    def repositories(self) -> list[str] | None:
        return sorted(self._refs())

    def tags(self, name: str) -> list[str] | None:
        tags = self._refs().get(name)
        return sorted(tags) if tags is not None else None

    def manifest(self, name: str, reference: str) -> Manifest | None:
        digest = reference
        if not reference.startswith("sha256:"):
            found = self._refs().get(name, {}).get(reference)
            if found is None:
                return None
            digest = found
        try:
            data = self.layout.read_blob(digest)
        except (LayoutError, InvalidInput):
            return None
        media_type = ""
        for entry in self.layout.index()["manifests"]:
            if entry.get("digest") == digest:
                media_type = str(entry.get("mediaType", ""))
        return Manifest(data=data, media_type=media_type, digest=digest)

    def small_blob(self, name: str, digest: str) -> bytes:
        return self.layout.read_blob(digest)

    def provenance(self, name: str, digest: str) -> list[Provenance]:
        return read_provenance(self.layout, name, digest)

    @contextlib.contextmanager
    def open_blob(self, name: str, digest: str, offset: int) -> Iterator[Iterator[bytes]]:
        path = self.layout.blob_path(digest)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            handle.seek(offset)

            def chunks() -> Iterator[bytes]:
                while chunk := handle.read(CHUNK):
                    yield chunk

            yield chunks()
