"""Performing plan steps over the pooled httpx client: one sync and one async runner.

Per-call state (the authenticator chosen for this call, the last response seen) lives
in a ``ContextVar``. The pooled client's ``auth`` is a dispatcher that reads it, so the
generated endpoint functions — which take no auth argument — still send each call
with its own credentials; the response hooks read it to record the raw response.
Context variables are per thread and per asyncio task, so concurrent calls on one
client do not see each other's credentials.

Errors are raised from the response hooks, before the generated code parses a
body: that code JSON-decodes every documented status and would choke on the HTML
pages registries return for 404/405/500.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import stat
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

import anyio.to_thread
import attrs
import httpx
from docker_registry_v1_api import Client as GeneratedClient

from .auth import Authenticator, BasicAuth, NilAuth, try_next_endpoint
from .errors import (
    IncompleteBody,
    InvalidInput,
    RegistryError,
    error_from_response,
    invalid_response,
    transport_error,
)
from .steps import Call, Exchange, Plan, Reply, Step, Tally

__all__ = ["AsyncRunner", "Dispatch", "SyncRunner", "async_response_hook", "sync_response_hook"]

T = TypeVar("T")

# Uploads read 1 MiB at a time: fewer reads, sends and (async) thread hops per layer.
# Downloads take the chunks as the transport delivers them; re-chunking would copy each.
UPLOAD_CHUNK_SIZE = 1 << 20
_PARSE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, RecursionError)


@attrs.define
class _CallState:
    auth: Authenticator
    response: httpx.Response | None = None


_CALL: ContextVar[_CallState | None] = ContextVar("docker_registry_v1_call", default=None)


def _current_auth() -> Authenticator:
    state = _CALL.get()
    return state.auth if state is not None else NilAuth()


class Dispatch(httpx.Auth):
    """The pooled client's auth: hands each request to the current call's authenticator,
    or to the one it was made for (streams that outlive the call context)."""

    def __init__(self, chosen: Authenticator | None = None) -> None:
        self._chosen = chosen

    def _auth(self) -> Authenticator:
        return self._chosen if self._chosen is not None else _current_auth()

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        yield from self._auth().sync_auth_flow(request)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._auth().async_auth_flow(request)
        request = await flow.__anext__()
        while True:
            response = yield request
            try:
                request = await flow.asend(response)
            except StopAsyncIteration:
                return


def _record(response: httpx.Response) -> bool:
    """Remember the response for the call; say whether it must become an error."""
    state = _CALL.get()
    if state is not None:
        state.response = response
    return not response.is_success and not response.has_redirect_location


def sync_response_hook(response: httpx.Response) -> None:
    if _record(response):
        response.read()
        raise error_from_response(response)


async def async_response_hook(response: httpx.Response) -> None:
    if _record(response):
        await response.aread()
        raise error_from_response(response)


# ---------------------------------------------------------------- shared machinery


class _Driver(Generic[T]):
    """Steps a plan generator; ``None`` from a method means the plan has finished."""

    def __init__(self, plan: Plan[T]) -> None:
        self._plan = plan
        self.result: T

    def _advance(self, resume: Callable[[], Step]) -> Step | None:
        try:
            return resume()
        except StopIteration as stop:
            self.result = stop.value
            return None

    def start(self) -> Step | None:
        return self._advance(lambda: next(self._plan))

    def send(self, reply: Reply) -> Step | None:
        return self._advance(lambda: self._plan.send(reply))

    def throw(self, error: RegistryError) -> Step | None:
        return self._advance(lambda: self._plan.throw(error))


def _remaining_length(source: Any) -> int | None:
    """Bytes left in a file-like source, when that can be known without reading it."""
    try:
        info = os.fstat(source.fileno())
        if stat.S_ISREG(info.st_mode):
            return max(int(info.st_size - source.tell()), 0)
    except (AttributeError, OSError, ValueError):
        pass
    try:
        if source.seekable():
            here = source.tell()
            end = source.seek(0, os.SEEK_END)
            source.seek(here)
            return int(end - here)
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _with_body(step: Exchange, stream: Callable[[Any, Tally], Any]) -> dict[str, Any]:
    """The request kwargs with the upload attached: bytes as is, anything else streamed."""
    source, tally = step.upload, step.tally
    if source is None or tally is None:
        return step.request
    request = dict(step.request)
    headers = dict(request.get("headers", {}))
    if isinstance(source, bytes):
        request["content"] = tally.update(source)
        length: int | None = len(source)
    else:
        request["content"] = stream(source, tally)
        length = _remaining_length(source)
    if length is not None:
        headers["Content-Length"] = str(length)
    request["headers"] = headers
    return request


class _Meter:
    """Checks a streamed body against its ``Content-Length``."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        announced = response.headers.get("Content-Length", "")
        self.expected = int(announced) if announced.isdigit() else None
        self.written = 0

    def count(self, chunk: bytes) -> bytes:
        self.written += len(chunk)
        return chunk

    def check(self) -> None:
        got = self.response.num_bytes_downloaded
        if self.expected is not None and got < self.expected:
            raise invalid_response(
                self.response,
                f"body ended after {got} of {self.expected} bytes",
                IncompleteBody,
            )


