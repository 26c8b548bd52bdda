"""Docker-style image references (``[HOST[:PORT]/][NAMESPACE/]REPO[:TAG|@ID]``) and registry URLs.

The facade takes a base URL and a bare ``ns/repo``; users type one string. Splitting
the host off follows docker's rule (the first component is a host iff it contains
``.`` or ``:`` or is ``localhost``), and everything after it is checked by the
facade's own validators so the CLI accepts exactly what the client would send.
``REPO@ID`` names one image (a full or a 12+ character id) through the repository
that holds it: v1 has no digests, so ``@sha256:…`` is refused as a v2 reference.
"""

from __future__ import annotations

import re

import attrs
import httpx

from docker_registry_v1.core.errors import InvalidInput
from docker_registry_v1.core.names import RepositoryName, check_image_id, check_tag
from docker_registry_v1.core.tls import TLSConfig, choose_scheme
from docker_registry_v1.v1.client import DEFAULT_BASE_URL
from docker_registry_v1.v1.endpoints import Endpoint

__all__ = [
    "DEFAULT_TAG",
    "MIN_SHORT_ID",
    "ImageReference",
    "InvalidReference",
    "is_image_id",
    "is_short_id",
    "registry_url",
]

DEFAULT_TAG = "latest"

#: The shortest id prefix accepted: what progress bars and tables show.
MIN_SHORT_ID = 12

_ID_PREFIX = re.compile(rf"[a-f0-9]{{{MIN_SHORT_ID},64}}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:", re.IGNORECASE)
_USERINFO = re.compile(r"(//[^/@:]*):[^/@]*@")


class InvalidReference(InvalidInput):
    """A reference or registry address the CLI cannot use."""


def _netloc(host: str, port: int | None) -> str:
    return Endpoint(host=host, port=port).netloc


def _endpoint(text: str, field: str) -> Endpoint:
    try:
        return Endpoint.parse(text.lower())
    except ValueError:
        raise InvalidReference(field, f"{text!r} is not a valid HOST[:PORT]") from None


def _origin(endpoint: Endpoint, plain_http: bool, tls: TLSConfig | None = None) -> str:
    """``https://`` unless a loopback host (or one whose verification is off) turns out
    not to speak TLS, or ``plain_http`` asks for http (``tls.choose_scheme``)."""
    config = tls or TLSConfig()
    if plain_http:
        config = attrs.evolve(config, plain_http=True)
    scheme = choose_scheme(endpoint.host, endpoint.port, config)
    return f"{scheme}://{endpoint.netloc}"


_SCHEMES = ("http://", "https://", "v1://")


def _names_a_host(first: str) -> bool:
    """docker's rule: the first component is a registry host iff it contains ``.`` or
    ``:`` or is ``localhost``."""
    return "." in first or ":" in first or first == "localhost"


def is_image_id(text: str) -> bool:
    """A full id: 16 or 64 lowercase hex characters (sent as given, no lookup needed)."""
    try:
        check_image_id(text)
    except InvalidInput:
        return False
    return True


def is_short_id(text: str) -> bool:
    """12 to 64 lowercase hex characters: an image id or a prefix of one, not a repository."""
    return _ID_PREFIX.fullmatch(text) is not None


def _image_part(text: str, at: str) -> str:
    if _DIGEST.match(at):
        raise InvalidReference(
            "reference",
            f"{text!r}: @{at.partition(':')[0]}:… is a content digest, which only v2 "
            "registries know; v1 names an image by its id (REPO@ID)",
        )
    if not is_short_id(at):
        raise InvalidReference(
            "reference",
            f"{text!r}: after @ comes an image id ({MIN_SHORT_ID} to 64 lowercase hex characters)",
        )
    return at


