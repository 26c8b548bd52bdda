"""The two sides of ``copy``, ``mirror`` and ``migrate``: one option model, skopeo's names.

Each side has its own login (``--src-creds``/``--dest-creds USER[:PASSWORD]``, a
``--X-password-stdin``, a hidden prompt on a terminal, ``--X-no-creds``, or what its
``--X-authfile`` (``--authfile`` for both) or the default auth files hold for its
host) and its own TLS (``--X-tls-verify``, ``--X-cert-dir``). Nothing given for one
side ever reaches the other side's host: that is the point of naming them apart.

The one-registry spellings these commands took before (``--plain-http``,
``--insecure``, ``--ca-cert``, ``-u``/``--password-stdin``, ``REGV1_*``, migrate's
``--creds``) still work, hidden, with a ``warning:`` line naming the new flags.
"""

from __future__ import annotations

import abc
import functools
import os
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, Self, TypeVar

import attrs
import click
import httpx

from docker_registry_v1.core.budget import HostBudget, shared_budget
from docker_registry_v1.core.errors import RegistryConnectionError, RegistryError
from docker_registry_v1.core.tls import TLSConfig, TLSVerificationError, choose_scheme, ssl_context
from docker_registry_v1.v1.endpoints import Endpoint

from .credentials import (
    ENV_PASSWORD,
    ENV_USERNAME,
    Credentials,
    CredentialsError,
    parse_creds_option,
    resolve_credentials,
)
from .options import Settings, budget_options, fail, warn

if TYPE_CHECKING:
    from docker_registry_v1.oci.client import OCIClient

__all__ = [
    "OCISide",
    "SideSettings",
    "SidesCommand",
    "side_budget",
    "side_credentials",
    "side_options",
    "side_origin",
    "tls_hint",
    "two_sided",
]

Side = Literal["src", "dest", "backend"]
_NAMES = {"src": "source", "dest": "destination", "backend": "backend"}


@attrs.frozen
class SideSettings:
    """What the options say about one side (``src`` or ``dest``) of a two-sided command.

    ``legacy_login``: the deprecated one-registry login (``-u``/``--password-stdin``/
    ``REGV1_*``) was assigned to this side by the command, as it used to be.
    """

    side: Side
    creds: str | None = attrs.field(default=None, repr=False)
    no_creds: bool = False
    authfile: Path | None = None
    tls_verify: bool = True
    cert_dir: Path | None = None
    password_stdin: bool = False
    plain_http: bool = False
    ca_file: Path | None = None
    legacy_login: bool = False
    #: this side's per-host budget (--X-rate, --X-max-connections); None: no limit
    rate: float | None = None
    max_connections: int | None = None
    _contexts: dict[str, ssl.SSLContext | Literal[False]] = attrs.field(
        factory=dict, eq=False, repr=False
    )

    @property
    def name(self) -> str:
        """``source`` or ``destination``, for messages."""
        return _NAMES[self.side]

    def flag(self, option: str) -> str:
        """``--src-OPTION`` / ``--dest-OPTION``."""
        return f"--{self.side}-{option}"

    @property
    def tls(self) -> TLSConfig:
        return TLSConfig(
            verify=self.tls_verify,
            cert_dir=self.cert_dir,
            ca_file=self.ca_file,
            plain_http=self.plain_http,
        )

    def verify(self) -> ssl.SSLContext | Literal[False]:
        """httpx's ``verify=`` for this side, built once (loading CAs costs milliseconds)."""
        if "verify" not in self._contexts:
            self._contexts["verify"] = ssl_context(self.tls)
        return self._contexts["verify"]


def tls_hint(side: SideSettings) -> str:
    return (
        f"trust its CA with {side.flag('cert-dir')} DIR (a directory of *.crt files), or "
        f"skip verification with {side.flag('tls-verify')}=false"
    )


