"""Options every networked command shares, and the one place failures become exit codes.

The options live on each command rather than on the group so that ``regv1 tags REF
--json`` works the way people type it; one decorator keeps them identical everywhere.
``--verbose`` is also a group option (:data:`verbose_option`), so ``regv1 -v tags``
works too.

Exit statuses follow one convention (``exitcodes``): 0 all done, 1 nothing could
start, 2 finished with some items failed, 130 interrupted, 141 closed stdout. Usage
errors are bad input, so :class:`RegistryGroup` gives them 1 instead of click's 2.

A reader that goes away (``regv1 tags REF | head -1``) ends a command quietly with
:data:`EXIT_CLOSED_PIPE`, the status a shell reports for a process SIGPIPE killed,
as other Unix tools end. Python ignores SIGPIPE, and restoring its default would
also kill the process on a socket a registry closed, so the broken stdout is
recognised where failures become exit codes (:func:`_run`, :class:`RegistryGroup`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import select
import sqlite3
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import attrs
import click

from docker_registry_v1.core.errors import DockerRegistryError, InvalidInput
from docker_registry_v1.core.retry import RetryPolicy
from docker_registry_v1.core.tls import TLSConfig, TLSVerificationError, clear_scheme_cache
from docker_registry_v1.engine.journal import CacheWarning
from docker_registry_v1.formats.archive import ArchiveError
from docker_registry_v1.formats.errors import LayoutError

from .exitcodes import EXIT_CLOSED_PIPE, EXIT_CODES_HELP, EXIT_FAILED, EXIT_INTERRUPTED
from .output import visible

__all__ = [
    "EXIT_CLOSED_PIPE",
    "FORMATS",
    "GROUP_EPILOG",
    "CommandError",
    "RegistryGroup",
    "Settings",
    "common_options",
    "examples",
    "fail",
    "jobs_option",
    "verbose_option",
    "warn",
]

#: Failures users cause or meet in normal operation: one line, exit 1, no traceback.
#: SQLite's come from journals and caches (a full disk, a read-only folder); the
#: journal puts its path in their message.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    DockerRegistryError,
    InvalidInput,
    ArchiveError,
    LayoutError,
    OSError,
    sqlite3.Error,
)

#: ``--format`` values; without one, a terminal gets ``table`` and a pipe ``plain``.
FORMATS = ("json", "table", "plain")

_VERBOSE_KEY = "regv1.verbose"

CREDENTIALS_ORDER = (
    "Credentials, first match wins: --username with --password-stdin (or a prompt on a "
    "terminal); REGV1_USERNAME/REGV1_PASSWORD; $REGISTRY_AUTH_FILE, else "
    "$XDG_RUNTIME_DIR/containers/auth.json then ~/.config/containers/auth.json (podman, "
    "skopeo); docker's $DOCKER_CONFIG/config.json or ~/.docker/config.json. In those files "
    "a credHelpers/credsStore entry runs docker-credential-NAME, as docker does."
)


def examples(*lines: str) -> str:
    """A help epilog click prints verbatim (``\\b``), so the commands stay copyable."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


GROUP_EPILOG = (
    f"{CREDENTIALS_ORDER}\n\n"
    "Output: a terminal gets tables (ids shortened; --no-trunc shows them whole), a pipe "
    "gets plain tab-separated lines, --format json one JSON document.\n\n"
    "\b\n"
    "Shell completion (add one line to your shell's startup file):\n"
    '  bash: eval "$(_REGV1_COMPLETE=bash_source regv1)"\n'
    '  zsh:  eval "$(_REGV1_COMPLETE=zsh_source regv1)"\n'
    "  fish: _REGV1_COMPLETE=fish_source regv1 | source\n\n"
    f"{EXIT_CODES_HELP}"
)


class CommandError(click.ClickException):
    """A failure reported as one ``error: …`` line on stderr (exit :data:`EXIT_FAILED`).

    The message often quotes what a server sent, so it is shown through :func:`visible`.
    """

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {visible(self.format_message())}", err=True)


def fail(message: str) -> NoReturn:
    raise CommandError(message)


