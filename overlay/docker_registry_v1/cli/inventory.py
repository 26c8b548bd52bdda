"""``regv1 inventory``: what a whole v1 registry holds, before anything is moved.

The same facts come out in every format under the same names: one row per
``(repository, tag)`` with its chain's layers and bytes, one entry per image with
the repositories sharing it, and totals that set the bytes stored once
(``unique_bytes``) against the bytes a tag-by-tag copy would move
(``tagged_bytes``). ``--format json`` is one document, ``ndjson`` one object a
line (``"kind"``: ``tag``, ``image``, ``problem``, then ``totals``), ``csv`` the tag
rows for a spreadsheet; a table shows repositories, the most shared images, the
problems and the totals, and a pipe gets the repository rows tab-separated.

What is broken in the registry (``Inventory.problems``) is part of the answer, not a
failure: every format lists it under the same names (``repository``, ``tag``,
``image``, ``problem`` — the kind — and ``message``) and the command exits 0, unless
``--fail-on-problems`` asks for exit 2. A spreadsheet gets one table per file: the
tag rows on stdout keep their columns, and ``--problems-csv FILE`` writes the problems
as a second CSV file; without it a CSV run that found problems says so on stderr.

CSV cells hold what the registry sent, and a spreadsheet runs a cell that starts
like a formula (``=HYPERLINK(…)``, ``+``, ``-``, ``@``, or a tab or CR before one):
such cells get a leading ``'``, as OWASP's CSV-injection advice says, which
spreadsheets show as text.
"""

from __future__ import annotations

import csv
import functools
import io
import sys
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console

from docker_registry_v1.core.tls import TLSConfig
from docker_registry_v1.transfer.inventory import (
    Inventory,
    SearchUnavailable,
    inventory,
)
from docker_registry_v1.transfer.selection import Selection

from .connect import open_registry
from .exitcodes import EXIT_CODES_HELP, EXIT_PARTIAL
from .options import (
    FORMATS,
    Settings,
    age_options,
    common_options,
    examples,
    fail,
    jobs_option,
    note_undated,
    warn,
)
from .output import Column, emit, human_size, json_text, print_table, visible
from .progress import phase_progress
from .reference import ImageReference, registry_url

__all__ = ["inventory_command"]

#: ``--format`` choices: the shared ones plus a line-per-record stream and a spreadsheet.
INVENTORY_FORMATS = (*FORMATS, "ndjson", "csv")
CSV_COLUMNS = ("repository", "tag", "image_id", "layers", "bytes", "created")
#: The columns of ``--problems-csv``: the names every format gives a problem's fields.
PROBLEM_COLUMNS = ("repository", "tag", "image", "problem", "message")
#: What a spreadsheet reads as the start of a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: How many of the most shared images the table lists.
SHARED_SHOWN = 10


def _source(text: str, tls: TLSConfig) -> tuple[str, str | None]:
    """``HOST[:PORT]`` → its base URL; ``HOST[:PORT]/REPO`` → also the repository; either
    may start with ``http://``, ``https://`` or ``v1://``."""
    scheme, _, rest = text.partition("://") if "://" in text else ("", "", text)
    if scheme.lower() in {"http", "https", "v1"}:
        host, _, path = rest.rstrip("/").partition("/")
        if path in {"", "v1"}:  # a base URL, as --registry takes it
            base = f"{scheme}://{host}" if scheme.lower() != "v1" else host
            return registry_url(base, tls=tls), None
        reference = ImageReference.parse(text)
        if reference.tag is not None or reference.image is not None:
            fail(f"{text!r}: inventory reads whole repositories; leave out the :TAG or @ID")
        url = reference.registry_url(tls=tls)
        assert url is not None  # the reference has a host
        return url, path
    if scheme:
        fail(f"{text!r}: SOURCE is HOST[:PORT][/REPO], optionally after http:// or https://")
    host, sep, rest = text.partition("/")
    if not sep or not rest:
        return registry_url(host, tls=tls), None
    reference = ImageReference.parse(text)
    if reference.host is None:
        fail(f"{text!r}: SOURCE starts with the registry's HOST[:PORT]")
    if reference.tag is not None or reference.image is not None:
        fail(f"{text!r}: inventory reads whole repositories; leave out the :TAG or @ID")
    url = reference.registry_url(tls=tls)
    assert url is not None  # the reference has a host
    return url, rest


