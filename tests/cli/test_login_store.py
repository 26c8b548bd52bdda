"""``regv1 login`` stores a v1 login where podman and docker keep theirs; ``regv1 logout``.

Every login is checked against a real emulator with Basic users over a socket (the
``private_registry`` fixture: what ``regv1 serve --user alice:s3cret`` runs). The auth
files live in the directories the autouse ``clean_environment`` fixture points
``XDG_RUNTIME_DIR``, ``XDG_CONFIG_HOME`` and ``DOCKER_CONFIG`` at. The credential helper
is a real ``docker-credential-test`` executable on ``PATH`` that keeps its logins in a
"keychain" directory of its own and records every call's arguments and stdin there.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_support import PASSWORD, assert_one_line_failure, chain, netloc, path_with
from click.testing import Result
from docker_registry_v1.emulator import Standalone
from regv1_runner import regv1
from system_tools import require_tool

REGV1 = Path(sys.executable).with_name("regv1")
#: What a clear-text login for alice looks like in an auth file.
ENCODED = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


@pytest.fixture
def registry(private_registry: Standalone) -> str:
    """The private registry's ``HOST:PORT``, holding ``team/app:1.0``."""
    private_registry.store.seed("team/app", "1.0", chain(2))
    return netloc(private_registry.url)


def runtime_file() -> Path:
    """podman's default auth file while ``XDG_RUNTIME_DIR`` is set."""
    return Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"


def login(
    host: str, *args: str, password: str = PASSWORD, env: dict[str, Any] | None = None
) -> Result:
    return regv1(
        "login", host, "-u", "alice", "--password-stdin", *args, input=password + "\n", env=env
    )


def no_secret_in(*results: Result) -> None:
    for result in results:
        assert PASSWORD not in result.output
        assert ENCODED not in result.output


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# -- the auth file ---------------------------------------------------------------------------


def test_login_stores_in_podmans_file_and_later_commands_use_it(registry: str) -> None:
    assert_one_line_failure(regv1("tags", f"{registry}/team/app"), "401")
    stored = login(registry)
    assert stored.exit_code == 0, stored.output
    path = runtime_file()
    assert f"stored in {path}" in stored.stdout
    assert json.loads(path.read_text()) == {"auths": {registry: {"auth": ENCODED}}}
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["auth.json"]  # no temporary left

    tags = regv1("tags", f"{registry}/team/app", "--json")
    assert tags.exit_code == 0, tags.output
    assert set(json.loads(tags.stdout)["tags"]) == {"1.0"}
    checked = regv1("login", registry, "--json")  # no -u: the stored login is checked
    assert json.loads(checked.stdout) == {
        "registry": f"http://{registry}/v1/",
        "username": "alice",
        "logged_in": True,
        "stored": None,
    }

    out = regv1("logout", registry)
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == f"Removed login for {registry} from {path}"
    assert json.loads(path.read_text()) == {"auths": {}}
    assert_one_line_failure(regv1("tags", f"{registry}/team/app"), "401")
    again = regv1("logout", registry)
    assert_one_line_failure(again, f"not logged in to {registry}", str(path))
    no_secret_in(stored, tags, checked, out, again)


