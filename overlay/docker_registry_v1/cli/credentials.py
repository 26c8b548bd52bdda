"""Where the CLI's Basic credentials come from, as docker, podman and skopeo users keep them.

First match wins:

1. ``--username`` with ``--password-stdin``, ``REGV1_PASSWORD``, or a hidden prompt
   on a terminal;
2. ``REGV1_USERNAME`` with ``REGV1_PASSWORD``;
3. the containers auth files podman and skopeo write: ``$REGISTRY_AUTH_FILE`` if set,
   else ``$XDG_RUNTIME_DIR/containers/auth.json``, then
   ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json``;
4. docker's ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``).

In a file, ``credHelpers`` for the registry, else ``credsStore``, names a helper
that docker's protocol asks (``docker-credential-NAME get``, the server on stdin,
``{"ServerURL", "Username", "Secret"}`` on stdout); without one the ``auths`` entry
for the registry's ``host[:port]`` is used. A helper that knows nothing moves the
search to the next file, as podman does. The password is only ever handed to a
``BasicAuth`` pinned to that registry's origin; nothing here prints or logs it, and
every :class:`Credentials` says where it came from so errors can tell the user.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import attrs
import httpx

from docker_registry_v1.core.errors import InvalidInput
from docker_registry_v1.v1.auth import BasicAuth

__all__ = [
    "Credentials",
    "CredentialsError",
    "auth_files",
    "docker_config_path",
    "parse_creds_option",
    "resolve_credentials",
    "stored_credentials",
]

ENV_USERNAME = "REGV1_USERNAME"
ENV_PASSWORD = "REGV1_PASSWORD"  # noqa: S105 - the variable's name, not a secret

#: The key docker files the default index's credentials under.
DOCKER_INDEX_KEY = "https://index.docker.io/v1/"
_INDEX_HOSTS = frozenset({"index.docker.io", "docker.io", "registry-1.docker.io"})

#: A helper may wait on a keyring or a gpg agent; a hung one must not hang the CLI.
HELPER_TIMEOUT = 60.0

_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_NOT_FOUND = "credentials not found in native keychain"

Warn = Callable[[str], None]
#: Asks for a password without echoing it; given the prompt text.
Prompt = Callable[[str], str]


class CredentialsError(InvalidInput):
    """Credentials that were asked for but cannot be used (missing half, unreadable config)."""


@attrs.frozen
class Credentials:
    """A user and password, and where they came from (for messages; never the secret)."""

    username: str
    password: str = attrs.field(repr=False)
    source: str

    def basic_auth(self, origin: str) -> BasicAuth:
        """Basic credentials that only ever go to ``origin`` (``scheme://host[:port]``)."""
        return BasicAuth(self.username, self.password, host=origin)


def docker_config_path(env: Mapping[str, str]) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    base = env.get("DOCKER_CONFIG")
    return (Path(base) if base else Path.home() / ".docker") / "config.json"


def auth_files(env: Mapping[str, str]) -> list[tuple[str, Path]]:
    """The files searched, in order, each with the kind named in messages."""
    explicit = env.get("REGISTRY_AUTH_FILE")
    if explicit:
        podman = [Path(explicit)]
    else:
        podman = []
        if env.get("XDG_RUNTIME_DIR"):
            podman.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
        config_home = env.get("XDG_CONFIG_HOME")
        base = Path(config_home) if config_home else Path.home() / ".config"
        podman.append(base / "containers" / "auth.json")
    return [("podman auth file", path) for path in podman] + [
        ("docker config", docker_config_path(env))
    ]


def _registry_key(key: str) -> str:
    """``https://host:port/v1/``, ``http://host``, ``host:port/ns`` → lowercase ``host[:port]``."""
    text = key.strip().lower()
    if "://" not in text:
        text = "//" + text
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return ""
    return url.netloc.decode("ascii")


def _same_registry(key: str, netloc: str) -> bool:
    """Docker Hub is filed as ``docker.io`` by podman and as its index URL by docker."""
    if key == netloc:
        return True
    return key in _INDEX_HOSTS and netloc in _INDEX_HOSTS


def _decode_auth(value: str, path: Path, key: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise CredentialsError(
            "credentials", f"{path}: auths[{key!r}].auth is not base64"
        ) from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise CredentialsError(
            "credentials", f"{path}: auths[{key!r}].auth is not base64 of 'user:password'"
        )
    return username, password


def _load_config(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError("credentials", f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        text = ""  # not text at all: reported as not JSON below
    try:
        data = json.loads(text)
    except ValueError:
        raise CredentialsError("credentials", f"{path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise CredentialsError("credentials", f"{path} is not a JSON object")
    return data


def _helper_keys(netloc: str) -> list[str]:
    """What docker passes a helper: the v1 index URL for the Hub, else ``host[:port]``."""
    return [DOCKER_INDEX_KEY, netloc] if httpx.URL("//" + netloc).host in _INDEX_HOSTS else [netloc]


def _run_helper(
    name: str, server: str, where: str, env: Mapping[str, str]
) -> dict[str, Any] | None:
    """One ``docker-credential-NAME get``; ``None`` when it has nothing for ``server``."""
    program = f"docker-credential-{name}"
    executable = shutil.which(program, path=env.get("PATH", os.defpath))
    if executable is None:
        raise CredentialsError(
            "credentials", f"credential helper {program} ({where}) is not on PATH"
        )
    try:
        done = subprocess.run(  # noqa: S603 - a helper the user's config names, found on PATH
            [executable, "get"],
            input=server,
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CredentialsError(
            "credentials", f"credential helper {program} did not answer in {HELPER_TIMEOUT:g} s"
        ) from None
    except OSError as exc:
        raise CredentialsError(
            "credentials", f"credential helper {program} cannot run: {exc.strerror}"
        ) from None
    if done.returncode != 0:
        said = " ".join((done.stderr.strip() or done.stdout.strip()).split())
        if _NOT_FOUND in said.lower():
            return None
        raise CredentialsError(
            "credentials",
            f"credential helper {program} failed for {server} (exit {done.returncode})"
            + (f": {said[:200]}" if said else ""),
        )
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise CredentialsError(
            "credentials", f"credential helper {program} did not print a JSON object"
        )
    return answer


def _from_helper(
    name: str, netloc: str, where: str, env: Mapping[str, str], warn: Warn
) -> Credentials | None:
    if not _HELPER_NAME.fullmatch(name):
        raise CredentialsError("credentials", f"{where}: {name!r} is not a helper name")
    program = f"docker-credential-{name}"
    for server in _helper_keys(netloc):
        answer = _run_helper(name, server, where, env)
        if answer is None:
            continue
        username, secret = answer.get("Username"), answer.get("Secret")
        if not isinstance(username, str) or not isinstance(secret, str) or not secret:
            raise CredentialsError(
                "credentials", f"credential helper {program} gave no Username/Secret for {server}"
            )
        if username == "<token>":  # docker's marker for an OAuth identity token
            warn(
                f"{program} holds an identity token for {server}, which v1 Basic auth "
                "cannot use; continuing without it"
            )
            return None
        return Credentials(username, secret, f"credential helper {program} ({where})")
    return None


def _configured_helper(config: Mapping[str, Any], netloc: str) -> tuple[str, str] | None:
    """The helper a config names for ``netloc`` and the key naming it, as docker picks it:
    ``credHelpers`` for the registry, else ``credsStore``. Shared with the writing side
    (``login_store``) so a login is stored where the next read will look."""
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if _registry_key(str(key)) == netloc and isinstance(name, str):
                return name, "credHelpers"
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return store, "credsStore"
    return None


def _from_file(
    kind: str, path: Path, netloc: str, env: Mapping[str, str], warn: Warn
) -> Credentials | None:
    config = _load_config(path)
    if config is None:
        return None
    where = f"{kind} {path}"
    helper = _configured_helper(config, netloc)
    if helper is not None:
        name, key = helper
        return _from_helper(name, netloc, f"{key} in {where}", env, warn)
    auths = config.get("auths")
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if not _same_registry(_registry_key(str(key)), netloc) or not isinstance(entry, dict):
                continue
            if isinstance(entry.get("auth"), str) and entry["auth"]:
                username, password = _decode_auth(entry["auth"], path, str(key))
                return Credentials(username, password, where)
            if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
                return Credentials(entry["username"], entry["password"], where)
    return None


def stored_credentials(
    netloc: str,
    env: Mapping[str, str] | None = None,
    *,
    warn: Warn,
    authfile: Path | None = None,
) -> Credentials | None:
    """What the podman auth files and docker's config hold for ``netloc``, or ``None``.

    ``authfile`` (skopeo's ``--authfile``) is the only file read when given: a user who
    names one for a side means that login, not whatever else is stored.
    """
    environ = os.environ if env is None else env
    key = netloc.lower()
    files = [("auth file", authfile)] if authfile is not None else auth_files(environ)
    for kind, path in files:
        found = _from_file(kind, path, key, environ, warn)
        if found is not None:
            return found
    return None


def _ask(prompt: Prompt | None, username: str, netloc: str, flag: str) -> str:
    if prompt is None:
        raise CredentialsError(
            "credentials",
            f"{flag} needs a password: use --password-stdin or {ENV_PASSWORD} "
            "(no terminal to prompt on)",
        )
    password = prompt(f"Password for {username} at {netloc}")
    if not password:
        raise CredentialsError("credentials", "empty password")
    return password


def parse_creds_option(flag: str, value: str, netloc: str, *, prompt: Prompt | None) -> Credentials:
    """skopeo's ``USER[:PASSWORD]`` (``--src-creds``/``--dest-creds``); prompts when omitted."""
    username, sep, password = value.partition(":")
    if not username:
        raise CredentialsError("credentials", f"{flag} needs USER[:PASSWORD]")
    if not sep:
        password = _ask(prompt, username, netloc, flag)
    return Credentials(username, password, flag)


def resolve_credentials(
    netloc: str,
    *,
    username: str | None,
    password_stdin: bool,
    stdin: IO[str],
    env: Mapping[str, str] | None = None,
    warn: Warn,
    stored_only: bool = False,
    prompt: Prompt | None = None,
    authfile: Path | None = None,
) -> Credentials | None:
    """The credentials for the registry at ``netloc`` (``host[:port]``), or ``None``.

    ``stored_only`` skips the options and ``REGV1_*`` variables: those are meant for
    one registry, and a command talking to two must not send them to the other.
    ``prompt`` is how to ask for a password (``None`` when there is no terminal).
    ``authfile`` replaces the search of the default auth files with that one file.
    """
    environ = os.environ if env is None else env
    if stored_only:
        return stored_credentials(netloc, environ, warn=warn, authfile=authfile)
    if password_stdin:
        name = username or environ.get(ENV_USERNAME, "")
        if not name:
            raise CredentialsError("credentials", "--password-stdin needs --username")
        password = stdin.readline().rstrip("\r\n")
        if not password:
            raise CredentialsError("credentials", "--password-stdin read an empty password")
        return Credentials(name, password, "--password-stdin")
    if username is not None:
        env_secret = environ.get(ENV_PASSWORD)
        if env_secret is not None:
            return Credentials(username, env_secret, f"--username and {ENV_PASSWORD}")
        return Credentials(
            username, _ask(prompt, username, netloc, "--username"), "--username and a prompt"
        )
    env_user, env_password = environ.get(ENV_USERNAME), environ.get(ENV_PASSWORD)
    if env_user and env_password is not None:
        return Credentials(env_user, env_password, f"{ENV_USERNAME}/{ENV_PASSWORD}")
    if env_user or env_password:
        raise CredentialsError("credentials", f"set both {ENV_USERNAME} and {ENV_PASSWORD}")
    return stored_credentials(netloc, environ, warn=warn, authfile=authfile)
