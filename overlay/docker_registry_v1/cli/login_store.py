"""The writing side of the credentials: where ``regv1 login`` stores a v1 login, and
``regv1 logout`` removes it.

podman and skopeo refuse v1 registries, so their ``login`` cannot store one; this does,
in the same places and forms, so the reading side (:mod:`.credentials`) and those tools
find it:

- a credential helper, when the auth file or docker's ``config.json`` names one for the
  host (``credHelpers``, else ``credsStore``): ``docker-credential-NAME store`` gets
  ``{"ServerURL", "Username", "Secret"}`` on stdin and the secret is never written to a
  file;
- otherwise podman's auth file (``--authfile``, else ``$REGISTRY_AUTH_FILE``, else
  ``$XDG_RUNTIME_DIR/containers/auth.json``, else ``~/.config/containers/auth.json``:
  the first file :func:`.credentials.auth_files` reads), as ``auths[HOST] = {"auth":
  base64(user:password)}`` with every other key of the file kept.

The file holds passwords, so it is written the careful way: a temporary file in the same
directory, mode 0600, then ``os.replace`` (a reader never sees half a file, a crash never
leaves one); a missing directory is made 0700; a symbolic link planted at the file's
path is refused rather than followed or replaced, and so is a file that is not JSON,
because overwriting it would lose whatever the user keeps there.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .credentials import (
    _HELPER_NAME,
    _NOT_FOUND,
    HELPER_TIMEOUT,
    Credentials,
    CredentialsError,
    _configured_helper,
    _helper_keys,
    _load_config,
    _registry_key,
    auth_files,
    docker_config_path,
)

__all__ = [
    "LoginStoreError",
    "NotLoggedInError",
    "Removed",
    "StoredAt",
    "login_file",
    "remove_all_logins",
    "remove_login",
    "store_login",
]


class LoginStoreError(CredentialsError):
    """A login that cannot be stored or removed (a planted symlink, a corrupt file, a
    failing helper); the message names the file or helper, never the secret."""

    def __init__(self, message: str) -> None:
        super().__init__("credentials", message)


class NotLoggedInError(LoginStoreError):
    """``logout`` of a host with no stored login (podman exits non-zero for it too)."""


@attrs.frozen
class StoredAt:
    """Where a login went: a file, or a helper (and the config that named it)."""

    path: Path | None = None
    helper: str | None = None
    named_by: str | None = None

    def describe(self) -> str:
        if self.helper is not None:
            return f"credential helper docker-credential-{self.helper} ({self.named_by})"
        return str(self.path)


@attrs.frozen
class Removed:
    """What ``logout`` removed: the places its login was taken out of."""

    places: tuple[str, ...]


def login_file(env: Mapping[str, str], authfile: Path | None = None) -> Path:
    """podman's auth file for writing: ``authfile``, else the first file the reading side
    searches (``$REGISTRY_AUTH_FILE``, ``$XDG_RUNTIME_DIR/…``, ``~/.config/…``)."""
    if authfile is not None:
        return authfile
    _, path = auth_files(env)[0]
    return path


def _helper_for(
    netloc: str,
    path: Path,
    data: Mapping[str, Any] | None,
    env: Mapping[str, str],
    *,
    explicit: bool,
) -> StoredAt | None:
    """The helper the next read would ask for ``netloc``, if any: the one the auth file
    (``data``, read from ``path``) names, then (without ``--authfile``) docker's."""
    configs: list[tuple[str, Path, Mapping[str, Any] | None]] = [("auth file", path, data)]
    if not explicit:
        docker = docker_config_path(env)
        configs.append(("docker config", docker, _load_config(docker)))
    for kind, config_path, config in configs:
        helper = None if config is None else _configured_helper(config, netloc)
        if helper is not None:
            name, key = helper
            if not _HELPER_NAME.fullmatch(name):
                raise LoginStoreError(f"{key} in {config_path}: {name!r} is not a helper name")
            return StoredAt(helper=name, named_by=f"{key} in {kind} {config_path}")
    return None


def _redacted(text: str, secret: str | None) -> str:
    said = " ".join(text.split())
    if secret:
        said = said.replace(secret, "***")
    return said[:200]


