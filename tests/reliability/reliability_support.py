"""Helpers for the reliability tests: a scriptable hostile server, seeded chains and archives."""

from __future__ import annotations

import io
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
from docker_registry_v1 import BasicAuth
from docker_registry_v1.emulator import Emulator
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.formats.archive import ChainImage, write_loadable_archive
from docker_registry_v1.transfer import RetryPolicy
from ports import unused_port

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.1, jitter=0.0)
PASSWORD = "s3cret"
ALICE = BasicAuth("alice", PASSWORD)
IMAGE_ID = "a" * 64


def seed_chain(layers: int = 2, seed: int = 0, size: int = 4096) -> list[SeedImage]:
    return build_image_chain(layers, seed=seed, layer_size=size, gzip=False)


def save_archive(path: Path, repo: str, tag: str, chain: list[SeedImage]) -> Path:
    """A `docker save`-style archive holding ``chain``."""
    images = [ChainImage(i.id, i.json_bytes, io.BytesIO(i.layer_bytes)) for i in chain]
    return write_loadable_archive(path, repo, tag, images).path


def settled(reg: Emulator, timeout: float = 2.0) -> list[Any]:
    """The request log once it stops growing (a response may arrive before its entry)."""
    deadline = time.monotonic() + timeout
    previous = -1
    while True:
        entries = reg.log.entries
        if len(entries) == previous or time.monotonic() > deadline:
            return entries
        previous = len(entries)
        time.sleep(0.05)


def closed_port() -> int:
    return unused_port()  # outside the ephemeral range: no other test's server lands there


@attrs.frozen
class Answer:
    """What the hostile server sends: ``body`` may be shorter than ``length`` announces."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    length: int | None = None


@attrs.frozen
class Seen:
    method: str
    path: str
    headers: dict[str, str]


Script = Callable[[str, str], Answer]


class Hostile:
    """A loopback HTTP/1.0 server answering each request as ``script(method, path)`` says.

    It records every request (headers included, credentials and all: it plays the
    host that must never receive them).
    """

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.seen.append(
                    Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                answer = outer.script(self.command, self.path)
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                announced = len(answer.body) if answer.length is None else answer.length
                self.send_header("Content-Length", str(announced))
                self.end_headers()
                self.wfile.write(answer.body)
                self.wfile.flush()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.netloc = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def authorizations(self) -> set[str]:
        return {s.headers["authorization"] for s in self.seen if "authorization" in s.headers}

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def hostile(script: Script, tls: ssl.SSLContext | None = None) -> Iterator[Hostile]:
    server = Hostile(script, tls)
    try:
        yield server
    finally:
        server.stop()


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
