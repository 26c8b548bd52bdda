"""skopeo's transport names, parsed once for ``copy``, ``migrate`` and ``mirror``.

``docker://`` is an OCI/v2 registry and follows docker's rule for the host: the first
path component is a host only if it has a ``.`` or ``:`` or is ``localhost``;
otherwise the image is on Docker Hub (``docker.io``, single names under ``library/``),
as skopeo reads it. ``oci:DIR[:REF]`` is an OCI image layout, ``docker-archive:FILE
[:NAME:TAG]`` a ``docker save`` tarball, and a v1 registry is a bare reference,
``v1://HOST[:PORT]/REPO[:TAG]`` or ``http(s)://HOST[:PORT]/REPO[:TAG]`` (the scheme
chosen by the user instead of by the probe).
"""

from __future__ import annotations

from pathlib import Path

import attrs

from docker_registry_v1.core.errors import InvalidInput
from docker_registry_v1.v1.endpoints import Endpoint

from .reference import ImageReference, InvalidReference, _endpoint

__all__ = [
    "DOCKER_HUB",
    "ArchiveLocation",
    "DockerLocation",
    "Location",
    "OCILocation",
    "RegistryLocation",
    "V1Location",
    "parse_location",
    "parse_registry",
]

#: The name skopeo and podman give Docker Hub, and the host its v2 API answers on.
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

#: Transports skopeo knows that regv1 does not read or write.
OTHER_TRANSPORTS = frozenset(
    {"containers-storage", "dir", "docker-daemon", "oci-archive", "sif", "tarball"}
)
_V1_SCHEMES = ("http://", "https://", "v1://")


@attrs.frozen
class V1Location:
    """An image (or repository) of a v1 registry; ``reference.host`` ``None``: --registry's."""

    reference: ImageReference
    transport = "v1"

    def __str__(self) -> str:
        return str(self.reference)


@attrs.frozen
class DockerLocation:
    """``docker://``: ``repository`` without the host; ``tag``/``digest`` as given."""

    host: str
    port: int | None
    repository: str
    tag: str | None = None
    digest: str | None = None
    transport = "docker"

    @property
    def netloc(self) -> str:
        """Where the credentials are filed (``docker.io`` for the Hub, as podman files them)."""
        return Endpoint(host=self.host, port=self.port).netloc

    @property
    def api_host(self) -> str:
        """The host the v2 API is on: the Hub's answers on ``registry-1.docker.io``."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB and self.port is None else self.host

    def __str__(self) -> str:
        name = f"{self.netloc}/{self.repository}" if self.repository else self.netloc
        if self.digest:
            return f"{name}@{self.digest}"
        return f"{name}:{self.tag}" if self.tag else name


@attrs.frozen
class OCILocation:
    """``oci:DIR[:REF]``."""

    directory: str
    ref: str | None = None
    transport = "oci"

    def __str__(self) -> str:
        return f"oci:{self.directory}" + (f":{self.ref}" if self.ref else "")


@attrs.frozen
class ArchiveLocation:
    """``docker-archive:FILE[:NAME:TAG]``."""

    path: Path
    name: str | None = None
    transport = "docker-archive"

    def __str__(self) -> str:
        return f"docker-archive:{self.path}" + (f":{self.name}" if self.name else "")


Location = V1Location | DockerLocation | OCILocation | ArchiveLocation


def _docker_image(text: str, role: str) -> DockerLocation:
    """docker's reference rule: ``[HOST[:PORT]/]NAME[:TAG|@DIGEST]``."""
    whole = f"docker://{text}"
    if not text:
        raise InvalidReference(role, f"{whole!r}: expected docker://[HOST[:PORT]/]REPO[:TAG]")
    name, _, digest = text.partition("@")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        endpoint = _endpoint(first, role)
        host, port, path = endpoint.host, endpoint.port, rest
    else:
        host, port, path = DOCKER_HUB, None, name
    tag = None
    colon = path.rfind(":")
    if colon > path.rfind("/"):
        path, tag = path[:colon], path[colon + 1 :]
        if not tag:
            raise InvalidReference(role, f"{whole!r}: empty tag")
    if not path or path.startswith("/") or path.endswith("/") or "//" in path:
        raise InvalidReference(role, f"{whole!r}: expected docker://[HOST[:PORT]/]REPO[:TAG]")
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if digest and tag:
        raise InvalidReference(role, f"{whole!r}: name a tag or a digest, not both")
    return DockerLocation(host, port, path, tag, digest or None)