class _RunnerBase:
    def __init__(
        self, api: GeneratedClient, default_auth: Authenticator, origin: Callable[[], str]
    ) -> None:
        self.api = api
        self.default_auth = default_auth
        self._origin = origin

    def _state(self, auth: Authenticator | None) -> _CallState:
        chosen = self.default_auth if auth is None else auth
        if not isinstance(chosen, Authenticator):
            raise InvalidInput("auth", f"expected an authenticator, got {type(chosen).__name__}")
        if isinstance(chosen, BasicAuth):
            chosen = chosen.bound_to(self._origin())
        return _CallState(chosen)

    @staticmethod
    def _reply(state: _CallState, parsed: Any, written: int = 0) -> Reply:
        assert state.response is not None, "the response hook records every response"
        return Reply(state.response, parsed, written)

    @staticmethod
    def _parse_failure(state: _CallState, exc: Exception) -> RegistryError:
        assert state.response is not None
        return invalid_response(state.response, f"unexpected body ({type(exc).__name__})")


# ---------------------------------------------------------------- sync


def _sync_chunks(source: Any, tally: Tally) -> Iterator[bytes]:
    if callable(getattr(source, "read", None)):
        while chunk := source.read(UPLOAD_CHUNK_SIZE):
            yield tally.update(chunk)
    else:
        for chunk in source:
            yield tally.update(chunk)


class SyncRunner(_RunnerBase):
    def run(self, plan: Plan[T], auth: Authenticator | None) -> T:
        token = _CALL.set(self._state(auth))
        try:
            driver = _Driver(plan)
            step = driver.start()
            while step is not None:
                try:
                    reply = self._perform(step)
                except RegistryError as error:
                    step = driver.throw(error)
                else:
                    step = driver.send(reply)
            return driver.result
        finally:
            _CALL.reset(token)

    def _perform(self, step: Step) -> Reply:
        state = _CALL.get()
        assert state is not None
        while True:
            try:
                if isinstance(step, Call):
                    return self._call(step, state)
                return self._exchange(step, state)
            except httpx.RequestError as exc:
                if not try_next_endpoint(state.auth, exc):
                    raise transport_error(exc) from exc

    @contextlib.contextmanager
    def open_stream(
        self, request: dict[str, Any], auth: Authenticator | None
    ) -> Iterator[httpx.Response]:
        """Send a seam request and hand its response over before the body is read.

        The authenticator is passed with the request rather than through the call
        context, so the stream may stay open while other calls run (a mirror feeds it
        into an upload). Non-2xx answers still raise through the response hook, and
        transport failures while the body is read (a server closing the connection
        early) come out as :class:`RegistryConnectionError`, the ``httpx`` error as
        its ``__cause__``, like those of every other call.
        """
        http = self.api.get_httpx_client()
        try:
            with http.stream(**request, auth=Dispatch(self._state(auth).auth)) as response:
                yield response
        except httpx.RequestError as exc:
            raise transport_error(exc) from exc

    def _call(self, step: Call, state: _CallState) -> Reply:
        try:
            result = step.endpoint.sync_detailed(*step.args, client=self.api, **step.kwargs)
        except _PARSE_ERRORS as exc:
            raise self._parse_failure(state, exc) from exc
        return self._reply(state, result.parsed)

    def _exchange(self, step: Exchange, state: _CallState) -> Reply:
        if hasattr(step.upload, "__aiter__"):
            raise InvalidInput("layer", "async iterables need the AsyncClient")
        http = self.api.get_httpx_client()
        with http.stream(**_with_body(step, _sync_chunks)) as response:
            meter = _Meter(response)
            if step.download is None:
                response.read()
                return self._reply(state, None)
            try:
                for chunk in response.iter_bytes():
                    step.download.write(meter.count(chunk))
            except httpx.TransportError:
                meter.check()
                raise
            meter.check()
        return self._reply(state, None, meter.written)


