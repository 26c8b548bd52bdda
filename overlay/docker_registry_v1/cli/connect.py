"""From options and a reference to a connected registry, and the one decision about auth.

Hub-style registries (an index that hands out tokens, ``_ping`` saying not
standalone) want a token per repository and access level; standalone and private
ones take Basic (or nothing) on every call. :meth:`Registry.auth` is the only place
that tells them apart, so every command behaves the same against both.

Failures leaving a :class:`Registry` block are explained for the person reading
them: a 401 or 403 says which credentials were sent and where they came from (or
that none were), a 404 on a repository that it may just be hidden, and a server
that only speaks v2 is named as such, with the ``docker://`` reference that writes
to it (the library decides all three on the error path: ``v1/missing.py``).
"""

from __future__ import annotations

import contextlib
import ssl
import sys

import attrs
import click
import httpx

from docker_registry_v1.core.errors import (
    DockerRegistryError,
    Forbidden,
    NotFound,
    RepositoryNotFound,
    TagNotFound,
    Unauthorized,
    V2OnlyRegistry,
)
from docker_registry_v1.core.models import Ping
from docker_registry_v1.core.names import origin_of
from docker_registry_v1.core.tls import ssl_context
from docker_registry_v1.v1.auth import Access, Authenticator, BasicAuth, NilAuth
from docker_registry_v1.v1.client import DEFAULT_TIMEOUT, Client

from .credentials import Credentials, Prompt, resolve_credentials
from .options import Settings, fail, warn
from .reference import ImageReference, _endpoint, is_image_id, registry_url
from .sides import (
    OpenSide,
    SideSettings,
    explain_side,
    side_budget,
    side_credentials,
    side_origin,
)

__all__ = [
    "Registry",
    "credentials_for",
    "netloc_of",
    "open_pair",
    "open_registry",
    "open_side",
    "password_prompt",
    "resolve_url",
]


def resolve_url(
    settings: Settings, reference: ImageReference | None = None, side: SideSettings | None = None
) -> str:
    """The reference's own host if it has one, else ``--registry``, else the default index.

    The scheme is the reference's, else decided by the TLS rule for ``side`` (or for the
    one registry of a one-sided command): https, loopback hosts probed for plain http.
    """
    tls = settings.tls if side is None else side.tls
    if reference is not None:
        if reference.host is not None and side is not None and reference.scheme is None:
            return side_origin(side, reference.host, reference.port, None)
        own = reference.registry_url(tls=tls)
        if own is not None:
            return own
    if side is not None and settings.registry and "://" not in settings.registry:
        endpoint = _endpoint(settings.registry.strip().rstrip("/"), "registry")
        return side_origin(side, endpoint.host, endpoint.port, None)
    return registry_url(settings.registry, tls=tls)


def _verify(settings: Settings) -> ssl.SSLContext | bool:
    return ssl_context(settings.tls)


def _timeout(settings: Settings) -> httpx.Timeout | float:
    return DEFAULT_TIMEOUT if settings.timeout is None else settings.timeout


def netloc_of(url: str) -> str:
    return httpx.URL(url).netloc.decode("ascii")


def password_prompt() -> Prompt | None:
    """A hidden prompt on stderr when stdin is a terminal; ``None`` for pipes and scripts."""
    if not sys.stdin.isatty():
        return None
    return lambda text: str(click.prompt(text, hide_input=True, err=True))


def credentials_for(settings: Settings, url: str, *, explicit: bool = True) -> Credentials | None:
    """Credentials for ``url``'s host; ``explicit=False`` consults the stored ones only."""
    return resolve_credentials(
        netloc_of(url),
        username=settings.username,
        password_stdin=settings.password_stdin,
        stdin=sys.stdin,
        warn=warn,
        stored_only=not explicit,
        prompt=password_prompt(),
    )


def _repository_in(url: httpx.URL) -> str | None:
    """``ns/repo`` from ``…/v1/repositories/ns/repo/…``, if the URL is about one."""
    parts = url.path.split("/")
    if "repositories" not in parts:
        return None
    at = parts.index("repositories")
    name = [part for part in parts[at + 1 : at + 3] if part]
    return "/".join(name) if len(name) == 2 else None


