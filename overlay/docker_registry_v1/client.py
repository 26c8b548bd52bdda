"""``Client`` and ``AsyncClient``: the Go package's ``NewClient()``, over one pooled httpx client.

The generated ``docker_registry_v1_api.Client`` is given an httpx client built here,
so this module decides what every request carries: the User-Agent, the per-call
auth dispatcher, redirects followed (layer GETs go to storage hosts; httpx drops
``Authorization`` when a redirect changes origin), timeouts, and the response hooks
that turn non-2xx answers into typed errors.
"""

from __future__ import annotations

import os
import platform
import ssl
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import attrs
import httpx
from docker_registry_v1_api import Client as GeneratedClient

from . import httplog
from . import operations as ops
from ._version import __version__
from .auth import Authenticator, NilAuth
from .errors import InvalidInput
from .models import Ping
from .names import check_header_name, check_header_value
from .progress import ProgressListener
from .runner import AsyncRunner, Dispatch, SyncRunner, async_response_hook, sync_response_hook
from .services import (
    AsyncHubService,
    AsyncImageService,
    AsyncRepositoryService,
    AsyncSearchService,
    AsyncUsersService,
    HubService,
    ImageService,
    RepositoryService,
    SearchService,
    UsersService,
)

if TYPE_CHECKING:
    from .transfer import PullResult, PushResult, RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "USER_AGENT", "AsyncClient", "Client"]

DEFAULT_BASE_URL = "https://index.docker.io/v1/"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
USER_AGENT = (
    f"docker-registry-v1/{__version__} "
    f"python-httpx/{httpx.__version__} python/{platform.python_version()}"
)
_FORBIDDEN_HEADERS = frozenset({"if-modified-since", "host", "content-length", "transfer-encoding"})

httplog.install()


@attrs.frozen
class BaseURL:
    """A registry base URL; ``root`` is what the spec's ``/v1/…`` paths are joined to."""

    root: httpx.URL

    @classmethod
    def parse(cls, value: str | httpx.URL) -> BaseURL:
        """Accept the URL with or without ``/v1`` and the trailing slash; keep other prefixes."""
        try:
            url = httpx.URL(str(value))
        except (httpx.InvalidURL, TypeError) as exc:
            raise InvalidInput("base_url", f"not a URL: {exc}") from None
        if url.scheme not in {"http", "https"} or not url.host:
            raise InvalidInput("base_url", "needs an http:// or https:// URL with a host")
        if url.userinfo:
            raise InvalidInput("base_url", "must not carry credentials; pass auth=BasicAuth(…)")
        if url.query or url.fragment:
            raise InvalidInput("base_url", "must not have a query or fragment")
        path = url.path.rstrip("/")
        path = path.removesuffix("/v1")
        return cls(url.copy_with(path=path + "/", query=None, fragment=None))

    @property
    def v1(self) -> str:
        return str(self.root) + "v1/"

    @property
    def origin(self) -> str:
        netloc = self.root.netloc.decode("ascii")
        return f"{self.root.scheme}://{netloc}"


def _headers(extra: dict[str, str] | None) -> dict[str, str]:
    merged = {"User-Agent": USER_AGENT}
    for name, value in (extra or {}).items():
        check_header_name(f"headers[{name!r}]", name)
        if name.lower() in _FORBIDDEN_HEADERS:
            raise InvalidInput("headers", f"{name} is managed by the client (v1 registries break)")
        merged[name] = check_header_value(f"headers[{name!r}]", value)
    return merged


def _default_auth(auth: Authenticator | None) -> Authenticator:
    if auth is None:
        return NilAuth()
    if not isinstance(auth, Authenticator):
        raise InvalidInput("auth", f"expected an authenticator, got {type(auth).__name__}")
    return auth


class _ClientBase:
    _base: BaseURL
    _http: httpx.Client | httpx.AsyncClient

    def _setup(
        self,
        base_url: str | httpx.URL,
        timeout: httpx.Timeout | float | None,
        headers: dict[str, str] | None,
    ) -> dict[str, Any]:
        self._base = BaseURL.parse(base_url)
        return {
            "base_url": self._base.root,
            "auth": Dispatch(),
            "headers": _headers(headers),
            "timeout": timeout,
            "follow_redirects": True,
        }

    @property
    def base_url(self) -> str:
        """The registry or index base URL, normalised to end in ``/v1/``; settable."""
        return self._base.v1

    @base_url.setter
    def base_url(self, value: str | httpx.URL) -> None:
        self._base = BaseURL.parse(value)
        self._http.base_url = self._base.root

    def _origin(self) -> str:
        return self._base.origin

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"


