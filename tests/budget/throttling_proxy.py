"""A tiny HTTP proxy in front of a real registry that answers every Nth request itself
with ``429 Too Many Requests`` and ``Retry-After``, as a rate-limited registry does,
and logs when each request arrived (its own clock: the server's view of the wire)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import httpx

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)


@attrs.frozen
class Arrival:
    at: float  # time.monotonic() when the request's headers were read
    method: str
    path: str
    status: int
    answered: float  # time.monotonic() when the answer was written


class ThrottlingProxy:
    def __init__(self, upstream: str, every: int, retry_after: int) -> None:
        self.upstream = upstream
        self.every = every
        self.retry_after = retry_after
        self.lock = threading.Lock()
        self.arrivals: list[Arrival] = []
        self._count = 0
        self._http = httpx.Client(base_url=upstream, timeout=60)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

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

            def _handle(self) -> None:
                at = time.monotonic()
                body = self._body()
                with proxy.lock:
                    proxy._count += 1
                    refuse = proxy._count % proxy.every == 0
                if refuse:
                    payload = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
                    self.send_response(429)
                    self.send_header("Retry-After", str(proxy.retry_after))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    proxy._arrived(Arrival(at, self.command, self.path, 429, time.monotonic()))
                    return
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
                request = proxy._http.build_request(
                    self.command, self.path, headers=headers, content=body
                )
                answer = proxy._http.send(request, stream=True)
                try:
                    raw = b"".join(answer.iter_raw())
                finally:
                    answer.close()
                self.send_response(answer.status_code)
                for key, value in answer.headers.multi_items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                length = answer.headers.get("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(raw)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(raw)
                proxy._arrived(
                    Arrival(at, self.command, self.path, answer.status_code, time.monotonic())
                )

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                del request, client_address  # a client closing a kept-alive connection

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _arrived(self, arrival: Arrival) -> None:
        with self.lock:
            self.arrivals.append(arrival)

    def snapshot(self) -> list[Arrival]:
        with self.lock:
            return sorted(self.arrivals, key=lambda a: a.at)


@contextmanager
def throttling_proxy(upstream: str, *, every: int, retry_after: int) -> Iterator[ThrottlingProxy]:
    proxy = ThrottlingProxy(upstream, every, retry_after)
    proxy._thread.start()
    try:
        yield proxy
    finally:
        proxy._server.shutdown()
        proxy._server.server_close()
        proxy._http.close()
