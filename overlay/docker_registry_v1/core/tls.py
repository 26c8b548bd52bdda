"""What httpx needs to reach one registry: its TLS trust and whether it speaks https at all.

Each side of a transfer has its own trust, as with skopeo and podman: a directory of
``*.crt`` CA files and ``*.cert``/``*.key`` client certificate pairs (the layout of
containers-certs.d and docker's certs.d) on top of the system CAs, or no verification.

Which scheme to use is decided once per ``host:port`` per process, because docker users
expect its rule: https everywhere; loopback hosts (127.0.0.0/8, ::1, localhost) may
be plain http, and so may any host whose verification the user turned off. Both are
found out by one short TLS handshake (:func:`choose_scheme`; a second one checks the
certificate when the server does speak TLS): a plain-http server
answers a ClientHello with a non-TLS record or closes the connection, which means
http; a certificate that does not verify is an error, never a reason to send the
request (and its credentials) in the clear.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from pathlib import Path
from typing import Literal

import attrs

from .errors import DockerRegistryError, InvalidInput

__all__ = [
    "PROBE_TIMEOUT",
    "Scheme",
    "TLSConfig",
    "TLSVerificationError",
    "choose_scheme",
    "clear_scheme_cache",
    "is_loopback",
    "ssl_context",
]

Scheme = Literal["http", "https"]

#: Seconds the probe's connect and handshake may take; a server that is slower than
#: that is left on https (the request that follows reports whatever is wrong).
PROBE_TIMEOUT = 5.0


class TLSVerificationError(DockerRegistryError):
    """The server speaks TLS but its certificate does not verify against the trusted CAs."""

    def __init__(self, netloc: str, reason: str) -> None:
        super().__init__(f"{netloc}: TLS certificate verification failed ({reason})")
        self.netloc = netloc
        self.reason = reason


@attrs.frozen
class TLSConfig:
    """One side's TLS settings.

    ``verify`` false skips certificate checks and allows plain http (skopeo's
    ``--tls-verify=false``); ``cert_dir`` adds CAs and a client certificate;
    ``ca_file`` is one PEM bundle (the one-sided commands' ``--ca-cert``);
    ``plain_http`` forces http for every host (``--plain-http``).
    """

    verify: bool = True
    cert_dir: Path | None = None
    ca_file: Path | None = None
    plain_http: bool = False


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, ``localhost`` and ``*.localhost``: where docker allows plain http."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _load_cert_dir(context: ssl.SSLContext, directory: Path) -> None:
    """Every ``*.crt`` as a CA; each ``NAME.cert`` with its ``NAME.key`` as a client cert."""
    if not directory.is_dir():
        raise InvalidInput("cert-dir", f"{directory} is not a directory")
    for path in sorted(directory.iterdir()):
        try:
            if path.suffix == ".crt":
                context.load_verify_locations(cafile=str(path))
            elif path.suffix == ".cert":
                key = path.with_suffix(".key")
                if not key.exists():
                    raise InvalidInput("cert-dir", f"{path} has no {key.name} beside it")
                context.load_cert_chain(certfile=str(path), keyfile=str(key))
            elif path.suffix == ".key" and not path.with_suffix(".cert").exists():
                raise InvalidInput("cert-dir", f"{path} has no {path.stem}.cert beside it")
        except ssl.SSLError as exc:
            raise InvalidInput("cert-dir", f"{path}: not usable ({exc.reason or exc})") from None


def ssl_context(config: TLSConfig) -> ssl.SSLContext | Literal[False]:
    """httpx's ``verify=``: the default CAs plus the side's own, or ``False`` when not verifying.

    Without verification a context is still built when the cert dir holds a client
    certificate, so a server that asks for one gets it.
    """
    if not config.verify:
        if config.cert_dir is None:
            return False
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _load_cert_dir(context, config.cert_dir)
        return context
    context = ssl.create_default_context()
    if config.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(config.ca_file))
        except ssl.SSLError as exc:
            raise InvalidInput("ca-cert", f"{config.ca_file}: not a PEM CA bundle") from exc
    if config.cert_dir is not None:
        _load_cert_dir(context, config.cert_dir)
    return context


#: OpenSSL's reasons when the answer to a ClientHello is not TLS at all.
_NOT_TLS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
        "HTTP_REQUEST",
        "UNKNOWN_PROTOCOL",
        "UNEXPECTED_EOF_WHILE_READING",
        "UNEXPECTED_RECORD",
    }
)

_schemes: dict[tuple[str, int], Scheme] = {}
_lock = threading.Lock()


def clear_scheme_cache() -> None:
    """Forget every decision: one CLI invocation is one process's worth of them."""
    with _lock:
        _schemes.clear()


def _unverified() -> ssl.SSLContext:
    """A context that only asks whether TLS is spoken: no CA store to load (a fraction of a
    millisecond, where loading the system CAs takes tens)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _handshake(host: str, port: int, context: ssl.SSLContext, timeout: float) -> Scheme | None:
    """``https`` when the handshake completes, ``http`` when the server does not speak TLS,
    ``None`` when nothing can be concluded (no connection, no answer in time)."""
    try:
        raw = socket.create_connection((host.strip("[]"), port), timeout=timeout)
    except OSError:
        return None
    with raw:
        try:
            with context.wrap_socket(raw, server_hostname=host.strip("[]")):
                return "https"
        except ssl.SSLCertVerificationError as exc:
            raise TLSVerificationError(
                f"{host}:{port}", exc.verify_message or str(exc.reason)
            ) from None
        except TimeoutError:
            return None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
            return "http"  # hung up on the ClientHello: no TLS server there
        except ssl.SSLError as exc:
            # a plain-http server answers the ClientHello with "HTTP/1.1 400": not a TLS
            # record. Any other failure (an alert) came from a TLS server: stay on https.
            return "http" if exc.reason in _NOT_TLS else "https"
        except OSError:
            return None


def choose_scheme(
    host: str,
    port: int | None,
    config: TLSConfig,
    verify: ssl.SSLContext | Literal[False] | None = None,
    *,
    timeout: float = PROBE_TIMEOUT,
) -> Scheme:
    """The scheme for ``host[:port]`` when the user gave none (see the module docstring).

    Raises :class:`TLSVerificationError` when a probed server's certificate fails.
    A connection that cannot be made decides nothing (the request after it reports the
    failure): it leaves loopback hosts on http, as they were before TLS was tried, and
    every other host on https. ``verify`` is the side's :func:`ssl_context` when the
    caller has it already (built here only when a probe is needed).
    """
    if config.plain_http:
        return "http"
    if config.verify and not is_loopback(host):
        return "https"
    key = (host.lower(), port or 443)
    with _lock:
        known = _schemes.get(key)
    if known is not None:
        return known
    found = _handshake(host, key[1], _unverified(), timeout)
    if found is None:
        return "http" if is_loopback(host) else "https"
    if found == "https" and config.verify:
        # a TLS server: its certificate must verify, or this is an error (never http)
        context = ssl_context(config) if verify is None else verify
        if context is not False and _handshake(host, key[1], context, timeout) is None:
            return "https"  # gone between the two handshakes: the request will say so
    with _lock:
        _schemes[key] = found
    return found