def test_podman_reads_the_login_regv1_stored(registry: str, tmp_path: Path) -> None:
    """The same file, the same form: podman finds the login (it cannot make one for v1)."""
    podman = require_tool("podman")
    path = tmp_path / "podman-auth.json"
    assert login(registry, "--authfile", str(path)).exit_code == 0
    for argv, expected in (
        (["login", "--get-login", registry], "alice"),
        (["logout", registry], f"Removed login credentials for {registry}"),
    ):
        done = subprocess.run(
            [podman, *argv, "--authfile", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout.strip()) == (0, expected), done.stderr
    assert_one_line_failure(
        regv1("logout", registry, "--authfile", str(path)), f"not logged in to {registry}"
    )


def test_login_without_u_checks_the_login_stored_in_authfile(registry: str, tmp_path: Path) -> None:
    path = tmp_path / "given.json"
    assert login(registry, "--authfile", str(path)).exit_code == 0
    assert_one_line_failure(regv1("login", registry), "no credentials")
    checked = regv1("login", registry, "--authfile", str(path))
    assert checked.exit_code == 0, checked.output
    assert f"credentials from podman auth file {path}; nothing stored" in checked.stdout
    path.write_text(
        json.dumps({"auths": {registry: {"auth": base64.b64encode(b"alice:no").decode()}}})
    )
    assert_one_line_failure(regv1("login", registry, "--authfile", str(path)), "401", str(path))


def test_a_refused_login_stores_nothing(registry: str) -> None:
    refused = login(registry, password="wrong-" + PASSWORD)
    assert_one_line_failure(refused, "401")
    assert "wrong-" not in refused.output
    assert not runtime_file().exists()


@pytest.mark.parametrize(
    ("variables", "where"),
    [
        ({"REGISTRY_AUTH_FILE": "{tmp}/explicit/auth.json"}, "{tmp}/explicit/auth.json"),
        ({}, "{tmp}/runtime/containers/auth.json"),
        (
            {"XDG_RUNTIME_DIR": None, "HOME": "{tmp}/home", "XDG_CONFIG_HOME": None},
            "{tmp}/home/.config/containers/auth.json",
        ),
    ],
    ids=["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "home"],
)
def test_the_file_follows_podmans_rules(
    registry: str, tmp_path: Path, variables: dict[str, str | None], where: str
) -> None:
    env = {k: None if v is None else v.format(tmp=tmp_path) for k, v in variables.items()}
    path = Path(where.format(tmp=tmp_path))
    stored = login(registry, env=env)
    assert stored.exit_code == 0, stored.output
    assert json.loads(path.read_text())["auths"] == {registry: {"auth": ENCODED}}
    assert mode(path) == 0o600
    assert regv1("tags", f"{registry}/team/app", env=env).exit_code == 0
    explicit = tmp_path / "given" / "auth.json"
    assert login(registry, "--authfile", str(explicit), env=env).exit_code == 0
    assert json.loads(explicit.read_text())["auths"] == {registry: {"auth": ENCODED}}
    assert mode(explicit.parent) == 0o700
    assert regv1("logout", registry, "--authfile", str(explicit), env=env).exit_code == 0
    assert json.loads(explicit.read_text())["auths"] == {}
    assert json.loads(path.read_text())["auths"] == {registry: {"auth": ENCODED}}


def test_every_other_key_of_the_file_is_kept(registry: str) -> None:
    path = runtime_file()
    path.parent.mkdir(parents=True)
    other_auth = base64.b64encode(b"bob:other").decode()
    original: dict[str, Any] = {
        "auths": {
            "quay.example.com": {"auth": other_auth, "identitytoken": "kept"},
            f"http://{registry}/v1/": {"auth": base64.b64encode(b"old:stale").decode()},
        },
        "credHelpers": {"ecr.example.com": "ecr-login"},
        "experimental": "enabled",
        "proxies": {"default": {"httpProxy": "http://127.0.0.1:3128"}},
    }
    path.write_text(json.dumps(original))
    path.chmod(0o644)
    assert login(registry).exit_code == 0
    data = json.loads(path.read_text())
    assert data == {
        **original,
        "auths": {
            "quay.example.com": {"auth": other_auth, "identitytoken": "kept"},
            registry: {"auth": ENCODED},  # the old spelling of the same host is replaced
        },
    }
    assert mode(path) == 0o600

    assert regv1("logout", registry).exit_code == 0
    assert json.loads(path.read_text()) == {
        **original,
        "auths": {"quay.example.com": {"auth": other_auth, "identitytoken": "kept"}},
    }
    everything = regv1("logout", "--all")
    assert everything.stdout.strip() == f"Removed 1 login from {path}"
    assert json.loads(path.read_text()) == {**original, "auths": {}}
    assert regv1("logout", "--all").stdout.strip() == f"Removed 0 logins from {path}"


def test_a_symlink_at_the_path_is_refused(registry: str, tmp_path: Path) -> None:
    path = runtime_file()
    path.parent.mkdir(parents=True)
    target = tmp_path / "elsewhere.json"
    target.write_text('{"auths": {}}')
    path.symlink_to(target)
    for run in (login(registry), regv1("logout", registry), regv1("logout", "--all")):
        assert_one_line_failure(run, str(path), "symbolic link")
        no_secret_in(run)
    assert path.is_symlink()
    assert target.read_text() == '{"auths": {}}'
    dangling = tmp_path / "dangling.json"
    path.unlink()
    path.symlink_to(dangling)
    assert_one_line_failure(login(registry), str(path), "symbolic link")
    assert not dangling.exists()
    assert [p.name for p in path.parent.iterdir()] == ["auth.json"]


@pytest.mark.parametrize(
    "content",
    ['{"auths": {"a": ', "[1, 2]", '{"auths": ["x"]}', "\udcff"],
    ids=["cut", "list", "auths", "binary"],
)
def test_a_corrupt_file_is_refused_not_overwritten(registry: str, content: str) -> None:
    path = runtime_file()
    path.parent.mkdir(parents=True)
    raw = content.encode("utf-8", "surrogateescape")
    path.write_bytes(raw)
    for run in (login(registry), regv1("logout", registry), regv1("logout", "--all")):
        assert_one_line_failure(run, str(path))
    assert path.read_bytes() == raw


def test_an_empty_file_is_taken_as_no_logins(registry: str) -> None:
    path = runtime_file()
    path.parent.mkdir(parents=True)
    path.write_text("")
    assert login(registry).exit_code == 0
    assert json.loads(path.read_text()) == {"auths": {registry: {"auth": ENCODED}}}


def test_logout_names_a_login_another_tool_stored(registry: str, clean_environment: Path) -> None:
    (clean_environment / "config.json").write_text(
        json.dumps({"auths": {registry: {"auth": ENCODED}}})
    )
    out = regv1("logout", registry)
    assert_one_line_failure(out, f"not logged in to {registry}", "docker config", "another tool")
    assert json.loads((clean_environment / "config.json").read_text())["auths"] != {}


# -- credential helpers ----------------------------------------------------------------------


def make_keychain_helper(bin_dir: Path, keychain: Path) -> None:
    """``docker-credential-test``: get, store, erase and list over ``keychain/logins.json``,
    each call's argument and stdin appended to ``keychain/calls`` (one JSON line each)."""
    bin_dir.mkdir()
    keychain.mkdir()
    script = bin_dir / "docker-credential-test"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"logins_path = {str(keychain / 'logins.json')!r}\n"
        f"calls_path = {str(keychain / 'calls')!r}\n"
        "action, data = sys.argv[1], sys.stdin.read()\n"
        "with open(calls_path, 'a') as calls:\n"
        "    calls.write(json.dumps({'action': action, 'stdin': data}) + '\\n')\n"
        "logins = json.load(open(logins_path)) if os.path.exists(logins_path) else {}\n"
        "def missing():\n"
        "    print('credentials not found in native keychain')\n"
        "    sys.exit(1)\n"
        "if action == 'store':\n"
        "    entry = json.loads(data)\n"
        "    logins[entry['ServerURL']] = [entry['Username'], entry['Secret']]\n"
        "elif action == 'get':\n"
        "    if data not in logins:\n"
        "        missing()\n"
        "    user, secret = logins[data]\n"
        "    print(json.dumps({'ServerURL': data, 'Username': user, 'Secret': secret}))\n"
        "elif action == 'erase':\n"
        "    if logins.pop(data, None) is None:\n"
        "        missing()\n"
        "json.dump(logins, open(logins_path, 'w'))\n"
    )
    script.chmod(0o755)


def keychain_calls(keychain: Path) -> list[dict[str, str]]:
    calls = keychain / "calls"
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def files_holding_the_secret(root: Path, skip: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and skip not in path.parents:
            data = path.read_bytes()
            if PASSWORD.encode() in data or ENCODED.encode() in data:
                found.append(path)
    return found


@pytest.mark.parametrize("config", ["credHelpers", "credsStore"])
def test_a_configured_helper_stores_and_no_file_holds_the_secret(
    registry: str, tmp_path: Path, clean_environment: Path, config: str
) -> None:
    bin_dir, keychain = tmp_path / "bin", tmp_path / "keychain"
    make_keychain_helper(bin_dir, keychain)
    chosen: dict[str, Any] = (
        {"credHelpers": {registry: "test"}} if config == "credHelpers" else {"credsStore": "test"}
    )
    docker_config = clean_environment / "config.json"
    docker_config.write_text(json.dumps({**chosen, "auths": {"other.example": {}}}))
    before = docker_config.read_text()
    # a clear-text login left from earlier would be read before the helper's
    stale = runtime_file()
    stale.parent.mkdir(parents=True)
    stale.write_text(
        json.dumps({"auths": {registry: {"auth": base64.b64encode(b"old:x").decode()}}, "other": 1})
    )
    env = {"PATH": path_with(bin_dir)}

    stored = login(registry, env=env)
    assert stored.exit_code == 0, stored.output
    assert "docker-credential-test" in stored.stdout
    assert f"{config} in docker config {docker_config}" in stored.stdout
    assert keychain_calls(keychain) == [
        {
            "action": "store",
            "stdin": json.dumps({"ServerURL": registry, "Username": "alice", "Secret": PASSWORD}),
        }
    ]
    assert files_holding_the_secret(tmp_path, skip=keychain) == []
    assert docker_config.read_text() == before
    assert json.loads(stale.read_text()) == {"auths": {}, "other": 1}

    tags = regv1("tags", f"{registry}/team/app", env=env)
    assert tags.exit_code == 0, tags.output
    assert keychain_calls(keychain)[-1] == {"action": "get", "stdin": registry}

    out = regv1("logout", registry, env=env)
    assert out.exit_code == 0, out.output
    assert "docker-credential-test" in out.stdout
    assert keychain_calls(keychain)[-1] == {"action": "erase", "stdin": registry}
    assert json.loads((keychain / "logins.json").read_text()) == {}
    assert_one_line_failure(regv1("tags", f"{registry}/team/app", env=env), "401")
    assert_one_line_failure(regv1("logout", registry, env=env), f"not logged in to {registry}")
    no_secret_in(stored, tags, out)


def test_a_helper_named_in_the_auth_file_itself_is_used(registry: str, tmp_path: Path) -> None:
    """The reading side asks a helper the auth file names before its ``auths``: so must login."""
    bin_dir, keychain = tmp_path / "bin", tmp_path / "keychain"
    make_keychain_helper(bin_dir, keychain)
    path = runtime_file()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"credHelpers": {registry: "test"}}))
    env = {"PATH": path_with(bin_dir)}
    assert login(registry, env=env).exit_code == 0
    assert json.loads(path.read_text()) == {"credHelpers": {registry: "test"}}
    assert [c["action"] for c in keychain_calls(keychain)] == ["store"]
    assert regv1("tags", f"{registry}/team/app", env=env).exit_code == 0