# ---------------------------------------------------------------- async


async def _async_chunks(source: Any, tally: Tally) -> AsyncIterator[bytes]:
    if hasattr(source, "__aiter__"):
        async for chunk in source:
            yield tally.update(chunk)
    elif callable(getattr(source, "read", None)):
        while chunk := await anyio.to_thread.run_sync(source.read, UPLOAD_CHUNK_SIZE):
            yield tally.update(chunk)
    else:
        for chunk in source:
            yield tally.update(chunk)


class AsyncRunner(_RunnerBase):
    async def run(self, plan: Plan[T], auth: Authenticator | None) -> T:
        token = _CALL.set(self._state(auth))
        try:
            driver = _Driver(plan)
            step = driver.start()
            while step is not None:
                try:
                    reply = await self._perform(step)
                except RegistryError as error:
                    step = driver.throw(error)
                else:
                    step = driver.send(reply)
            return driver.result
        finally:
            _CALL.reset(token)

    async def _perform(self, step: Step) -> Reply:
        state = _CALL.get()
        assert state is not None
        while True:
            try:
                if isinstance(step, Call):
                    return await self._call(step, state)
                return await self._exchange(step, state)
            except httpx.RequestError as exc:
                if not try_next_endpoint(state.auth, exc):
                    raise transport_error(exc) from exc

    @contextlib.asynccontextmanager
    async def open_stream(
        self, request: dict[str, Any], auth: Authenticator | None
    ) -> AsyncIterator[httpx.Response]:
        """The async twin of :meth:`SyncRunner.open_stream`."""
        http = self.api.get_async_httpx_client()
        try:
            async with http.stream(**request, auth=Dispatch(self._state(auth).auth)) as response:
                yield response
        except httpx.RequestError as exc:
            raise transport_error(exc) from exc

    async def _call(self, step: Call, state: _CallState) -> Reply:
        try:
            result = await step.endpoint.asyncio_detailed(
                *step.args, client=self.api, **step.kwargs
            )
        except _PARSE_ERRORS as exc:
            raise self._parse_failure(state, exc) from exc
        return self._reply(state, result.parsed)

    async def _exchange(self, step: Exchange, state: _CallState) -> Reply:
        http = self.api.get_async_httpx_client()
        async with http.stream(**_with_body(step, _async_chunks)) as response:
            meter = _Meter(response)
            if step.download is None:
                await response.aread()
                return self._reply(state, None)
            try:
                async for chunk in response.aiter_bytes():
                    written = step.download.write(meter.count(chunk))
                    if inspect.isawaitable(written):
                        await written
            except httpx.TransportError:
                meter.check()
                raise
            meter.check()
        return self._reply(state, None, meter.written)
