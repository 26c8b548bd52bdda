"""Distribution's registry (Debian's ``docker-registry``) as a real v2 server for tests.

Each `V2Registry` is the real binary on a free loopback port (tests/ports.py) with a generated
config: filesystem storage in a temporary directory, deletes enabled, and one of
three auth modes: none, ``htpasswd`` Basic (a bcrypt file made here), or
``token`` with a `TokenIssuer` (a self-signed certificate and a loopback token
endpoint signing RS256 JWTs with ``x5c``).

Given a `tls_support.TLSMaterial`, the registry serves https with the test CA's
loopback certificate (distribution's ``http.tls``) and is named ``localhost:PORT``,
the way people name a registry whose certificate they made; its token issuer then
serves https too, since a client rightly refuses an http realm for an https registry.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import attrs
import bcrypt
import httpx
import jwt
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from docker_registry_v1.emulator.requestlog import redact_authorization
from ports import ATTEMPTS, unused_port
from system_tools import require_tool
from tls_support import TLSMaterial

USER = "mover"
PASSWORD = "v2-s3cret"
SERVICE = "test-registry"
ISSUER = "test-issuer"
LEEWAY = 60
"""Seconds distribution still accepts a token past its ``exp`` (its token package's Leeway)."""
READY_WITHIN = 30.0
"""Seconds the registry may take to answer its first request on a loaded machine."""

Mode = Literal["none", "htpasswd", "token"]


class _PortTakenError(RuntimeError):
    """The registry exited because another process had its port."""


def _self_signed() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@attrs.define
class TokenIssuer:
    """Distribution's token endpoint, on loopback: grants every requested scope to `USER`.

    Anonymous requests get a token without access, so the registry answers
    ``insufficient_scope`` as real issuers make it do. `lifetime` is settable
    (the expired-token-mid-copy case): ``exp`` is signed `LEEWAY` seconds early,
    so the registry refuses a token exactly when its ``expires_in`` says.
    `requests` records each query; `authorizations` each ``Authorization`` header
    as the emulator's request log shows it (Basic ``user:password`` as a short
    fingerprint), so a test can tell whose credentials arrived without keeping them.
    `rules` limits what `USER` gets per repository: ``{"acme/base": {"push"}}`` grants
    only push there (no pull: mounts from it are refused), ``set()`` nothing;
    repositories not named get every action asked.
    """

    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    lifetime: int = 300
    rules: dict[str, set[str]] = attrs.field(factory=dict)
    requests: list[dict[str, list[str]]] = attrs.field(factory=list)
    authorizations: list[str] = attrs.field(factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    @classmethod
    def create(cls) -> TokenIssuer:
        key, cert = _self_signed()
        return cls(key=key, cert=cert)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return secrets.compare_digest(f"{user}:{password}", f"{USER}:{PASSWORD}")

    def issue(self, scopes: list[str], authorised: bool) -> dict[str, Any]:
        now = int(time.time())
        access = []
        for scope in scopes if authorised else []:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",") if a in self.rules.get(name, {a})]
            if granted:
                access.append({"type": kind, "name": name, "actions": granted})
        claims = {
            "iss": ISSUER,
            "sub": USER if authorised else "",
            "aud": SERVICE,
            "exp": now + self.lifetime - LEEWAY,
            "nbf": now - LEEWAY,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        der = self.cert.public_bytes(serialization.Encoding.DER)
        token = jwt.encode(
            claims, self.key, algorithm="RS256", headers={"x5c": [base64.b64encode(der).decode()]}
        )
        return {"token": token, "expires_in": self.lifetime, "issued_at": dt.datetime.now(dt.UTC)}

    def start(self, tls: ssl.SSLContext | None = None) -> None:
        """Serve on a free loopback port; over https with ``tls`` (a server context)."""
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                issuer.requests.append(query)
                header = self.headers.get("Authorization")
                if header is not None:
                    issuer.authorizations.append(redact_authorization(header))
                if header is not None and not issuer._authorised(header):
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = issuer.issue(query.get("scope", []), header is not None)
                body = json.dumps(answer, default=lambda d: d.isoformat()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test's own assertions say what happened."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        scheme = "http" if tls is None else "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}/token"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@attrs.define
class V2Registry:
    mode: Mode
    port: int
    root: Path
    issuer: TokenIssuer | None
    process: subprocess.Popen[bytes]
    log_path: Path
    tls: TLSMaterial | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, or ``localhost:PORT`` over https (the certificate's first name)."""
        return f"{'127.0.0.1' if self.tls is None else 'localhost'}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'http' if self.tls is None else 'https'}://{self.host}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify`` for this registry: the test CA over https."""
        return True if self.tls is None else self.tls.client_context()

    @property
    def credentials(self) -> tuple[str, str] | None:
        return None if self.mode == "none" else (USER, PASSWORD)

    def log_lines(self) -> list[str]:
        """The registry's request log, one ``response completed`` line per request."""
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if "response completed" in line
        ]

    def wait_for_log(self, fragment: str, *, count: int = 1, within: float = 10.0) -> str:
        """The whole log once ``fragment`` occurs ``count`` times; fails after ``within`` s.

        Distribution writes some lines after the client has gone (a refused TLS
        handshake is logged when the client's alert arrives), so a test reading the
        log right after a failed connection must wait for them.
        """
        deadline = time.monotonic() + within
        while True:
            text = self.log_path.read_text(errors="replace")
            if text.count(fragment) >= count:
                return text
            if time.monotonic() >= deadline:
                raise AssertionError(f"{fragment!r} not {count} times in the log within {within} s")
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.issuer is not None:
            self.issuer.stop()


def _auth_config(mode: Mode, root: Path, issuer: TokenIssuer | None) -> dict[str, Any]:
    if mode == "htpasswd":
        entry = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
        htpasswd = root / "htpasswd"
        htpasswd.write_text(f"{USER}:{entry}\n")
        return {"htpasswd": {"realm": "v2-test", "path": str(htpasswd)}}
    if mode == "token":
        assert issuer is not None
        bundle = root / "issuer.pem"
        bundle.write_bytes(issuer.cert_pem())
        return {
            "token": {
                "realm": issuer.url,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(bundle),
            }
        }
    return {}


def _wait_ready(registry: V2Registry) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            log = registry.log_path.read_text(errors="replace")
            if "address already in use" in log:
                raise _PortTakenError(log)
            raise RuntimeError(f"docker-registry exited:\n{log}")
        try:
            answer = httpx.get(f"{registry.url}/v2/", timeout=2, verify=registry.verify)
        except httpx.TransportError as exc:
            if "CERTIFICATE" in str(exc):  # no use waiting: the test PKI is wrong
                raise RuntimeError(f"docker-registry's certificate was refused: {exc}") from exc
            time.sleep(0.05)
            continue
        if "docker-distribution-api-version" not in answer.headers:
            time.sleep(0.05)  # not distribution: whoever took the port, until it gives up
            continue
        if answer.status_code in (200, 401):
            return
        raise RuntimeError(f"docker-registry answered {answer.status_code} to GET /v2/")
    raise RuntimeError(f"docker-registry not ready within {READY_WITHIN} s")


def _registry_environment() -> dict[str, str]:
    """This process's environment without ``REGISTRY_*``.

    Distribution reads every ``REGISTRY_<SECTION>_<KEY>`` variable as a configuration
    override, so a test's ``REGISTRY_AUTH_FILE`` (podman's and skopeo's auth file)
    would otherwise become distribution's ``auth.file`` and stop it starting.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


@contextmanager
def run_registry(
    mode: Mode, root: Path, tls: TLSMaterial | None = None, *, deletes: bool = True
) -> Iterator[V2Registry]:
    """The registry in ``mode`` under ``root``; over https with ``tls``; ``deletes=False``
    answers every delete 405 ``UNSUPPORTED``, as distribution does by default."""
    binary = require_tool("docker-registry")
    root.mkdir(parents=True, exist_ok=True)
    issuer: TokenIssuer | None = None
    if mode == "token":
        issuer = TokenIssuer.create()
        issuer.start(None if tls is None else tls.server_context())
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "storage")},
            "delete": {"enabled": deletes},
        },
        "http": {"secret": secrets.token_hex(16)},
    }
    if tls is not None:
        config["http"]["tls"] = {"certificate": str(tls.server_cert), "key": str(tls.server_key)}
    auth = _auth_config(mode, root, issuer)
    if auth:
        config["auth"] = auth
    config_path = root / "config.yml"
    log_path = root / "registry.log"
    for attempt in range(1, ATTEMPTS + 1):
        port = unused_port()
        config["http"]["addr"] = f"127.0.0.1:{port}"
        config_path.write_text(yaml.safe_dump(config))
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_registry_environment(),
            )
        registry = V2Registry(mode, port, root, issuer, process, log_path, tls)
        try:
            _wait_ready(registry)
        except _PortTakenError:
            if attempt < ATTEMPTS:
                continue  # it has exited; the issuer stays up for the next try
            registry.stop()
            raise
        except BaseException:
            registry.stop()
            raise
        break
    try:
        yield registry
    finally:
        registry.stop()
