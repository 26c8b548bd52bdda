"""Credential precedence: flags > REGV1_* > podman auth files > docker's config.json.

Credential helpers are real executables made by the tests (``make_helper``) and
found on a ``PATH`` the test sets; they speak docker's helper protocol.
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest
from cli_support import helper_calls, make_helper, path_with
from docker_registry_v1.cli.credentials import (
    Credentials,
    CredentialsError,
    auth_files,
    docker_config_path,
    parse_creds_option,
    resolve_credentials,
    stored_credentials,
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
    prompt: list[str] | None = None,
) -> Credentials | None:
    """Resolve with ``env`` only (podman's default file in the test's empty config home).

    ``prompt``: the answers a terminal would give, consumed in order.
    """
    answers = iter(prompt or ())
    return resolve_credentials(
        netloc,
        username=username,
        password_stdin=stdin is not None,
        stdin=io.StringIO(stdin or ""),
        env={"XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"], **env},
        warn=(warnings if warnings is not None else []).append,
        prompt=None if prompt is None else lambda text: next(answers),
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


def test_stored_only_ignores_flags_and_env(tmp_path: Path) -> None:
    env = _write_config(tmp_path, {"auths": {"127.0.0.1:5000": {"auth": _auth("cfg", "c")}}})
    env |= {"REGV1_USERNAME": "from-env", "REGV1_PASSWORD": "e"}
    found = resolve_credentials(
        "127.0.0.1:5000",
        username="flag",
        password_stdin=True,
        stdin=io.StringIO("x\n"),
        env=env,
        warn=print,
        stored_only=True,
    )
    assert found is not None
    assert found.username == "cfg"


def test_prompt_when_username_has_no_password() -> None:
    found = _resolve(env={}, username="bob", prompt=["typed"])
    assert found is not None
    assert (found.username, found.password) == ("bob", "typed")
    assert found.source == "--username and a prompt"
    with pytest.raises(CredentialsError, match="empty password"):
        _resolve(env={}, username="bob", prompt=[""])
    with pytest.raises(CredentialsError, match="no terminal"):
        _resolve(env={}, username="bob")


def test_creds_option() -> None:
    given = parse_creds_option("--src-creds", "u:p:q", "h.example", prompt=None)
    assert (given.username, given.password, given.source) == ("u", "p:q", "--src-creds")
    asked: list[str] = []
    prompted = parse_creds_option(
        "--dest-creds", "u", "h.example:5000", prompt=lambda text: asked.append(text) or "pw"
    )
    assert prompted.password == "pw"
    assert asked == ["Password for u at h.example:5000"]
    with pytest.raises(CredentialsError, match="USER"):
        parse_creds_option("--src-creds", ":pw", "h.example", prompt=None)
    with pytest.raises(CredentialsError, match="--dest-creds needs a password") as info:
        parse_creds_option("--dest-creds", "u", "h.example", prompt=None)
    assert "no terminal" in str(info.value)


# ------------------------------------------------------------------ podman auth files


def _podman_file(path: Path, user: str, password: str, key: str = "127.0.0.1:5000") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": {key: {"auth": _auth(user, password)}}}))
    return path


def test_auth_file_order(tmp_path: Path) -> None:
    runtime, config_home, docker = tmp_path / "run", tmp_path / "home", tmp_path / "docker"
    env = {
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(config_home),
        "DOCKER_CONFIG": str(docker),
    }
    assert [path for _, path in auth_files(env)] == [
        runtime / "containers" / "auth.json",
        config_home / "containers" / "auth.json",
        docker / "config.json",
    ]
    explicit = tmp_path / "explicit.json"
    assert [path for _, path in auth_files(env | {"REGISTRY_AUTH_FILE": str(explicit)})] == [
        explicit,
        docker / "config.json",
    ]

    _podman_file(docker / "config.json", "docker-user", "d")
    found = stored_credentials("127.0.0.1:5000", env, warn=print)
    assert found is not None
    assert found.username == "docker-user"
    assert found.source == f"docker config {docker / 'config.json'}"

    _podman_file(config_home / "containers" / "auth.json", "config-user", "c")
    found = stored_credentials("127.0.0.1:5000", env, warn=print)
    assert found is not None
    assert found.username == "config-user"

    runtime_file = _podman_file(runtime / "containers" / "auth.json", "runtime-user", "r")
    found = stored_credentials("127.0.0.1:5000", env, warn=print)
    assert found is not None
    assert (found.username, found.password) == ("runtime-user", "r")
    assert found.source == f"podman auth file {runtime_file}"

    _podman_file(explicit, "explicit-user", "x")
    found = stored_credentials(
        "127.0.0.1:5000", env | {"REGISTRY_AUTH_FILE": str(explicit)}, warn=print
    )
    assert found is not None
    assert found.username == "explicit-user"
    # an auth file for another host is passed over
    assert stored_credentials("other.example:5000", env, warn=print) is None


# ------------------------------------------------------------------ credential helpers


def _helper_env(tmp_path: Path, config: object) -> dict[str, str]:
    return _write_config(tmp_path, config) | {"PATH": path_with(tmp_path / "bin")}


def test_creds_store_speaks_dockers_protocol(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    make_helper(bin_dir, "fake", known={"127.0.0.1:5000": ("helper-user", SECRET)})
    env = _helper_env(tmp_path, {"credsStore": "fake", "auths": {"127.0.0.1:5000": {}}})
    found = _resolve(env=env)
    assert found is not None
    assert (found.username, found.password) == ("helper-user", SECRET)
    assert "docker-credential-fake" in found.source
    assert SECRET not in repr(found)
    assert helper_calls(bin_dir, "fake") == [{"argv": ["get"], "stdin": "127.0.0.1:5000"}]

    assert _resolve("other.example", env=env) is None  # "not found" is no credentials
    assert helper_calls(bin_dir, "fake")[-1]["stdin"] == "other.example"


def test_cred_helpers_win_over_store_and_auths(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    make_helper(bin_dir, "per-host", known={"127.0.0.1:5000": ("per-host-user", "h")})
    make_helper(bin_dir, "store", failure="must not be asked")
    env = _helper_env(
        tmp_path,
        {
            "credsStore": "store",
            "credHelpers": {"http://127.0.0.1:5000": "per-host"},
            "auths": {"127.0.0.1:5000": {"auth": _auth("inline", "i")}},
        },
    )
    found = _resolve(env=env)
    assert found is not None
    assert found.username == "per-host-user"
    assert helper_calls(bin_dir, "store") == []


def test_index_key_is_dockers(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    make_helper(bin_dir, "fake", known={"https://index.docker.io/v1/": ("hub-user", "h")})
    env = _helper_env(tmp_path, {"credsStore": "fake"})
    found = _resolve("index.docker.io", env=env)
    assert found is not None
    assert found.username == "hub-user"
    assert [call["stdin"] for call in helper_calls(bin_dir, "fake")] == [
        "https://index.docker.io/v1/"
    ]


def test_helper_not_found_moves_to_the_next_file(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    make_helper(bin_dir, "empty")
    podman = Path(os.environ["XDG_CONFIG_HOME"]) / "containers" / "auth.json"
    podman.parent.mkdir(parents=True)
    podman.write_text(json.dumps({"credHelpers": {"127.0.0.1:5000": "empty"}}))
    env = _helper_env(tmp_path, {"auths": {"127.0.0.1:5000": {"auth": _auth("docker", "d")}}})
    found = _resolve(env=env)
    assert found is not None
    assert found.username == "docker"
    assert len(helper_calls(bin_dir, "empty")) == 1


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        ("broken", ["docker-credential-broken failed", "exit 3", "keyring locked"]),
        ("missing", ["docker-credential-missing (credsStore in docker config", "is not on PATH"]),
    ],
)
def test_helper_failures_name_the_helper(tmp_path: Path, make: str, fragments: list[str]) -> None:
    if make == "broken":
        make_helper(tmp_path / "bin", "broken", failure="keyring locked")
    env = _helper_env(tmp_path, {"credsStore": make})
    with pytest.raises(CredentialsError) as info:
        _resolve(env=env)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_identity_tokens_are_not_basic_credentials(tmp_path: Path) -> None:
    make_helper(tmp_path / "bin", "oauth", known={"127.0.0.1:5000": ("<token>", "refresh")})
    warnings: list[str] = []
    env = _helper_env(tmp_path, {"credHelpers": {"127.0.0.1:5000": "oauth"}})
    assert _resolve(env=env, warnings=warnings) is None
    assert len(warnings) == 1
    assert "identity token" in warnings[0]
    assert "refresh" not in warnings[0]


def test_bad_helper_name(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="not a helper name"):
        _resolve(env=_write_config(tmp_path, {"credsStore": "../evil"}))


def test_docker_hub_logins_are_found_under_either_name(tmp_path: Path) -> None:
    """podman files the Hub as ``docker.io``, docker under its index URL: a ``docker://``
    reference on the Hub finds the login either way, and no other host gets it."""
    docker = tmp_path / "config.json"
    token = base64.b64encode(b"hubuser:hubpass").decode()
    docker.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": token}}}))
    env = {"DOCKER_CONFIG": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "none")}
    found = stored_credentials("docker.io", env, warn=lambda _: None)
    assert found is not None
    assert (found.username, found.source) == ("hubuser", f"docker config {docker}")
    assert stored_credentials("registry.example.com", env, warn=lambda _: None) is None
    own = tmp_path / "own.json"
    own.write_text(json.dumps({"auths": {"docker.io": {"auth": token}}}))
    named = stored_credentials("docker.io", env, warn=lambda _: None, authfile=own)
    assert named is not None
    assert named.source == f"auth file {own}"
