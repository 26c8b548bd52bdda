"""``migrate --watch INTERVAL`` and ``--prune``: keeping the destination in sync during a cut-over.

``--watch`` runs the same migration again and again, each pass the command's own run
(the journal makes each pass cost what changed), INTERVAL after the previous pass
ended, until it is stopped:

- Ctrl-C (SIGINT) stops at once, a pass in progress too, and exits 130, as any
  interrupted migration: the journal makes the next start continue.
- SIGTERM (``systemctl stop``, ``kubectl delete``) lets the pass in progress finish,
  then exits 0; during the wait it exits at once. A second SIGTERM stops the pass at
  once (exit 130).
- A pass that cannot reach a registry (no answer, a 5xx or 429 that outlasted the
  retries) is reported and the next one starts after INTERVAL; bad input (a refused
  login, a journal in use, an unusable destination) ends the watch with exit 1.

Each pass prints one line (``--format json``: one NDJSON ``pass`` event on stdout,
with the UTC time it ended as ``at``): its number, the tags moved, current and failed,
the source tags found deleted, and its seconds; then a line per failed tag and per
deleted source tag. Deleted source tags are looked for after every run, watched or not
(:mod:`..transfer.migrate_prune`); ``--prune`` deletes them at the destination.
"""

from __future__ import annotations

import datetime
import re
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import attrs
import click

from .exitcodes import EXIT_INTERRUPTED, EXIT_OK
from .options import Settings
from .output import json_text, visible

if TYPE_CHECKING:
    from docker_registry_v1.engine.journal import Journal
    from docker_registry_v1.transfer.migrate import MigrationReport
    from docker_registry_v1.transfer.migrate_plan import BlobStoreSide
    from docker_registry_v1.transfer.migrate_prune import DeletedTag, PrunedTag
    from docker_registry_v1.transfer.migrate_v1 import V1Side
    from docker_registry_v1.transfer.selection import Selection
    from docker_registry_v1.v1.client import Client

__all__ = ["Interval", "Sweep", "sweep", "sweep_document", "sweep_lines", "watch", "watch_options"]

_INTERVAL = re.compile(r"(\d+(?:\.\d+)?)([smh]?)")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Server answers after which the next pass may do better: the registry is busy or down.
_TOO_MANY = 429
_SERVER_ERRORS = 500


class Interval(click.ParamType[float]):
    """``30s``, ``5m``, ``1h`` (a bare number is seconds), more than zero."""

    name = "interval"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        match = _INTERVAL.fullmatch(str(value).strip())
        seconds = float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0
        if seconds <= 0:
            self.fail(f"{value!r} is not a duration such as 30s, 5m or 1h", param, ctx)
        return seconds


