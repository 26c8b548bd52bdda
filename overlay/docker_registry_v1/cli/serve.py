"""``regv1 serve``: run the v1 emulator in the foreground until Ctrl-C or SIGTERM.

The emulator and its server stack (starlette, uvicorn, pydantic) come with the ``emulator``
extra and are imported only when the command runs, so that every other command, and
``--help``, works with the ``cli`` extra alone.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from .options import examples, fail

if TYPE_CHECKING:
    from docker_registry_v1.emulator import Emulator
    from docker_registry_v1.emulator.compat import SearchShape, UsersApi

#: What the ``emulator`` extra installs; any other missing module is a bug, not a setup issue.
_EMULATOR_EXTRA = frozenset({"starlette", "uvicorn", "pydantic"})

#: The choices of ``emulator.compat.SEARCH_SHAPES`` and ``USERS_APIS``, spelt out here because
#: importing the emulator package would pull in its server stack (a test keeps them equal).
SEARCH_SHAPES = ("reference", "hub", "paged")
USERS_APIS = ("reference", "accounts")


def _user(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not sep or not name:
        raise click.BadParameter(f"expected NAME:PASSWORD, got {name!r} without a password")
    return name, password


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@click.command(
    epilog=examples(
        "regv1 serve --port 5000 --data-dir ./registry",
        "regv1 serve --hub --port 5000 --registry-port 5001 --user alice:s3cret",
        "regv1 serve --port 5000 --reference-ranges --tag-list-as-list",
    )
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5000,
    show_default=True,
    help="Port (the index's in --hub mode); 0 picks a free one.",
)
@click.option("--hub", is_flag=True, help="Index and registry on two ports, tokens enforced.")
@click.option(
    "--registry-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Registry port in --hub mode [default: --port + 1, or free when --port is 0].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the data in this directory (survives restarts) instead of memory.",
)
@click.option(
    "--user", "users", multiple=True, metavar="NAME:PASSWORD", help="Add a user (repeatable)."
)
@click.option(
    "--private", multiple=True, metavar="NS/REPO", help="Mark a repository private (repeatable)."
)
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    metavar="HOST[:PORT]",
    help="--hub: announce this in X-Docker-Endpoints (repeatable; {registry} = the registry).",
)
@click.option(
    "--reference-ranges", is_flag=True, help="Range answers exactly as reference registry 0.9.1."
)
@click.option(
    "--tag-list-as-list", is_flag=True, help='Tag lists as the Hub\'s [{"layer", "name"}].'
)
@click.option(
    "--token-prefix/--bare-token",
    default=None,
    help="Force or drop the 'Token ' prefix of issued X-Docker-Token values.",
)
@click.option(
    "--search",
    "search",
    type=click.Choice(SEARCH_SHAPES),
    default=None,
    help="Search answer shape [default: reference standalone, hub with --hub].",
)
@click.option(
    "--users-api",
    type=click.Choice(USERS_APIS),
    default=None,
    help="/v1/users/ as the reference registry (always OK) or checking accounts "
    "[default: by mode].",
)
def serve(
    *,
    host: str,
    port: int,
    hub: bool,
    registry_port: int | None,
    data_dir: Path | None,
    users: tuple[str, ...],
    private: tuple[str, ...],
    endpoints: tuple[str, ...],
    reference_ranges: bool,
    tag_list_as_list: bool,
    token_prefix: bool | None,
    search: SearchShape | None,
    users_api: UsersApi | None,
) -> None:
    """Serve a local Docker Registry v1 (standalone, or --hub with a separate index)."""
    try:
        from docker_registry_v1.emulator import (  # noqa: PLC0415 - see the module doc
            Compat,
            Hub,
            run_hub,
            run_standalone,
        )
    except ModuleNotFoundError as exc:
        if exc.name not in _EMULATOR_EXTRA:
            raise
        fail("regv1 serve needs the emulator extra: pip install 'docker-registry-v1[cli,emulator]'")
    accounts = dict(_user(u) for u in users)
    compat = Compat(
        reference_ranges=reference_ranges,
        tag_list_as_list=tag_list_as_list,
        token_prefix=token_prefix,
        search=search,
        users=users_api,
    )
    if endpoints and not hub:
        raise click.UsageError("--endpoint only applies with --hub")
    emulator: Emulator
    try:
        if hub:
            if registry_port is None:
                registry_port = port + 1 if port else 0
            emulator = run_hub(
                users=accounts,
                private=private,
                data_dir=data_dir,
                compat=compat,
                endpoints=endpoints or None,
                host=host,
                index_port=port,
                registry_port=registry_port,
            )
        else:
            if registry_port is not None:
                raise click.UsageError("--registry-port only applies with --hub")
            emulator = run_standalone(
                users=accounts,
                private=private,
                data_dir=data_dir,
                compat=compat,
                host=host,
                port=port,
            )
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    with emulator:
        if isinstance(emulator, Hub):
            click.echo(f"index: {emulator.index_url}")
            click.echo(f"registry: {emulator.registry_url}")
        else:
            click.echo(f"registry: {emulator.url}")
        _wait_for_signal()
    click.echo("stopped")
