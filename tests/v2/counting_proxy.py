"""A counting HTTP proxy in front of a real v2 registry (distribution), for request budgets.

Every request is forwarded as it came (the ``Host`` header too, so the ``Location`` of an
upload names the proxy and the client's next request comes back through it) and recorded
with its arrival time, method, path and status. :func:`dest_kind` names each request by
method and route family (``GET tags``, ``HEAD manifests``, ``PUT manifests``, ``HEAD
blobs``, ``POST uploads``, ``POST mount``, ``PATCH uploads``, ``PUT uploads``, ``ping``),
so a budget that is off says which kind. ``first(kind)`` gives the time the first request
of a kind arrived (the bench's "first blob upload after a restart").

Bodies are read whole before they are forwarded: the proxy is for the small blobs of
request-count tests and the scale bench, not for throughput. Each client connection has
its own kept-alive connection upstream, so the proxy adds no connection setup per request.
"""

from __future__ import annotations

import http.client
import http.server
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import attrs

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)


@attrs.frozen
class Arrival:
    at: float  # time.monotonic() when the request line was read
    method: str
    path: str  # with the query
    status: int


def dest_kind(method: str, path: str) -> str:
    """``ping`` for ``/v2/``; else METHOD and the route family: ``tags``, ``manifests``,
    ``uploads`` (``mount`` for a cross-repository mount POST), ``blobs``; ``other`` else."""
    route, _, query = path.partition("?")
    if route == "/v2/" or route == "/v2":
        return "ping"
    if route.endswith("/tags/list"):
        family = "tags"
    elif "/manifests/" in route:
        family = "manifests"
    elif "/blobs/uploads/" in route:
        family = "mount" if method == "POST" and "mount=" in query else "uploads"
    elif "/blobs/" in route:
        family = "blobs"
    else:
        family = "other"
    return f"{method} {family}"


class CountingProxy:
    """The proxy; use :func:`counting_proxy` to run one."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream if "//" in upstream else f"http://{upstream}")
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._totals: Counter[str] = Counter()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            upstream_connection: http.client.HTTPConnection | None = None

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                                pass
                            return bytes(body)
                        body += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self, body: bytes) -> http.client.HTTPResponse:
                for attempt in (1, 2):
                    if self.upstream_connection is None:
                        self.upstream_connection = http.client.HTTPConnection(
                            *proxy._upstream, timeout=120
                        )
                    connection = self.upstream_connection
                    try:
                        connection.putrequest(
                            self.command, self.path, skip_host=True, skip_accept_encoding=True
                        )
                        for key, value in self.headers.items():
                            if key.lower() not in _HOP_BY_HOP:
                                connection.putheader(key, value)
                        if body or self.command in ("POST", "PUT", "PATCH"):
                            connection.putheader("Content-Length", str(len(body)))
                        connection.endheaders(body or None)
                        return connection.getresponse()
                    except (http.client.RemoteDisconnected, ConnectionError):
                        connection.close()
                        self.upstream_connection = None
                        if attempt == 2:
                            raise
                raise AssertionError("unreachable")

            def _handle(self) -> None:
                at = time.monotonic()
                body = self._body()
                answer = self._forward(body)
                raw = answer.read()
                # Recorded before the client has the answer: a client killed meanwhile
                # still had its request carried out upstream, and a test polling the
                # counts never sees an answer it has not counted yet.
                kind = dest_kind(self.command, self.path)
                with proxy._lock:
                    proxy._arrivals.append(Arrival(at, self.command, self.path, answer.status))
                    proxy._totals[kind] += 1
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                length = answer.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(raw)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(raw)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815

            def finish(self) -> None:
                super().finish()
                if self.upstream_connection is not None:
                    self.upstream_connection.close()

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

            def handle_error(self, request: object, client_address: object) -> None:
                del request, client_address  # a client closing a kept-alive connection

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: give this to the client instead of the registry's."""
        return f"127.0.0.1:{self.port}"

    @property
    def arrivals(self) -> list[Arrival]:
        """Every request answered so far, in arrival order."""
        with self._lock:
            return sorted(self._arrivals, key=lambda a: a.at)

    def mark(self) -> int:
        """The number of requests so far: pass it to :meth:`counts` to see only later ones."""
        with self._lock:
            return len(self._arrivals)

    def counts(self, since: int = 0) -> Counter[str]:
        """Requests by :func:`dest_kind`, from the ``since``-th on."""
        with self._lock:
            chosen = self._arrivals[since:]
        return Counter(dest_kind(a.method, a.path) for a in chosen)

    def total(self, kind: str) -> int:
        """Requests of ``kind`` so far, without going through the log (cheap to poll)."""
        with self._lock:
            return self._totals[kind]

    def first(self, kind: str, since: int = 0) -> float | None:
        """When (``time.monotonic()``) the first request of ``kind`` from the ``since``-th on
        arrived; ``None`` if none did."""
        with self._lock:
            chosen = self._arrivals[since:]
        times = [a.at for a in chosen if dest_kind(a.method, a.path) == kind]
        return min(times) if times else None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def counting_proxy(upstream: str) -> Iterator[CountingProxy]:
    """A running proxy in front of ``upstream`` (``HOST:PORT`` or an http URL)."""
    proxy = CountingProxy(upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
