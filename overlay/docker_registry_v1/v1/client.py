"""``Client`` and ``AsyncClient`` (the Go package's ``NewClient()``) and the one way they send.

Every call goes the same way: the service method (``services.py``) checks its input
and describes an ``Operation`` whose one ``httpx.Request`` comes from the generated
module's ``build_request``; the pooled httpx client sends it with the call's ``auth``
passed explicitly and ``stream=True``; right after the headers a non-2xx status becomes
a typed error (with at most ``ERROR_BODY_LIMIT`` bytes of its body read); then the body
is read and parsed, or the open response is handed to the caller (layers). The two
clients share their constructor and everything else but the awaits of that path.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import json
import os
import ssl
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import anyio
import httpx
from docker_registry_v1_api.api import registry

from .._version import __version__
from ..core import httplog
from ..core.budget import HostBudget, budget_for
from ..core.errors import (
    DockerRegistryError,
    InvalidInput,
    NotFound,
    RegistryError,
    body_error,
    error_from_response,
    invalid_response,
    transport_error,
)
from ..core.http import (
    BODY_LIMIT,
    ERROR_BODY_LIMIT,
    aiter_body,
    aread_capped,
    aread_prefix,
    iter_body,
    read_capped,
    read_prefix,
)
from ..core.models import Ping
from ..core.names import check_header_name, check_header_value, origin_of
from ..core.progress import ProgressListener
from ..core.retry import (
    DEFAULT_RETRY,
    KEEP,
    Keep,
    RetryPolicy,
    Timeout,
    as_policy,
    next_wait,
    with_timeout,
)
from .auth import Authenticator, BasicAuth, NilAuth, try_next_endpoint
from .missing import explain_not_found
from .services import (
    AsyncHubService,
    AsyncImageService,
    AsyncRepositoryService,
    AsyncSearchService,
    AsyncUsersService,
    HubService,
    ImageService,
    Missing,
    Operation,
    RepositoryService,
    SearchService,
    UsersService,
    call,
)

if TYPE_CHECKING:
    from ..transfer import PullResult, PushResult


T = TypeVar("T")
Transport = TypeVar("Transport", httpx.BaseTransport, httpx.AsyncBaseTransport)

DEFAULT_BASE_URL = "https://index.docker.io/v1/"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""The one timeout model of both clients (v1 and OCI): ``timeout=`` takes an
``httpx.Timeout``, seconds for every phase, or ``None`` for none; this is the default."""
USER_AGENT = (
    f"docker-registry-v1/{__version__} "
    f"python-httpx/{httpx.__version__} python/{'.'.join(map(str, sys.version_info[:3]))}"
)
_DEFAULT_INDEX_HOST = httpx.URL(DEFAULT_BASE_URL).host
_FORBIDDEN_HEADERS = frozenset({"if-modified-since", "host", "content-length", "transfer-encoding"})
_PARSE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, RecursionError)


def api_root(value: str | httpx.URL, version: str = "/v1") -> httpx.URL:
    """The URL a spec's ``/v1/…`` (or ``/v2/…``) paths are joined to: ``version`` and
    slashes may be left out, other path prefixes stay. :class:`InvalidInput` for anything
    but an http(s) URL with a host and without credentials, query or fragment."""
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
    path = url.path.rstrip("/").removesuffix(version)
    return url.copy_with(path=path + "/", query=None, fragment=None)


def _headers(extra: dict[str, str] | None) -> dict[str, str]:
    # only the encodings `read_capped` undoes a piece at a time (httpx would also offer br
    # and zstd wherever their packages happen to be installed)
    merged = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    for name, value in (extra or {}).items():
        check_header_name(f"headers[{name!r}]", name)
        if name.lower() in _FORBIDDEN_HEADERS:
            raise InvalidInput("headers", f"{name} is managed by the client (v1 registries break)")
        merged[name] = check_header_value(f"headers[{name!r}]", value)
    return merged


