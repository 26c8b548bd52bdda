"""Running emulators: uvicorn listeners on loopback, served from one background event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import attrs
import uvicorn

from .app import build_app
from .compat import Compat, Mode
from .context import REGISTRY_PLACEHOLDER, EmulatorState
from .faults import ConnectionAbort, Faults
from .requestlog import RequestLog
from .storage import V1Storage
from .store import Store, split_repository

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 5.0


def _contains_abort(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if isinstance(exc, ConnectionAbort | asyncio.CancelledError):
        return True  # a request cut on purpose, or one a stop cancelled
    if isinstance(exc, BaseExceptionGroup):
        return any(_contains_abort(e) for e in exc.exceptions)
    return _contains_abort(exc.__cause__ or exc.__context__)


class _DropDeliberateAborts(logging.Filter):
    """uvicorn logs every exception that ends a response; deliberate cuts are not errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _contains_abort(record.exc_info[1]))


class _QuietProbes(logging.Filter):
    """The emulator speaks plain http, and clients that try https first on a loopback
    host (regv1 and docker do, once per host and port) send it a TLS handshake, which
    uvicorn answers 400 and logs as a warning per command; it is debug detail here."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and record.getMessage() == _INVALID_REQUEST:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger("uvicorn.error").isEnabledFor(logging.DEBUG)
        return True


_INVALID_REQUEST = "Invalid HTTP request received."
logging.getLogger("uvicorn.error").addFilter(_DropDeliberateAborts())
logging.getLogger("uvicorn.error").addFilter(_QuietProbes())


class _Server(uvicorn.Server):
    """A uvicorn server that stops as soon as asked instead of at its next 0.1 s tick."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    async def main_loop(self) -> None:
        counter = 0
        while not self.should_exit:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)
            counter += 10  # uvicorn refreshes its Date header every 10th tick
            self.should_exit = self.should_exit or await self.on_tick(counter)

    def request_exit(self, loop: asyncio.AbstractEventLoop) -> None:
        self.should_exit = True
        loop.call_soon_threadsafe(self._exit.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Close every connection now instead of uvicorn's graceful wait.

        uvicorn sleeps 0.1 s, then polls every 0.1 s for open connections and gives a
        request still in flight ``timeout_graceful_shutdown`` seconds: 0.1-2 s per stop,
        spent on nothing, because an emulator stops when its user (a test, the CLI's
        Ctrl-C) is done with it and nobody waits for an answer still being made (often
        one held back by a latency fault, whose client is gone). So in-flight requests
        are cancelled, idle keep-alive connections closed, and whatever is left after
        that is aborted, so no socket outlives the stop.
        """
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        tasks = list(self.server_state.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_TIMEOUT)
        for connection in list(self.server_state.connections):
            if not connection.transport.is_closing():
                connection.shutdown()
        # A closed transport's connection_lost (which closes its socket) was scheduled
        # before this yield, so it runs first; one still flushing a write is aborted.
        await asyncio.sleep(0)
        if self.server_state.connections:
            for connection in list(self.server_state.connections):
                connection.transport.abort()
            await asyncio.sleep(0)
        for server in self.servers:
            await server.wait_closed()


@attrs.frozen
class Listener:
    role: str
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def netloc(self) -> str:
        return self.url.removeprefix("http://")


class _EventLoopThread:
    """One daemon thread running the asyncio loop every listener of an emulator uses."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="regv1-emulator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(SHUTDOWN_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


def _validate_users(users: Mapping[str, str] | None) -> dict[str, str]:
    if users is None:
        return {}
    for name, password in users.items():
        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(f"invalid user name {name!r}: non-empty, without ':'")
        if not isinstance(password, str):
            raise TypeError(f"the password of {name!r} must be a string")
    return dict(users)


class Emulator:
    """A running emulator: its listeners, store, request log and fault rules.

    Use it as a context manager (or call :meth:`stop`); everything shuts down
    cleanly, open keep-alive connections included.
    """

    def __init__(
        self,
        mode: Mode,
        *,
        users: Mapping[str, str] | None,
        private: Iterable[str],
        data_dir: Path | str | None,
        compat: Compat,
        host: str,
        storage: V1Storage | None = None,
    ) -> None:
        configured = _validate_users(users)
        private_names = [split_repository(name) for name in private]
        if private_names and not configured:
            raise ValueError("private repositories need users (nobody could read them)")
        self.store = Store(data_dir)
        self.store.ensure_users(configured)
        for name in private_names:
            self.store.set_access(name, "private")
        self.state = EmulatorState(
            mode=mode, store=self.store, compat=compat, auth_required=bool(configured)
        )
        if storage is not None:
            self.state.storage = storage
        self.log = RequestLog()
        #: In a hub: the requests its registry sent its index to check tokens (not in ``log``).
        self.checks = RequestLog()
        self.faults = Faults()
        self.host = host
        self.listeners: list[Listener] = []
        self._servers: list[tuple[_Server, concurrent.futures.Future[None]]] = []
        self._loop = _EventLoopThread()

    @property
    def compat(self) -> Compat:
        """The compatibility switches in effect; assigning one takes effect on the next request."""
        return self.state.compat

    @compat.setter
    def compat(self, value: Compat) -> None:
        self.state.compat = value

    def issue_token(self, repository: str, access: str) -> str:
        """A token as the index would issue it (bare value), for tests that skip the index."""
        if access not in ("read", "write", "delete"):
            raise ValueError("access must be read, write or delete")
        token = self.state.tokens.issue(
            split_repository(repository), access, short=self.state.mode == "standalone"
        )
        return token.value

    def _listen(self, role: str, port: int) -> Listener:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(
            family, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )  # asyncio sets TCP_NODELAY only then
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, port))
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
        listener = Listener(role=role, host=self.host, port=sock.getsockname()[1])
        app = build_app(
            self.state,
            role,
            log=self.log,
            faults=self.faults,
            port=listener.port,
            checks=self.checks,
        )
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
        )
        server = _Server(config)
        future = asyncio.run_coroutine_threadsafe(server.serve(sockets=[sock]), self._loop.loop)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if future.done():
                future.result()
                raise RuntimeError(f"the {role} listener stopped during startup")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {role} listener did not start")
            time.sleep(0.005)
        self._servers.append((server, future))
        self.listeners.append(listener)
        return listener

    def add_cdn(self) -> str:
        """Start a layer-only listener without auth (object storage/CDN) and return its URL.

        Redirect layer GETs to it with ``faults.redirect("/v1/images/*/layer", url)``.
        """
        return self._listen("cdn", 0).url

    def stop(self) -> None:
        """Close the state and shut every listener down; raises ``TimeoutError`` if one hangs.

        At once: idle keep-alive connections are closed and requests still in flight cancelled
        (their clients get a 500 or a closed connection): nobody waits for them.
        """
        closing = asyncio.run_coroutine_threadsafe(self.state.close(), self._loop.loop)
        closing.result(SHUTDOWN_TIMEOUT)
        for server, _ in self._servers:
            server.request_exit(self._loop.loop)
        for server, future in self._servers:
            try:
                future.result(SHUTDOWN_TIMEOUT)
            except concurrent.futures.TimeoutError:
                server.force_exit = True
                future.result(SHUTDOWN_TIMEOUT)
        self._servers.clear()
        self._loop.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Standalone(Emulator):
    """One address playing registry and index (``reg.url``)."""

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        private: Iterable[str] = (),
        data_dir: Path | str | None = None,
        compat: Compat | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        storage: V1Storage | None = None,
    ) -> None:
        super().__init__(
            "standalone",
            users=users,
            private=private,
            data_dir=data_dir,
            compat=compat or Compat(),
            host=host,
            storage=storage,
        )
        try:
            self.url = self._listen("standalone", port).url
        except BaseException:
            self.stop()
            raise


