"""A large body is read from the connection itself (`core.http.iter_body`, used by
`OCIClient.open_blob` for the v1 face, the transfers' layer reads and `get_layer`):
byte-exact over http and https to Debian's distribution, with and without an offset,
whatever h11 had buffered with the headers; a body cut short or stalled is one
`IncompleteBody` naming the bytes that came; small, chunked and mocked bodies take httpx's
own path as it comes, and their connection stays in the pool.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from direct_body import SMALL_DIRECT_BODY
from docker_registry_v1 import BasicAuth, IncompleteBody, OCIClient
from docker_registry_v1.core import http as core_http
from docker_registry_v1.core.http import DIRECT_BODY, iter_body
from v2registry import PASSWORD, USER, V2Registry

MIB = 1 << 20
HANG_GUARD = 20.0


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.usefixtures("small_direct_body")
@pytest.mark.parametrize("registry", ["v2_token", "v2_tls_basic"])
@pytest.mark.parametrize("size", [SMALL_DIRECT_BODY - 1, SMALL_DIRECT_BODY, 3 * MIB + 7])
def test_a_blob_is_byte_exact_over_http_and_https_from_any_offset(
    registry: str, size: int, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    v2: V2Registry = request.getfixturevalue(registry)
    data = os.urandom(size)
    direct: list[bool] = []  # per body read off the connection: over TLS?

    class Recorded(core_http._DirectBody):
        def __init__(self, response: httpx.Response, got: int, size: int) -> None:
            super().__init__(response, got, size)
            direct.append(self.stream.get_extra_info("ssl_object") is not None)

    monkeypatch.setattr(core_http, "_DirectBody", Recorded)
    with OCIClient(v2.url, auth=BasicAuth(USER, PASSWORD), verify=v2.verify) as client:
        client.upload_blob("body/exact", data)
        for offset in (0, 1, 65_537, size - 1):
            with client.open_blob("body/exact", _digest(data), offset=offset) as chunks:
                pieces = list(chunks)
            assert b"".join(pieces) == data[offset:]
            assert all(len(piece) <= MIB for piece in pieces)
    # from DIRECT_BODY bytes on (what is left after the offset), the body came off the
    # connection: a TLS one for https
    left = [size - offset for offset in (0, 1, 65_537, size - 1)]
    assert len(direct) == sum(rest >= SMALL_DIRECT_BODY for rest in left)
    assert direct == [registry == "v2_tls_basic"] * len(direct)


class _Origin:
    """A loopback HTTP/1.1 server answering every GET with ``answer(conn)``; counts the
    connections it accepted (a direct body closes its connection after it)."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffered += data
                _, _, buffered = buffered.partition(b"\r\n\r\n")
                try:
                    self._answer(conn)
                except OSError:
                    return

    def close(self) -> None:
        self._listener.close()


@contextmanager
def _origin(answer: Callable[[socket.socket], None]) -> Iterator[_Origin]:
    server = _Origin(answer)
    try:
        yield server
    finally:
        server.close()


def _head(length: int) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _fetched(client: httpx.Client, url: str, size: int = MIB) -> bytes:
    """The body of a GET of ``url``, read with `iter_body` in pieces of up to ``size``."""
    response = client.send(client.build_request("GET", url + "/blob"), stream=True)
    try:
        return b"".join(iter_body(response, size))
    finally:
        response.close()


@pytest.mark.usefixtures("small_direct_body")
@pytest.mark.parametrize("with_head", [0, 1, 60_000, 300_000])
def test_what_h11_buffered_with_the_headers_comes_first_then_the_socket(with_head: int) -> None:
    """The first bytes of the body arrive in the same segment as the headers (h11 holds
    them), the rest in uneven writes: the pieces still join to the body, in order."""
    body = os.urandom(2 * MIB + 3)

    def answer(conn: socket.socket) -> None:
        conn.sendall(_head(len(body)) + body[:with_head])
        at = with_head
        for step in (1, 4096, 100_000, 7, MIB):
            conn.sendall(body[at : at + step])
            at += step
            time.sleep(0.01)
        conn.sendall(body[at:])

    with _origin(answer) as origin, httpx.Client(timeout=HANG_GUARD) as client:
        assert _fetched(client, origin.url) == body
        # the connection is not reused after a body read past the parser: the next GET
        # opens a second one
        assert _fetched(client, origin.url) == body
        assert origin.connections == 2