@attrs.frozen
class ImageReference:
    """One parsed reference; ``host`` is ``None`` when the registry comes from elsewhere."""

    host: str | None
    port: int | None
    namespace: str
    repository: str
    tag: str | None
    image: str | None = None
    #: ``http``/``https`` when the reference started with one; else the scheme rule decides
    scheme: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """``[HOST[:PORT]/]REPO[:TAG|@ID]``; also ``http://``, ``https://`` or ``v1://`` before
        a ``HOST[:PORT]/REPO…`` (a v1 registry, named as such or with its scheme)."""
        if not text or text != text.strip():
            raise InvalidReference("reference", f"{text!r} is empty or has surrounding spaces")
        scheme: str | None = None
        lowered = text[:8].lower()
        for prefix in _SCHEMES:
            if lowered.startswith(prefix):
                first, sep, rest = text[len(prefix) :].partition("/")
                if not sep or not first or not rest:
                    raise InvalidReference(
                        "reference", f"{text!r}: expected {prefix}HOST[:PORT]/REPO[:TAG]"
                    )
                endpoint = _endpoint(first, "reference")
                found = cls._parse(rest, text, with_host=False)
                scheme = None if prefix == "v1://" else prefix.removesuffix("://")
                return attrs.evolve(found, host=endpoint.host, port=endpoint.port, scheme=scheme)
        return cls._parse(text, text, with_host=True)

    @classmethod
    def _parse(cls, text: str, original: str, *, with_host: bool) -> ImageReference:
        image = None
        if "@" in text:
            text, _, at = text.partition("@")
            image = _image_part(original, at)
        first, sep, rest = text.partition("/")
        host: str | None = None
        port: int | None = None
        if with_host and sep and _names_a_host(first):
            endpoint = _endpoint(first, "reference")
            host, port, text = endpoint.host, endpoint.port, rest
        name, tag = text, None
        last_slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > last_slash:
            name, tag = text[:colon], text[colon + 1 :]
            if image is not None:
                raise InvalidReference("reference", f"{original!r}: name a tag or an @ID, not both")
            try:
                check_tag(tag)
            except InvalidInput as exc:
                raise InvalidReference("reference", str(exc)) from None
        try:
            repo = RepositoryName.parse(name)
        except InvalidInput as exc:
            raise InvalidReference("reference", str(exc)) from None
        return cls(host, port, repo.namespace, repo.repository, tag, image)

    @property
    def repo(self) -> str:
        """``namespace/repository`` as the facade takes it (``library/`` when none was given)."""
        return f"{self.namespace}/{self.repository}"

    @property
    def netloc(self) -> str | None:
        return None if self.host is None else _netloc(self.host, self.port)

    def registry_url(self, *, plain_http: bool = False, tls: TLSConfig | None = None) -> str | None:
        """The reference's scheme if it had one, else :func:`_origin`'s rule."""
        if self.host is None:
            return None
        endpoint = Endpoint(host=self.host, port=self.port)
        if self.scheme is not None:
            return f"{self.scheme}://{endpoint.netloc}"
        return _origin(endpoint, plain_http, tls)

    def with_tag(self, default: str = DEFAULT_TAG) -> str:
        return self.tag or default

    def __str__(self) -> str:
        """The reference as typed again: a host docker's rule would not take for one
        (``v1://registry/ns/app``) keeps ``v1://``, and a scheme given keeps its
        scheme, so the text parses back to this same reference."""
        name = self.repo if self.netloc is None else f"{self.netloc}/{self.repo}"
        if self.host is not None and self.scheme is not None:
            name = f"{self.scheme}://{name}"
        elif self.host is not None and not _names_a_host(self.host):
            name = f"v1://{name}"
        if self.image is not None:
            return f"{name}@{self.image}"
        return name if self.tag is None else f"{name}:{self.tag}"


def registry_url(
    value: str | None, *, plain_http: bool = False, tls: TLSConfig | None = None
) -> str:
    """The base URL for ``--registry``: a URL as given, or ``HOST[:PORT]`` with the scheme rule.

    ``None`` means the default index.
    """
    if value is None or not value.strip():
        return DEFAULT_BASE_URL
    text = value.strip()
    if "://" in text:
        shown = repr(_USERINFO.sub(r"\1:***@", text))  # the value, never a password in it
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL:
            raise InvalidReference("registry", f"{shown} is not a valid URL") from None
        if url.scheme not in {"http", "https"} or not url.host:
            raise InvalidReference(
                "registry", f"{shown}: needs an http:// or https:// URL with a host"
            )
        if url.userinfo:
            raise InvalidReference(
                "registry", f"{shown}: must not carry credentials; use --username"
            )
        return text
    return _origin(_endpoint(text.rstrip("/"), "registry"), plain_http, tls)