def _layout(text: str, role: str) -> OCILocation:
    from docker_registry_v1.formats.layout import parse_layout_reference  # noqa: PLC0415

    try:
        directory, ref = parse_layout_reference(text)
    except InvalidInput as exc:
        raise InvalidReference(role, str(exc)) from None
    return OCILocation(str(directory), ref)


def _archive(text: str, role: str) -> ArchiveLocation:
    path, _, name = text.removeprefix("docker-archive:").partition(":")
    if not path:
        raise InvalidReference(role, f"{text!r}: expected docker-archive:FILE[:NAME:TAG]")
    return ArchiveLocation(Path(path), name or None)


def _unsupported(text: str, role: str) -> None:
    transport = text.split(":", 1)[0]
    if transport in OTHER_TRANSPORTS:
        raise InvalidReference(
            role,
            f"{text!r}: the {transport}: transport is not supported; use docker://, oci:, "
            "docker-archive:, v1:// or a v1 reference",
        )


def parse_location(text: str, role: str) -> Location:
    """One image (``copy``'s SRC or DST); ``role`` names it in errors."""
    if text.startswith("docker://"):
        return _docker_image(text.removeprefix("docker://"), role)
    if text.startswith("oci:"):
        return _layout(text, role)
    if text.startswith("docker-archive:"):
        return _archive(text, role)
    _unsupported(text, role)
    return V1Location(ImageReference.parse(text))


@attrs.frozen
class RegistryLocation:
    """A whole registry (or one repository or a prefix in it), as ``migrate`` takes them.

    ``transport``: ``v1``, ``docker`` or ``oci``; ``scheme`` the one the user typed
    (v1 only); ``path`` the repository or prefix after the host (``""`` for none);
    ``directory`` the layout of ``oci:DIR``.
    """

    transport: str
    host: str = ""
    port: int | None = None
    scheme: str | None = None
    path: str = ""
    directory: str = ""

    @property
    def netloc(self) -> str:
        return Endpoint(host=self.host, port=self.port).netloc

    @property
    def api_host(self) -> str:
        hub = self.transport == "docker" and self.host == DOCKER_HUB and self.port is None
        return DOCKER_HUB_API if hub else self.host


def parse_registry(text: str, role: str) -> RegistryLocation:
    """``[v1://|http://|https://]HOST[:PORT][/PATH]``, ``docker://HOST[:PORT][/PATH]`` or
    ``oci:DIR``; ``role`` names it in errors."""
    if text.startswith("oci:"):
        directory = text.removeprefix("oci:")
        if not directory or ":" in directory:
            raise InvalidReference(
                role, f"{text!r}: expected oci:DIR (tags become REPO:TAG ref names)"
            )
        return RegistryLocation("oci", directory=directory)
    _unsupported(text, role)
    transport, scheme, rest = "v1", None, text
    if text.startswith("docker://"):
        transport, rest = "docker", text.removeprefix("docker://")
    else:
        for prefix in _V1_SCHEMES:
            if text.lower().startswith(prefix):
                rest = text[len(prefix) :]
                scheme = None if prefix == "v1://" else prefix.removesuffix("://")
    first, _, path = rest.rstrip("/").partition("/")
    if transport == "docker" and not ("." in first or ":" in first or first == "localhost"):
        return RegistryLocation("docker", DOCKER_HUB, None, None, rest.strip("/"))
    if not first:
        raise InvalidReference(role, f"{text!r}: expected HOST[:PORT][/REPO]")
    endpoint = _endpoint(first, role)
    return RegistryLocation(transport, endpoint.host, endpoint.port, scheme, path)
