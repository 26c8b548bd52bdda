"""Where the CLI's Basic credentials come from, in docker's order of precedence.

``--username`` with ``--password-stdin`` beats ``REGV1_USERNAME``/``REGV1_PASSWORD``,
which beat an ``auths`` entry of docker's ``config.json`` for the registry's
``host[:port]``. The password is read once and only ever handed to a ``BasicAuth``
pinned to that registry's origin; nothing here prints or logs it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import attrs
import httpx

from docker_registry_v1.auth import BasicAuth
from docker_registry_v1.errors import InvalidInput

__all__ = ["Credentials", "CredentialsError", "docker_config_path", "resolve_credentials"]

ENV_USERNAME = "REGV1_USERNAME"
ENV_PASSWORD = "REGV1_PASSWORD"  # noqa: S105 - the variable's name, not a secret

Warn = Callable[[str], None]


class CredentialsError(InvalidInput):
    """Credentials that were asked for but cannot be used (missing half, unreadable config)."""


@attrs.frozen
class Credentials:
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


def _registry_key(key: str) -> str:
    """``https://host:port/v1/``, ``http://host``, ``host:port`` → ``host[:port]`` (lowercase)."""
    text = key.strip().lower()
    if "://" not in text:
        text = "//" + text
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return ""
    return url.netloc.decode("ascii")


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
    try:
        data = json.loads(text)
    except ValueError:
        raise CredentialsError("credentials", f"{path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise CredentialsError("credentials", f"{path} is not a JSON object")
    return data


def _from_docker_config(netloc: str, env: Mapping[str, str], warn: Warn) -> Credentials | None:
    path = docker_config_path(env)
    config = _load_config(path)
    if config is None:
        return None
    auths = config.get("auths")
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if _registry_key(str(key)) != netloc or not isinstance(entry, dict):
                continue
            if isinstance(entry.get("auth"), str) and entry["auth"]:
                username, password = _decode_auth(entry["auth"], path, str(key))
                return Credentials(username, password, f"docker config ({path})")
            if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
                return Credentials(entry["username"], entry["password"], f"docker config ({path})")
    helpers = config.get("credHelpers")
    helper_keys = {_registry_key(str(k)) for k in helpers} if isinstance(helpers, dict) else set()
    if netloc in helper_keys or config.get("credsStore"):
        warn(
            f"{path} keeps credentials for {netloc} in a credential helper "
            "(credsStore/credHelpers), which regv1 does not support; continuing anonymously "
            "(use --username/--password-stdin or REGV1_USERNAME/REGV1_PASSWORD)"
        )
    return None


def resolve_credentials(
    netloc: str,
    *,
    username: str | None,
    password_stdin: bool,
    stdin: IO[str],
    env: Mapping[str, str] | None = None,
    warn: Warn,
    docker_config_only: bool = False,
) -> Credentials | None:
    """The credentials for the registry at ``netloc`` (``host[:port]``), or ``None``.

    ``docker_config_only`` skips the options and ``REGV1_*`` variables: those are meant
    for one registry, and a command talking to two must not send them to the other.
    """
    environ = os.environ if env is None else env
    if docker_config_only:
        return _from_docker_config(netloc.lower(), environ, warn)
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
        if env_secret is None:
            raise CredentialsError(
                "credentials", f"--username needs --password-stdin (or {ENV_PASSWORD})"
            )
        return Credentials(username, env_secret, f"--username and {ENV_PASSWORD}")
    env_user, env_password = environ.get(ENV_USERNAME), environ.get(ENV_PASSWORD)
    if env_user and env_password is not None:
        return Credentials(env_user, env_password, "environment")
    if env_user or env_password:
        raise CredentialsError("credentials", f"set both {ENV_USERNAME} and {ENV_PASSWORD}")
    return _from_docker_config(netloc.lower(), environ, warn)