def _call_helper(
    name: str, action: str, data: str, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """``docker-credential-NAME ACTION`` with ``data`` on stdin; failures to run it raise."""
    program = f"docker-credential-{name}"
    executable = shutil.which(program, path=env.get("PATH", os.defpath))
    if executable is None:
        raise LoginStoreError(f"credential helper {program} is not on PATH")
    try:
        return subprocess.run(  # noqa: S603 - a helper the user's config names, found on PATH
            [executable, action],
            input=data,
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LoginStoreError(
            f"credential helper {program} did not answer in {HELPER_TIMEOUT:g} s"
        ) from None
    except OSError as exc:
        raise LoginStoreError(f"credential helper {program} cannot run: {exc.strerror}") from None


def _helper_failed(
    name: str, action: str, done: subprocess.CompletedProcess[str], secret: str | None = None
) -> LoginStoreError:
    said = _redacted(done.stderr.strip() or done.stdout.strip(), secret)
    return LoginStoreError(
        f"credential helper docker-credential-{name} {action} failed (exit {done.returncode})"
        + (f": {said}" if said else ""),
    )


# -- the auth file ---------------------------------------------------------------------------


def _read_for_update(path: Path) -> dict[str, Any] | None:
    """The file's JSON object, ``None`` when there is no file; refuses a symlink, anything
    but a regular file, and a file that is not a JSON object with an object ``auths``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LoginStoreError(
                f"{path} is a symbolic link; refusing to write credentials through it "
                "(remove the link or give another --authfile)",
            ) from None
        raise LoginStoreError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, encoding="utf-8") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise LoginStoreError(f"{path} is not a regular file")
        try:
            text = file.read()
        except (OSError, UnicodeDecodeError):
            text = "\0"  # unreadable as text: refused below like any other corrupt content
    if not text.strip():
        return {}  # an empty file (touched, or truncated by hand) holds nothing to keep
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise LoginStoreError(
            f"{path} is not a JSON object; refusing to overwrite it (fix or remove it)",
        )
    if not isinstance(data.get("auths", {}), dict):
        raise LoginStoreError(f"{path}: 'auths' is not an object; refusing to overwrite it")
    return data


def _make_dirs(directory: Path) -> None:
    """``mkdir -p`` with every directory it makes 0700, as podman makes them."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)


def _write_atomically(path: Path, data: Mapping[str, Any]) -> None:
    """Replace ``path`` by a 0600 file holding ``data``, or leave it exactly as it was."""
    directory = path.parent
    _make_dirs(directory)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)
            json.dump(data, file, indent="\t")
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        if path.is_symlink():  # planted since it was read: still never replaced
            raise LoginStoreError(f"{path} is a symbolic link; refusing to write credentials")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _matching_keys(auths: Mapping[str, Any], netloc: str) -> list[str]:
    """Every ``auths`` key naming ``netloc`` (``http://host:port``, ``host:port/v1/``, …)."""
    return [key for key in auths if _registry_key(str(key)) == netloc]


def _drop_entries(path: Path, netloc: str) -> bool:
    """Remove ``netloc``'s entries from the file at ``path``; whether there were any."""
    data = _read_for_update(path)
    if data is None:
        return False
    auths = data.get("auths") or {}
    keys = _matching_keys(auths, netloc)
    if not keys:
        return False
    for key in keys:
        del auths[key]
    _write_atomically(path, {**data, "auths": auths})
    return True


# -- what the commands call ------------------------------------------------------------------


def store_login(
    netloc: str,
    credentials: Credentials,
    *,
    env: Mapping[str, str] | None = None,
    authfile: Path | None = None,
) -> StoredAt:
    """Store ``credentials`` for ``netloc`` (``host[:port]``) where the next read looks."""
    environ = os.environ if env is None else env
    key = netloc.lower()
    path = login_file(environ, authfile)
    data = _read_for_update(path)  # refused (symlink, corrupt) before anything is stored
    helper = _helper_for(key, path, data, environ, explicit=authfile is not None)
    if helper is not None and helper.helper is not None:
        payload = json.dumps(
            {
                "ServerURL": _helper_keys(key)[0],
                "Username": credentials.username,
                "Secret": credentials.password,
            }
        )
        done = _call_helper(helper.helper, "store", payload, environ)
        if done.returncode != 0:
            raise _helper_failed(helper.helper, "store", done, credentials.password)
        if data is not None:  # a clear-text copy left in the file would be read first
            _drop_entries(path, key)
        return helper
    data = data or {}
    auths = dict(data.get("auths") or {})
    for old in _matching_keys(auths, key):  # one entry per host: the reader takes the first
        del auths[old]
    token = f"{credentials.username}:{credentials.password}".encode()
    auths[key] = {"auth": base64.b64encode(token).decode("ascii")}
    _write_atomically(path, {**data, "auths": auths})
    return StoredAt(path=path)


def _elsewhere(netloc: str, path: Path, env: Mapping[str, str]) -> str | None:
    """Another file the reading side searches that holds a clear-text login for ``netloc``."""
    for kind, other in auth_files(env):
        if other == path:
            continue
        try:
            config = _load_config(other)
        except CredentialsError:
            continue
        auths = (config or {}).get("auths")
        if isinstance(auths, dict) and _matching_keys(auths, netloc):
            return f"{kind} {other}"
    return None


def remove_login(
    netloc: str, *, env: Mapping[str, str] | None = None, authfile: Path | None = None
) -> Removed:
    """Remove the login for ``netloc`` from the helper the config names and the auth file;
    :class:`NotLoggedInError` when neither held one."""
    environ = os.environ if env is None else env
    key = netloc.lower()
    path = login_file(environ, authfile)
    places: list[str] = []
    data = _read_for_update(path)  # refused (symlink, corrupt) before a helper is asked
    helper = _helper_for(key, path, data, environ, explicit=authfile is not None)
    if helper is not None and helper.helper is not None:
        for server in _helper_keys(key):
            done = _call_helper(helper.helper, "erase", server, environ)
            if done.returncode == 0:
                places.append(helper.describe())
                break
            if _NOT_FOUND not in (done.stdout + done.stderr).lower():
                raise _helper_failed(helper.helper, "erase", done)
    if _drop_entries(path, key):
        places.append(str(path))
    if not places:
        other = None if authfile is not None else _elsewhere(key, path, environ)
        raise NotLoggedInError(
            f"not logged in to {key} (nothing stored in "
            + (helper.describe() + " nor in " if helper is not None else "")
            + f"{path})"
            + (
                f"; the login in {other} was stored by another tool: use its logout"
                if other
                else ""
            ),
        )
    return Removed(tuple(places))


def remove_all_logins(
    *, env: Mapping[str, str] | None = None, authfile: Path | None = None
) -> tuple[Path, int]:
    """Empty the auth file's ``auths`` (its other keys stay): the file and how many went."""
    environ = os.environ if env is None else env
    path = login_file(environ, authfile)
    data = _read_for_update(path)
    auths = (data or {}).get("auths") or {}
    if data is None or not auths:
        return path, 0
    _write_atomically(path, {**data, "auths": {}})
    return path, len(auths)