def test_a_failing_helper_is_one_error_line_without_the_secret(
    registry: str, tmp_path: Path, clean_environment: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-broken"
    helper.write_text(
        f"#!{sys.executable}\nimport sys\n"
        "sys.stderr.write('locked: ' + sys.stdin.read())\nsys.exit(4)\n"
    )
    helper.chmod(0o755)
    (clean_environment / "config.json").write_text(json.dumps({"credsStore": "broken"}))
    failed = login(registry, env={"PATH": path_with(bin_dir)})
    assert_one_line_failure(failed, "docker-credential-broken store failed (exit 4)", "locked")
    no_secret_in(failed)
    assert not runtime_file().exists()
    missing = login(registry, env={"PATH": str(tmp_path / "empty")})
    assert_one_line_failure(missing, "docker-credential-broken is not on PATH")


# -- how the password is given -----------------------------------------------------------------


def test_usage_errors(registry: str) -> None:
    for args in (
        ["login", registry, "--password-stdin"],
        ["logout"],
        ["logout", registry, "--all"],
    ):
        result = regv1(*args, input=PASSWORD + "\n", env={"REGV1_USERNAME": "alice"})
        assert result.exit_code == 1, result.output
        assert PASSWORD not in result.output
    without_terminal = regv1("login", registry, "-u", "alice")
    assert_one_line_failure(without_terminal, "--password-stdin")
    assert not runtime_file().exists()


def _converse(
    argv: list[str], answers: list[tuple[str, str]], timeout: float = 60
) -> tuple[int, str]:
    """Run ``argv`` on a fresh pseudo-terminal, typing each answer once its prompt shows."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        argv, stdin=follower, stdout=follower, stderr=follower, start_new_session=True
    )
    os.close(follower)
    seen, pending = b"", list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the terminal closed: the program is done
                    break
                if not chunk:
                    break
                seen += chunk
            if pending and pending[0][0].encode() in seen:
                os.write(leader, pending.pop(0)[1].encode() + b"\r")
            if not ready and process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    assert pending == [], seen
    return code, seen.decode(errors="replace")


def test_the_password_prompt_on_a_terminal_is_hidden(registry: str) -> None:
    code, screen = _converse(
        [str(REGV1), "login", registry, "-u", "alice"], [("Password for alice", PASSWORD)]
    )
    assert code == 0, screen
    assert "Login succeeded for alice" in screen
    assert PASSWORD not in screen
    assert json.loads(runtime_file().read_text())["auths"] == {registry: {"auth": ENCODED}}


def test_a_terminal_without_u_is_asked_for_the_user_too(registry: str) -> None:
    code, screen = _converse(
        [str(REGV1), "login", registry],
        [(f"Username for {registry}", "alice"), ("Password for alice", PASSWORD)],
    )
    assert code == 0, screen
    assert PASSWORD not in screen
    assert json.loads(runtime_file().read_text())["auths"] == {registry: {"auth": ENCODED}}


def test_help_describes_storing_and_logout() -> None:
    text = " ".join(regv1("login", "--help").stdout.split())
    for fragment in (
        "--authfile",
        "$REGISTRY_AUTH_FILE",
        "$XDG_RUNTIME_DIR/containers/auth.json",
        "~/.config/containers/auth.json",
        "credHelpers else credsStore",
        "--password-stdin",
        "0600",
        "regv1 logout",
    ):
        assert fragment in text
    logout = " ".join(regv1("logout", "--help").stdout.split())
    assert "--all" in logout
    assert "exit 1" in logout
