"""TLS per side: a cert dir's CAs and client certificate, the probe's verdicts, and the
one error line a certificate failure gives, against a real TLS server on loopback.

The server is Python's own HTTP server behind an ``ssl`` context whose certificates
are made here with ``cryptography``; it answers ``/v1/_ping`` as a v1 registry does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs
import pytest
from cli_support import assert_one_line_failure, chain, netloc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from docker_registry_v1.core.errors import InvalidInput
from docker_registry_v1.core.tls import (
    TLSConfig,
    TLSVerificationError,
    choose_scheme,
    clear_scheme_cache,
    ssl_context,
)
from docker_registry_v1.emulator import Standalone
from regv1_runner import regv1


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _issue(
    subject: str,
    issuer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(subject) if issuer is None else issuer[1].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    signer = key if issuer is None else issuer[0]
    return key, builder.sign(signer, hashes.SHA256())


@attrs.frozen
class Pki:
    """A test CA; a server certificate for 127.0.0.1/localhost; a client certificate."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key.pem"

    @property
    def cert_dir(self) -> Path:
        """As containers-certs.d lays it out: ``ca.crt``, ``client.cert``, ``client.key``."""
        return self.directory / "certs.d"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    made = Pki(tmp_path_factory.mktemp("pki"))
    ca = _issue("regv1 test CA", None, ca=True)
    server_key, server_cert = _issue("127.0.0.1", ca, server=True)
    client_key, client_cert = _issue("regv1 client", ca)
    pem = serialization.Encoding.PEM
    made.ca.write_bytes(ca[1].public_bytes(pem))
    made.server_cert.write_bytes(server_cert.public_bytes(pem))
    made.server_key.write_bytes(_pem_key(server_key))
    made.cert_dir.mkdir()
    (made.cert_dir / "ca.crt").write_bytes(ca[1].public_bytes(pem))
    (made.cert_dir / "client.cert").write_bytes(client_cert.public_bytes(pem))
    (made.cert_dir / "client.key").write_bytes(_pem_key(client_key))
    return made


class _Ping(BaseHTTPRequestHandler):
    """``/v1/_ping`` as a standalone v1 registry answers it; 404 for everything else."""

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        body = b"true" if self.path == "/v1/_ping" else b"{}"
        self.send_response(200 if self.path == "/v1/_ping" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Docker-Registry-Standalone", "true")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads ``requests``."""


@attrs.define
class TLSServer:
    port: int
    requests: list[str]

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"


def _serve(pki: Pki, *, client_cert: bool) -> Iterator[TLSServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(pki.ca))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ping)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    requests: list[str] = []
    httpd.requests = requests  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    clear_scheme_cache()
    try:
        yield TLSServer(httpd.server_address[1], requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
        clear_scheme_cache()


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[TLSServer]:
    yield from _serve(pki, client_cert=False)


@pytest.fixture
def mtls_server(pki: Pki) -> Iterator[TLSServer]:
    yield from _serve(pki, client_cert=True)


def test_a_cert_dir_adds_its_cas_and_client_certificate(pki: Pki, tmp_path: Path) -> None:
    context = ssl_context(TLSConfig(cert_dir=pki.cert_dir))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    subjects = [dict(x[0] for x in ca["subject"]) for ca in context.get_ca_certs()]
    assert {"commonName": "regv1 test CA"} in subjects
    assert ssl_context(TLSConfig(verify=False)) is False
    lone_key = tmp_path / "lone"
    lone_key.mkdir()
    (lone_key / "client.key").write_bytes((pki.cert_dir / "client.key").read_bytes())
    with pytest.raises(InvalidInput, match=r"client\.key has no client\.cert"):
        ssl_context(TLSConfig(cert_dir=lone_key))


def test_the_probe_verifies_and_never_falls_back_on_a_bad_certificate(
    pki: Pki, tls_server: TLSServer
) -> None:
    with pytest.raises(TLSVerificationError, match=tls_server.netloc):
        choose_scheme("127.0.0.1", tls_server.port, TLSConfig())
    trusted = TLSConfig(cert_dir=pki.cert_dir)
    assert choose_scheme("127.0.0.1", tls_server.port, trusted) == "https"
    clear_scheme_cache()
    assert choose_scheme("127.0.0.1", tls_server.port, TLSConfig(verify=False)) == "https"


def test_a_loopback_tls_registry_is_reached_over_https(pki: Pki, tls_server: TLSServer) -> None:
    result = regv1("ping", tls_server.netloc, "--ca-cert", str(pki.ca), "--json")
    assert result.exit_code == 0, result.output
    assert tls_server.requests == ["/v1/_ping"]


def test_one_sided_commands_take_no_tls_verify(tls_server: TLSServer) -> None:
    refused = regv1("ping", tls_server.netloc)
    assert_one_line_failure(refused, "TLS certificate verification failed", "--ca-cert")
    unverified = regv1("ping", tls_server.netloc, "--no-tls-verify", "--json")
    assert unverified.exit_code == 0, unverified.output
    assert "warning: --insecure: TLS certificates are not verified" in unverified.stderr
    assert tls_server.requests == ["/v1/_ping"]


def test_a_certificate_failure_names_the_side_and_the_way_out(
    tls_server: TLSServer, standalone: Standalone, tmp_path: Path
) -> None:
    source = regv1("migrate", tls_server.netloc, f"oci:{tmp_path / 'l'}")
    assert_one_line_failure(
        source,
        f"source {tls_server.netloc}: TLS certificate verification failed",
        "--src-cert-dir",
        "--src-tls-verify=false",
    )
    standalone.store.seed("team/app", "1.0", chain(1))
    dest = regv1(
        "copy",
        f"{netloc(standalone.url)}/team/app:1.0",
        f"docker://{tls_server.netloc}/team/app:1.0",
    )
    assert_one_line_failure(
        dest,
        f"destination {tls_server.netloc}: TLS certificate verification failed",
        "--dest-cert-dir",
        "--dest-tls-verify=false",
    )
    assert tls_server.requests == []  # nothing went out over an unverified connection


def test_the_cert_dir_reaches_the_client_and_presents_the_client_certificate(
    pki: Pki, mtls_server: TLSServer, tmp_path: Path
) -> None:
    layout = f"oci:{tmp_path / 'l'}"
    result = regv1("migrate", mtls_server.netloc, layout, "--src-cert-dir", str(pki.cert_dir))
    # past the handshake (the server demands the client certificate) to the v1 API
    assert_one_line_failure(result, f"https://{mtls_server.netloc}/v1/", "search disabled")
    assert any(path.startswith("/v1/search") for path in mtls_server.requests)
    seen = len(mtls_server.requests)
    unverified = regv1("migrate", mtls_server.netloc, layout, "--src-tls-verify=false")
    # a TLS server refusing us is no reason for plain http: the error is https's
    assert_one_line_failure(unverified, f"https://{mtls_server.netloc}/", "certificate required")
    assert len(mtls_server.requests) == seen
    assert "warning: --src-tls-verify=false: the source's TLS certificate is not verified" in (
        unverified.stderr
    )