def _check_auth(auth: object) -> Authenticator:
    if not isinstance(auth, Authenticator):
        raise InvalidInput("auth", f"expected an authenticator, got {type(auth).__name__}")
    return auth


def _read(operation: Operation[T], response: httpx.Response) -> T:
    try:
        return operation.read(response)
    except _PARSE_ERRORS as exc:
        raise invalid_response(response, f"unexpected body ({type(exc).__name__})") from exc


def _read_ping(response: httpx.Response) -> Ping:
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):  # an empty or non-JSON body still answers the ping
        body = None
    headers = response.headers
    version = headers.get("X-Docker-Registry-Version")
    if version is None and isinstance(body, dict) and isinstance(body.get("version"), str):
        version = body["version"]
    standalone = None
    if (flag := headers.get("X-Docker-Registry-Standalone")) is not None:
        standalone = flag.strip().lower() in {"true", "1"}
    elif isinstance(body, dict) and isinstance(body.get("standalone"), bool):
        standalone = body["standalone"]
    return Ping(version=version, standalone=standalone, body=body)


def _issues_tokens(response: httpx.Response) -> bool:
    return _read_ping(response).standalone is False


def _no_ping(error: RegistryError) -> bool:
    if isinstance(error, NotFound):
        return False  # no _ping at all: a plain registry
    raise error