@pytest.mark.usefixtures("small_direct_body")
def test_a_small_body_takes_httpx_path_and_its_connection_is_reused() -> None:
    body = os.urandom(SMALL_DIRECT_BODY - 1)

    def answer(conn: socket.socket) -> None:
        conn.sendall(_head(len(body)) + body)

    with _origin(answer) as origin, httpx.Client(timeout=HANG_GUARD) as client:
        for _ in range(3):
            assert _fetched(client, origin.url, 256 * 1024) == body
        assert origin.connections == 1


@pytest.mark.usefixtures("small_direct_body")
def test_a_body_cut_short_is_an_incomplete_body_naming_what_came() -> None:
    def answer(conn: socket.socket) -> None:
        conn.sendall(_head(3 * MIB) + os.urandom(2 * MIB))
        conn.shutdown(socket.SHUT_WR)
        raise OSError("cut")  # ends the connection

    with (
        _origin(answer) as origin,
        httpx.Client(timeout=HANG_GUARD) as client,
        pytest.raises(IncompleteBody) as caught,
    ):
        _fetched(client, origin.url)
    message = str(caught.value)
    assert f"body ended after {2 * MIB} of {3 * MIB} bytes" in message
    assert origin.url.removeprefix("http://") in message


@pytest.mark.usefixtures("small_direct_body")
def test_a_stalled_body_ends_at_the_read_timeout() -> None:
    release = threading.Event()

    def answer(conn: socket.socket) -> None:
        conn.sendall(_head(3 * MIB) + os.urandom(MIB + 5))
        release.wait(HANG_GUARD)

    with _origin(answer) as origin, httpx.Client(timeout=httpx.Timeout(5, read=0.5)) as client:
        started = time.monotonic()
        try:
            with pytest.raises(IncompleteBody) as caught:
                _fetched(client, origin.url)
        finally:
            release.set()
        assert time.monotonic() - started < 5
    assert f"body ended after {MIB + 5} of {3 * MIB} bytes (timed out)" in str(caught.value)


def test_a_body_without_a_socket_is_httpx_s_pieces_as_they_come() -> None:
    body = os.urandom(3 * MIB)
    sent = [body[at : at + 65536] for at in range(0, len(body), 65536)]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(len(body))}, content=sent)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        response = client.send(client.build_request("GET", "http://mock/blob"), stream=True)
        chunks = list(iter_body(response, MIB))
    assert chunks == sent  # none held back to fill a piece: a resume or a stall guard
    # sees every byte as it came


def test_the_default_threshold_reads_a_32_mib_body_off_the_connection(
    v2_open: V2Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In use (no threshold lowered), a body of `DIRECT_BODY` bytes takes the direct path
    and one just below it httpx's."""
    data = os.urandom(DIRECT_BODY + 1)
    direct: list[int] = []

    class Recorded(core_http._DirectBody):
        def __init__(self, response: httpx.Response, got: int, size: int) -> None:
            super().__init__(response, got, size)
            direct.append(self.length)

    monkeypatch.setattr(core_http, "_DirectBody", Recorded)
    with OCIClient(v2_open.url) as client:
        client.upload_blob("body/default", data)
        for offset in (0, 1, 2):
            with client.open_blob("body/default", _digest(data), offset=offset) as chunks:
                assert b"".join(chunks) == data[offset:]
    assert direct == [DIRECT_BODY + 1, DIRECT_BODY]
