"""Human output through rich, machine output as exactly one JSON document on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.filesize import decimal

from .options import Settings

__all__ = ["emit", "human_rate", "human_size", "stdout_console"]


def stdout_console() -> Console:
    """A console on the current stdout; ids never wrap, and pipes get no colour codes."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def emit(settings: Settings, document: Any, human: Callable[[Console], None]) -> None:
    """``--json``: print ``document``; otherwise let ``human`` render to stdout."""
    if settings.json:
        click.echo(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        human(stdout_console())


def human_size(nbytes: int) -> str:
    return decimal(nbytes)


def human_rate(nbytes: int, seconds: float) -> str:
    return f"{decimal(int(nbytes / seconds))}/s" if seconds > 0 else "-"