class Hub(Emulator):
    """The index on ``hub.index_url``, the registry on ``hub.registry_url``, one store.

    ``endpoints`` is what the index announces in ``X-Docker-Endpoints``; the
    item ``"{registry}"`` stands for the registry listener's ``host:port``
    (the default list is just that). It can be replaced while running.
    """

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        private: Iterable[str] = (),
        data_dir: Path | str | None = None,
        compat: Compat | None = None,
        endpoints: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        index_port: int = 0,
        registry_port: int = 0,
    ) -> None:
        super().__init__(
            "hub",
            users=users,
            private=private,
            data_dir=data_dir,
            compat=compat or Compat(),
            host=host,
        )
        if endpoints is not None:
            self.endpoints = list(endpoints)
        try:
            registry = self._listen("registry", registry_port)
            self.state.registry_netloc = registry.netloc
            self.registry_url = registry.url
            self.index_url = self._listen("index", index_port).url
            self.state.index_url = self.index_url
        except BaseException:
            self.stop()
            raise

    @property
    def endpoints(self) -> list[str]:
        """The registry endpoints the index advertises in ``X-Docker-Endpoints``.

        Setting an empty list or a blank entry raises ``ValueError``.
        """
        return list(self.state.endpoints)

    @endpoints.setter
    def endpoints(self, value: Iterable[str]) -> None:
        items = list(value)
        if not items or any(not isinstance(i, str) or not i.strip() or "\n" in i for i in items):
            raise ValueError("endpoints must be non-empty strings (host[:port] or a URL)")
        self.state.endpoints = items


def run_standalone(
    *,
    users: Mapping[str, str] | None = None,
    private: Iterable[str] = (),
    data_dir: Path | str | None = None,
    compat: Compat | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    storage: V1Storage | None = None,
) -> Standalone:
    """Start a standalone emulator; use the result as a context manager. ``storage``: what
    the read routes answer from instead of the emulator's own store (a read-only face
    over a v2 registry, see ``docker_registry_v1.face``); users stay in the store."""
    return Standalone(
        users=users,
        private=private,
        data_dir=data_dir,
        compat=compat,
        host=host,
        port=port,
        storage=storage,
    )


def run_hub(
    *,
    users: Mapping[str, str] | None = None,
    private: Iterable[str] = (),
    data_dir: Path | str | None = None,
    compat: Compat | None = None,
    endpoints: Iterable[str] | None = None,
    host: str = "127.0.0.1",
    index_port: int = 0,
    registry_port: int = 0,
) -> Hub:
    """Start a hub (index + registry); use the result as a context manager."""
    return Hub(
        users=users,
        private=private,
        data_dir=data_dir,
        compat=compat,
        endpoints=endpoints,
        host=host,
        index_port=index_port,
        registry_port=registry_port,
    )


__all__ = [
    "REGISTRY_PLACEHOLDER",
    "Emulator",
    "Hub",
    "Listener",
    "Standalone",
    "run_hub",
    "run_standalone",
]