def docker_reference(netloc: str, reference: ImageReference) -> str:
    """``docker://HOST/REPO[:TAG]``: what names ``reference``'s image on a v2 registry
    (``library/`` dropped, as docker and skopeo name official images)."""
    name = f"docker://{netloc}/{reference.repo.removeprefix('library/')}"
    return name if reference.tag is None else f"{name}:{reference.tag}"


class Registry(OpenSide[Client]):
    """One registry a command talks to: its client, its credentials and its auth style."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        credentials: Credentials | None,
        side: SideSettings | None = None,
        reference: ImageReference | None = None,
    ) -> None:
        self._origin = origin_of(url)
        self._reference = reference
        self._settings = settings
        self._side = side
        self._verify = _verify(settings) if side is None else side.verify()
        self.credentials = credentials
        self.basic: BasicAuth | None = (
            None if credentials is None else credentials.basic_auth(self._origin)
        )
        self.username = None if credentials is None else credentials.username
        # the client's default auth is what transfers use for their own token requests
        self.client = Client(
            url,
            auth=self.basic,
            timeout=_timeout(settings),
            verify=self._verify,
            retry=settings.retry,
            budget=side_budget(settings if side is None else side, url),
        )
        self._ping: Ping | None = None

    @property
    def url(self) -> str:
        return self.client.base_url

    @property
    def netloc(self) -> str:
        return netloc_of(self._origin)

    def ping(self) -> Ping:
        """``_ping``'s answer, asked once; a v2-only server raises :class:`V2OnlyRegistry`."""
        if self._ping is None:
            self._ping = self.client.ping(auth=self.direct())
        return self._ping

    def standalone(self) -> bool | None:
        """``X-Docker-Registry-Standalone`` as ``_ping`` sent it (``None``: no header)."""
        return self.ping().standalone

    def token_based(self) -> bool:
        """Whether this is an index issuing tokens: the facade's one decision."""
        return self.client.issues_tokens()

    def direct(self) -> Authenticator:
        """The Basic credentials for this host, or none: for calls that take no token."""
        return self.basic or NilAuth()

    def auth(self, repo: str, access: Access) -> Authenticator:
        """What to send for ``access`` to ``repo``: a fresh index token, or :meth:`direct`."""
        if not self.token_based():
            return self.direct()
        hub = self.client.hub
        if access is Access.READ:
            return hub.get_read_token_with_auth(repo, auth=self.direct())
        if access is Access.WRITE:
            return hub.get_write_token(repo, auth=self.direct())
        return hub.get_delete_token(repo, auth=self.direct())

    def known_images(self, repo: str, auth: Authenticator) -> set[str]:
        """Every image id ``repo`` is known to hold: tagged images, their ancestries and,
        where the index keeps one, its image list."""
        repository = self.client.repository
        try:
            tips = set(repository.list_tags(repo, auth=auth).values())
        except NotFound:
            tips = set()  # a new repository: only a whole id can name an image for it
        known = set(tips)
        for tip in tips:
            if len(tip) == 64:  # abbreviated tag-list ids have no ancestry to ask for
                known.update(self.client.image.get_ancestry(tip, auth=auth))
        # many registries keep no image list, or only for pushed repositories
        with contextlib.suppress(DockerRegistryError):
            known.update(image.id for image in repository.list_images(repo, auth=self.direct()))
        return known

    def resolve_image(self, repo: str, image: str, auth: Authenticator) -> str:
        """The full id ``image`` (a 12+ character prefix, or a whole id) names in ``repo``."""
        if len(image) == 64:  # a whole id needs no lookup
            return image
        known = self.known_images(repo, auth)
        if image in known:
            return image
        matches = sorted(candidate for candidate in known if candidate.startswith(image))
        if len(matches) == 1:
            return matches[0]
        if matches:
            shown = ", ".join(match[:20] + "…" for match in matches[:3])
            fail(
                f"image id {image} is ambiguous in {repo}: {len(matches)} images start with "
                f"it ({shown}); give more characters"
            )
        if is_image_id(image):
            return image  # a whole 16-character id of an image the repository does not list
        fail(
            f"no image of {repo} on {self.netloc} has an id starting with {image} "
            "(looked through its tags, their ancestries and the index's image list)"
        )

    def _v2_only(self, exc: NotFound) -> V2OnlyRegistry | None:
        """The v2-only answer for a 404 of this host: the library's, or asked for now (a
        write's 404 is not explained by the call), with the reference the user meant."""
        if httpx.URL(exc.url).netloc.decode("ascii") != self.netloc:
            return None  # the other side's: its own Registry explains it
        found = exc if isinstance(exc, V2OnlyRegistry) else None
        if found is None and not isinstance(exc, (RepositoryNotFound, TagNotFound)):
            better = self.client.explain_not_found(exc)
            found = better if isinstance(better, V2OnlyRegistry) else None
        if found is not None and self._reference is not None:
            return found.suggesting(docker_reference(found.registry, self._reference))
        return found

    def _credentials_note(self) -> str:
        if self.credentials is None:
            return (
                f"no credentials were sent: none given or stored for {self.netloc} "
                "(regv1 --help lists where they are looked for)"
            )
        return (
            f"sent credentials of {self.credentials.username!r} for {self.netloc} "
            f"from {self.credentials.source}"
        )

    def explain(self, exc: BaseException) -> None:
        """Add what the user needs to know to a registry error (see the module docstring);
        a 404 from a server that speaks only v2 is replaced by :class:`V2OnlyRegistry`."""
        if self._side is not None and not isinstance(exc, NotFound):
            explain_side(exc, self._side, self.netloc, self.credentials)
            return
        if not isinstance(exc, (Unauthorized, Forbidden, NotFound)):
            return
        url = httpx.URL(exc.url)
        own = url.netloc.decode("ascii") == self.netloc
        if isinstance(exc, NotFound):
            v2_only = self._v2_only(exc)
            if v2_only is not None:
                if v2_only is exc:
                    return
                raise v2_only from None
            repository = _repository_in(url)
            if repository is not None and type(exc) is NotFound:
                exc.add_note(f"repository {repository} not found, or no access to it")
        elif own:
            exc.add_note(self._credentials_note())


