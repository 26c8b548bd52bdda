"""Shared pieces of the interoperability tests: tools that must exist, nginx as the
classic Basic-auth front of a standalone registry, the seeded repository, and the npm
client's run (also used by the v1 face's tests)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker_registry_v1.emulator import Emulator, Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from ports import ATTEMPTS, unused_port

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "tools" / "node" / "node_modules"
NPM_SCRIPT = Path(__file__).resolve().parent / "npm_v1_client.js"
USER, PASSWORD = "alice", "s3cret"
REPO, TAG = "ns/app", "1.0"
STARTUP_TIMEOUT = 10.0


def require(what: str, present: bool, install: str) -> None:
    """Skip without ``what`` on a developer machine; under CI a missing tool is a failure."""
    if present:
        return
    message = f"{what} is missing ({install})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def nginx_binary() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    require("nginx", Path(binary).exists(), "apt-get install nginx; tools/install-system-deps.sh")
    return binary


def seed(emulator: Emulator, layers: int = 3) -> list[SeedImage]:
    """``REPO:TAG`` as a pushed repository (index list, tag, search entry)."""
    chain = build_image_chain(layers, seed=11, layer_size=20_000, gzip=False)
    emulator.store.seed(REPO, TAG, chain)
    return chain


def ssha_line(user: str, password: str) -> str:
    """An htpasswd line nginx reads (RFC 2307 ``{SSHA}``), made with the standard library."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n"


def nginx_config(state: Path, port: int, upstream: str) -> str:
    """The classic front of a v1 registry: auth_basic everywhere but the two pings, the
    client's Host passed on (so the registry announces nginx), Authorization not."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temps = "".join(
        f"    {kind}_temp_path {state / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    proxy = (
        f"proxy_pass {upstream}; proxy_http_version 1.1; "
        'proxy_set_header Host $http_host; proxy_set_header Authorization ""; '
        'proxy_set_header Connection ""; proxy_request_buffering off; proxy_buffering off; '
        "proxy_read_timeout 900;"
    )
    return f"""{user}worker_processes 1;
pid {state / "nginx.pid"};
error_log {state / "error.log"} warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_max_body_size 0;
{temps}    server {{
        listen 127.0.0.1:{port};
        chunked_transfer_encoding on;
        location / {{
            auth_basic "regv1";
            auth_basic_user_file {state / "htpasswd"};
            {proxy}
        }}
        location = /_ping {{ auth_basic off; {proxy} }}
        location = /v1/_ping {{ auth_basic off; {proxy} }}
    }}
}}
"""


@contextlib.contextmanager
def nginx_front(upstream: str, state: Path) -> Iterator[str]:
    """A private nginx on a free loopback port in front of ``upstream``; yields its URL."""
    binary = nginx_binary()
    state.mkdir(parents=True, exist_ok=True)
    (state / "htpasswd").write_text(ssha_line(USER, PASSWORD))
    conf = state / "nginx.conf"
    log = state / "error.log"
    argv = [binary, "-p", str(state), "-c", str(conf), "-e", str(log), "-g", "daemon off;"]
    for attempt in range(1, ATTEMPTS + 1):
        port = unused_port()
        conf.write_text(nginx_config(state, port, upstream))
        log.write_bytes(b"")
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if _listening(process, port, log):
                break
        except BaseException:
            _stop(process)
            raise
        if attempt == ATTEMPTS:
            raise RuntimeError(f"nginx found {ATTEMPTS} ports in use: {log.read_text()}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


def _listening(process: subprocess.Popen[bytes], port: int, log: Path) -> bool:
    """Wait until nginx listens (True) or exits because its port was taken (False)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            errors = log.read_text(errors="replace")
            if "Address already in use" in errors:
                return False
            raise RuntimeError(f"nginx exited at start: {errors}")
        # nginx's own answer (auth_basic's 401 to /), not just an open port: until nginx
        # gives up on a taken port, whoever took it accepts connections.
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            if answer.headers.get("server", "").startswith("nginx"):
                return True
        if time.monotonic() > deadline:
            raise RuntimeError("nginx did not listen in time")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


class Fronted:
    """A standalone emulator (REF) and the nginx ``auth_basic`` in front of it."""

    def __init__(self, registry: Standalone, url: str) -> None:
        self.registry = registry
        self.url = url


def run_npm_client(config: dict[str, Any]) -> dict[str, Any]:
    """npm_v1_client.js under node with ``config`` (JSON); the results its last line gives."""
    node = shutil.which("node")
    require("node", node is not None, "apt-get install nodejs")
    require(
        "the npm docker-registry-client",
        (NODE_MODULES / "docker-registry-client").is_dir(),
        "make tools/node/node_modules/.installed",
    )
    assert node is not None
    done = subprocess.run(
        [node, str(NPM_SCRIPT), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    assert done.returncode == 0, done.stderr
    results: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return results