class Client(_ClientBase):
    """Synchronous client; use it as a context manager or call :meth:`close`."""

    _http: httpx.Client

    def __init__(
        self,
        base_url: str | httpx.URL = DEFAULT_BASE_URL,
        *,
        auth: Authenticator | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        verify: ssl.SSLContext | str | bool = True,
        transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        options = self._setup(base_url, timeout, headers)
        self._http = httpx.Client(
            **options,
            verify=verify,
            transport=transport,
            event_hooks={"response": [sync_response_hook]},
        )
        api = GeneratedClient(base_url=str(self._base.root)).set_httpx_client(self._http)
        self._runner = SyncRunner(api, _default_auth(auth), self._origin)
        self.hub = HubService(self._runner)
        self.image = ImageService(self._runner)
        self.repository = RepositoryService(self._runner)
        self.search = SearchService(self._runner)
        self.users = UsersService(self._runner)

    def ping(self, *, auth: Authenticator | None = None) -> Ping:
        """``GET /v1/_ping``: version and standalone hint."""
        return self._runner.run(ops.ping_registry(), auth)

    def pull(
        self,
        repo: str,
        tag: str,
        dest: str | os.PathLike[str],
        *,
        concurrency: int = 4,
        progress: ProgressListener | None = None,
        retry: RetryPolicy | None = None,
    ) -> PullResult:
        """Pull ``repo:tag`` into a ``docker load`` archive at ``dest`` (see ``transfer.pull``)."""
        from .transfer import pull  # noqa: PLC0415 - transfers load on first use

        return pull(self, repo, tag, dest, concurrency=concurrency, progress=progress, retry=retry)

    def push(
        self,
        archive: str | os.PathLike[str],
        repo: str,
        tag: str | None = None,
        *,
        progress: ProgressListener | None = None,
        retry: RetryPolicy | None = None,
    ) -> PushResult:
        """Push a ``docker save`` archive as ``repo`` (see ``transfer.push``)."""
        from .transfer import push  # noqa: PLC0415 - transfers load on first use

        return push(self, archive, repo, tag, progress=progress, retry=retry)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_ClientBase):
    """Asynchronous client with the same surface; ``async with`` or :meth:`aclose`."""

    _http: httpx.AsyncClient

    def __init__(
        self,
        base_url: str | httpx.URL = DEFAULT_BASE_URL,
        *,
        auth: Authenticator | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        verify: ssl.SSLContext | str | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        options = self._setup(base_url, timeout, headers)
        self._http = httpx.AsyncClient(
            **options,
            verify=verify,
            transport=transport,
            event_hooks={"response": [async_response_hook]},
        )
        api = GeneratedClient(base_url=str(self._base.root)).set_async_httpx_client(self._http)
        self._runner = AsyncRunner(api, _default_auth(auth), self._origin)
        self.hub = AsyncHubService(self._runner)
        self.image = AsyncImageService(self._runner)
        self.repository = AsyncRepositoryService(self._runner)
        self.search = AsyncSearchService(self._runner)
        self.users = AsyncUsersService(self._runner)

    async def ping(self, *, auth: Authenticator | None = None) -> Ping:
        return await self._runner.run(ops.ping_registry(), auth)

    async def pull(
        self,
        repo: str,
        tag: str,
        dest: str | os.PathLike[str],
        *,
        concurrency: int = 4,
        progress: ProgressListener | None = None,
        retry: RetryPolicy | None = None,
    ) -> PullResult:
        """Pull ``repo:tag`` into a ``docker load`` archive at ``dest`` (see ``transfer.apull``)."""
        from .transfer import apull  # noqa: PLC0415 - transfers load on first use

        return await apull(
            self, repo, tag, dest, concurrency=concurrency, progress=progress, retry=retry
        )

    async def push(
        self,
        archive: str | os.PathLike[str],
        repo: str,
        tag: str | None = None,
        *,
        progress: ProgressListener | None = None,
        retry: RetryPolicy | None = None,
    ) -> PushResult:
        """Push a ``docker save`` archive as ``repo`` (see ``transfer.apush``)."""
        from .transfer import apush  # noqa: PLC0415 - transfers load on first use

        return await apush(self, archive, repo, tag, progress=progress, retry=retry)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
