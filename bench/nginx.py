"""A private nginx on a loopback port serving a v1 layout from a RAM-backed directory.

nginx answers GETs with ``sendfile`` and takes layer PUTs through its WebDAV
module, so on loopback it is far faster than any Python client: the client is
what gets measured. The facade's ``/v1/...`` paths map one to one onto files
under ``root``; image JSON carries ``X-Docker-Size`` and
``X-Docker-Checksum-Payload`` from a ``map``, tags are a static JSON file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs

STARTUP_TIMEOUT = 10.0


@attrs.frozen
class ImageHeaders:
    size: int
    checksum: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _map(name: str, source: str, values: Mapping[str, str]) -> str:
    lines = "".join(f"        {key} {value};\n" for key, value in values.items())
    return f'    map ${source} ${name} {{\n        default "";\n{lines}    }}\n'


def config(root: Path, state: Path, port: int, images: Mapping[str, ImageHeaders]) -> str:
    """The whole nginx.conf: one worker, no logs, every temp path private."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    sizes = {i: str(h.size) for i, h in images.items()}
    sums = {i: f'"{h.checksum}"' for i, h in images.items()}
    temps = "".join(
        f"    {kind}_temp_path {state / kind};\n" for kind in ("proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
pid {state / "nginx.pid"};
error_log {state / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 300s;
    map_hash_bucket_size 256;
    keepalive_requests 1000000;
    client_max_body_size 0;
    client_body_buffer_size 1m;
    client_body_temp_path {root / ".upload"};
{temps}    types {{ }}
    default_type application/octet-stream;
{_map("docker_size", "image_id", sizes)}{_map("docker_checksum", "image_id", sums)}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location ~ "^/v1/images/[0-9a-f]{{64}}/layer$" {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw;
        }}
        location ~ "^/v1/images/(?<image_id>[0-9a-f]{{64}})/json$" {{
            default_type application/json;
            add_header X-Docker-Size $docker_size;
            add_header X-Docker-Checksum-Payload $docker_checksum;
        }}
        location ~ ^/v1/repositories/[^/]+/[^/]+/tags$ {{
            default_type application/json;
        }}
    }}
}}
"""


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited at start: {log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("nginx did not listen in time")


@contextlib.contextmanager
def run_nginx(root: Path, images: Mapping[str, ImageHeaders]) -> Iterator[str]:
    """Serve ``root`` (which must already hold the v1 layout); yields the base URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    state = root.parent / f"{root.name}.nginx"
    state.mkdir(parents=True, exist_ok=True)
    (root / ".upload").mkdir(exist_ok=True)
    port = free_port()
    conf = state / "nginx.conf"
    conf.write_text(config(root, state, port, images))
    log = state / "error.log"
    argv = [binary, "-p", str(state), "-c", str(conf), "-e", str(log), "-g", "daemon off;"]
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603 - fixed argv: this interpreter, curl, nginx
    try:
        _wait_for(port, process, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        shutil.rmtree(state, ignore_errors=True)


def nginx_version() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv: this interpreter, curl, nginx
    return done.stderr.strip().removeprefix("nginx version: ")


def nginx_available() -> bool:
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()