def _names_from(stream: IO[str]) -> list[str]:
    """One repository a line; blank lines and ``#`` comments (whole or trailing) skipped."""
    names = [line.partition("#")[0].strip() for line in stream]
    return [name for name in names if name]


def _tag_rows(found: Inventory) -> list[dict[str, Any]]:
    rows = []
    for repository in found.repositories:
        for tag, image_id in repository.tags.items():
            chain = found.chain(image_id)  # every tagged image is in the inventory
            rows.append(
                {
                    "repository": repository.name,
                    "tag": tag,
                    "image_id": image_id,
                    "layers": len(chain),
                    "bytes": sum(found.images[i].size or 0 for i in chain),
                    "created": found.images[image_id].created,
                }
            )
    return rows


def _image_rows(found: Inventory) -> list[dict[str, Any]]:
    return [
        {
            "id": image.id,
            "parent": image.parent,
            "created": image.created,
            "size": image.size,
            "repositories": list(image.repositories),
            "shared_by": len(image.repositories),
            "tags": image.tags,
        }
        for image in found.images.values()
    ]


def _repository_rows(found: Inventory) -> list[dict[str, Any]]:
    rows = []
    for repository in found.repositories:
        images = {i for tip in repository.tags.values() for i in found.chain(tip)}
        rows.append(
            {
                "name": repository.name,
                "tags": dict(repository.tags),
                "images": len(images),
                "bytes": sum(found.images[i].size or 0 for i in images),
                "untagged": list(repository.untagged),
            }
        )
    return rows


def _problem_rows(found: Inventory) -> list[dict[str, Any]]:
    """``problem`` is the kind (``ProblemKind`` value): ``kind`` already names the record
    type in NDJSON."""
    return [
        {
            "repository": problem.repository,
            "tag": problem.tag,
            "image": problem.image,
            "problem": problem.kind.value,
            "message": problem.message,
        }
        for problem in found.problems
    ]


def _totals(found: Inventory) -> dict[str, int]:
    return {
        "problems": len(found.problems),
        "repositories": found.repository_count,
        "tags": found.tag_count,
        "images": found.image_count,
        "untagged": found.untagged_count,
        "unique_bytes": found.unique_bytes,
        "tagged_bytes": found.tagged_bytes,
    }


def _document(found: Inventory) -> dict[str, Any]:
    return {
        "registry": found.registry,
        "search_available": found.search_available,
        "repositories": _repository_rows(found),
        "tags": _tag_rows(found),
        "images": _image_rows(found),
        "problems": _problem_rows(found),
        "totals": _totals(found),
        "requests": found.requests,
        "seconds": round(found.seconds, 3),
    }


