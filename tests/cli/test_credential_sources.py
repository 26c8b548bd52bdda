"""Where ``regv1`` finds credentials, seen from the command line against real registries.

Helpers are real executables on a test-made PATH; the prompt test runs the real
``regv1`` with a pseudo-terminal as stdin.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from cli_support import (
    ALICE,
    PASSWORD,
    assert_one_line_failure,
    chain,
    helper_calls,
    make_helper,
    netloc,
    path_with,
)
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.pytest_plugin import EmulatorFactory
from docker_registry_v1.emulator.requestlog import redact_authorization
from regv1_runner import document, regv1

REGV1 = Path(sys.executable).with_name("regv1")


def _basic(user: str, password: str) -> str:
    return redact_authorization("Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


def _basics(registry: Standalone) -> set[str]:
    """The (fingerprinted) Basic credentials that reached ``registry``."""
    return {
        value
        for entry in registry.log.entries
        if (value := entry.headers.get("authorization", "")).startswith("Basic ")
    }


@pytest.fixture
def private(private_registry: Standalone) -> Standalone:
    private_registry.store.seed("team/app", "1.0", chain(2))
    return private_registry


def _docker_config(directory: Path, data: object) -> Path:
    path = directory / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_creds_store_helper_on_path(
    private: Standalone, clean_environment: Path, tmp_path: Path
) -> None:
    host = netloc(private.url)
    make_helper(tmp_path / "bin", "vault", known={host: ALICE})
    _docker_config(clean_environment, {"credsStore": "vault"})
    env = {"PATH": path_with(tmp_path / "bin")}
    result = regv1("tags", f"{host}/team/app", "--json", env=env)
    assert document(result)["tags"] == {"1.0": chain(2)[-1].id}
    assert PASSWORD not in result.stdout + result.stderr
    assert helper_calls(tmp_path / "bin", "vault") == [{"argv": ["get"], "stdin": host}]
    login = regv1("login", private.url, env=env)
    assert "credentials from credential helper docker-credential-vault" in login.stdout


def test_failing_and_missing_helpers_are_one_line(
    private: Standalone, clean_environment: Path, tmp_path: Path
) -> None:
    host = netloc(private.url)
    make_helper(tmp_path / "bin", "broken", failure="the keyring is locked")
    env = {"PATH": path_with(tmp_path / "bin")}
    _docker_config(clean_environment, {"credHelpers": {host: "broken"}})
    assert_one_line_failure(
        regv1("tags", f"{host}/team/app", env=env),
        "docker-credential-broken failed",
        "the keyring is locked",
    )
    _docker_config(clean_environment, {"credsStore": "desktop"})
    assert_one_line_failure(
        regv1("tags", f"{host}/team/app", env=env),
        "docker-credential-desktop (credsStore in docker config",
        "is not on PATH",
    )
    assert not private.log.entries  # nothing reached the registry


def test_podman_auth_files(private: Standalone, tmp_path: Path) -> None:
    host = netloc(private.url)
    auth = {"auths": {host: {"auth": base64.b64encode(f"alice:{PASSWORD}".encode()).decode()}}}
    runtime_file = Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"
    runtime_file.parent.mkdir()
    runtime_file.write_text(json.dumps(auth))
    assert document(regv1("tags", f"{host}/team/app", "--json"))["repository"] == "team/app"

    explicit = tmp_path / "skopeo-auth.json"
    explicit.write_text(json.dumps({"auths": {host: {"username": "alice", "password": "bad"}}}))
    refused = regv1("tags", f"{host}/team/app", env={"REGISTRY_AUTH_FILE": str(explicit)})
    assert_one_line_failure(refused, "401", f"from podman auth file {explicit}", "'alice'")


def test_401_says_what_was_sent(private: Standalone, clean_environment: Path) -> None:
    ref = f"{netloc(private.url)}/team/app"
    anonymous = regv1("tags", ref)
    assert_one_line_failure(anonymous, "401", "no credentials were sent")
    wrong = regv1("tags", ref, env={"REGV1_USERNAME": "alice", "REGV1_PASSWORD": "nope"})
    assert_one_line_failure(wrong, "401", "'alice'", "from REGV1_USERNAME/REGV1_PASSWORD")
    auth = base64.b64encode(b"alice:nope").decode()
    config = _docker_config(clean_environment, {"auths": {netloc(private.url): {"auth": auth}}})
    assert_one_line_failure(regv1("tags", ref), f"from docker config {config}")
    flag = regv1("tags", ref, "-u", "alice", "--password-stdin", input="nope\n")
    assert_one_line_failure(flag, "from --password-stdin")
    assert "nope" not in flag.stderr


def test_username_without_password_off_a_terminal(private: Standalone) -> None:
    result = regv1("tags", f"{netloc(private.url)}/team/app", "-u", "alice")
    assert_one_line_failure(result, "--username needs a password", "no terminal")
    assert not private.log.entries


def _wait_for_no_echo(fd: int, process: subprocess.Popen[bytes]) -> None:
    """Until the password prompt has switched the terminal's echo off."""
    deadline = time.monotonic() + 60
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "regv1 never prompted"
        time.sleep(0.05)


