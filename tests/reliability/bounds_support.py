"""A hostile v2 registry and a trickling layer host for the bound tests, over real sockets.

`EndlessV2` answers by the repository name in the path: ``endless/*`` streams a JSON body
that never ends, ``bomb/*`` sends a small gzip-encoded body that expands to 512 MiB,
``err/*`` answers 404 with an endless error body, ``redir/*`` a 302 whose body never
ends; ``token=True`` puts every request behind a Bearer challenge whose token endpoint
answers endlessly; ``challenge=True`` answers every request 401 with a Bearer challenge
and an endless body. `Trickle` serves any GET a byte at a time, ``every`` seconds apart.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MIB = 1 << 20
_BOMB: list[bytes] = []


def gzip_bomb() -> bytes:
    """``{"tags": ["000…"]}`` of 512 MiB, gzip-encoded into about half a MiB."""
    if not _BOMB:
        deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        zeros = b"0" * MIB
        parts = [deflate.compress(b'{"name": "bomb/app", "tags": ["')]
        parts += [deflate.compress(zeros) for _ in range(512)]
        _BOMB.append(b"".join([*parts, deflate.compress(b'"]}'), deflate.flush()]))
    return _BOMB[0]


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident size so far (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on an endless body is the point, not news


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.seen: list[tuple[str, str]] = []
        self._server = _Quiet(("127.0.0.1", 0), handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.netloc = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def endless(self, status: int, start: bytes, headers: dict[str, str] | None = None) -> None:
        """Headers, then a chunked body that goes on for 60 s or until the client hangs up."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        deadline = time.monotonic() + 60
        try:
            self._chunk(start)
            while time.monotonic() < deadline:
                self._chunk(b"a" * 65536)
        except OSError:
            return  # the client hung up, as it should
        self.close_connection = True

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class EndlessV2(_Server):
    def __init__(self, *, token: bool = False, challenge: bool = False) -> None:
        self.token = token
        self.challenge = challenge
        super().__init__(_V2Handler)


class _V2Handler(_Handler):
    def _any(self) -> None:
        owner: EndlessV2 = self.owner
        owner.seen.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        realm = f'Bearer realm="{owner.url}/token",service="hostile"'
        if path == "/token":
            self.endless(200, b'{"token": "')
        elif owner.challenge:
            self.endless(401, b'{"errors": ["', {"WWW-Authenticate": realm})
        elif owner.token and "authorization" not in {k.lower() for k in self.headers}:
            self.send(401, b"{}", {"WWW-Authenticate": realm})
        elif path == "/v2/":
            self.send(200, b"{}")
        elif path == "/v2/_catalog":
            self.endless(200, b'{"repositories": ["')
        elif path.startswith("/v2/endless/"):
            self.endless(200, b'{"schemaVersion": 2, "tags": ["')
        elif path.startswith("/v2/small/"):
            small = b'{"name": "small/app", "tags": ["a", "b"]}'
            self.send(200, gzip.compress(small), {"Content-Encoding": "gzip"})
        elif path.startswith("/v2/bomb/"):
            self.send(200, gzip_bomb(), {"Content-Encoding": "gzip"})
        elif path.startswith("/v2/err/"):
            self.endless(404, b'{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "')
        elif path.startswith("/v2/redir/"):
            self.endless(302, b"<html>", {"Location": f"{owner.url}/v2/ok/elsewhere"})
        elif self.command == "HEAD":
            self.send(404, b"")
        elif self.command == "POST":
            self.endless(500, b'{"errors": [{"code": "UNKNOWN", "message": "')
        else:
            self.send(404, b'{"errors": []}')

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _any  # noqa: N815


class Trickle(_Server):
    """Answers a GET with ``body``'s length announced (and ``Accept-Ranges``), then sends
    its first ``burst`` bytes at once and the rest one byte every ``every`` seconds
    (nothing more with ``every=None``)."""

    def __init__(self, body: bytes, every: float | None = 1.0, *, burst: int = 0) -> None:
        self.body = body
        self.every = every
        self.burst = burst
        super().__init__(_TrickleHandler)


class _TrickleHandler(_Handler):
    def do_GET(self) -> None:
        owner: Trickle = self.owner
        owner.seen.append((self.command, self.path))
        self.send_response(200)
        self.send_header("Content-Length", str(len(owner.body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        deadline = time.monotonic() + 120
        sent = owner.burst
        try:
            self.wfile.write(owner.body[:sent])
            self.wfile.flush()
            while time.monotonic() < deadline and sent < len(owner.body):
                if owner.every is None:
                    time.sleep(0.2)
                    continue
                self.wfile.write(owner.body[sent : sent + 1])
                self.wfile.flush()
                sent += 1
                time.sleep(owner.every)
        except OSError:
            return
        self.close_connection = True


@contextmanager
def running(server: _Server) -> Iterator[Any]:
    try:
        yield server
    finally:
        server.stop()


class SlowSink(_Server):
    """A v2 registry that opens upload sessions and then reads an upload's body at
    ``rate`` bytes a second (a sink that has all but stopped)."""

    def __init__(self, rate: int = 1024) -> None:
        self.rate = rate
        super().__init__(_SlowSinkHandler)


class _SlowSinkHandler(_Handler):
    def _any(self) -> None:
        owner: SlowSink = self.owner
        owner.seen.append((self.command, self.path))
        path = self.path.split("?")[0]
        if path == "/v2/":
            self.send(200, b"{}")
        elif self.command == "POST" and path.endswith("/blobs/uploads/"):
            self.send(202, b"", {"Location": f"{path}session", "Range": "0-0"})
        elif self.command in {"PATCH", "PUT"} and "/blobs/uploads/" in path:
            deadline = time.monotonic() + 120
            try:
                while time.monotonic() < deadline and self.rfile.read(owner.rate):
                    time.sleep(1)
            except OSError:
                return
            self.close_connection = True
        elif self.command == "HEAD":
            self.send(404, b"")
        else:
            self.send(404, b'{"errors": []}')

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _any  # noqa: N815