def warn(message: str) -> None:
    click.echo(f"warning: {visible(message)}", err=True)


def _stdout_closed() -> bool:
    """Whether stdout is a pipe or socket nobody reads any more.

    Checked after a command's output too: when the reader leaves during one big write,
    the kernel reports the part it took and Python's buffered writer can return
    without an error, the rest silently dropped.

    poll() reports POLLERR on a pipe's write end once the last reader is gone (and
    POLLHUP on a socket whose peer left), without writing anything; a file, a
    terminal or a test's in-memory stream never does.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _broken_pipe(exc: BaseException) -> bool:
    """``exc`` is EPIPE, or was caused by one (wrapped, chained or in a group)."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.EPIPE:
            return True
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return False


def _silence_stdout() -> None:
    """Point stdout's descriptor at /dev/null (the Python documentation's SIGPIPE recipe):
    what is still buffered is flushed there at exit instead of failing again with
    "Exception ignored … BrokenPipeError"."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _end_for_closed_stdout() -> NoReturn:
    """Exit quietly with :data:`EXIT_CLOSED_PIPE`."""
    _silence_stdout()
    raise click.exceptions.Exit(EXIT_CLOSED_PIPE)


def _flushed() -> bool:
    """Flush stdout; ``False`` (and stdout silenced) when its reader has gone."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return False
    except (OSError, ValueError):  # closed or not a real stream: nothing to lose here
        pass
    return True


@contextlib.contextmanager
def _library_warnings() -> Iterator[None]:
    """The library's warnings meant for the user (a copy cache it cannot use) as one
    ``warning:`` line each, not Python's file-and-line format; others as before."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(  # noqa: PLR0917 - warnings.showwarning's signature
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: Any = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, CacheWarning):
                warn(str(message))
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _closed_stdout_ends_quietly() -> Iterator[None]:
    """A failure that is stdout's reader going away ends the command with
    :data:`EXIT_CLOSED_PIPE` and nothing on stderr; any other failure passes through
    (EPIPE from a credential helper's pipe, say, while stdout is fine)."""
    try:
        yield
    except Exception as exc:
        if _broken_pipe(exc) and _stdout_closed():
            _end_for_closed_stdout()
        raise


@contextlib.contextmanager
def _usage_is_bad_input() -> Iterator[None]:
    """A usage error (a wrong option, a missing argument, a contradiction) exits
    :data:`EXIT_FAILED` like any other bad input: click's 2 means "some items failed"
    in this CLI's convention."""
    try:
        yield
    except click.UsageError as exc:
        # click declares exit_code per class; this instance's status is the convention's
        exc.exit_code = EXIT_FAILED  # type: ignore[misc]
        raise


class RegistryGroup(click.Group):
    """The ``regv1`` group: a closed stdout ends every command with
    :data:`EXIT_CLOSED_PIPE` and nothing on stderr.

    :func:`_run` handles what the networked commands print; this covers the rest
    (help and version text, ``serve``, ``logout``), which click alone would end with
    exit 1, and output still buffered when a command returns, which would otherwise
    fail at interpreter exit.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _closed_stdout_ends_quietly(), _usage_is_bad_input():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with _closed_stdout_ends_quietly(), _library_warnings(), _usage_is_bad_input():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt:  # commands without _run (serve handles its own)
                click.echo("interrupted", err=True)
                raise click.exceptions.Exit(EXIT_INTERRUPTED) from None

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except SystemExit as exc:
            if exc.code in (0, None) and (not _flushed() or _stdout_closed()):
                _silence_stdout()
                raise SystemExit(EXIT_CLOSED_PIPE) from None
            raise


@attrs.frozen
class Settings:
    """The shared options of one invocation.

    ``output_format`` is ``None`` when the user chose none (the terminal decides);
    ``json`` is true for ``--json`` and ``--format json`` alike.
    """

    registry: str | None
    plain_http: bool
    insecure: bool
    ca_cert: Path | None
    json: bool
    timeout: float | None
    verbose: bool
    username: str | None
    password_stdin: bool
    output_format: str | None = None
    no_trunc: bool = False
    speed_limit: int | None = None
    speed_time: float | None = None
    retry_times: int | None = None
    #: one-sided commands' per-host budget (--rate, --max-connections); None: no limit
    rate: float | None = None
    max_connections: int | None = None

    @property
    def retry(self) -> RetryPolicy:
        """The clients' policy: the default one, with ``--retry-times`` and
        ``--speed-limit/--speed-time``."""
        chosen = {
            name: value
            for name, value in (
                ("attempts", None if self.retry_times is None else self.retry_times + 1),
                ("speed_limit", self.speed_limit),
                ("speed_time", self.speed_time),
            )
            if value is not None
        }
        return RetryPolicy(**chosen)  # type: ignore[arg-type]

    @property
    def tls(self) -> TLSConfig:
        """The one registry's TLS settings (one-sided commands)."""
        return TLSConfig(verify=not self.insecure, ca_file=self.ca_cert, plain_http=self.plain_http)


NO_OPTIONS = Settings(
    registry=None,
    plain_http=False,
    insecure=False,
    ca_cert=None,
    json=False,
    timeout=None,
    verbose=False,
    username=None,
    password_stdin=False,
)
"""The shared options of a command that takes none of them (``regv1 serve``): the
clients' defaults."""


def _remember_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_VERBOSE_KEY] = True
    return value


