"""Authentication strategies, each an ``httpx.Auth`` flow as the Go package's Authenticator.

All of them leave an ``Authorization`` header that is already on the request alone
(docker's own client never overwrites one; clients that did leaked tokens), and none
reads the response body, so streamed layers stay streamed.
"""

from __future__ import annotations

import base64
from collections.abc import Generator, Iterable
from enum import StrEnum

import attrs
import httpx

from ..core.errors import InvalidInput
from ..core.names import check_header_value, check_single_line
from .endpoints import Endpoint


class Access(StrEnum):
    """The access level a token was issued for (the word the index puts after ``access=``)."""

    NONE = "none"
    READ = "read"
    WRITE = "write"
    DELETE = "delete"


Authenticator = httpx.Auth
"""What every ``auth=`` takes: the three classes here, or any other ``httpx.Auth`` flow."""


@attrs.frozen
class NilAuth(httpx.Auth):
    """No credentials: the request goes out unchanged."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield request


def _check_username(_: object, __: attrs.Attribute[str], value: str) -> None:
    check_single_line("username", value)
    if ":" in value:
        raise InvalidInput("username", "must not contain ':' (HTTP Basic cannot carry it)")


def _host_matches(bound: str, url: httpx.URL) -> bool:
    endpoint = Endpoint.parse(bound)
    if endpoint.scheme is not None and endpoint.scheme != url.scheme:
        return False
    return endpoint.host == url.host.lower() and endpoint.port == url.port


@attrs.frozen
class BasicAuth(httpx.Auth):
    """HTTP Basic credentials, only ever sent to one host.

    ``host`` (``[scheme://]host[:port]``) pins the credentials to that address; left
    empty, a client binds them to its own base URL, so they never reach a token's
    registry endpoint or a redirect target on another origin.
    """

    username: str = attrs.field(validator=_check_username)
    password: str = attrs.field(
        repr=False, validator=lambda _, __, value: check_single_line("password", value)
    )
    host: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.host is not None:
            Endpoint.parse(check_header_value("host", self.host))

    def bound_to(self, origin: str) -> BasicAuth:
        """The same credentials pinned to ``origin`` unless already pinned elsewhere."""
        return self if self.host is not None else attrs.evolve(self, host=origin)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        allowed = self.host is None or _host_matches(self.host, request.url)
        if allowed and "Authorization" not in request.headers:
            pair = f"{self.username}:{self.password}".encode()
            request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        yield request


@attrs.define(init=False, eq=False)
class TokenAuth(httpx.Auth):
    """A registry token and the endpoints it is valid for (the endpoint belongs to the token).

    Applying it sends ``Authorization: Token <token>`` and moves the request to the
    active endpoint: scheme (when the endpoint has one), host and port are replaced,
    path and query kept, and the ``Host`` header follows. When an endpoint cannot be
    reached the facade calls :meth:`fail_over` and retries on the next one.
    """

    token: str = attrs.field(
        repr=False, validator=lambda _, __, value: check_header_value("token", value)
    )
    endpoints: tuple[Endpoint, ...]
    access: Access
    repository: str | None
    _active: int = attrs.field(repr=False)

    def __init__(
        self,
        host: str | None = None,
        token: str = "",
        access: Access = Access.NONE,
        *,
        endpoints: Iterable[Endpoint] = (),
        repository: str | None = None,
    ) -> None:
        listed = tuple(endpoints)
        if host is not None:
            listed = (Endpoint.parse(check_header_value("host", host)), *listed)
        self.__attrs_init__(token, listed, Access(access), repository, 0)

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint requests currently go to (``None``: leave the URL alone)."""
        return self.endpoints[self._active] if self.endpoints else None

    @property
    def host(self) -> str | None:
        """``host[:port]`` of the active endpoint, as the Go package's ``TokenAuth.Host``."""
        return self.endpoint.netloc if self.endpoint else None

    def fail_over(self) -> bool:
        """Switch to the next endpoint; ``False`` when there is none left."""
        if self._active + 1 >= len(self.endpoints):
            return False
        self._active += 1
        return True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        endpoint = self.endpoint
        if endpoint is not None:
            request.url = request.url.copy_with(
                scheme=endpoint.scheme or request.url.scheme,
                host=endpoint.host,
                port=endpoint.port,
            )
            request.headers["Host"] = endpoint.netloc
        if "Authorization" not in request.headers:
            request.headers["Authorization"] = f"Token {self.token}"
        yield request


def try_next_endpoint(auth: object, exc: BaseException) -> bool:
    """After a refused connection (nothing was sent) a token may move to its next endpoint."""
    return isinstance(exc, httpx.ConnectError) and isinstance(auth, TokenAuth) and auth.fail_over()