def watch_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--watch INTERVAL`` and ``--prune``, for ``migrate``."""
    command = click.option(
        "--prune",
        is_flag=True,
        help="Delete at DEST the tags this journal migrated whose source tag is gone "
        "(never a tag that stays and shares its manifest); without it they are only "
        "reported.",
    )(command)
    return click.option(
        "--watch",
        type=Interval(),
        metavar="INTERVAL",
        help="Migrate again INTERVAL (30s, 5m, 1h) after each pass ends, moving new and "
        "changed tags, until Ctrl-C (exit 130) or SIGTERM (the pass finishes; exit 0).",
    )(command)


@attrs.frozen
class Sweep:
    """The source tags one run found deleted, and what ``--prune`` did with them
    (``None`` without ``--prune``)."""

    deleted: tuple[DeletedTag, ...]
    pruned: tuple[PrunedTag, ...] | None = None


def sweep(
    client: Client,
    target: BlobStoreSide | V1Side,
    journal: Journal,
    report: MigrationReport,
    selection: Selection,
    *,
    repositories: list[str] | None,
    prune: bool,
) -> Sweep:
    """Look for deleted source tags after a run, and prune them if asked."""
    from docker_registry_v1.transfer.migrate_prune import (  # noqa: PLC0415 - the copy extra
        deleted_source_tags,
        prune_deleted_tags,
        source_tag_lister,
    )

    deleted = deleted_source_tags(
        journal,
        target.registry,
        report,
        selection,
        repositories=repositories,
        relist=source_tag_lister(client),
    )
    if not prune:
        return Sweep(tuple(deleted))
    return Sweep(tuple(deleted), tuple(prune_deleted_tags(target, journal, deleted)))


def sweep_document(swept: Sweep) -> list[dict[str, Any]]:
    """The deleted source tags as JSON: source, destination, digest, and with ``--prune``
    what was done (``pruned``) and why."""
    done = {p.deleted: p for p in swept.pruned or ()}
    return [
        {
            "source": tag.source,
            "destination": tag.destination,
            "digest": tag.digest,
            "pruned": done[tag].status if tag in done else None,
            "reason": done[tag].reason if tag in done else None,
        }
        for tag in swept.deleted
    ]


def sweep_lines(swept: Sweep) -> list[str]:
    """One line per deleted source tag: kept (no ``--prune``), or what ``--prune`` did."""
    if swept.pruned is None:
        return [
            f"deleted at source: {visible(t.source)} (still at {visible(t.destination)}; "
            "--prune deletes it)"
            for t in swept.deleted
        ]
    lines = []
    for outcome in swept.pruned:
        tag = outcome.deleted
        why = f": {visible(outcome.reason)}" if outcome.reason else ""
        lines.append(
            f"deleted at source: {visible(tag.source)} -> {visible(tag.destination)} "
            f"{outcome.status}{why}"
        )
    return lines


def pruned_count(swept: Sweep) -> int:
    return sum(1 for p in swept.pruned or () if p.status == "deleted")


class _Stop(Exception):  # noqa: N818 - a signal, not an error
    """SIGTERM arrived between passes."""


@attrs.define
class _Signals:
    """SIGTERM: finish the pass in progress (or stop waiting at once); a second one, or
    Ctrl-C, interrupts."""

    stopping: bool = False
    waiting: bool = False

    def terminated(self, signum: int, frame: FrameType | None) -> None:
        if self.waiting:
            raise _Stop
        if self.stopping:
            raise KeyboardInterrupt
        self.stopping = True

    def wait(self, seconds: float) -> None:
        self.waiting = True
        try:
            if not self.stopping:
                time.sleep(seconds)
        except _Stop:
            self.stopping = True
        finally:
            self.waiting = False


def _transient(exc: BaseException) -> bool:
    """A registry that did not answer, or answered that it is busy or broken."""
    from docker_registry_v1.core.errors import (  # noqa: PLC0415
        RegistryConnectionError,
        RegistryError,
    )

    if isinstance(exc, RegistryConnectionError):
        return True
    return isinstance(exc, RegistryError) and (exc.code == _TOO_MANY or exc.code >= _SERVER_ERRORS)


def _one_line(exc: BaseException) -> str:
    notes = [" ".join(note.split()) for note in getattr(exc, "__notes__", ())]
    return "; ".join([" ".join(str(exc).split()) or type(exc).__name__, *notes])


def _now() -> str:
    """When a pass ended, for a log read later: UTC, to the second (RFC 3339)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_unreachable(settings: Settings, number: int, seconds: float, error: str) -> None:
    if settings.json:
        event = {"event": "pass", "pass": number, "at": _now(), "seconds": round(seconds, 3)}
        event["error"] = error
        click.echo(json_text(event, indent=None))
    else:
        click.echo(f"pass {number}: failed after {seconds:.1f} s: {visible(error)}")


def _print_pass(
    settings: Settings, number: int, seconds: float, report: MigrationReport, swept: Sweep
) -> None:
    statuses = [o.status for o in report.outcomes]
    failed = report.failures
    event: dict[str, Any] = {
        "event": "pass",
        "pass": number,
        "at": _now(),
        "seconds": round(seconds, 3),
        "moved": statuses.count("copied"),
        "current": statuses.count("current"),
        "existing": statuses.count("exists"),
        "failed": len(failed),
        "deleted_at_source": len(swept.deleted),
        "pruned": pruned_count(swept),
        "failures": [{"source": o.source, "reason": o.reason, "image": o.image} for o in failed],
        "deleted": sweep_document(swept),
    }
    if settings.json:
        click.echo(json_text(event, indent=None))
        return
    pruned = f", {event['pruned']} pruned" if swept.pruned is not None else ""
    click.echo(
        f"pass {number}: {event['moved']} moved, {event['current']} current, "
        f"{event['failed']} failed, {event['deleted_at_source']} deleted at source{pruned}, "
        f"{seconds:.1f} s"
    )
    for outcome in failed:
        click.echo(f"failed: {visible(outcome.source)}: {visible(outcome.reason or '')}")
    for line in sweep_lines(swept):
        click.echo(line)


def watch(
    settings: Settings,
    interval: float,
    one_pass: Callable[[], tuple[MigrationReport, Any, Sweep] | None],
) -> NoReturn:
    """Run ``one_pass`` until stopped (see the module doc); never returns."""
    signals = _Signals()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, signals.terminated) if in_main else None
    try:
        number = 0
        while True:
            number += 1
            started = time.monotonic()
            try:
                ran = one_pass()
            except Exception as exc:
                if not _transient(exc):
                    raise
                seconds = time.monotonic() - started
                _print_unreachable(settings, number, seconds, _one_line(exc))
            else:
                if ran is not None:
                    seconds = time.monotonic() - started
                    _print_pass(settings, number, seconds, ran[0], ran[-1])
            if signals.stopping:
                break
            signals.wait(interval)
            if signals.stopping:
                break
    except _Stop:  # SIGTERM in the instant between a pass and its wait
        pass
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    raise click.exceptions.Exit(EXIT_OK)
