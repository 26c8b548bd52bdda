"""A TLS handshake sent to the plain-http emulator (what regv1 and docker send a loopback
host once, to learn whether it speaks https) is answered 400 as any bad request, and logged
at debug level, not as a warning per command; other warnings still come through."""

from __future__ import annotations

import logging
import socket
import ssl

import httpx
import pytest
from docker_registry_v1.emulator.server import run_standalone


def handshake(host: str, port: int) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        pytest.raises(ssl.SSLError),
        context.wrap_socket(raw, server_hostname=host),
    ):
        pass


def test_a_tls_probe_is_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="uvicorn.error")
    with run_standalone() as emulator:
        url = httpx.URL(emulator.url)
        assert url.host is not None
        assert url.port is not None
        handshake(url.host, url.port)
        assert httpx.get(emulator.url.rstrip("/") + "/v1/_ping").status_code == 200
        logging.getLogger("uvicorn.error").warning("something else")
    probes = [r for r in caplog.records if r.getMessage() == "Invalid HTTP request received."]
    assert probes, "the handshake never reached the emulator"
    assert all(record.levelno == logging.DEBUG for record in probes)
    assert any(
        r.levelno == logging.WARNING and r.getMessage() == "something else" for r in caplog.records
    )