def side_origin(side: SideSettings, host: str, port: int | None, scheme: str | None) -> str:
    """``scheme://host[:port]`` for this side: the typed scheme, else the probe's rule."""
    netloc = Endpoint(host=host, port=port).netloc
    if scheme is None:
        try:
            scheme = choose_scheme(host, port, side.tls, side.verify())
        except TLSVerificationError as exc:
            fail(
                f"{side.name} {exc.netloc}: TLS certificate verification failed "
                f"({exc.reason}); {tls_hint(side)}"
            )
    return f"{scheme}://{netloc}"


def side_budget(side: SideSettings | Settings, url: str) -> HostBudget:
    """The process's budget for ``url``'s origin, with this side's (or the one registry's)
    limits: every client the command builds for that host shares it."""
    return shared_budget(url, rate=side.rate, max_connections=side.max_connections)


def _stdin_password(flag: str) -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CredentialsError("credentials", f"{flag} read an empty password")
    return password


def side_credentials(settings: Settings, side: SideSettings, netloc: str) -> Credentials | None:
    """The login this side sends to ``netloc`` (``host[:port]``), or ``None`` for none."""
    from .connect import password_prompt  # noqa: PLC0415 - connect imports this module

    if side.no_creds:
        return None
    if side.creds is not None:
        flag = side.flag("creds")
        if ":" not in side.creds and side.password_stdin:
            if not side.creds:
                raise CredentialsError("credentials", f"{flag} needs USER[:PASSWORD]")
            stdin_flag = side.flag("password-stdin")
            return Credentials(side.creds, _stdin_password(stdin_flag), f"{flag} and {stdin_flag}")
        prompt = password_prompt()
        if ":" not in side.creds and prompt is None:
            raise CredentialsError(
                "credentials",
                f"{flag} {side.creds} needs a password: {side.flag('password-stdin')}, "
                "USER:PASSWORD, or a terminal to be asked on",
            )
        return parse_creds_option(flag, side.creds, netloc, prompt=prompt)
    if side.legacy_login:
        return resolve_credentials(
            netloc,
            username=settings.username,
            password_stdin=settings.password_stdin,
            stdin=sys.stdin,
            warn=warn,
            prompt=password_prompt(),
            authfile=side.authfile,
        )
    return resolve_credentials(
        netloc,
        username=None,
        password_stdin=False,
        stdin=sys.stdin,
        warn=warn,
        stored_only=True,
        authfile=side.authfile,
    )


def assign_legacy_login(
    settings: Settings, src: SideSettings, dest: SideSettings, to: Side, command: str
) -> tuple[SideSettings, SideSettings]:
    """Give the deprecated one-registry login to the side ``command`` always gave it to.

    ``-u``/``--password-stdin`` warn; ``REGV1_USERNAME`` does too, unless that side has
    a login of its own on the command line.
    """
    chosen = src if to == "src" else dest
    typed = settings.username is not None or settings.password_stdin
    from_env = bool(os.environ.get(ENV_USERNAME) or os.environ.get(ENV_PASSWORD))
    own = chosen.creds is not None or chosen.no_creds
    if typed and own:
        raise click.UsageError(
            f"{chosen.flag('creds')}/{chosen.flag('no-creds')} replace --username/--password-stdin"
        )
    if not typed and (not from_env or own or chosen.authfile is not None):
        return src, dest  # the side's own login (an auth file named for it too) wins
    if typed:
        warn(
            f"--username/--password-stdin on {command} are deprecated: they log in to the "
            f"{chosen.name}; use {chosen.flag('creds')} USER and {chosen.flag('password-stdin')}"
        )
    else:
        warn(
            f"{ENV_USERNAME}/{ENV_PASSWORD} on {command} are deprecated: they log in to the "
            f"{chosen.name}; use {chosen.flag('creds')} or {chosen.flag('authfile')}"
        )
    chosen = attrs.evolve(chosen, legacy_login=True)
    return (chosen, dest) if to == "src" else (src, chosen)


_Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def side_options(side: Side) -> _Decorator:
    """Add one side's options; the command gets them as ``{side}_*`` keyword arguments."""
    name = _NAMES[side]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        options: list[_Decorator] = [
            click.option(
                f"--{side}-creds",
                metavar="USER[:PASSWORD]",
                help=f"Log in to the {name} (without :PASSWORD: {f'--{side}-password-stdin'}"
                " or a prompt on a terminal).",
            ),
            click.option(
                f"--{side}-password-stdin",
                is_flag=True,
                help=f"Read the {name}'s password from the first line of stdin.",
            ),
            click.option(
                f"--{side}-no-creds", is_flag=True, help=f"Access the {name} anonymously."
            ),
            click.option(
                f"--{side}-authfile",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help=f"Auth file (podman/docker JSON) with the {name}'s login, instead of "
                "the default ones.",
            ),
            click.option(
                f"--{side}-tls-verify",
                type=click.BOOL,
                metavar="BOOL",
                default=True,
                show_default=True,
                help=f"Verify the {name}'s TLS certificate; false also allows plain http.",
            ),
            click.option(
                f"--{side}-cert-dir",
                type=click.Path(exists=True, file_okay=False, path_type=Path),
                help=f"The {name}'s CAs (*.crt) and client certificate (*.cert with *.key).",
            ),
            *budget_options(side),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _side(
    side: Side, kwargs: dict[str, Any], settings: Settings, authfile: Path | None
) -> SideSettings:
    own_authfile = kwargs.pop(f"{side}_authfile")
    return SideSettings(
        side=side,
        creds=kwargs.pop(f"{side}_creds"),
        no_creds=kwargs.pop(f"{side}_no_creds"),
        authfile=own_authfile or authfile,
        tls_verify=kwargs.pop(f"{side}_tls_verify"),
        cert_dir=kwargs.pop(f"{side}_cert_dir"),
        password_stdin=kwargs.pop(f"{side}_password_stdin"),
        plain_http=settings.plain_http,
        ca_file=settings.ca_cert,
        rate=kwargs.pop(f"{side}_rate"),
        max_connections=kwargs.pop(f"{side}_max_connections"),
    )


def _deprecated(old: str, new: str) -> None:
    warn(f"{old} is deprecated here and applies to both sides; use {new}")


def two_sided(func: Callable[..., None]) -> Callable[..., None]:
    """Both sides' options and ``--authfile``; the command gets ``src=`` and ``dest=``
    :class:`SideSettings`. Goes directly under ``common_options(two_sided=True)``."""

    @functools.wraps(func)
    def wrapper(*args: Any, settings: Settings, authfile: Path | None, **kwargs: Any) -> None:
        replaced = {
            "--plain-http": settings.plain_http,
            "--insecure": settings.insecure,
        }
        for old, used in replaced.items():
            if used:
                _deprecated(old, "--src-tls-verify=false / --dest-tls-verify=false")
        if settings.ca_cert is not None:
            _deprecated("--ca-cert", "--src-cert-dir / --dest-cert-dir DIR")
        src = _side("src", kwargs, settings, authfile)
        dest = _side("dest", kwargs, settings, authfile)
        if settings.insecure:
            src, dest = (attrs.evolve(s, tls_verify=False) for s in (src, dest))
        for one in (src, dest):
            if one.creds is not None and one.no_creds:
                raise click.UsageError(
                    f"{one.flag('creds')} and {one.flag('no-creds')} cannot be combined"
                )
            if one.password_stdin and (one.creds is None or ":" in one.creds):
                raise click.UsageError(
                    f"{one.flag('password-stdin')} needs {one.flag('creds')} USER (no :PASSWORD)"
                )
        for one in (src, dest):
            if not one.tls_verify:
                warn(
                    f"{one.flag('tls-verify')}=false: the {one.name}'s TLS certificate is not "
                    "verified, and plain http is allowed"
                )
        if src.password_stdin and dest.password_stdin:
            raise click.UsageError("only one side can read its password from stdin")
        if settings.password_stdin and (src.password_stdin or dest.password_stdin):
            raise click.UsageError(
                "--password-stdin and --src/--dest-password-stdin both read stdin"
            )
        func(*args, settings=settings, src=src, dest=dest, **kwargs)

    command: Callable[..., None] = wrapper
    command = click.option(
        "--authfile",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Auth file for both sides (a side's own --src/--dest-authfile wins).",
    )(command)
    command = side_options("dest")(command)
    return side_options("src")(command)


class SidesCommand(click.Command):
    """A bare ``--src-tls-verify`` means true, as in skopeo; click would take the next
    argument as its value."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        bare = {"--src-tls-verify", "--dest-tls-verify"}
        return super().parse_args(ctx, [f"{a}=true" if a in bare else a for a in args])


def explain_side(
    exc: BaseException, side: SideSettings, netloc: str, credentials: Credentials | None
) -> None:
    """Name the side in a registry's refusal (and the login sent) or a TLS failure."""
    if isinstance(exc, RegistryError) and exc.code in {401, 403}:
        url = getattr(exc, "url", "") or ""
        if url and httpx.URL(url).netloc.decode("ascii") != netloc:
            return
        if credentials is None:
            exc.add_note(
                f"{side.name} {netloc}: no credentials were sent (give {side.flag('creds')} "
                f"or {side.flag('authfile')}, or log in to it)"
            )
        else:
            exc.add_note(
                f"{side.name} {netloc}: sent credentials of {credentials.username!r} from "
                f"{credentials.source}"
            )
    elif isinstance(exc, RegistryConnectionError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        exc.add_note(f"{side.name} {netloc}: TLS certificate verification failed; {tls_hint(side)}")


class _Closable(Protocol):
    def close(self) -> None: ...


_C = TypeVar("_C", bound=_Closable)


class OpenSide(abc.ABC, Generic[_C]):
    """A side a command holds open: closes its client on the way out and, when the block
    failed, first adds to the error which side it was and what was sent (``explain``)."""

    client: _C

    @abc.abstractmethod
    def explain(self, exc: BaseException) -> None:
        """Add notes to ``exc`` naming this side, its credentials and what to try."""

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc is not None:
                self.explain(exc)
        finally:
            self.close()


class OCISide(OpenSide["OCIClient"]):
    """One v2/OCI registry side: its client, the login it sends, and explained failures."""

    def __init__(self, settings: Settings, side: SideSettings, url: str, netloc: str) -> None:
        from docker_registry_v1.core.names import origin_of  # noqa: PLC0415
        from docker_registry_v1.oci.auth import RegistryAuth  # noqa: PLC0415 - the copy extra
        from docker_registry_v1.oci.client import OCIClient  # noqa: PLC0415
        from docker_registry_v1.v1.client import DEFAULT_TIMEOUT  # noqa: PLC0415

        self.side = side
        self.netloc = httpx.URL(url).netloc.decode("ascii")
        self.credentials = side_credentials(settings, side, netloc)
        login = self.credentials
        self.client: OCIClient = OCIClient(
            url,
            auth=RegistryAuth(
                origin_of(url),
                username=None if login is None else login.username,
                password=None if login is None else login.password,
            ),
            timeout=DEFAULT_TIMEOUT if settings.timeout is None else settings.timeout,
            verify=side.verify(),
            retry=settings.retry,
            budget=side_budget(side, url),
        )

    def explain(self, exc: BaseException) -> None:
        """Name the side; a 404 from a server that is no v2 registry becomes what ``copy``
        says up front (:class:`NotAV2Registry` from ``GET /v2/``), asked only now."""
        self._refuse_non_v2(exc)
        explain_side(exc, self.side, self.netloc, self.credentials)

    def _refuse_non_v2(self, exc: BaseException) -> None:
        from docker_registry_v1.core.errors import DockerRegistryError  # noqa: PLC0415
        from docker_registry_v1.oci.errors import NotAV2Registry  # noqa: PLC0415

        if not isinstance(exc, RegistryError) or isinstance(exc, NotAV2Registry):
            return
        if exc.code != 404 or httpx.URL(exc.url).netloc.decode("ascii") != self.netloc:
            return
        try:
            self.client.ping()
        except NotAV2Registry as refused:
            raise refused from None
        except DockerRegistryError:
            return  # the probe proves nothing: the original error stands