def open_registry(
    settings: Settings, reference: ImageReference | None = None, *, url: str | None = None
) -> Registry:
    """Connect to ``url`` or the reference's registry, with the credentials for its host."""
    url = url or resolve_url(settings, reference)
    return Registry(url, settings, credentials_for(settings, url), reference=reference)


def open_side(
    settings: Settings,
    side: SideSettings,
    reference: ImageReference | None = None,
    *,
    url: str | None = None,
) -> Registry:
    """One side of a two-sided command as a v1 registry, with that side's TLS and login."""
    url = url or resolve_url(settings, reference, side)
    credentials = side_credentials(settings, side, netloc_of(url))
    return Registry(url, settings, credentials, side, reference)


def open_pair(
    settings: Settings,
    source: ImageReference,
    target: ImageReference,
    src: SideSettings,
    dest: SideSettings,
) -> tuple[Registry, Registry]:
    """Source and target v1 registries, each with its own side's TLS and login.

    The deprecated one-registry login reaches the other side too when both are the
    same host (as it always did), and never a different host.
    """
    src_url, dst_url = resolve_url(settings, source, src), resolve_url(settings, target, dest)
    if netloc_of(src_url) == netloc_of(dst_url):
        if dest.legacy_login and src.creds is None and not src.no_creds:
            src = attrs.evolve(src, legacy_login=True)
        elif src.legacy_login and dest.creds is None and not dest.no_creds:
            dest = attrs.evolve(dest, legacy_login=True)
    dst_credentials = side_credentials(settings, dest, netloc_of(dst_url))
    if src.legacy_login and dest.legacy_login:  # one login, asked for (or read) once
        src_credentials = dst_credentials
    else:
        src_credentials = side_credentials(settings, src, netloc_of(src_url))
    target_registry = Registry(dst_url, settings, dst_credentials, dest, target)
    try:
        return Registry(src_url, settings, src_credentials, src, source), target_registry
    except BaseException:
        target_registry.close()
        raise
