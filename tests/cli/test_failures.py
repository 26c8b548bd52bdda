"""Expected failures: one ``error:`` line, exit 1, no traceback, no secret anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import PASSWORD, assert_one_line_failure, chain, netloc
from click.testing import CliRunner
from docker_registry_v1.cli import connect, main
from docker_registry_v1.emulator import Hub, Standalone
from ports import unused_port
from regv1_runner import regv1

REGV1 = Path(sys.executable).with_name("regv1")


def closed_port() -> int:
    return unused_port()  # outside the ephemeral range: no other test's server lands there


def test_unknown_repository(standalone: Standalone) -> None:
    result = regv1("tags", f"{netloc(standalone.url)}/no/such", "--json")
    assert_one_line_failure(result, "404", "/v1/repositories/no/such/tags")


def test_wrong_password_never_shows_it(private_registry: Standalone) -> None:
    secret = "wrong-" + PASSWORD
    ref = f"{netloc(private_registry.url)}/team/app"
    env = {"REGV1_USERNAME": "alice", "REGV1_PASSWORD": secret}
    for args in (["tags", ref], ["tags", ref, "--json"], ["login", private_registry.url]):
        result = regv1(*args, env=env)
        assert_one_line_failure(result, "401")
        assert secret not in result.stdout + result.stderr
    verbose = regv1("tags", ref, "-v", "-u", "alice", "--password-stdin", input=secret + "\n")
    assert verbose.exit_code == 1
    assert "Traceback" not in verbose.stderr
    assert "httpx: HTTP Request: GET" in verbose.stderr
    assert secret not in verbose.stdout + verbose.stderr


def test_verbose_never_logs_tokens(hub: Hub) -> None:
    hub.store.seed("team/app", "1.0", chain(1))
    result = regv1("tags", f"{netloc(hub.index_url)}/team/app", "-v", "--json")
    assert result.exit_code == 0, result.stderr
    assert "/v1/repositories/team/app/images" in result.stderr  # the token request happened
    assert "signature=" not in result.stderr.lower() + result.stdout.lower()


def test_anonymous_on_private_registry(private_registry: Standalone) -> None:
    assert_one_line_failure(regv1("tags", f"{netloc(private_registry.url)}/a/b"), "401")
    assert_one_line_failure(regv1("login", private_registry.url), "no credentials")


def test_unreachable_host() -> None:
    port = closed_port()
    result = regv1("tags", f"127.0.0.1:{port}/team/app", "--timeout", "5")
    assert_one_line_failure(result, f"127.0.0.1:{port}", "ConnectError")


@pytest.mark.parametrize(
    "args",
    [
        ["tags", "a/b/c"],
        ["tags", "127.0.0.1:5000/team/app:1.0"],
        ["image-id", "UPPER:!"],
        ["tag", "127.0.0.1:1/a/b", "not-an-id"],
        ["untag", "127.0.0.1:1/a/b"],
        ["delete", "127.0.0.1:1/a/b:1", "--yes"],
        ["ping", "ftp://127.0.0.1"],
    ],
)
def test_bad_input_fails_before_the_network(args: list[str]) -> None:
    assert_one_line_failure(regv1(*args))


def test_docker_config_problems(clean_environment: Path, standalone: Standalone) -> None:
    (clean_environment / "config.json").write_text('{"credsStore": "desktop"}')
    standalone.store.seed("team/app", "1.0", chain(1))
    missing = regv1("tags", f"{netloc(standalone.url)}/team/app", env={"PATH": "/nonexistent"})
    assert_one_line_failure(
        missing, "docker-credential-desktop (credsStore in docker config", "is not on PATH"
    )
    (clean_environment / "config.json").write_text("{broken")
    assert_one_line_failure(regv1("tags", f"{netloc(standalone.url)}/team/app"), "config.json")


def test_insecure_warns_and_conflicts_with_ca_cert(standalone: Standalone, tmp_path: Path) -> None:
    result = regv1("ping", standalone.url, "--insecure")
    assert result.exit_code == 0
    assert "warning: --insecure" in result.stderr
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    both = regv1("ping", standalone.url, "--insecure", "--ca-cert", str(bundle))
    assert both.exit_code == 1


def test_bad_ca_bundle_is_one_line(standalone: Standalone, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    assert_one_line_failure(regv1("ping", standalone.url, "--ca-cert", str(bundle)))


def test_keyboard_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(connect.Registry, "__init__", interrupted)
    result = CliRunner().invoke(main, ["ping", "127.0.0.1:1"])
    assert result.exit_code == 130
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_unexpected_errors_are_one_line_unless_verbose(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(connect.Registry, "__init__", broken)
    quiet = CliRunner().invoke(main, ["ping", "127.0.0.1:1"])
    assert_one_line_failure(quiet, "unexpected RuntimeError: boom", "-v")
    loud = CliRunner().invoke(main, ["ping", "127.0.0.1:1", "-v"])
    assert isinstance(loud.exception, RuntimeError)


def test_entry_point_subprocess(standalone: Standalone) -> None:
    standalone.store.seed("team/app", "1.0", chain(2))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGV1_")}
    ok = subprocess.run(
        [str(REGV1), "image-id", f"{netloc(standalone.url)}/team/app:1.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == chain(2)[-1].id
    failed = subprocess.run(
        [str(REGV1), "tags", f"127.0.0.1:{closed_port()}/team/app"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.startswith("error: ")
    assert len(failed.stderr.splitlines()) == 1
