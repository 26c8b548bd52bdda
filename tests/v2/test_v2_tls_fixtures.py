"""The https registry fixtures work, checked with clients that are not regv1: ssl, httpx, skopeo.

These pass on their own; the regv1 end-to-end tests over https (test_tls_sides.py)
rely on them, so a failure here is the fixture's, not regv1's.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from docker_registry_v1.emulator.requestlog import fingerprint
from tls_clients import (
    catalog,
    docker_archive,
    manifest_digest,
    skopeo,
    skopeo_inspect,
    tag_list,
)
from tls_support import SERVER_NAMES, TLSMaterial
from v2registry import PASSWORD, USER, V2Registry
from v2wire import challenge

CREDS = f"{USER}:{PASSWORD}"


def test_the_server_certificate_names_every_loopback_form_and_chains_to_the_test_ca(
    tls_material: TLSMaterial,
) -> None:
    server = x509.load_pem_x509_certificate(tls_material.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(tls_material.ca_file.read_bytes())
    stranger = x509.load_pem_x509_certificate(tls_material.wrong_ca_file.read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert SERVER_NAMES == ("localhost", "127.0.0.1", "::1")
    server.verify_directly_issued_by(ca)
    with pytest.raises(ValueError, match="issuer"):
        server.verify_directly_issued_by(stranger)
    assert ca.subject != stranger.subject
    assert sorted(p.name for p in tls_material.ca_dir.iterdir()) == ["ca.crt"]
    assert sorted(p.name for p in tls_material.wrong_ca_dir.iterdir()) == ["ca.crt"]


def _handshake(port: int, name: str, context: ssl.SSLContext) -> str:
    """TLS to 127.0.0.1:``port`` verifying the certificate for ``name``; the peer's common name."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value)


def test_the_https_registry_is_trusted_through_the_test_ca_only(
    v2_tls_basic: V2Registry, tls_material: TLSMaterial
) -> None:
    assert v2_tls_basic.url.startswith("https://localhost:")
    port = v2_tls_basic.port
    for name in SERVER_NAMES:  # each name is checked against the certificate, not the address
        assert _handshake(port, name, tls_material.client_context()) == "localhost"
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _handshake(port, "registry.example.test", tls_material.client_context())
    served = v2_tls_basic.wait_for_log("TLS handshake error")  # the refused name
    stranger = ssl.create_default_context(cafile=str(tls_material.wrong_ca_file))
    for context in (stranger, ssl.create_default_context()):  # another CA; the system's roots
        with pytest.raises(ssl.SSLCertVerificationError, match="local issuer"):
            _handshake(port, "localhost", context)
    # What the https e2e tests rely on: a refused handshake is logged, and is no request.
    handshakes = served.count("TLS handshake error") + 2
    refused = v2_tls_basic.wait_for_log("TLS handshake error", count=handshakes)
    assert refused.count("http.request.uri=") == served.count("http.request.uri=")


def test_httpx_sees_the_challenge_over_https_and_refuses_an_unknown_ca(
    v2_tls_basic: V2Registry, tls_material: TLSMaterial
) -> None:
    anonymous = httpx.get(f"{v2_tls_basic.url}/v2/", verify=v2_tls_basic.verify)
    assert anonymous.status_code == 401
    assert challenge(anonymous) == ("Basic", {"realm": "v2-test"})
    logged_in = httpx.get(
        f"{v2_tls_basic.url}/v2/", verify=v2_tls_basic.verify, auth=(USER, PASSWORD)
    )
    assert logged_in.status_code == 200
    stranger = ssl.create_default_context(cafile=str(tls_material.wrong_ca_file))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{v2_tls_basic.url}/v2/", verify=stranger)
    plain = httpx.get(f"http://{v2_tls_basic.host}/v2/")
    assert plain.status_code == 400  # Go's answer to plain http on a TLS port
    assert "HTTPS" in plain.text


@pytest.mark.parametrize("fixture", ["v2_tls_basic", "v2_tls_token"])
def test_skopeo_copies_into_the_https_registry_and_inspects_it_with_the_cert_dir(
    request: pytest.FixtureRequest, fixture: str, tls_material: TLSMaterial, tmp_path: Path
) -> None:
    registry: V2Registry = request.getfixturevalue(fixture)
    archive = tmp_path / "image.tar"
    diff_id = docker_archive(archive, "fixtures/tls:1.0", f"{fixture}\n".encode())
    reference = f"docker://{registry.host}/fixtures/tls:1.0"
    started = time.monotonic()
    copied = skopeo(
        tmp_path / "home",
        "copy",
        "--dest-cert-dir",
        str(tls_material.ca_dir),
        "--dest-creds",
        CREDS,
        f"docker-archive:{archive}",
        reference,
    )
    assert copied.returncode == 0, copied.stderr
    inspected = skopeo_inspect(
        tmp_path / "home", reference, "--cert-dir", str(tls_material.ca_dir), "--creds", CREDS
    )
    seconds = time.monotonic() - started
    assert inspected["Name"] == f"{registry.host}/fixtures/tls"
    assert inspected["RepoTags"] == ["1.0"]
    assert len(inspected["Layers"]) == 1
    assert seconds < 60
    assert tag_list(registry, "fixtures/tls") == ["1.0"]
    assert manifest_digest(registry, "fixtures/tls", "1.0") == inspected["Digest"]
    assert catalog(registry) == ["fixtures/tls"]
    raw = skopeo_inspect(
        tmp_path / "home",
        reference,
        "--config",
        "--cert-dir",
        str(tls_material.ca_dir),
        "--creds",
        CREDS,
    )
    assert raw["rootfs"]["diff_ids"] == [diff_id]

    for refused_args in (
        ["--cert-dir", str(tls_material.wrong_ca_dir)],  # trusts another CA
        [],  # the system's roots only
    ):
        refused = skopeo(tmp_path / "home", "inspect", *refused_args, "--creds", CREDS, reference)
        assert refused.returncode != 0
        assert "x509" in refused.stderr or "certificate" in refused.stderr, refused.stderr
    unverified = skopeo_inspect(
        tmp_path / "home", reference, "--tls-verify=false", "--creds", CREDS
    )
    assert unverified["Digest"] == inspected["Digest"]

    if registry.issuer is not None:
        assert registry.issuer.url.startswith("https://127.0.0.1:")
        assert f"Basic {fingerprint(CREDS)}" in registry.issuer.authorizations
        scopes = {s for query in registry.issuer.requests for s in query.get("scope", [])}
        assert "repository:fixtures/tls:pull,push" in scopes