def test_password_prompt_on_a_terminal(private: Standalone) -> None:
    """``-u`` alone on a terminal: a hidden prompt on stderr, and the password is used."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(REGV1), "tags", f"{netloc(private.url)}/team/app", "-u", "alice"],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if not k.startswith("REGV1_")},
            start_new_session=True,  # no controlling terminal: getpass uses stdin, the pty
        )
        _wait_for_no_echo(terminal, process)
        os.write(controller, PASSWORD.encode() + b"\n")
        stdout, stderr = process.communicate(timeout=60)
        echoed = b""
        while select.select([controller], [], [], 0)[0]:
            echoed += os.read(controller, 4096)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode == 0, stderr
    assert stdout.decode().strip() == f"1.0\t{chain(2)[-1].id}"
    assert f"Password for alice at {netloc(private.url)}:" in stderr.decode()
    assert PASSWORD.encode() not in stdout + stderr + echoed


def test_mirror_with_src_and_dest_creds(
    emulator_factory: EmulatorFactory, private_registry: Standalone
) -> None:
    source = emulator_factory("standalone", users={"bob": "bob-pw"})
    assert isinstance(source, Standalone)
    source.store.seed("team/app", "latest", chain(2))
    src, dst = f"{netloc(source.url)}/team/app", f"{netloc(private_registry.url)}/copy/app"
    doc = document(
        regv1(
            "mirror",
            src,
            dst,
            "--src-creds",
            "bob:bob-pw",
            "--dest-creds",
            f"alice:{PASSWORD}",
            "--json",
        )
    )
    assert doc["tags"] == ["latest"]
    assert private_registry.store.tags("copy/app") == {"latest": chain(2)[-1].id}
    assert _basics(source) == {_basic("bob", "bob-pw")}
    assert _basics(private_registry) == {_basic(*ALICE)}


def test_mirror_creds_usage(standalone: Standalone, private_registry: Standalone) -> None:
    standalone.store.seed("team/app", "latest", chain(1))
    src, dst = f"{netloc(standalone.url)}/team/app", f"{netloc(private_registry.url)}/copy/app"
    no_password = regv1("mirror", src, dst, "--src-creds", "bob")
    assert_one_line_failure(no_password, "--src-creds bob needs a password", "--src-password-stdin")
    both = regv1("mirror", src, dst, "--dest-creds", "a:b", "-u", "alice", "--password-stdin")
    assert both.exit_code == 1
    clash = regv1("mirror", src, dst, "--src-creds", "a:b", "--src-no-creds")
    assert clash.exit_code == 1
    assert not standalone.log.entries


def test_mirror_no_creds_keeps_a_same_host_source_anonymous(private_registry: Standalone) -> None:
    private_registry.store.seed("team/app", "latest", chain(1))
    host = netloc(private_registry.url)
    env = {"REGV1_USERNAME": ALICE[0], "REGV1_PASSWORD": PASSWORD}
    result = regv1("mirror", f"{host}/team/app", f"{host}/copy/app", "--src-no-creds", env=env)
    assert_one_line_failure(result, "401", "no credentials were sent")
    sent = regv1("mirror", f"{host}/team/app", f"{host}/copy/app", env=env)
    assert sent.exit_code == 0, sent.stderr
