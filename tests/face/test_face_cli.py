"""``regv1 serve --backend`` as a real process: its own login to the backend (read from
stdin, never shown), ``--user`` Basic for its clients, and one ``error:`` line for a
backend it cannot use."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import interruptible
import pytest
from click.testing import CliRunner
from docker_registry_v1.cli import main
from docker_registry_v1.formats.layout import OCILayout
from face_support import DIRECT, direct_image, push_direct
from ports import unused_port
from v2.v2registry import PASSWORD, USER, V2Registry, run_registry

REGV1 = Path(sys.executable).parent / "regv1"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Registry]:
    """Distribution behind htpasswd Basic, holding one image pushed straight to it."""
    with run_registry("htpasswd", tmp_path_factory.mktemp("v2-basic")) as registry:
        push_direct(registry.url, httpx.BasicAuth(USER, PASSWORD))
        yield registry


def test_serve_backend_logs_in_to_the_backend_and_guards_its_clients(
    guarded: V2Registry,
) -> None:
    argv = [
        str(REGV1),
        "serve",
        "--port",
        "0",
        "--backend",
        f"docker://{guarded.host}",
        "--backend-creds",
        USER,
        "--backend-password-stdin",
        "--user",
        "reader:front-s3cret",
    ]
    process = interruptible.popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(PASSWORD + "\n")
        process.stdin.close()
        process.stdin = None  # communicate() below must not flush it
        url = process.stdout.readline().strip().removeprefix("registry: ")
        assert url.startswith("http://127.0.0.1:"), url
        assert process.stdout.readline().startswith(f"backend: docker://{guarded.host}")
        assert httpx.get(f"{url}/v1/_ping").status_code == 200
        tags = f"{url}/v1/repositories/{DIRECT}/tags"
        assert httpx.get(tags).status_code == 401
        assert httpx.get(tags, auth=("reader", "wrong")).status_code == 401
        answer = httpx.get(tags, auth=("reader", "front-s3cret"))
        assert answer.status_code == 200
        assert list(answer.json()) == ["1"]
        top = answer.json()["1"]
        layer = httpx.get(f"{url}/v1/images/{top}/layer", auth=("reader", "front-s3cret"))
        assert layer.status_code == 200
        assert layer.content[:2] == b"\x1f\x8b"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "Traceback" not in err
    assert PASSWORD not in out + err
    assert "front-s3cret" not in out + err


def test_serve_backend_over_an_oci_layout(tmp_path: Path) -> None:
    config, layer, manifest = direct_image()
    with OCILayout(tmp_path / "layout") as layout:
        layout.write_blob([config])
        layout.write_blob([layer])
        layout.add_manifest(
            manifest, ref=f"{DIRECT}:1", media_type="application/vnd.oci.image.manifest.v1+json"
        )
    argv = [str(REGV1), "serve", "--port", "0", "--backend", f"oci:{tmp_path / 'layout'}"]
    process = interruptible.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().removeprefix("registry: ")
        tags = httpx.get(f"{url}/v1/repositories/{DIRECT}/tags").json()
        assert list(tags) == ["1"]
        assert httpx.get(f"{url}/v1/images/{tags['1']}/layer").content == layer
        refused = httpx.put(f"{url}/v1/repositories/{DIRECT}/tags/2", json=tags["1"])
        assert refused.status_code == 405
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "docker://127.0.0.1:{port}"], "error: backend 127.0.0.1:{port}: "),
        (["--backend", "oci:{tmp}/none"], "error: oci:{tmp}/none: not an OCI image layout"),
        (["--backend", "http://127.0.0.1:{port}"], "error: --backend http://127.0.0.1:{port}: "),
    ],
)
def test_an_unusable_backend_is_one_error_line(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    port = unused_port()
    values = {"port": port, "tmp": tmp_path}
    result = CliRunner().invoke(main, ["serve", "--port", "0", *[a.format(**values) for a in argv]])
    assert result.exit_code == 1
    assert result.stderr.startswith(message.format(**values)), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "argv",
    [
        ["--backend", "oci:x", "--hub"],
        ["--backend", "oci:x", "--seed", "messy"],
        ["--backend", "oci:x", "--data-dir", "d"],
        ["--backend-creds", "someone"],
        ["--backend", "oci:x", "--backend-creds", "a", "--backend-no-creds"],
    ],
)
def test_usage_errors(argv: list[str]) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0", *argv])
    assert result.exit_code == 1
    assert "Error" in result.stderr or "error" in result.stderr
