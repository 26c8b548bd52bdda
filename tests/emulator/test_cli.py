"""``regv1 serve`` and ``python -m docker_registry_v1.emulator`` as real processes."""

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

REGV1 = Path(sys.executable).parent / "regv1"


def _addresses(process: subprocess.Popen[str], count: int) -> dict[str, str]:
    assert process.stdout is not None
    found: dict[str, str] = {}
    while len(found) < count:
        line = process.stdout.readline()
        assert line, "the server exited before printing its addresses"
        role, _, url = line.strip().partition(": ")
        found[role] = url
    return found


@pytest.fixture
def run() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _start(run: list[subprocess.Popen[str]], *argv: str) -> subprocess.Popen[str]:
    # Some of these processes are stopped with SIGINT: it must not start ignored.
    process = interruptible.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run.append(process)
    return process


def _stop(process: subprocess.Popen[str], signum: int) -> None:
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_regv1_serve_standalone(run: list[subprocess.Popen[str]], signum: int) -> None:
    process = _start(run, str(REGV1), "serve", "--port", "0", "--user", "alice:s3cret")
    url = _addresses(process, 1)["registry"]
    assert url.startswith("http://127.0.0.1:")
    ping = httpx.get(f"{url}/v1/_ping")
    assert (ping.status_code, ping.headers["x-docker-registry-standalone"]) == (200, "True")
    assert httpx.get(f"{url}/v1/search").status_code == 401
    _stop(process, signum)


def test_module_serve_hub(run: list[subprocess.Popen[str]], tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "docker_registry_v1.emulator", "--hub", "--port", "0"]
    process = _start(run, *argv, "--data-dir", str(tmp_path), "--bare-token")
    urls = _addresses(process, 2)
    assert urls["index"] != urls["registry"]
    assert httpx.get(f"{urls['registry']}/_ping").headers["x-docker-registry-standalone"] == "False"
    answer = httpx.put(
        f"{urls['index']}/v1/repositories/ns/r/", json=[], headers={"X-Docker-Token": "true"}
    )
    assert answer.headers["x-docker-endpoints"] == urls["registry"].removeprefix("http://")
    _stop(process, signal.SIGTERM)
    assert (tmp_path / "state.json").exists()


def test_serve_hub_endpoint_url_form_and_shapes(run: list[subprocess.Popen[str]]) -> None:
    """``{registry}`` inside a URL is replaced even with ``--port 0``; switches reach the wire."""
    argv = [str(REGV1), "serve", "--hub", "--port", "0", "--endpoint", "http://{registry}"]
    process = _start(run, *argv, "--search", "paged", "--users-api", "reference")
    urls = _addresses(process, 2)
    answer = httpx.put(
        f"{urls['index']}/v1/repositories/ns/r/", json=[], headers={"X-Docker-Token": "true"}
    )
    assert answer.headers["x-docker-endpoints"] == urls["registry"]
    assert httpx.get(f"{urls['index']}/v1/search").json()["page"] == 1
    assert httpx.get(f"{urls['index']}/v1/users/").json() == "OK"
    _stop(process, signal.SIGTERM)


def test_cli_usage_errors() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["serve", "--user", "nopassword"]).exit_code == 1
    assert runner.invoke(main, ["serve", "--endpoint", "x:1"]).exit_code == 1
    assert runner.invoke(main, ["serve", "--registry-port", "1"]).exit_code == 1
    assert runner.invoke(main, ["serve", "--search", "sideways"]).exit_code == 1
    assert "serve" in runner.invoke(main, ["--help"]).output


def test_a_busy_port_is_one_error_line() -> None:
    import socket  # noqa: PLC0415 - only this test holds a port

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: cannot serve on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.output