#: ``-v`` on the group: ``regv1 -v tags REF`` means the same as ``regv1 tags REF -v``.
verbose_option = click.option(
    "-v",
    "--verbose",
    is_flag=True,
    expose_value=False,
    callback=_remember_verbose,
    help="Debug logging to stderr (also accepted after the command name).",
)

_Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _format_option(formats: Sequence[str], help_text: str | None = None) -> _Decorator:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(formats),
        help=help_text
        or "Output style [default: table on a terminal, plain (tab-separated) otherwise].",
    )


def _one_registry_options(hidden: bool) -> list[_Decorator]:
    """TLS and login for one registry: shown on one-sided commands, hidden (deprecated, in
    favour of the --src-*/--dest-* options) on two-sided ones."""
    return [
        click.option(
            "--plain-http",
            is_flag=True,
            hidden=hidden,
            help="Use http:// for every host (loopback hosts fall back to it by themselves).",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            hidden=hidden,
            help="Do not verify TLS certificates (warns); a host that does not speak TLS is "
            "then reached over http.",
        ),
        click.option(
            "--ca-cert",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            hidden=hidden,
            help="Trust this PEM CA bundle for TLS.",
        ),
        click.option(
            "--username",
            "-u",
            hidden=hidden,
            help="User for Basic auth; the password comes from --password-stdin, REGV1_PASSWORD "
            "or a prompt on a terminal.",
        ),
        click.option(
            "--password-stdin",
            is_flag=True,
            hidden=hidden,
            help="Read the password from the first line of stdin.",
        ),
    ]


_FORMAT_OPTION = _format_option(FORMATS)
_OPTIONS: list[_Decorator] = [
    click.option(
        "--registry",
        envvar="REGV1_REGISTRY",
        metavar="URL",
        help="Registry or index for references without a host [env REGV1_REGISTRY; "
        "default: the Docker index].",
    ),
    _FORMAT_OPTION,
    click.option("--json", "as_json", is_flag=True, help="Same as --format json."),
    click.option("--no-trunc", is_flag=True, help="Never shorten ids or cut columns in tables."),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        metavar="SECONDS",
        help="Network timeout per request [default: 60, connect 10].",
    ),
    click.option(
        "--retry-times",
        type=click.IntRange(min=0, max=20),
        metavar="N",
        help="Send a failed request (connection error, 408, 429, 5xx) again up to N times, "
        "with growing waits, as skopeo's --retry-times; 0 sends each once [default: 3].",
    ),
    click.option(
        "--speed-limit",
        type=click.IntRange(min=0),
        metavar="BYTES",
        help="Abort a layer download or upload slower than BYTES/s over --speed-time, then "
        "retry it (as curl does); 0 turns it off [default: 1024].",
    ),
    click.option(
        "--speed-time",
        type=click.FloatRange(min=0, min_open=True),
        metavar="SECONDS",
        help="The time --speed-limit is measured over [default: 60].",
    ),
    click.option("-v", "--verbose", is_flag=True, help="Debug logging to stderr."),
]


