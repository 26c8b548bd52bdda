"""A throw-away PKI for https registry tests: a test CA, a loopback server certificate, a stranger.

`make_tls_material` writes everything a test needs into one directory:

* ``ca/ca.crt``: the test CA, laid out as a certificate directory (what
  ``skopeo --cert-dir`` and ``regv1 --dest-cert-dir`` read: ``*.crt`` files are CAs);
* ``server.crt`` / ``server.key``: a leaf the CA signed for ``localhost``,
  ``127.0.0.1`` and ``::1`` (subject alternative names; Go and Python ignore the
  common name), for distribution's ``http.tls`` and the token issuer;
* ``wrong-ca/ca.crt``: a second, unrelated CA, for the "trusts the wrong CA" case.

Keys are P-256 (generating one takes microseconds, an RSA key tens of
milliseconds), certificates carry the extensions strict verifiers insist on
(key identifiers, key usage, CA basic constraints), and every name is fixed so
failures read the same in every run.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["SERVER_NAMES", "TLSMaterial", "make_tls_material"]

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
"""What the server certificate is valid for: every way a test names a loopback server."""

_VALID = dt.timedelta(days=7)


@attrs.frozen
class TLSMaterial:
    """Paths of one generated PKI (see the module docstring)."""

    ca_dir: Path
    wrong_ca_dir: Path
    server_cert: Path
    server_key: Path

    @property
    def ca_file(self) -> Path:
        return self.ca_dir / "ca.crt"

    @property
    def wrong_ca_file(self) -> Path:
        return self.wrong_ca_dir / "ca.crt"

    def client_context(self) -> ssl.SSLContext:
        """Verifies servers against the test CA only (not the system's roots)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        """Serves the loopback certificate (for servers written in Python)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "docker-registry-v1 tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _authority(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(SERVER_NAMES[0])]
    names += [x509.IPAddress(ipaddress.ip_address(text)) for text in SERVER_NAMES[1:]]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_tls_material(directory: Path) -> TLSMaterial:
    """Generate the test CA, its server certificate and an unrelated CA under ``directory``."""
    ca_key, ca_cert = _authority("docker-registry-v1 test CA")
    _, wrong_cert = _authority("docker-registry-v1 unrelated CA")
    server_key, server_cert = _server(ca_key, ca_cert)
    material = TLSMaterial(
        ca_dir=directory / "ca",
        wrong_ca_dir=directory / "wrong-ca",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
    )
    for folder in (material.ca_dir, material.wrong_ca_dir):
        folder.mkdir(parents=True, exist_ok=True)
    material.ca_file.write_bytes(_pem(ca_cert))
    material.wrong_ca_file.write_bytes(_pem(wrong_cert))
    material.server_cert.write_bytes(_pem(server_cert))
    material.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    material.server_key.chmod(0o600)
    return material