def _no_request(http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
    raise AssertionError("only explains an error; never sent")  # pragma: no cover


def _no_answer(response: httpx.Response) -> None:
    raise AssertionError("only explains an error; never read")  # pragma: no cover


def _checking_hooks(check: Callable[[], None]) -> dict[str, list[Callable[..., Any]]]:
    """httpx event hooks that call ``check`` before each request and after each answer's
    headers (the redirects and an auth flow's own requests included)."""

    def hook(_: object) -> None:
        check()

    return {"request": [hook], "response": [hook]}


class _ClientBase(Generic[Transport]):
    """Both clients: one constructor, the base URL, the default auth and :meth:`ping`."""

    _http: httpx.Client | httpx.AsyncClient
    _http_class: Callable[..., httpx.Client | httpx.AsyncClient]
    _awaits: bool

    def __init__(
        self,
        base_url: str | httpx.URL = DEFAULT_BASE_URL,
        *,
        auth: Authenticator | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        verify: ssl.SSLContext | str | bool = True,
        transport: Transport | None = None,
        headers: dict[str, str] | None = None,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        body_limit: int = BODY_LIMIT,
        budget: HostBudget | None = None,
    ) -> None:
        httplog.install()
        if isinstance(body_limit, bool) or not isinstance(body_limit, int) or body_limit < 1:
            raise InvalidInput("body_limit", "expected a positive number of bytes")
        self.body_limit = body_limit
        self._root = api_root(base_url)
        self._learned: dict[str, bool] = {}
        self._default_auth = NilAuth() if auth is None else _check_auth(auth)
        self.retry = as_policy(retry)
        self._timeout: Timeout | Keep = KEEP
        self._on_attempt: Callable[[], object] | None = None  # counts requests (inventory)
        # this origin's request budget (else the process's shared one, see core/budget.py)
        # and the cancel check its waits call (a sync twin's)
        self._own_budget = budget
        self._check: Callable[[], None] | None = None
        # what a sync twin needs (AsyncClient._sync_twin); a transport of the caller's
        # own cannot be carried over to the other kind of client
        self._settings: dict[str, Any] | None = (
            None if transport is not None else {"timeout": timeout, "verify": verify}
        )
        merged = _headers(headers)
        if self._settings is not None:
            self._settings["headers"] = merged
        self._http = self._http_class(
            base_url=self._root,
            headers=merged,
            follow_redirects=True,
            timeout=timeout,
            verify=verify,
            transport=transport,
        )
        self._add_services()

    def _add_services(self) -> None:
        raise NotImplementedError

    def with_options(
        self,
        *,
        retry: RetryPolicy | Keep | None = KEEP,
        timeout: Timeout | Keep = KEEP,
    ) -> Self:
        """A copy of this client for some calls, with another ``retry`` policy (``None``:
        off) or ``timeout``; it shares the connection pool, the default auth and what was
        learned about the registry, so it costs nothing and needs no closing of its own
        (closing it closes the shared pool)."""
        clone = copy.copy(self)
        if retry is not KEEP:
            clone.retry = as_policy(retry)
        if timeout is not KEEP:
            httpx.Timeout(timeout)  # refused here, not at the first request
            clone._timeout = timeout
        clone._add_services()
        return clone

    @property
    def _token_decision(self) -> bool | None:
        """Kept in a dict that :meth:`with_options` copies share: decided once for all."""
        return self._learned.get("issues_tokens")

    @_token_decision.setter
    def _token_decision(self, value: bool) -> None:
        self._learned["issues_tokens"] = value

    def _build(self, operation: Operation[Any], *, sending: bool = False) -> httpx.Request:
        if sending and self._on_attempt is not None:
            self._on_attempt()
        request = operation.build(self._http)
        with_timeout(request, self._timeout)
        return request

    @property
    def budget(self) -> HostBudget | None:
        """The ``budget=`` this client was given for its own origin; ``None``: it uses the
        process's shared budget of that origin (``shared_budget``)."""
        return self._own_budget

    def _budget(self, request: httpx.Request) -> HostBudget:
        return budget_for(request.url, self._own_budget, origin_of(self._root))

    def _status(self, response: httpx.Response, started: float) -> httpx.Response | None:
        """The response when it is a 2xx (logged either way); ``None``: read its error."""
        httplog.answered(response, started)
        return response if response.is_success else None

    @property
    def base_url(self) -> str:
        """The registry or index base URL, normalised to end in ``/v1/``; settable."""
        return str(self._root) + "v1/"

    @base_url.setter
    def base_url(self, value: str | httpx.URL) -> None:
        self._root = api_root(value)
        self._http.base_url = self._root

    @call
    def ping(self, *, auth: Authenticator | None = None) -> Operation[Ping]:
        """``GET /v1/_ping``: the version and the standalone hint. Raises :class:`RegistryError`
        for a non-2xx answer, :class:`RegistryConnectionError` when nothing came back."""
        return Operation(registry.ping.build_request, _read_ping, auth, missing=Missing())

    def _auth(self, operation: Operation[Any]) -> Authenticator:
        """The call's authenticator; Basic credentials stay with the client's own host."""
        auth = operation.auth
        chosen = self._default_auth if auth is None else _check_auth(auth)
        if isinstance(chosen, BasicAuth):
            return chosen.bound_to(origin_of(self._root))
        return chosen

    def _tokens_known(self) -> bool | None:
        """The one rule for "does this registry issue index tokens?": Docker's own index
        does; anything else does when its ``_ping`` (sent by :meth:`Client.issues_tokens`
        with the default auth, once per client) says it is not standalone."""
        if self._token_decision is None and self._root.host == _DEFAULT_INDEX_HOST:
            self._token_decision = True
        return self._token_decision

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"


def _tokens_ping() -> Operation[bool]:
    """``_ping`` read as the token decision (built per call: the generated endpoint module
    loads on first use, not when this module is imported)."""
    return Operation(registry.ping.build_request, _issues_tokens, otherwise=_no_ping)


class Client(_ClientBase[httpx.BaseTransport]):
    """Synchronous client; use it as a context manager or call :meth:`close`.

    ``auth`` is the default for every call that is not given its own. ``retry`` is the
    policy every call's request is retried with when it may be repeated (``None`` or
    ``RetryPolicy(attempts=1)``: never); :meth:`with_options` makes a copy with another
    one for some calls. ``timeout`` is :data:`DEFAULT_TIMEOUT`'s model. ``budget`` (a
    :class:`HostBudget`) limits the rate and the requests in flight to this registry's
    origin; without one, the process's shared budget of the origin is used (no limits,
    but a ``429``/``503`` ``Retry-After`` pauses every client of that origin). Raises
    :class:`InvalidInput` for a bad ``base_url``, ``auth`` or ``headers``.
    """

    _http: httpx.Client
    _http_class = httpx.Client
    _awaits = False

    def _add_services(self) -> None:
        self.hub = HubService(self)
        self.image = ImageService(self)
        self.repository = RepositoryService(self)
        self.search = SearchService(self)
        self.users = UsersService(self)

    def _attempt(self, operation: Operation[Any], chosen: Authenticator) -> httpx.Response:
        """Send the operation's request once; return the response once its status is a
        2xx. A refused connection moves to a token's next endpoint (a new request)."""
        while True:
            request, started = self._build(operation, sending=True), time.monotonic()
            try:
                send = functools.partial(self._http.send, request, auth=chosen, stream=True)
                response = self._budget(request).send(send, self._check, self.retry.max_delay)
                break
            except httpx.RequestError as exc:
                httplog.failed(request, exc, started)
                if not try_next_endpoint(chosen, exc):
                    raise transport_error(exc) from exc
        if self._status(response, started) is not None:
            return response
        raise error_from_response(response, read_prefix(response, ERROR_BODY_LIMIT))

    def _read_body(self, operation: Operation[Any], chosen: Authenticator) -> httpx.Response:
        """One attempt that also reads the whole body: a body cut short is retried too."""
        response = self._attempt(operation, chosen)
        try:
            read_capped(response, self.body_limit)
        except httpx.RequestError as exc:
            raise body_error(response, exc) from exc
        finally:
            response.close()
        return response

    def _retrying(
        self,
        operation: Operation[Any],
        attempt: Callable[[Operation[Any], Authenticator], httpx.Response],
    ) -> httpx.Response:
        """``attempt`` until it succeeds or the client's retry policy gives up: the one
        retry loop of the v1 send path (see ``retry.py`` for what may be repeated)."""
        chosen, failures = self._auth(operation), 0
        while True:
            try:
                return attempt(operation, chosen)
            except DockerRegistryError as error:
                failures += 1
                wait = next_wait(
                    self.retry,
                    lambda: self._build(operation),
                    operation.repeatable,
                    failures,
                    error,
                )
                if wait is None:
                    raise
            time.sleep(wait)

    def _start(self, operation: Operation[Any]) -> httpx.Response:
        """The operation's 2xx response, its body not read yet, retried as allowed."""
        return self._retrying(operation, self._attempt)

    def _send(self, operation: Operation[T]) -> T:
        missing: NotFound | None = None
        try:
            if operation.sink is None:
                response = self._retrying(operation, self._read_body)
            else:
                response = self._start(operation)
        except RegistryError as error:
            if operation.otherwise is not None:
                return operation.otherwise(error)
            if operation.missing is None or not isinstance(error, NotFound):
                raise
            missing = error
        if missing is not None:  # out of the except: its own short traceback, no context
            raise self._explained(operation, missing)
        if operation.sink is None:
            return _read(operation, response)
        try:  # bytes handed to a sink cannot be taken back: no retry past this point
            for chunk in iter_body(response):
                operation.sink(chunk)
        except httpx.RequestError as exc:
            raise body_error(response, exc) from exc
        finally:
            response.close()
        return _read(operation, response)

    def explain_not_found(self, error: NotFound) -> RegistryError:
        """:class:`V2OnlyRegistry` when this 404 of the registry came from a server that
        speaks only v2 (asked once per client, at most two requests), else ``error``.
        Tags, repositories, search and ``_ping`` are explained by the calls themselves."""
        return self._explained(Operation(_no_request, _no_answer, missing=Missing()), error)

    def _explained(self, operation: Operation[Any], error: NotFound) -> RegistryError:
        """What ``operation``'s 404 means (``missing.py``): the plan's requests are sent
        as any other; one that fails leaves ``error`` as it was."""
        plan = explain_not_found(self._learned, operation, error)
        try:
            step = next(plan)
            while True:
                try:
                    answer = self._send(step)
                except DockerRegistryError:
                    plan.close()
                    return error
                step = plan.send(answer)
        except StopIteration as done:
            result: RegistryError = done.value
            return result

    @contextlib.contextmanager
    def _open(self, operation: Operation[Any]) -> Iterator[httpx.Response]:
        response = self._start(operation)
        try:
            yield response
        except httpx.RequestError as exc:
            raise transport_error(exc) from exc
        finally:
            response.close()

    def issues_tokens(self) -> bool:
        """Whether this registry hands out index tokens, so that reads and writes ask the
        index for one first; asked once per client (``_ping`` with the default auth).
        Raises what :meth:`ping` raises, but :class:`NotFound` means no."""
        if (known := self._tokens_known()) is None:
            known = self._token_decision = self._send(_tokens_ping())
        return known

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
        from ..transfer import pull  # noqa: PLC0415 - transfers load on first use

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
        from ..transfer import push  # noqa: PLC0415 - transfers load on first use

        return push(self, archive, repo, tag, progress=progress, retry=retry)

    def close(self) -> None:
        """Close the pooled connections; the client cannot be used afterwards."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(_ClientBase[httpx.AsyncBaseTransport]):
    """Asynchronous client with the same surface; ``async with`` or :meth:`aclose`."""

    _http: httpx.AsyncClient
    _http_class = httpx.AsyncClient
    _awaits = True

    def _add_services(self) -> None:
        self.hub = AsyncHubService(self)
        self.image = AsyncImageService(self)
        self.repository = AsyncRepositoryService(self)
        self.search = AsyncSearchService(self)
        self.users = AsyncUsersService(self)

    async def _attempt(self, operation: Operation[Any], chosen: Authenticator) -> httpx.Response:
        """The awaitable twin of :meth:`Client._attempt`."""
        while True:
            request, started = self._build(operation, sending=True), time.monotonic()
            try:
                send = functools.partial(self._http.send, request, auth=chosen, stream=True)
                response = await self._budget(request).asend(send, self.retry.max_delay)
                break
            except httpx.RequestError as exc:
                httplog.failed(request, exc, started)
                if not try_next_endpoint(chosen, exc):
                    raise transport_error(exc) from exc
        if self._status(response, started) is not None:
            return response
        raise error_from_response(response, await aread_prefix(response, ERROR_BODY_LIMIT))

    async def _read_body(self, operation: Operation[Any], chosen: Authenticator) -> httpx.Response:
        """The awaitable twin of :meth:`Client._read_body`."""
        response = await self._attempt(operation, chosen)
        try:
            await aread_capped(response, self.body_limit)
        except httpx.RequestError as exc:
            raise body_error(response, exc) from exc
        finally:
            await response.aclose()
        return response

    async def _retrying(
        self,
        operation: Operation[Any],
        attempt: Callable[[Operation[Any], Authenticator], Awaitable[httpx.Response]],
    ) -> httpx.Response:
        """The awaitable twin of :meth:`Client._retrying`."""
        chosen, failures = self._auth(operation), 0
        while True:
            try:
                return await attempt(operation, chosen)
            except DockerRegistryError as error:
                failures += 1
                wait = next_wait(
                    self.retry,
                    lambda: self._build(operation),
                    operation.repeatable,
                    failures,
                    error,
                )
                if wait is None:
                    raise
            await anyio.sleep(wait)

    async def _start(self, operation: Operation[Any]) -> httpx.Response:
        """The awaitable twin of :meth:`Client._start`."""
        return await self._retrying(operation, self._attempt)

    async def _send(self, operation: Operation[T]) -> T:
        missing: NotFound | None = None
        try:
            if operation.sink is None:
                response = await self._retrying(operation, self._read_body)
            else:
                response = await self._start(operation)
        except RegistryError as error:
            if operation.otherwise is not None:
                return operation.otherwise(error)
            if operation.missing is None or not isinstance(error, NotFound):
                raise
            missing = error
        if missing is not None:  # out of the except: its own short traceback, no context
            raise await self._explained(operation, missing)
        if operation.sink is None:
            return _read(operation, response)
        try:
            async for chunk in aiter_body(response):
                if inspect.isawaitable(written := operation.sink(chunk)):
                    await written
        except httpx.RequestError as exc:
            raise body_error(response, exc) from exc
        finally:
            await response.aclose()
        return _read(operation, response)

    async def explain_not_found(self, error: NotFound) -> RegistryError:
        """See :meth:`Client.explain_not_found`."""
        operation = Operation(_no_request, _no_answer, missing=Missing())
        return await self._explained(operation, error)

    async def _explained(self, operation: Operation[Any], error: NotFound) -> RegistryError:
        """The awaitable twin of :meth:`Client._explained`."""
        plan = explain_not_found(self._learned, operation, error)
        try:
            step = next(plan)
            while True:
                try:
                    answer = await self._send(step)
                except DockerRegistryError:
                    plan.close()
                    return error
                step = plan.send(answer)
        except StopIteration as done:
            result: RegistryError = done.value
            return result

    @contextlib.asynccontextmanager
    async def _open(self, operation: Operation[Any]) -> AsyncIterator[httpx.Response]:
        response = await self._start(operation)
        try:
            yield response
        except httpx.RequestError as exc:
            raise transport_error(exc) from exc
        finally:
            await response.aclose()

    async def issues_tokens(self) -> bool:
        """The awaitable twin of :meth:`Client.issues_tokens`."""
        if (known := self._tokens_known()) is None:
            known = self._token_decision = await self._send(_tokens_ping())
        return known

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
        from ..transfer import apull  # noqa: PLC0415 - transfers load on first use

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
        from ..transfer import apush  # noqa: PLC0415 - transfers load on first use

        return await apush(self, archive, repo, tag, progress=progress, retry=retry)

    @contextlib.contextmanager
    def _sync_twin(self, check: Callable[[], None] | None = None) -> Iterator[Client]:
        """A :class:`Client` for the same registry, for one whole-image transfer: those
        are written once, with threads, and an async entry point runs them in a worker
        thread on this twin (``transfer.threaded``).

        The twin has this client's construction settings (timeout, verify, headers) and
        its current base URL, default auth, retry policy and timeout override, and it
        shares what was learned about the registry (the "issues tokens" decision) both
        ways. Its own connection pool is closed on leaving. ``check`` is called before
        each request and after each answer's headers, and may raise to stop the
        transfer. Raises :class:`InvalidInput` for a client made with a ``transport=``
        of its own: an async transport cannot drive a sync client."""
        if self._settings is None:
            raise InvalidInput(
                "client",
                "an AsyncClient made with transport=… cannot run a whole-image transfer "
                "(it runs on a sync Client in a worker thread); use a Client with a sync "
                "transport, or an AsyncClient without transport=",
            )
        settings = self._settings
        twin = Client(
            self._root,
            auth=self._default_auth,
            timeout=settings["timeout"],
            verify=settings["verify"],
            headers=settings["headers"],
            retry=self.retry,
            body_limit=self.body_limit,
            budget=self.budget,
        )
        twin._check = check
        twin._learned = self._learned  # one token decision for both
        twin._timeout = self._timeout
        twin._on_attempt = self._on_attempt
        if check is not None:
            twin._http.event_hooks = _checking_hooks(check)
        with twin:
            yield twin

    async def aclose(self) -> None:
        """Close the pooled connections; the client cannot be used afterwards."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