def budget_options(side: str) -> list[_Decorator]:
    """``--[SIDE-]rate`` and ``--[SIDE-]max-connections``: what this process may ask of
    one registry's host, across all its threads (``core/budget.py``)."""
    prefix = f"--{side}-" if side else "--"
    whose = {
        "src": "the source's",
        "dest": "the destination's",
        "backend": "the backend's",
        "": "the registry's",
    }[side]
    return [
        click.option(
            f"{prefix}rate",
            type=click.FloatRange(min=0, min_open=True),
            metavar="N",
            help=f"At most N requests per second to {whose} host (this process; divide by "
            "the number of shards) [default: no limit].",
        ),
        click.option(
            f"{prefix}max-connections",
            type=click.IntRange(min=1),
            metavar="N",
            help=f"At most N requests in flight to {whose} host at once, a streamed layer "
            "counting until it is read [default: no limit].",
        ),
    ]


def jobs_option(default: int, help_text: str, maximum: int = 32) -> _Decorator:
    """``-j/--jobs N``, the one name every command uses for work in flight at once.

    The old ``--concurrency`` still works, hidden, with a warning.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, jobs: int | None, concurrency: int | None, **kwargs: Any) -> Any:
            if concurrency is not None:
                if jobs is not None:
                    raise click.UsageError("--concurrency is the old name of --jobs; give one")
                warn("--concurrency is deprecated; use -j/--jobs")
                jobs = concurrency
            return func(*args, jobs=default if jobs is None else jobs, **kwargs)

        limits = click.IntRange(1, maximum)
        command: Callable[..., Any] = click.option(
            "--concurrency", type=limits, hidden=True, help="Old name of --jobs."
        )(wrapper)
        return click.option(
            "-j",
            "--jobs",
            type=limits,
            metavar="N",
            help=f"{help_text} [default: {default}]",
        )(command)

    return decorate


class _VisibleFormatter(logging.Formatter):
    """Log lines quote URLs, headers, reason phrases and bodies: their controls are shown,
    not sent. A message stays one line; a traceback after it keeps its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return visible(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        return "\n".join(visible(line) for line in super().format(record).split("\n"))


def _configure_logging(verbose: bool) -> None:
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_VisibleFormatter("%(name)s: %(message)s"))
        logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)
        # httpcore's debug trace prints response headers, tokens and cookies included
        logging.getLogger("httpcore").setLevel(logging.INFO)


def _run(settings: Settings, call: Callable[[], None]) -> None:
    try:
        with _closed_stdout_ends_quietly():
            call()
            sys.stdout.flush()  # output still buffered fails here, not at interpreter exit
            if _stdout_closed():  # a big write the reader cut short can end without EPIPE
                _end_for_closed_stdout()
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except TLSVerificationError as exc:  # the two-sided commands name their side themselves
        raise CommandError(
            f"{exc}; trust its CA with --ca-cert FILE, or skip verification with --no-tls-verify"
        ) from None
    except EXPECTED_ERRORS as exc:
        raise CommandError(_one_line(exc)) from None
    except Exception as exc:
        if settings.verbose:
            raise
        raise CommandError(
            f"unexpected {type(exc).__name__}: {_one_line(exc)} (run with -v for details)"
        ) from None


