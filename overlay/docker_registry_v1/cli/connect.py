"""From options and a reference to a connected registry, and the one decision about auth.

Hub-style registries (an index that hands out tokens, ``_ping`` saying not
standalone) want a token per repository and access level; standalone and private
ones take Basic (or nothing) on every call. :meth:`Registry.auth` is the only place
that tells them apart, so every command behaves the same against both.
"""

from __future__ import annotations

import ssl
import sys
from types import TracebackType
from typing import Self

import httpx

from docker_registry_v1.auth import Access, Authenticator, BasicAuth, NilAuth
from docker_registry_v1.client import DEFAULT_TIMEOUT, Client
from docker_registry_v1.names import origin_of

from .credentials import Credentials, resolve_credentials
from .options import Settings, warn
from .reference import ImageReference, registry_url

__all__ = ["Registry", "credentials_for", "open_pair", "open_registry", "resolve_url"]


def resolve_url(settings: Settings, reference: ImageReference | None = None) -> str:
    """The reference's own host if it has one, else ``--registry``, else the default index."""
    if reference is not None:
        own = reference.registry_url(plain_http=settings.plain_http)
        if own is not None:
            return own
    return registry_url(settings.registry, plain_http=settings.plain_http)


def _verify(settings: Settings) -> ssl.SSLContext | bool:
    if settings.insecure:
        return False
    if settings.ca_cert is not None:
        return ssl.create_default_context(cafile=str(settings.ca_cert))
    return True


def _netloc(url: str) -> str:
    return httpx.URL(url).netloc.decode("ascii")


def credentials_for(settings: Settings, url: str, *, explicit: bool = True) -> Credentials | None:
    """Credentials for ``url``'s host; ``explicit=False`` consults docker's config only."""
    return resolve_credentials(
        _netloc(url),
        username=settings.username,
        password_stdin=settings.password_stdin,
        stdin=sys.stdin,
        warn=warn,
        docker_config_only=not explicit,
    )


class Registry:
    """One registry a command talks to: its client, its credentials and its auth style."""

    def __init__(self, url: str, settings: Settings, credentials: Credentials | None) -> None:
        origin = origin_of(url)
        self.basic: BasicAuth | None = (
            None if credentials is None else credentials.basic_auth(origin)
        )
        self.username = None if credentials is None else credentials.username
        # the client's default auth is what transfers use for their own token requests
        self.client = Client(
            url,
            auth=self.basic,
            timeout=DEFAULT_TIMEOUT if settings.timeout is None else settings.timeout,
            verify=_verify(settings),
        )

    @property
    def url(self) -> str:
        return self.client.base_url

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

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_registry(
    settings: Settings, reference: ImageReference | None = None, *, url: str | None = None
) -> Registry:
    """Connect to ``url`` or the reference's registry, with the credentials for its host."""
    url = url or resolve_url(settings, reference)
    return Registry(url, settings, credentials_for(settings, url))


def open_pair(
    settings: Settings, source: ImageReference, target: ImageReference
) -> tuple[Registry, Registry]:
    """Source and target registries; explicit credentials are the target's.

    The source gets them too only when it is the same host; otherwise it uses
    docker's config, so a password never reaches a host it was not given for.
    """
    src_url, dst_url = resolve_url(settings, source), resolve_url(settings, target)
    dst_credentials = credentials_for(settings, dst_url)
    src_credentials = (
        dst_credentials
        if _netloc(src_url) == _netloc(dst_url)
        else credentials_for(settings, src_url, explicit=False)
    )
    target_registry = Registry(dst_url, settings, dst_credentials)
    try:
        return Registry(src_url, settings, src_credentials), target_registry
    except BaseException:
        target_registry.close()
        raise