def _ndjson(found: Inventory) -> None:
    lines = [
        *({"kind": "tag", **row} for row in _tag_rows(found)),
        *({"kind": "image", **row} for row in _image_rows(found)),
        *({"kind": "problem", **row} for row in _problem_rows(found)),
        {
            "kind": "totals",
            **_totals(found),
            "requests": found.requests,
            "seconds": round(found.seconds, 3),
        },
    ]
    for line in lines:
        click.echo(json_text(line, indent=None))


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows instead of running: text that starts like a
    formula (:data:`FORMULA_STARTS`) gets a leading ``'``; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def _csv_text(columns: tuple[str, ...], rows: list[dict[str, Any]], *, terminal: bool) -> str:
    """``rows`` as CSV, cells guarded by :func:`csv_cell` (and through :func:`visible`
    for a terminal, as every table is)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    # the csv module quotes cells holding the line terminator (\n) but not a lone CR,
    # which readers take for a line break: such rows have every cell quoted
    quoted = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writeheader()
    for row in rows:
        cells = {
            key: csv_cell(visible(value) if terminal and isinstance(value, str) else value)
            for key, value in row.items()
        }
        carriage_return = any(isinstance(cell, str) and "\r" in cell for cell in cells.values())
        (quoted if carriage_return else writer).writerow(cells)
    return buffer.getvalue()


def _csv(found: Inventory) -> None:
    """The tag rows, written as they are to a file or pipe (click.echo would strip what
    looks like colour codes)."""
    sys.stdout.write(_csv_text(CSV_COLUMNS, _tag_rows(found), terminal=sys.stdout.isatty()))
    sys.stdout.flush()


def _problems_csv(found: Inventory, path: Path) -> None:
    """The problems as a CSV file of their own (:data:`PROBLEM_COLUMNS`), header included
    even when there are none, so a spreadsheet or script finds the file it expects."""
    path.write_text(_csv_text(PROBLEM_COLUMNS, _problem_rows(found), terminal=False), "utf-8")


def _problems_table(settings: Settings, found: Inventory, console: Console) -> None:
    print_table(
        settings,
        console,
        [
            Column("REPOSITORY"),
            Column("TAG"),
            Column("IMAGE ID", image_id=True),
            Column("PROBLEM"),
            Column("MESSAGE"),
        ],
        [
            (
                problem.repository,
                "" if problem.tag is None else problem.tag,
                problem.image or "",
                problem.kind.value,
                problem.message,
            )
            for problem in found.problems
        ],
        title="problems (broken in the source registry; the rest was read)",
    )


def _human(settings: Settings, found: Inventory, console: Console) -> None:
    repositories = _repository_rows(found)
    print_table(
        settings,
        console,
        [
            Column("REPOSITORY"),
            Column("TAGS"),
            Column("IMAGES"),
            Column("BYTES"),
            Column("UNTAGGED"),
        ],
        [
            (
                row["name"],
                str(len(row["tags"])),
                str(row["images"]),
                human_size(row["bytes"]),
                str(len(row["untagged"])),
            )
            for row in repositories
        ],
        title=f"{found.registry} repositories",
    )
    # the terminal decides when no --format was given, as print_table does
    if (settings.output_format or ("table" if console.is_terminal else "plain")) == "plain":
        if found.problems:  # the pipe carries repository rows only
            warn(_problems_found(found))
        return
    shared = sorted(
        (image for image in found.images.values() if len(image.repositories) > 1),
        key=lambda image: (-len(image.repositories), -image.tags, image.id),
    )[:SHARED_SHOWN]
    if shared:
        print_table(
            settings,
            console,
            [
                Column("IMAGE ID", image_id=True),
                Column("REPOSITORIES"),
                Column("TAGS"),
                Column("SIZE"),
                Column("CREATED"),
            ],
            [
                (
                    image.id,
                    str(len(image.repositories)),
                    str(image.tags),
                    "?" if image.size is None else human_size(image.size),
                    image.created or "",
                )
                for image in shared
            ],
            title="images shared by the most repositories",
        )
    if found.problems:
        _problems_table(settings, found, console)
    saved = found.tagged_bytes - found.unique_bytes
    console.print(
        f"{found.repository_count} repositories, {found.tag_count} tags, "
        f"{found.image_count} images, {found.untagged_count} untagged, "
        f"{len(found.problems)} problems"
    )
    console.print(
        f"{human_size(found.unique_bytes)} stored once; {human_size(found.tagged_bytes)} "
        f"counted per tag (sharing saves {human_size(saved)})"
    )
    console.print(f"{found.requests} requests in {found.seconds:.1f} s")
    if not found.search_available:
        console.print("repositories as given (search not used)")


def _problems_found(found: Inventory) -> str:
    tags = len({(p.repository, p.tag) for p in found.problems if p.tag is not None})
    return (
        f"{len(found.problems)} problems found ({tags} tags cannot be read whole); "
        "--format table or json lists them, --problems-csv FILE writes them as CSV"
    )


@click.command(
    "inventory",
    epilog=EXIT_CODES_HELP
    + "\n\n"
    + examples(
        "regv1 inventory 127.0.0.1:5000",
        "regv1 inventory registry.example.com --repos-from repos.txt --format csv "
        "--problems-csv problems.csv > tags.csv",
        "regv1 inventory 127.0.0.1:5000 --include '^team/' --tags '1\\..*' --last 3 --format json",
    ),
)
@click.argument("source", metavar="SOURCE")
@click.option(
    "--repos-from",
    type=click.File("r"),
    metavar="FILE",
    help="Read these repositories (one a line, # comments, - for stdin) instead of "
    "listing them with search.",
)
@click.option(
    "--include",
    multiple=True,
    metavar="REGEX",
    help="Only repositories this finds (re.search); repeatable.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="REGEX",
    help="Leave out repositories this finds; repeatable.",
)
@click.option("--tags", "tags_pattern", metavar="REGEX", help="Only tags this matches whole.")
@age_options
@click.option(
    "--fail-on-problems",
    is_flag=True,
    help="Exit 2 when the registry holds problems (by default the report is the result: 0).",
)
@click.option(
    "--problems-csv",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE",
    help="Also write the problems to FILE as CSV (repository, tag, image, problem, message).",
)
@jobs_option(8, "Metadata requests in flight at once.", maximum=64)
@functools.partial(common_options, formats=INVENTORY_FORMATS)
def inventory_command(
    source: str,
    *,
    repos_from: IO[str] | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    tags_pattern: str | None,
    newer_than: str | None,
    last: str | None,
    fail_on_problems: bool,
    problems_csv: Path | None,
    jobs: int,
    settings: Settings,
) -> None:
    """List every repository, tag and image of SOURCE, with sizes and sharing.

    SOURCE is HOST[:PORT] (every repository search lists, or those --repos-from names)
    or HOST[:PORT]/REPO (one repository), optionally after http:// or https://
    (without one: https, and plain http for a loopback host that does not speak TLS).
    Only metadata is read, never a layer.
    A pipe gets one tab-separated line per repository; --format json, ndjson and csv
    carry every tag and image.

    In --format csv a cell that starts with =, +, -, @, a tab or a CR gets a leading '
    so that a spreadsheet shows it as text instead of running it as a formula (the
    OWASP advice against CSV injection); other formats keep every value as it is.

    What is broken does not stop the inventory: uploads that never finished, lost or
    corrupt image JSON or ancestry, tags naming removed images, broken parent chains,
    tag lists that error and search results that are not repository names are listed
    as problems (repository, tag, image, problem, message) in the table and in every
    format (NDJSON records of kind "problem"; for CSV, --problems-csv FILE writes them
    as a second file). The report is the result, so the exit status is 0 with
    problems too, unless --fail-on-problems (then 2). An unreachable registry or a
    refused login exits 1.

    While it reads, a terminal shows a bar (repositories read of those listed, images
    read, requests per second); with --format json, stderr gets NDJSON
    progress events instead ({"event": "phase", "phase": "inventory", "done": …,
    "total": …, "images": …, "requests": …}, a few a second at most).
    """
    url, repository = _source(source, settings.tls)
    if problems_csv is not None and not problems_csv.resolve().parent.is_dir():
        fail(f"--problems-csv {problems_csv}: its folder does not exist")  # before any request
    selection = Selection.parse(
        include=include, exclude=exclude, tags=tags_pattern, newer_than=newer_than, last=last
    )
    names: list[str] | None = None
    if repository is not None:
        if repos_from is not None:
            fail("name one repository in SOURCE or use --repos-from, not both")
        names = [repository]
    elif repos_from is not None:
        if settings.password_stdin and repos_from.name == "<stdin>":
            fail("--password-stdin and --repos-from - cannot both read stdin")
        names = _names_from(repos_from)
        if not names:
            fail(f"{repos_from.name}: no repository names in it")
    with open_registry(settings, url=url) as registry, phase_progress(settings) as listener:
        try:
            found = inventory(
                registry.client,
                repositories=names,
                concurrency=jobs,
                selection=selection,
                phases=listener,
            )
        except SearchUnavailable:
            fail(
                f"{registry.netloc} has search disabled, so its repositories cannot be "
                "listed: put their names in a file (one a line) and pass --repos-from FILE"
            )
    if repository is not None and not found.repositories and found.problems:
        fail(found.problems[0].message)  # the one repository asked for cannot be listed
    note_undated(found.undated)
    if problems_csv is not None:
        _problems_csv(found, problems_csv)
    if settings.output_format == "ndjson":
        _ndjson(found)
    elif settings.output_format == "csv":
        _csv(found)
        if found.problems and problems_csv is None:
            warn(_problems_found(found))
    else:
        emit(settings, _document(found), functools.partial(_human, settings, found))
    if found.problems and fail_on_problems:
        raise click.exceptions.Exit(EXIT_PARTIAL)