def _one_line(exc: BaseException) -> str:
    """The message and any notes the CLI added (``add_note``: where credentials came from)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror}"
    else:
        text = " ".join(str(exc).split()) or type(exc).__name__
    notes = [" ".join(note.split()) for note in getattr(exc, "__notes__", ())]
    return "; ".join([text, *notes])


def _output_format(as_json: bool, output_format: str | None) -> str | None:
    if as_json and output_format not in (None, "json"):
        raise click.UsageError(f"--json and --format {output_format} cannot be combined")
    return "json" if as_json else output_format


def common_options(
    func: Callable[..., None],
    *,
    formats: Sequence[str] = FORMATS,
    two_sided: bool = False,
    format_help: str | None = None,
) -> Callable[..., None]:
    """Add the shared options; the command receives them as ``settings``.

    ``formats``: the ``--format`` choices, for a command with more ways to print than
    :data:`FORMATS` (``inventory``'s ndjson and csv for spreadsheets), ``format_help``
    its help when the default differs. ``two_sided``:
    the one-registry TLS and login options are hidden (``sides.two_sided`` replaces them).
    """

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        registry: str | None,
        plain_http: bool,
        insecure: bool,
        ca_cert: Path | None,
        output_format: str | None,
        as_json: bool,
        no_trunc: bool,
        timeout: float | None,
        verbose: bool,
        username: str | None,
        password_stdin: bool,
        tls_verify: bool | None = None,
        speed_limit: int | None = None,
        speed_time: float | None = None,
        retry_times: int | None = None,
        rate: float | None = None,
        max_connections: int | None = None,
        **kwargs: Any,
    ) -> None:
        chosen = _output_format(as_json, output_format)
        if tls_verify is not None:  # skopeo's spelling of --insecure, one-sided commands only
            if tls_verify and insecure:
                raise click.UsageError("--tls-verify and --insecure contradict each other")
            insecure = not tls_verify
        verbose = verbose or bool(click.get_current_context().meta.get(_VERBOSE_KEY))
        settings = Settings(
            registry=registry,
            plain_http=plain_http,
            insecure=insecure,
            ca_cert=ca_cert,
            json=chosen == "json",
            timeout=timeout,
            verbose=verbose,
            username=username,
            password_stdin=password_stdin,
            output_format=chosen,
            no_trunc=no_trunc,
            speed_limit=speed_limit,
            speed_time=speed_time,
            retry_times=retry_times,
            rate=rate,
            max_connections=max_connections,
        )
        _configure_logging(verbose)
        clear_scheme_cache()  # what a server speaks is found out afresh by each invocation
        if insecure and ca_cert is not None:
            raise click.UsageError("--insecure and --ca-cert cannot be combined")
        if insecure and not two_sided:
            warn("--insecure: TLS certificates are not verified")
        _run(settings, lambda: func(*args, settings=settings, **kwargs))

    chosen_format = (
        _FORMAT_OPTION
        if tuple(formats) == FORMATS and format_help is None
        else _format_option(formats, format_help)
    )
    command: Callable[..., None] = wrapper
    one_registry = _one_registry_options(two_sided)
    if not two_sided:
        one_registry.append(
            click.option(
                "--tls-verify/--no-tls-verify",
                default=None,
                help="Verify TLS certificates (the default); --no-tls-verify is --insecure.",
            )
        )
        one_registry.extend(budget_options(""))
    for option in reversed([*_OPTIONS[:1], *one_registry, *_OPTIONS[1:]]):
        command = (chosen_format if option is _FORMAT_OPTION else option)(command)
    return command


def age_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--newer-than AGE|DATE`` and ``--last N``: the tag rules ``inventory`` and
    ``migrate`` share. Both arrive as text: `Selection.parse` checks them, so a bad
    value is one ``error:`` line naming the flag (exit 1), as a bad ``--tags`` is."""
    func = click.option(
        "--last",
        metavar="N",
        help="Per repository, only the N newest tags (by their image's created time).",
    )(func)
    return click.option(
        "--newer-than",
        metavar="AGE|DATE",
        help="Only tags whose image was created since: an age (2y, 6m, 3w, 30d, 12h) "
        "or a date (2024-01-01, RFC 3339).",
    )(func)


def note_undated(undated: Sequence[tuple[str, str]]) -> None:
    """Name the tags ``--newer-than``/``--last`` left out for want of a readable
    ``created``: a tag is never dropped by age without a word."""
    if not undated:
        return
    shown = ", ".join(f"{repository}:{tag}" for repository, tag in undated[:10])
    more = f" and {len(undated) - 10} more" if len(undated) > 10 else ""
    warn(
        f"{len(undated)} tags left out by --newer-than/--last: their image has no "
        f"readable created time ({shown}{more})"
    )
