"""Options every networked command shares, and the one place failures become exit codes.

The options live on each command rather than on the group so that ``regv1 tags REF
--json`` works the way people type it; one decorator keeps them identical everywhere.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import attrs
import click

from docker_registry_v1.archive import ArchiveError
from docker_registry_v1.errors import DockerRegistryError, InvalidInput

__all__ = ["CommandError", "Settings", "common_options", "fail", "warn"]

#: Failures users cause or meet in normal operation: one line, exit 1, no traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    DockerRegistryError,
    InvalidInput,
    ArchiveError,
    OSError,
)


class CommandError(click.ClickException):
    """A failure reported as one ``error: …`` line on stderr (exit 1)."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise CommandError(message)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


@attrs.frozen
class Settings:
    """The shared options of one invocation."""

    registry: str | None
    plain_http: bool
    insecure: bool
    ca_cert: Path | None
    json: bool
    timeout: float | None
    verbose: bool
    username: str | None
    password_stdin: bool


_OPTIONS = [
    click.option(
        "--registry",
        envvar="REGV1_REGISTRY",
        metavar="URL",
        help="Registry or index for references without a host [env REGV1_REGISTRY; "
        "default: the Docker index].",
    ),
    click.option("--plain-http", is_flag=True, help="Use http:// for non-loopback hosts too."),
    click.option("--insecure", is_flag=True, help="Do not verify TLS certificates (warns)."),
    click.option(
        "--ca-cert",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Trust this PEM CA bundle for TLS.",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout."),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        metavar="SECONDS",
        help="Network timeout per request [default: 60, connect 10].",
    ),
    click.option("-v", "--verbose", is_flag=True, help="Debug logging to stderr."),
    click.option("--username", "-u", help="User for Basic auth (with --password-stdin)."),
    click.option(
        "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
    ),
]


def _configure_logging(verbose: bool) -> None:
    if verbose:
        logging.basicConfig(
            stream=sys.stderr, level=logging.DEBUG, format="%(name)s: %(message)s", force=True
        )
        # httpcore's debug trace prints response headers, tokens and cookies included
        logging.getLogger("httpcore").setLevel(logging.INFO)


def _run(settings: Settings, call: Callable[[], None]) -> None:
    try:
        call()
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise click.exceptions.Exit(130) from None
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except EXPECTED_ERRORS as exc:
        raise CommandError(_one_line(exc)) from None
    except Exception as exc:
        if settings.verbose:
            raise
        raise CommandError(
            f"unexpected {type(exc).__name__}: {_one_line(exc)} (run with -v for details)"
        ) from None


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def common_options(func: Callable[..., None]) -> Callable[..., None]:
    """Add the shared options; the command receives them as ``settings``."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        registry: str | None,
        plain_http: bool,
        insecure: bool,
        ca_cert: Path | None,
        as_json: bool,
        timeout: float | None,
        verbose: bool,
        username: str | None,
        password_stdin: bool,
        **kwargs: Any,
    ) -> None:
        settings = Settings(
            registry=registry,
            plain_http=plain_http,
            insecure=insecure,
            ca_cert=ca_cert,
            json=as_json,
            timeout=timeout,
            verbose=verbose,
            username=username,
            password_stdin=password_stdin,
        )
        _configure_logging(verbose)
        if insecure and ca_cert is not None:
            raise click.UsageError("--insecure and --ca-cert cannot be combined")
        if insecure:
            warn("--insecure: TLS certificates are not verified")
        _run(settings, lambda: func(*args, settings=settings, **kwargs))

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper
