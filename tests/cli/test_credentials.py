"""Credential precedence: flags > REGV1_* > docker's config.json auths; helpers unsupported."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from docker_registry_v1.cli.credentials import (
    Credentials,
    CredentialsError,
    docker_config_path,
    resolve_credentials,
)

SECRET = "pa55:word"


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _write_config(directory: Path, data: object) -> dict[str, str]:
    (directory / "config.json").write_text(json.dumps(data))
    return {"DOCKER_CONFIG": str(directory)}


def _resolve(
    netloc: str = "127.0.0.1:5000",
    *,
    env: dict[str, str],
    username: str | None = None,
    stdin: str | None = None,
    warnings: list[str] | None = None,
) -> Credentials | None:
    return resolve_credentials(
        netloc,
        username=username,
        password_stdin=stdin is not None,
        stdin=io.StringIO(stdin or ""),
        env=env,
        warn=(warnings if warnings is not None else []).append,
    )


def test_precedence(tmp_path: Path) -> None:
    env = _write_config(
        tmp_path, {"auths": {"127.0.0.1:5000": {"auth": _auth("from-config", "c")}}}
    )
    found = _resolve(env=env)
    assert found is not None
    assert (found.username, found.password) == ("from-config", "c")

    env |= {"REGV1_USERNAME": "from-env", "REGV1_PASSWORD": "e"}
    found = _resolve(env=env)
    assert found is not None
    assert (found.username, found.password) == ("from-env", "e")

    found = _resolve(env=env, username="from-flag", stdin=SECRET + "\nignored\n")
    assert found is not None
    assert (found.username, found.password) == ("from-flag", SECRET)
    assert found.source == "--password-stdin"
    assert SECRET not in repr(found)


def test_username_flag_takes_env_password(tmp_path: Path) -> None:
    found = _resolve(env={"REGV1_PASSWORD": "e"}, username="bob")
    assert found is not None
    assert (found.username, found.password) == ("bob", "e")
    with pytest.raises(CredentialsError, match="--password-stdin"):
        _resolve(env={}, username="bob")
    found = _resolve(env={"REGV1_USERNAME": "envuser"}, stdin="pw\n")
    assert found is not None
    assert found.username == "envuser"


@pytest.mark.parametrize(
    ("env", "stdin", "message"),
    [
        ({}, "pw\n", "needs --username"),
        ({"REGV1_USERNAME": "u"}, "\n", "empty password"),
        ({"REGV1_USERNAME": "u"}, None, "set both"),
        ({"REGV1_PASSWORD": "p"}, None, "set both"),
    ],
)
def test_incomplete(env: dict[str, str], stdin: str | None, message: str) -> None:
    with pytest.raises(CredentialsError, match=message) as info:
        _resolve(env=env, stdin=stdin)
    assert "pw" not in str(info.value).replace("password", "")


@pytest.mark.parametrize(
    ("key", "netloc"),
    [
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("http://127.0.0.1:5000", "127.0.0.1:5000"),
        ("https://Registry.Example.com/v1/", "registry.example.com"),
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("[::1]:5000", "[::1]:5000"),
    ],
)
def test_config_keys_are_normalised(tmp_path: Path, key: str, netloc: str) -> None:
    env = _write_config(tmp_path, {"auths": {key: {"auth": _auth("u", SECRET)}}})
    found = _resolve(netloc, env=env)
    assert found is not None
    assert found.password == SECRET
    assert _resolve("other.example.com", env=env) is None


def test_config_username_password_fields(tmp_path: Path) -> None:
    env = _write_config(tmp_path, {"auths": {"h.example": {"username": "u", "password": "p"}}})
    found = _resolve("h.example", env=env)
    assert found is not None
    assert (found.username, found.password) == ("u", "p")


@pytest.mark.parametrize(
    "config",
    [
        {"credsStore": "desktop", "auths": {"127.0.0.1:5000": {}}},
        {"credHelpers": {"127.0.0.1:5000": "ecr-login"}},
    ],
)
def test_credential_helpers_warn_and_fall_back(tmp_path: Path, config: object) -> None:
    warnings: list[str] = []
    assert _resolve(env=_write_config(tmp_path, config), warnings=warnings) is None
    assert len(warnings) == 1
    assert "not support" in warnings[0]
    assert "127.0.0.1:5000" in warnings[0]


def test_no_config_is_anonymous(tmp_path: Path) -> None:
    assert _resolve(env={"DOCKER_CONFIG": str(tmp_path / "missing")}) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({"auths": {"127.0.0.1:5000": {"auth": "%%%"}}}), "not base64"),
        (
            json.dumps({"auths": {"127.0.0.1:5000": {"auth": base64.b64encode(b"x").decode()}}}),
            "user:password",
        ),
    ],
)
def test_bad_config(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(CredentialsError, match=message):
        _resolve(env={"DOCKER_CONFIG": str(tmp_path)})


def test_config_path(tmp_path: Path) -> None:
    assert docker_config_path({"DOCKER_CONFIG": str(tmp_path)}) == tmp_path / "config.json"
    assert docker_config_path({}).parts[-2:] == (".docker", "config.json")


def test_basic_auth_is_pinned_to_the_origin() -> None:
    auth = Credentials("u", SECRET, "test").basic_auth("http://127.0.0.1:5000")
    assert auth.host == "http://127.0.0.1:5000"
    assert SECRET not in repr(auth)


def test_docker_config_only_ignores_flags_and_env(tmp_path: Path) -> None:
    env = _write_config(tmp_path, {"auths": {"127.0.0.1:5000": {"auth": _auth("cfg", "c")}}})
    env |= {"REGV1_USERNAME": "from-env", "REGV1_PASSWORD": "e"}
    found = resolve_credentials(
        "127.0.0.1:5000",
        username="flag",
        password_stdin=True,
        stdin=io.StringIO("x\n"),
        env=env,
        warn=print,
        docker_config_only=True,
    )
    assert found is not None
    assert found.username == "cfg"
