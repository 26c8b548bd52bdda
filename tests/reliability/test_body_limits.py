"""Bodies read into memory are bounded: an endless JSON answer, or a small gzip-encoded one
that expands to gigabytes, is refused as InvalidResponse once it passes the client's
``body_limit``, having held no more than that; served over a real socket."""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from docker_registry_v1 import AsyncClient, Client, InvalidInput, InvalidResponse

MIB = 1 << 20
BOMB = b""


def _bomb() -> bytes:
    """``{"a": "000…"}`` of 512 MiB, gzip-encoded into about half a MiB."""
    global BOMB  # noqa: PLW0603 - built once, on first use
    if not BOMB:
        deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        zeros = b"0" * MIB
        parts = [deflate.compress(b'{"latest": "')]
        parts += [deflate.compress(zeros) for _ in range(512)]
        BOMB = b"".join([*parts, deflate.compress(b'"}'), deflate.flush()])
    return BOMB


class _Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    accepted: list[str] = []  # noqa: RUF012 - what each request offered

    def do_GET(self) -> None:
        self.accepted.append(self.headers.get("Accept-Encoding", ""))
        if self.path.endswith("/_ping"):
            self._send(b"true", {"X-Docker-Registry-Standalone": "true"})
        elif self.path.endswith("/endless/tags"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(b'{"latest": "')
            deadline = time.monotonic() + 30
            try:
                while time.monotonic() < deadline:
                    self._chunk(b"a" * 65536)
            except OSError:
                return  # the client hung up, as it should
        elif self.path.endswith("/bomb/tags"):
            self._send(_bomb(), {"Content-Encoding": "gzip"})
        else:
            self._send(b'{"latest": "' + b"a" * 64 + b'"}', {})

    def _send(self, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("repo", ["team/endless", "team/bomb"])
def test_a_body_past_the_limit_is_refused_having_held_no_more(hostile: str, repo: str) -> None:
    with Client(hostile, body_limit=4 * MIB, retry=None) as client:
        tracemalloc.start()
        try:
            started = time.monotonic()
            with pytest.raises(InvalidResponse, match="body_limit"):
                client.repository.list_tags(repo)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert time.monotonic() - started < 10
    assert peak < 16 * MIB, f"{peak / MIB:.1f} MiB held"
    with gzip.open(__import__("io").BytesIO(_bomb())) as expanded:  # the bomb is real
        assert len(expanded.read(8 * MIB)) == 8 * MIB


def test_a_body_within_the_limit_is_read(hostile: str) -> None:
    with Client(hostile, body_limit=4 * MIB) as client:
        assert dict(client.repository.list_tags("team/app").items()) == {"latest": "a" * 64}
    # only what the capped reader undoes is offered, whatever codec packages are installed
    assert _Hostile.accepted[-1] == "gzip, deflate"


@pytest.mark.anyio
async def test_the_async_client_has_the_same_bound(hostile: str) -> None:
    async with AsyncClient(hostile, body_limit=MIB, retry=None) as client:
        with pytest.raises(InvalidResponse, match="body_limit"):
            await client.repository.list_tags("team/bomb")


@pytest.mark.parametrize("limit", [0, -1, True, 1.5])
def test_a_limit_must_be_a_positive_count(limit: object) -> None:
    with pytest.raises(InvalidInput, match="body_limit"):
        Client("http://127.0.0.1:1", body_limit=limit)  # type: ignore[arg-type]
