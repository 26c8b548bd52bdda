"""How every command prints: one JSON document, a rich table, or plain tab-separated lines.

A terminal gets tables and a pipe gets plain lines unless ``--format`` says otherwise.
Plain lines and piped tables are never shortened, so scripts see every id and tag
whole; on a terminal tables shorten image ids to 12 characters (as progress bars
and docker do, and as the short-id arguments accept) and cut over-long cells,
unless ``--no-trunc``. Transfers report the same fields under the same names
(:func:`transfer_document`).

Registries are not trusted to send printable text: a tag, a repository name, an
image's author or a version header can carry terminal escape sequences (retitle the
window, hide lines, write to the clipboard). Everything this package prints for
people passes through :func:`visible` on its way out, and JSON is written with the
C1 controls escaped too (:func:`json_text`), so what reaches a terminal is text.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import click
from rich.console import Console
from rich.filesize import decimal
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # options imports visible() from here for its error lines
    from .options import Settings

__all__ = [
    "SHORT_ID_LENGTH",
    "Column",
    "emit",
    "human_rate",
    "human_size",
    "json_text",
    "print_table",
    "stderr_console",
    "stdout_console",
    "transfer_document",
    "transfer_summary",
    "visible",
]

#: How long image ids are on a terminal (progress bars and tables), as docker shows them.
SHORT_ID_LENGTH = 12

#: C0 controls, DEL and C1 controls: what a terminal may act on instead of showing.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # and lone surrogates (no UTF-8)
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: Inside JSON strings: DEL and C1, which JSON itself may leave raw (C0 it always escapes),
#: and lone surrogates (a server's ``"\ud800"``), which no UTF-8 output can carry raw.
_JSON_RAW_CONTROL = re.compile(r"[\x7f-\x9f\ud800-\udfff]")
_UNBOUNDED = 1_000_000  # a width to measure a table's natural size with


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(text: str) -> str:
    """``text`` with every control character written as a visible escape (``\\x1b``,
    ``\\t``, ``\\n``, ``\\x9b``): the one function text passes through before it
    reaches a terminal, a pipe read by people, or an ``error:`` line.

    Server-supplied strings (tags, names, image JSON, headers, error bodies) may carry
    escape sequences; printed raw they would drive the terminal. Tabs and newlines are
    escaped too, so a cell stays one cell and a line one line. Backslashes are left as
    they are, so the result is readable rather than reversible: JSON output is the
    exact form. Applying it twice changes nothing.
    """
    return _CONTROL.sub(_escape, text)


def json_text(document: Any, *, indent: int | None = 2, sort_keys: bool = True) -> str:
    """``document`` as JSON with every control character escaped.

    ``json.dumps`` escapes C0 controls but, with ``ensure_ascii=False`` (kept so
    names in other scripts stay readable), leaves DEL and the C1 controls raw, and a
    terminal acts on C1 as on ``ESC [``. They only occur inside strings, where
    ``\\u00XX`` means the same character, so the document parses to the same value.
    """
    text = json.dumps(document, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
    return _JSON_RAW_CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


class _VisibleConsole(Console):
    """A rich console that shows control characters instead of sending them.

    Every string rich prints (``print`` arguments, table cells and titles) becomes
    text through :meth:`render_str`, and rich strips only a few controls (BEL, BS,
    VT, FF, CR) itself, keeping ``ESC``; the console's own styling is unaffected.
    A closed stdout is an error like any other write's, not rich's own exit.
    """

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(visible(text), **options)

    def on_broken_pipe(self) -> None:
        """rich would exit 1 here; the error goes on to where the CLI turns a closed
        stdout into its quiet exit status (``options._run``), like every other write."""
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


@attrs.frozen
class Column:
    """A table column; ``image_id`` columns are shortened on a truncating terminal."""

    header: str
    image_id: bool = False


def stdout_console() -> Console:
    """A console on the current stdout: text exactly as given (no markup, emoji or wrapping).

    Whether it is a terminal is the file's own answer: rich would also believe
    ``FORCE_COLOR`` or ``TTY_COMPATIBLE``, and a CI job setting one must still get
    whole, plain lines through its pipes.
    """
    return _VisibleConsole(
        file=sys.stdout,
        force_terminal=sys.stdout.isatty(),
        highlight=False,
        soft_wrap=True,
        markup=False,
        emoji=False,
    )


def stderr_console() -> Console:
    """As :func:`stdout_console`, on stderr (summaries when stdout carries an archive)."""
    return _VisibleConsole(
        file=sys.stderr,
        force_terminal=sys.stderr.isatty(),
        highlight=False,
        soft_wrap=True,
        markup=False,
        emoji=False,
    )


def _style(settings: Settings, console: Console) -> str:
    if settings.output_format is not None:
        return settings.output_format
    return "table" if console.is_terminal else "plain"


def emit(settings: Settings, document: Any, human: Callable[[Console], None]) -> None:
    """JSON: print ``document``; otherwise let ``human`` render to stdout."""
    if settings.json:
        click.echo(json_text(document))
    else:
        human(stdout_console())


def print_table(
    settings: Settings,
    console: Console,
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    title: str | None = None,
) -> None:
    """Rows as a table (terminal or ``--format table``) or as tab-separated lines.

    A table is only ever cut on a terminal without ``--no-trunc``; otherwise it is
    printed as wide as its longest cell, whatever the terminal width. Cells and the
    title pass through :func:`visible` whatever the console.
    """
    rows = ([visible(cell) for cell in row] for row in rows)
    if _style(settings, console) == "plain":
        for row in rows:
            console.file.write("\t".join(row) + "\n")
        console.file.flush()
        return
    truncate = console.is_terminal and not settings.no_trunc
    table = Table(title=None if title is None else visible(title), title_justify="left")
    for column in columns:
        table.add_column(
            column.header,
            # rich only narrows wrappable columns to fit; ids keep one line and 12 characters
            no_wrap=column.image_id or not truncate,
            overflow="ellipsis" if truncate else "fold",
            width=SHORT_ID_LENGTH if truncate and column.image_id else None,
        )
    for row in rows:
        table.add_row(
            *(
                cell[:SHORT_ID_LENGTH] if truncate and column.image_id else cell
                for column, cell in zip(columns, row, strict=True)
            )
        )
    if truncate:
        console.print(table)
        return
    # print() never goes wider than the console, so widen the console for this table
    terminal_width = console.width
    unbounded = console.options.update_width(_UNBOUNDED)
    console.width = max(Measurement.get(console, unbounded, table).maximum, terminal_width)
    try:
        console.print(table, crop=False)
    finally:
        console.width = terminal_width


def human_size(nbytes: int) -> str:
    return decimal(nbytes)


def human_rate(nbytes: int, seconds: float) -> str:
    return f"{decimal(int(nbytes / seconds))}/s" if seconds > 0 else "-"


def transfer_document(
    *,
    registry: str,
    repository: str,
    tags: Sequence[str],
    layers: Sequence[str],
    skipped: Sequence[str],
    nbytes: int,
    seconds: float,
    **extra: Any,
) -> dict[str, Any]:
    """The fields pull, push and mirror share.

    ``registry``/``repository``/``tags`` say where the image is now, ``layers`` the
    image ids whose data crossed the wire, ``skipped`` those the destination already
    had, ``bytes`` the bytes transferred.
    """
    return {
        "registry": registry,
        "repository": repository,
        "tags": list(tags),
        "layers": list(layers),
        "skipped": list(skipped),
        "bytes": nbytes,
        "seconds": round(seconds, 3),
        **extra,
    }


def transfer_summary(
    settings: Settings, document: dict[str, Any], headline: str, *, stdout_taken: bool = False
) -> None:
    """Print a :func:`transfer_document`: as JSON, or the headline and the byte count.

    ``stdout_taken``: stdout carries the archive itself, so the summary goes to stderr.
    """

    def human(console: Console) -> None:
        nbytes, seconds = document["bytes"], document["seconds"]
        console.print(headline)
        console.print(
            f"{len(document['layers'])} layers transferred, {len(document['skipped'])} "
            f"already there; {human_size(nbytes)} in {seconds:.1f} s "
            f"({human_rate(nbytes, seconds)})"
        )

    if stdout_taken:
        human(stderr_console())
    else:
        emit(settings, document, human)
