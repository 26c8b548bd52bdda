"""``regv1 provenance export``: the v1 → v2 mapping of a migration, for auditors.

Which v2 repository, tag, manifest digest, layer digest and diff_id each v1 image
(registry, repository, tag, id, position in its chain) became, as CSV or JSON, from
the migration journal (no server asked) or from the destination alone (its tags and
the provenance artifacts attached to them). The rows and their meaning are in
`docker_registry_v1.transfer.provenance_export`; this module picks the source, the
side's login and TLS, and where the output goes (``-o FILE`` is written to a
temporary file and renamed, so a file under that name is always a whole export).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from docker_registry_v1.v1.endpoints import Endpoint

from .exitcodes import EXIT_CODES_HELP, EXIT_PARTIAL
from .inventory import csv_cell
from .options import Settings, common_options, examples, fail, jobs_option, warn
from .output import visible
from .sides import OCISide, SidesCommand, SideSettings, side_options, side_origin
from .transports import parse_registry

if TYPE_CHECKING:
    from docker_registry_v1.transfer.provenance_export import ExportProblem, Item

__all__ = ["provenance"]

EXPORT_FORMATS = ("csv", "json")


@click.group()
def provenance() -> None:
    """The v1 provenance a migration records next to each image it writes."""


def _dest_side(settings: Settings, kwargs: dict[str, Any]) -> SideSettings:
    """The ``--dest-*`` options: the destination is the one server an export may ask."""
    side = SideSettings(
        side="dest",
        creds=kwargs.pop("dest_creds"),
        no_creds=kwargs.pop("dest_no_creds"),
        authfile=kwargs.pop("dest_authfile"),
        tls_verify=kwargs.pop("dest_tls_verify"),
        cert_dir=kwargs.pop("dest_cert_dir"),
        password_stdin=kwargs.pop("dest_password_stdin"),
        plain_http=settings.plain_http,
        ca_file=settings.ca_cert,
        rate=kwargs.pop("dest_rate"),
        max_connections=kwargs.pop("dest_max_connections"),
    )
    if side.creds is not None and side.no_creds:
        raise click.UsageError("--dest-creds and --dest-no-creds cannot be combined")
    if side.password_stdin and (side.creds is None or ":" in side.creds):
        raise click.UsageError("--dest-password-stdin needs --dest-creds USER (no :PASSWORD)")
    if not side.tls_verify:
        warn(
            "--dest-tls-verify=false: the destination's TLS certificate is not verified, "
            "and plain http is allowed"
        )
    return side


def _registry_name(url: str) -> str:
    """The name a migration journal records a v2 destination under (its base URL)."""
    from docker_registry_v1.v1.client import api_root  # noqa: PLC0415

    return str(api_root(url, "/v2")).rstrip("/")


def _default_journals(source: str, destination: str) -> list[Path]:
    """The journal ``regv1 migrate SOURCE DEST`` used by default, or, for a sharded
    migration, every shard's. Found without asking any server (the old one may be
    gone): a scheme not typed is tried both ways."""
    from docker_registry_v1.engine.journal import default_journal_path  # noqa: PLC0415

    src = parse_registry(source, "source")
    if src.transport != "v1":
        fail(f"{source!r}: SOURCE is the v1 registry migrated from: HOST[:PORT], http://…")
    dst = parse_registry(destination, "destination")
    schemes = ("https", "http")
    sources = [f"{scheme}://{src.netloc}" for scheme in ([src.scheme] if src.scheme else schemes)]
    if dst.transport == "oci":
        registries = [f"oci:{Path(dst.directory).resolve()}"]
    elif dst.transport == "docker":
        netloc = Endpoint(host=dst.api_host, port=dst.port).netloc
        registries = [_registry_name(f"{scheme}://{netloc}") for scheme in schemes]
    else:
        fail(
            f"{destination!r}: DEST is where migrate wrote: "
            "docker://HOST[:PORT][/PREFIX] or oci:DIR"
        )
    candidates = [default_journal_path(one, two) for one in sources for two in registries]
    found = sorted({path for path in candidates if path.exists()})
    if len(found) > 1:
        fail(
            f"several journals for {source} → {destination}: {', '.join(map(str, found))}; "
            "give --journal PATH"
        )
    if found:
        return found
    shards = sorted(
        {
            shard
            for path in candidates
            for shard in path.parent.glob(f"{path.stem}-shard-*-of-*.sqlite")
        }
    )
    if not shards:
        fail(
            f"no migrate journal for {source} → {destination} at {candidates[0].parent} "
            "(give --journal PATH, or --from DEST to read the destination)"
        )
    return shards


def _layout(directory: str) -> Any:
    """An existing OCI layout (an export never creates one)."""
    from docker_registry_v1.formats.layout import OCILayout  # noqa: PLC0415

    if not (Path(directory) / "oci-layout").is_file():
        fail(f"oci:{directory}: no OCI image layout there")
    return OCILayout(directory)


def _write(items: Iterable[Item], output_format: str, output: Path | None) -> list[ExportProblem]:
    from docker_registry_v1.transfer.provenance_export import (  # noqa: PLC0415
        write_atomically,
        write_csv,
        write_json,
    )

    def to(stream: IO[str], *, terminal: bool = False) -> list[ExportProblem]:
        if output_format == "json":
            return write_json(items, stream)

        def cell(value: object) -> object:
            return csv_cell(visible(value) if terminal and isinstance(value, str) else value)

        return write_csv(items, stream, cell=cell)

    if output is not None:
        return write_atomically(output, to)
    return to(sys.stdout, terminal=sys.stdout.isatty())


@provenance.command(
    "export",
    cls=SidesCommand,
    epilog=EXIT_CODES_HELP
    + "\n\n"
    + examples(
        "regv1 provenance export legacy.example.com:5000 docker://registry.example.com/legacy "
        "-o mapping.csv",
        "regv1 provenance export --from docker://registry.example.com/legacy "
        "--dest-creds auditor -o mapping.csv",
        "regv1 provenance export --from oci:/srv/layout --format json",
    ),
)
@click.argument("source", metavar="[SOURCE DEST]", required=False)
@click.argument("destination", required=False, metavar="")
@click.option(
    "--journal",
    "journal_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Read this migrate journal (instead of SOURCE DEST's default one); repeatable "
    "(a sharded migration's journals, one after the other).",
)
@click.option(
    "--from",
    "location",
    metavar="docker://HOST[:PORT][/PREFIX] | oci:DIR",
    help="Read the destination itself: its tags and the provenance attached to them.",
)
@click.option(
    "--repository",
    "repositories",
    multiple=True,
    metavar="NAME",
    help="Only this v2 repository (repeatable); with --from, instead of the _catalog.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write FILE (a temporary file renamed when complete) instead of stdout.",
)
@jobs_option(8, "Tags read at once with --from.")
@functools.partial(
    common_options,
    formats=EXPORT_FORMATS,
    two_sided=True,
    format_help="csv (a header row, then one row per v1 image) or json [default: csv].",
)
@side_options("dest")
def export(
    source: str | None,
    destination: str | None,
    *,
    journal_paths: tuple[Path, ...],
    location: str | None,
    repositories: tuple[str, ...],
    output: Path | None,
    jobs: int,
    settings: Settings,
    **kwargs: Any,
) -> None:
    """Export the v1 → v2 mapping of a migration as CSV (default) or JSON.

    \b
    One row per v1 image of each migrated tag, base first:
      v1_registry, v1_repository, v1_tag, v1_image_id, position (0: the base),
      v2_registry, v2_repository, v2_tag, manifest_digest, layer_digest, diff_id,
      provenance (journal, artifact, or "no provenance")

    \b
    From the journal of `regv1 migrate SOURCE DEST` (no server is asked):
      regv1 provenance export SOURCE DEST       its default journal (or its shards')
      regv1 provenance export --journal PATH    a journal given by path (repeatable)
    From the destination alone (--dest-creds, --dest-tls-verify, --dest-cert-dir):
      regv1 provenance export --from docker://HOST[:PORT][/PREFIX]
      regv1 provenance export --from oci:DIR

    A destination tag without a provenance artifact (pushed there directly, or
    migrated with --no-provenance) is one row with empty v1 columns and provenance
    "no provenance". A tag that cannot be read, or that a journal saw migrated into
    another v1 registry (it has no v2 side), is a warning line, the rest is
    exported, and the exit status is 2. In CSV a cell that starts like a formula
    (=, +, -, @, tab, CR) gets a leading '.
    """
    dest = _dest_side(settings, kwargs)
    output_format = settings.output_format or "csv"
    given = [bool(journal_paths), source is not None, location is not None]
    if sum(given) != 1:
        raise click.UsageError("give one of: SOURCE DEST, --journal PATH, --from LOCATION")
    if source is not None and destination is None:
        raise click.UsageError("Missing argument 'DEST'.")
    if output is not None and not output.resolve().parent.is_dir():
        fail(f"-o {output}: its folder does not exist")  # before any request
    chosen = list(repositories) or None
    if location is not None:
        problems = _from_destination(
            settings, dest, location, chosen, output_format=output_format, output=output, jobs=jobs
        )
    else:
        paths = list(journal_paths) or _default_journals(str(source), str(destination))
        problems = _from_journal(paths, chosen, output_format, output)
    for problem in problems:
        where = (
            f"{problem.v2_repository}:{problem.v2_tag}" if problem.v2_tag else problem.v2_repository
        )
        warn(f"{where}: {problem.message}")
    if problems:
        raise click.exceptions.Exit(EXIT_PARTIAL)


def _from_journal(
    paths: list[Path], repositories: list[str] | None, output_format: str, output: Path | None
) -> list[ExportProblem]:
    """Every journal opened before a row is written (a bad one is an error, exit 1, and
    no output), then their rows one journal after the other."""
    from docker_registry_v1.engine.journal import JournalReader  # noqa: PLC0415
    from docker_registry_v1.transfer.provenance_export import from_journal  # noqa: PLC0415

    with contextlib.ExitStack() as readers:
        opened = [readers.enter_context(JournalReader(path)) for path in paths]
        items = itertools.chain.from_iterable(
            from_journal(reader, repositories=repositories) for reader in opened
        )
        return _write(items, output_format, output)


def _from_destination(
    settings: Settings,
    dest: SideSettings,
    location: str,
    repositories: list[str] | None,
    *,
    output_format: str,
    output: Path | None,
    jobs: int,
) -> list[ExportProblem]:
    from docker_registry_v1.transfer.provenance_export import (  # noqa: PLC0415
        from_destination,
        list_repositories,
    )

    where = parse_registry(location, "--from")
    if where.transport == "oci":
        if dest.creds is not None or dest.password_stdin:
            raise click.UsageError("--dest-creds is for a registry, not an oci: layout")
        with _layout(where.directory) as layout:
            items = from_destination(
                layout, f"oci:{layout.root.resolve()}", repositories=repositories, jobs=jobs
            )
            return _write(items, output_format, output)
    if where.transport != "docker":
        fail(f"--from {location!r}: expected docker://HOST[:PORT][/PREFIX] or oci:DIR")
    url = side_origin(dest, where.api_host, where.port, None)
    with OCISide(settings, dest, url, where.netloc) as side:
        registry = _registry_name(side.client.base_url)
        names = repositories or list_repositories(side.client, where.path)
        items = from_destination(side.client, registry, repositories=names, jobs=jobs)
        return _write(items, output_format, output)
