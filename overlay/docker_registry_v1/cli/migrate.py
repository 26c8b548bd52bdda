"""``migrate SOURCE DEST``: a v1 registry (or part of it) into a v2 registry, an OCI layout or v1.

The command inventories the source (no layer bytes), plans every selected tag (names
checked against the destination's rules before anything is sent), then runs the
deduplicated copy with a journal so that re-running continues where a run stopped.
``--verify`` checks what the journal says was migrated instead of migrating;
``--repair`` runs that check first and migrates again every tag it finds wrong.

Each side has its own login and TLS (:mod:`.sides`, skopeo's names); SOURCE may name
its scheme (``http://HOST:PORT``) for a legacy registry on plain http.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .connect import open_side
from .exitcodes import EXIT_PARTIAL
from .migrate_watch import Sweep, pruned_count, sweep, sweep_document, sweep_lines, watch_options
from .migrate_watch import watch as watch_passes
from .options import (
    Settings,
    age_options,
    common_options,
    examples,
    fail,
    jobs_option,
    note_undated,
    warn,
)
from .output import Column, emit, human_rate, human_size, print_table, visible
from .progress import PhaseEvents, phase_progress, showing_pauses
from .sides import OCISide, SidesCommand, SideSettings, assign_legacy_login, side_origin, two_sided
from .transports import parse_registry

if TYPE_CHECKING:  # the copy extra (isal) is loaded only when the command runs
    from docker_registry_v1.engine.journal import Journal
    from docker_registry_v1.transfer.inventory import Inventory
    from docker_registry_v1.transfer.migrate import MigrationListener, MigrationReport, TagOutcome
    from docker_registry_v1.transfer.migrate_bases import StagedBases
    from docker_registry_v1.transfer.migrate_create import CreateRepository
    from docker_registry_v1.transfer.migrate_plan import BlobStoreSide, MigrationPlan
    from docker_registry_v1.transfer.migrate_v1 import V1Side
    from docker_registry_v1.transfer.migrate_verify import VerifyReport
    from docker_registry_v1.transfer.phases import Phase, PhaseListener
    from docker_registry_v1.transfer.selection import Selection
    from docker_registry_v1.v1.client import Client

__all__ = ["migrate"]

_LAYER_BARS = 3
_METADATA_CONCURRENCY = 8
"""Metadata requests at once while the source is inventoried and the destination surveyed."""


def _source(text: str, side: SideSettings) -> tuple[str, str | None]:
    """``[http(s)://|v1://]HOST[:PORT][/REPO]`` → (origin URL, repository or None)."""
    location = parse_registry(text, "source")
    if location.transport != "v1":
        fail(f"{text!r}: migrate reads a v1 registry: HOST[:PORT][/REPO], http://… or v1://…")
    return side_origin(side, location.host, location.port, location.scheme), location.path or None


def _repos_from(path: str) -> list[str]:
    """One repository a line; ``#`` starts a comment; ``-`` is stdin."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [name for name in names if name]


class _Bars:
    """One overall bar (tags done/total, bytes, rate, ETA) and at most three layer bars."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._overall: TaskID | None = None
        self._tags = 0
        self._done = 0
        self._layers: dict[str, TaskID] = {}

    def started(self, tags: int, nbytes: int) -> None:
        self._tags = tags
        self._overall = self._progress.add_task(f"tags 0/{tags}", total=nbytes or None)

    def layer_started(self, image_id: str, size: int | None) -> None:
        with self._lock:
            if len(self._layers) < _LAYER_BARS:
                self._layers[image_id] = self._progress.add_task(image_id[:12], total=size)

    def layer_advanced(self, image_id: str, nbytes: int) -> None:
        with self._lock:
            task = self._layers.get(image_id)
        if task is not None:
            self._progress.advance(task, nbytes)
        if self._overall is not None:
            self._progress.advance(self._overall, nbytes)

    def layer_finished(self, image_id: str) -> None:
        with self._lock:
            task = self._layers.pop(image_id, None)
        if task is not None:
            self._progress.remove_task(task)

    def tag_finished(self, outcome: TagOutcome) -> None:
        with self._lock:
            self._done += 1
            done = self._done
        if self._overall is not None:
            self._progress.update(self._overall, description=f"tags {done}/{self._tags}")


class _Events:
    """NDJSON progress events on stderr, for other tools (``--format json``); the
    ``migrate`` phase's events too (tags finished of the plan's), as the phases
    before it send theirs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phase: Phase | None = None
        self._finished = 0

    def _emit(self, **event: Any) -> None:
        with self._lock:
            sys.stderr.write(json.dumps(event, sort_keys=True) + "\n")
            sys.stderr.flush()

    def started(self, tags: int, nbytes: int) -> None:
        from docker_registry_v1.transfer.phases import Phase  # noqa: PLC0415

        self._emit(event="started", tags=tags, bytes=nbytes)
        self._phase = Phase(
            PhaseEvents(lambda event: self._emit(**event)), "migrate", tags, counts=("failed",)
        )
        self._phase.start()

    def layer_started(self, image_id: str, size: int | None) -> None:
        self._emit(event="layer_started", image_id=image_id, size=size)

    def layer_advanced(self, image_id: str, nbytes: int) -> None:
        """Too many to report one by one; ``layer_finished`` carries the news."""

    def layer_finished(self, image_id: str) -> None:
        self._emit(event="layer_finished", image_id=image_id)

    def paused(self, host: str, seconds: float, reason: str) -> None:
        """A host's budget paused it (a 429/503 ``Retry-After``): nothing is sent to it."""
        self._emit(event="paused", host=host, seconds=seconds, reason=reason)

    def tag_finished(self, outcome: TagOutcome) -> None:
        self._emit(
            event="tag",
            source=outcome.source,
            destination=outcome.destination,
            status=outcome.status,
            digest=outcome.digest,
            reason=outcome.reason,
            image=outcome.image,
        )
        if self._phase is not None:
            self._phase.advance(1, failed=int(outcome.status == "failed"))
            with self._lock:
                self._finished += 1
                last = self._finished == self._phase.total
            if last:
                self._phase.finish()


@contextlib.contextmanager
def _listener(settings: Settings) -> Iterator[MigrationListener]:
    from docker_registry_v1.transfer.migrate import SilentMigration  # noqa: PLC0415

    if settings.json:
        events = _Events()
        with showing_pauses(events.paused):
            yield events
        return
    console = Console(file=sys.stderr)
    if not console.is_terminal:
        yield SilentMigration()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with (
        Progress(*columns, console=console) as progress,
        showing_pauses(
            lambda host, s, why: progress.console.print(f"pausing {host} for {s:.1f} s ({why})")
        ),
    ):
        yield _Bars(progress)


class _MigrateCommand(SidesCommand):
    """``--verify`` alone means ``--verify=full``; click would take SOURCE as its value."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, ["--verify=full" if a == "--verify" else a for a in args])


def _target(
    settings: Settings, destination: str, dest: SideSettings, manifest: str | None
) -> tuple[BlobStoreSide | V1Side, str, contextlib.AbstractContextManager[object]]:
    """(destination, prefix, closer) for ``docker://[HOST[:PORT]][/PREFIX]``, ``oci:DIR`` or
    a v1 registry ``[http(s)://|v1://]HOST[:PORT][/PREFIX]``."""
    from docker_registry_v1.formats.convert import ManifestFormat  # noqa: PLC0415 - the copy extra
    from docker_registry_v1.formats.errors import LayoutError  # noqa: PLC0415
    from docker_registry_v1.formats.layout import OCILayout  # noqa: PLC0415
    from docker_registry_v1.transfer.migrate_plan import (  # noqa: PLC0415
        LayoutSide,
        RegistrySide,
    )
    from docker_registry_v1.transfer.migrate_v1 import V1Side  # noqa: PLC0415

    chosen = None if manifest is None else ManifestFormat[manifest.upper()]
    location = parse_registry(destination, "destination")
    if location.transport == "oci":
        if dest.creds is not None or dest.password_stdin:
            raise click.UsageError("--dest-creds is for registry destinations")
        try:
            layout = OCILayout(location.directory)
        except (LayoutError, OSError) as exc:
            fail(f"{destination}: {exc}")
        return LayoutSide(layout, chosen or ManifestFormat.OCI), "", layout
    url = side_origin(dest, location.api_host, location.port, location.scheme)
    if location.transport == "v1":
        registry = open_side(settings, dest, url=url)
        return V1Side(registry.client), location.path, registry
    side = OCISide(settings, dest, url, location.netloc)
    return RegistrySide(side.client, chosen or ManifestFormat.DOCKER), location.path, side


@click.command(
    cls=_MigrateCommand,
    epilog=examples(
        "regv1 migrate http://legacy.example.com:5000 docker://registry.example.com/legacy \\",
        "    --dest-cert-dir /etc/containers/certs.d/registry.example.com --dry-run",
        "regv1 migrate localhost:5000 docker://localhost:5001 -j 8 --shard auto/4",
        "regv1 migrate --verify=fast localhost:5000 docker://localhost:5001",
    ),
)
@click.argument("source", metavar="SOURCE", required=False)
@click.argument("destination", metavar="DEST", required=False)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE.yaml",
    help="Several sources and destinations, with their logins and rules, from a YAML file "
    "(instead of SOURCE, DEST and those flags; see docs/migration.md).",
)
@click.option(
    "--repos-from", metavar="FILE", help="Repositories to migrate, one a line ('-': stdin)."
)
@click.option("--include", multiple=True, metavar="REGEX", help="Repositories matching (any).")
@click.option("--exclude", multiple=True, metavar="REGEX", help="Repositories not matching.")
@click.option("--tags", "tag_pattern", metavar="REGEX", help="Tags matching (whole tag).")
@age_options
@click.option(
    "--rename",
    multiple=True,
    metavar="REGEX=REPLACEMENT",
    help="Rename repositories (first matching rule; checked against DEST's rules first).",
)
@click.option("--no-library", is_flag=True, help="Keep un-namespaced names as they are.")
@click.option(
    "--skip-existing-tags/--overwrite",
    default=False,
    help="Leave tags DEST already has alone, or write them (default: overwrite).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; send nothing.")
@jobs_option(8, "Layers in flight.", maximum=64)
@click.option(
    "--repositories",
    "repositories_in_flight",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Repositories in progress at once.",
)
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Journal file [default: one per SOURCE/DEST pair (and --shard) under "
    "$XDG_STATE_HOME (~/.local/state)/docker-registry-v1].",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run: the same as running the command again.",
)
@click.option(
    "--on-error",
    type=click.Choice(["continue", "abort"]),
    default="continue",
    show_default=True,
    help="After a failed tag: go on with the others, or start no new tag (exit 2 either way).",
)
@click.option(
    "--shard", metavar="I/N", help="Only shard I (0-based) of N; auto/N: $JOB_COMPLETION_INDEX."
)
@click.option("--creds", metavar="USER[:PASSWORD]", hidden=True, help="Old name of --src-creds.")
@click.option(
    "--manifest-format",
    type=click.Choice(["docker", "oci"]),
    help="Manifests: Docker schema2 or OCI (default: docker for docker://, oci for oci:).",
)
@click.option(
    "--verify",
    type=click.Choice(["full", "fast"]),
    help="Check the migrated tags instead of migrating: full streams the source layers "
    "again, fast trusts the journal's hashes.",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Look up every blob of the tags the journal records at DEST (as --verify=fast), "
    "then migrate again the tags with a blob lost or wrong, sending those blobs again.",
)
@click.option(
    "--bases",
    is_flag=True,
    help="Only stage the layers shared by two or more repositories (the whole selection, "
    "whatever --shard says) in the staging repository, once; run it before the shards, "
    "which then mount those blobs from there instead of uploading them each. docker:// only.",
)
@click.option(
    "--bases-repo",
    metavar="NAME",
    help="The staging repository of shared layers [default: regv1-bases under DEST's "
    "prefix]. A --shard run uses it by default; another run only when given.",
)
@click.option(
    "--create-repo-cmd",
    metavar="'CMD {repo}'",
    help="Run CMD (by /bin/sh -c; {repo}: the DEST repository, shell-quoted; env "
    "REGV1_REPOSITORY, REGV1_REGISTRY) once per DEST repository with no tags yet, before "
    "its first blob; its failure fails that repository's tags. docker:// DEST only.",
)
@click.option(
    "--create-repo-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="A --create-repo-cmd running longer fails.",
)
@click.option(
    "--no-provenance",
    is_flag=True,
    help="Attach no v1 provenance artifact to the migrated manifests (and do not require "
    "one in --verify); by default each tag written to docker:// or oci: gets one.",
)
@watch_options
@functools.partial(common_options, two_sided=True)
@two_sided
def migrate(
    source: str | None,
    destination: str | None,
    *,
    config_file: Path | None,
    repos_from: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    tag_pattern: str | None,
    newer_than: str | None,
    last: str | None,
    rename: tuple[str, ...],
    no_library: bool,
    skip_existing_tags: bool,
    dry_run: bool,
    jobs: int,
    repositories_in_flight: int,
    journal_path: Path | None,
    resume: bool,
    on_error: str,
    shard: str | None,
    creds: str | None,
    manifest_format: str | None,
    verify: str | None,
    repair: bool,
    create_repo_cmd: str | None,
    create_repo_timeout: float,
    watch: float | None,
    prune: bool,
    bases: bool,
    bases_repo: str | None,
    no_provenance: bool,
    settings: Settings,
    src: SideSettings,
    dest: SideSettings,
) -> None:
    """Migrate the v1 registry SOURCE (HOST[:PORT], or HOST[:PORT]/REPO for one
    repository; http://HOST:PORT… for one on plain http) into DEST:
    docker://HOST[:PORT][/PREFIX] (an OCI/v2 registry), oci:DIR (one OCI layout, tags
    named REPO:TAG) or HOST[:PORT][/PREFIX] (another v1 registry).

    Each v1 image is read once, each blob uploaded once and mounted into the other
    repositories that need it; a tag is written only after all it needs is there.
    The journal records what landed: run the command again (or with --resume) after
    Ctrl-C, a crash or a failure and it continues without sending anything twice.
    Two runs on one journal at once are refused.

    A source image that cannot be read (an upload that never finished, a missing or
    corrupt image, a broken parent chain, a layer failing its checksum) or a name DEST
    refuses fails only the tags that need it: the rest moves, and each failed tag is
    listed with its image and reason; a rerun retries exactly those.

    \b
    Exit status:
      0    every tag is done
      1    nothing could start (bad input, unreachable, refused login, journal in use)
      2    the run finished with some tags failed (or not attempted after --on-error abort)
      130  interrupted (Ctrl-C); run it again to continue

    A rerun calls a tag current when its manifest is still the one the journal
    recorded, without looking up its blobs; --repair looks up every blob of every
    tag the journal records and sends again what DEST lost. --verify (=full: the source's
    layers hashed again; =fast: the journal's hashes) only reports, one line per tag
    and blob at fault; its exit status is 2 when something is wrong.

    --create-repo-cmd makes the DEST repositories a registry wants made before a push
    (ECR, Harbor projects, GitLab): it runs once per repository that DEST listed with no
    tags, before the repository's first blob; the journal records each success, so a
    rerun does not run it again. A failure (non-zero exit, timeout) fails that
    repository's tags with the end of its stderr (exit 2). --dry-run lists the
    repositories it would run for.

    Each side has its own login: --src-creds/--dest-creds USER (the password from
    --X-password-stdin or a prompt), --X-authfile, or the credentials stored for its
    host; and its own TLS: --X-tls-verify=false, --X-cert-dir DIR.
    """
    from docker_registry_v1.engine.journal import Journal, default_journal_path  # noqa: PLC0415
    from docker_registry_v1.transfer.selection import Selection  # noqa: PLC0415

    del resume  # re-running is resuming: the journal and the destination say what is done
    if config_file is not None:  # each of its pairs comes back here, as SOURCE DEST --flags
        from .migrate_config import run_config  # noqa: PLC0415

        run_config(config_file, settings)
        return
    if source is None or destination is None:
        raise click.UsageError(f"Missing argument '{'DEST' if source else 'SOURCE'}'.")
    started = time.monotonic()
    if creds is not None:
        if src.creds is not None:
            raise click.UsageError("--creds is the old name of --src-creds; give one")
        warn("--creds is deprecated; use --src-creds")
        src = attrs.evolve(src, creds=creds)
    src, dest = assign_legacy_login(settings, src, dest, "src", "migrate")
    _refuse_combinations(
        verify=verify,
        dry_run=dry_run,
        repair=repair,
        watching=watch is not None or prune,
        bases=bases,
    )
    if repos_from == "-" and (src.password_stdin or dest.password_stdin or settings.password_stdin):
        raise click.UsageError("--repos-from - and a --…password-stdin cannot both read stdin")
    src_url, one_repo = _source(source, src)
    if one_repo is not None and repos_from is not None:
        raise click.UsageError("give SOURCE/REPO or --repos-from, not both")
    repositories = [one_repo] if one_repo else _repos_from(repos_from) if repos_from else None
    source_registry = open_side(settings, src, url=src_url)
    try:
        target, prefix, closer = _target(settings, destination, dest, manifest_format)
    except BaseException:
        source_registry.close()
        raise
    with closer:
        selection = Selection.parse(
            include=include,
            exclude=exclude,
            tags=tag_pattern,
            newer_than=newer_than,
            last=last,
            rename=rename,
            library=not no_library,
            prefix=prefix,
            shard=shard,
        )
        staging = _bases_option(target, selection, bases, bases_repo, prefix)
        path = journal_path or default_journal_path(src_url, target.registry, selection.shard)
        with (
            source_registry as registry,
            Journal(path) as journal,
            phase_progress(settings) as phases,
        ):

            def one_pass() -> tuple[MigrationReport, VerifyReport | None, Sweep] | None:
                ran = _run(
                    settings,
                    registry.client,
                    target,
                    journal,
                    selection=selection,
                    repositories=repositories,
                    verify=verify,
                    repair=repair,
                    dry_run=dry_run,
                    skip_existing_tags=skip_existing_tags,
                    jobs=jobs,
                    repositories_in_flight=repositories_in_flight,
                    on_error=on_error,
                    create_repo=(create_repo_cmd, create_repo_timeout) if create_repo_cmd else None,
                    phases=phases,
                    bases=staging,
                    provenance=not no_provenance,
                )
                if ran is None:
                    return None
                swept = sweep(
                    registry.client,
                    target,
                    journal,
                    ran[0],
                    selection,
                    repositories=repositories,
                    prune=prune,
                )
                return (*ran, swept)

            if watch is not None:
                watch_passes(settings, watch, one_pass)
            ran = one_pass()
    if ran is not None:
        report, repaired, swept = ran
        _print_report(
            settings, report, str(path), time.monotonic() - started, repaired, swept=swept
        )
        if not report.ok:
            raise click.exceptions.Exit(EXIT_PARTIAL)


def _refuse_combinations(
    *, verify: str | None, dry_run: bool, repair: bool, watching: bool, bases: bool
) -> None:
    """The modes that exclude each other, refused before any request."""
    if verify is not None and dry_run:
        raise click.UsageError("--verify and --dry-run cannot be combined")
    if repair and (verify is not None or dry_run):
        raise click.UsageError(
            "--repair migrates: it cannot be combined with --verify or --dry-run"
        )
    if watching and (verify is not None or dry_run or repair):
        raise click.UsageError(
            "--watch and --prune migrate: not with --verify, --dry-run or --repair"
        )
    if bases and (verify is not None or repair):
        raise click.UsageError("--bases stages shared layers: not with --verify or --repair")


def _run(
    settings: Settings,
    client: Client,
    target: BlobStoreSide | V1Side,
    journal: Journal,
    *,
    selection: Selection,
    repositories: list[str] | None,
    verify: str | None,
    repair: bool,
    dry_run: bool,
    skip_existing_tags: bool,
    jobs: int,
    repositories_in_flight: int,
    on_error: str,
    create_repo: tuple[str, float] | None = None,
    phases: PhaseListener | None = None,
    bases: tuple[bool, str] | None = None,
    provenance: bool = True,
) -> tuple[MigrationReport, VerifyReport | None] | None:
    """Verify, print the plan, or migrate (the report and a repair's check, for the
    caller to print)."""
    from docker_registry_v1.engine.sources import registry_origin  # noqa: PLC0415
    from docker_registry_v1.transfer.inventory import inventory  # noqa: PLC0415
    from docker_registry_v1.transfer.migrate import continued_and_then  # noqa: PLC0415
    from docker_registry_v1.transfer.migrate_plan import (  # noqa: PLC0415
        continued_plan,
        plan_migration,
        plan_name,
        remember_plan,
    )
    from docker_registry_v1.transfer.migrate_verify import verify_migration  # noqa: PLC0415

    path = str(journal.path)
    create = _repository_hook(target, create_repo)  # refused before any request
    carry_out = functools.partial(
        _carry_out,
        settings=settings,
        client=client,
        target=target,
        journal=journal,
        jobs=jobs,
        repositories_in_flight=repositories_in_flight,
        on_error=on_error,
        create=create,
        bases=bases,
        provenance=provenance,
    )
    if verify is not None:
        checked = verify_migration(
            client,
            target,
            journal,
            fast=verify == "fast",
            jobs=jobs,
            phases=phases,
            provenance=provenance,
        )
        if checked.checked == 0:
            fail(
                f"nothing verified: the journal {path} records no tag migrated into "
                f"{target.registry} (give the migration's --journal, or its --shard)"
            )
        _print_verify(settings, checked, path)
        if not checked.ok:
            raise click.exceptions.Exit(EXIT_PARTIAL)
        return None
    repaired = None
    if repair:
        from docker_registry_v1.transfer.migrate_repair import forget_lost_blobs  # noqa: PLC0415

        repaired = verify_migration(
            client, target, journal, fast=True, jobs=jobs, phases=phases, provenance=provenance
        )
        forget_lost_blobs(repaired, journal, target)
    staging = bases is not None and bases[0]
    name = plan_name(
        registry_origin(client),
        target.registry,
        selection,
        repositories,
        skip_existing_tags=skip_existing_tags,
    )
    continued = None
    if not dry_run and not repair and not staging:
        left = continued_plan(journal, name, str(client.base_url), target)
        if left is not None:  # a run killed half-way: its tags first, no inventory
            click.echo(f"continuing the last run: {len(left.tags)} tags it had left", err=True)
            continued = carry_out(left)
            if continued.aborted:  # --on-error abort stopped it: start nothing else
                return continued, repaired
    found = inventory(
        client,
        repositories=repositories,
        concurrency=_METADATA_CONCURRENCY,
        selection=attrs.evolve(selection, shard=None) if staging else selection,
        journal=journal,
        every_ancestry=False,
        untagged=False,
        phases=phases,
    )
    note_undated(found.undated)
    if staging:
        assert bases is not None
        return _stage(
            settings,
            client,
            target,
            journal,
            found=found,
            selection=selection,
            repository=bases[1],
            dry_run=dry_run,
            carry_out=carry_out,
        )
    plan = plan_migration(
        found,
        selection,
        target,
        journal=journal,
        skip_existing_tags=skip_existing_tags,
        source=client,
        concurrency=_METADATA_CONCURRENCY,
        phases=phases,
    )
    del found  # the plan holds what the run needs: the rest is memory the run can reuse
    creating = None
    if create is not None:
        creating = sorted(
            name for name in plan.new_repositories if not journal.was_created(target.registry, name)
        )
    if dry_run:
        _print_plan(settings, plan, journal.confirmed_blobs(target.registry), path, creating)
        return None
    if repaired is not None:
        from docker_registry_v1.transfer.migrate_repair import requeue_wrong_tags  # noqa: PLC0415

        plan, unselected = requeue_wrong_tags(plan, repaired)
        for repository, tag in unselected:
            warn(f"{repository}:{tag} is wrong at the destination but not selected by this run")
    remember_plan(journal, plan, name)
    report = carry_out(plan)
    return (report if continued is None else continued_and_then(continued, report)), repaired


def _bases_option(
    target: BlobStoreSide | V1Side,
    selection: Selection,
    bases: bool,
    name: str | None,
    prefix: str,
) -> tuple[bool, str] | None:
    """(stage?, staging repository): ``--bases`` or ``--bases-repo`` need a registry;
    a ``--shard`` run into a registry uses the default one; else None."""
    from docker_registry_v1.transfer.migrate_bases import bases_repository  # noqa: PLC0415
    from docker_registry_v1.transfer.migrate_plan import RegistrySide  # noqa: PLC0415

    if not isinstance(target, RegistrySide):
        if bases or name is not None:
            raise click.UsageError("--bases and --bases-repo need a docker:// DEST")
        return None
    if not (bases or name is not None or selection.shard is not None):
        return None
    return bases, bases_repository(name, prefix)


def _staged(
    client: Client, target: BlobStoreSide | V1Side, journal: Journal, bases: tuple[bool, str] | None
) -> StagedBases | None:
    """What a migration learns from the staging repository (a registry's, when used)."""
    from docker_registry_v1.engine.sources import registry_origin  # noqa: PLC0415
    from docker_registry_v1.transfer.migrate_bases import StagedBases  # noqa: PLC0415
    from docker_registry_v1.transfer.migrate_plan import RegistrySide  # noqa: PLC0415

    if bases is None or not isinstance(target, RegistrySide):
        return None
    return StagedBases(
        target.client,
        bases[1],
        journal=journal,
        registry=target.registry,
        origin=registry_origin(client),
    )


def _carry_out(
    plan: MigrationPlan,
    run: Callable[..., MigrationReport] | None = None,
    *,
    settings: Settings,
    client: Client,
    target: BlobStoreSide | V1Side,
    journal: Journal,
    jobs: int,
    repositories_in_flight: int,
    on_error: str,
    create: CreateRepository | None,
    bases: tuple[bool, str] | None,
    provenance: bool = True,
) -> MigrationReport:
    """Carry out ``plan`` with the command's settings: a migration (learning from the
    staging repository, if any), or ``run`` in its place (``--bases``' staging)."""
    from docker_registry_v1.transfer.migrate import migrate as run_migration  # noqa: PLC0415

    run = run or functools.partial(
        run_migration, bases=_staged(client, target, journal, bases), provenance=provenance
    )
    with _listener(settings) as listener:
        return run(
            client,
            target,
            plan,
            journal=journal,
            jobs=jobs,
            repositories_in_flight=repositories_in_flight,
            on_error="abort" if on_error == "abort" else "continue",
            progress=listener,
            create_repository=create,
        )


def _stage(
    settings: Settings,
    client: Client,
    target: BlobStoreSide | V1Side,
    journal: Journal,
    *,
    found: Inventory,
    selection: Selection,
    repository: str,
    dry_run: bool,
    carry_out: Callable[[MigrationPlan, Callable[..., MigrationReport]], MigrationReport],
) -> tuple[MigrationReport, None] | None:
    """``--bases``: plan the staging tags, print them (``--dry-run``) or migrate them (with
    the command's run settings, ``carry_out``)."""
    from docker_registry_v1.transfer.migrate_bases import plan_bases, stage_bases  # noqa: PLC0415
    from docker_registry_v1.transfer.migrate_plan import RegistrySide  # noqa: PLC0415

    assert isinstance(target, RegistrySide)  # _bases_option refused the others
    plan = plan_bases(found, selection, target, repository, source=client, journal=journal)
    if dry_run:
        _print_plan(settings, plan, journal.confirmed_blobs(target.registry), str(journal.path))
        return None
    return carry_out(plan, stage_bases), None


def _repository_hook(
    target: BlobStoreSide | V1Side, create_repo: tuple[str, float] | None
) -> CreateRepository | None:
    """The ``--create-repo-cmd`` hook; only a registry has repositories to make."""
    from docker_registry_v1.transfer.migrate_create import repository_command  # noqa: PLC0415
    from docker_registry_v1.transfer.migrate_plan import RegistrySide  # noqa: PLC0415

    if create_repo is None:
        return None
    if not isinstance(target, RegistrySide):
        raise click.UsageError("--create-repo-cmd needs a docker:// DEST")
    command, timeout = create_repo
    host = target.registry.partition("://")[2] or target.registry  # HOST[:PORT], as users name it
    return repository_command(command, host, timeout=timeout)


def _print_plan(
    settings: Settings,
    plan: MigrationPlan,
    confirmed: set[str],
    journal: str,
    creating: list[str] | None = None,
) -> None:
    from docker_registry_v1.transfer.migrate_plan import TagState  # noqa: PLC0415

    document = {
        "source": plan.source,
        "destination": plan.destination,
        "journal": journal,
        "repositories": plan.repositories,
        "tags": len(plan.tags),
        "to_copy": len(plan.to_copy),
        "current": plan.count(TagState.CURRENT),
        "existing": plan.count(TagState.EXISTS),
        "broken": plan.count(TagState.BROKEN),
        "unique_images": len(plan.images),
        "bytes_to_move": plan.bytes_to_move,
        "blobs_known_at_destination": len(confirmed),
        **({} if creating is None else {"create_repo_cmd_for": creating}),
        "plan": [
            {
                "source": tag.source,
                "destination": tag.destination,
                "state": tag.state.value,
                "image_id": tag.image_id,
                "layers": len(tag.chain),
                "problem": tag.problem,
            }
            for tag in plan.tags
        ],
    }

    def human(console: Console) -> None:
        print_table(
            settings,
            console,
            [Column("SOURCE"), Column("DESTINATION"), Column("STATE"), Column("IMAGE", True)],
            [[t.source, t.destination, t.state.value, t.image_id] for t in plan.tags],
        )
        for tag in plan.tags:
            if tag.problem is not None:
                console.print(
                    f"broken: {visible(tag.source)} -> {visible(tag.destination)} "
                    f"(image {tag.at_fault or tag.image_id}): {visible(tag.problem)}"
                )
        console.print(
            f"plan: {plan.repositories} repositories, {len(plan.tags)} tags "
            f"({len(plan.to_copy)} to copy, {document['current']} already current, "
            f"{document['existing']} existing skipped, {document['broken']} broken), "
            f"{len(plan.images)} unique images, "
            f"{human_size(plan.bytes_to_move)} to move; the journal knows {len(confirmed)} "
            "blobs at the destination"
        )
        for name in creating or ():
            console.print(f"create-repo-cmd would run for: {visible(name)}")

    emit(settings, document, human)


def _print_report(
    settings: Settings,
    report: MigrationReport,
    journal: str,
    seconds: float,
    repaired: VerifyReport | None = None,
    *,
    swept: Sweep | None = None,
) -> None:
    tags = len(report.outcomes)
    failed = report.failures
    statuses = Counter(o.status for o in report.outcomes)
    summary = {
        "repositories": report.repositories,
        "tags": tags,
        "copied": statuses["copied"],
        "current": statuses["current"],
        "existing": statuses["exists"],
        "failed": len(failed),
        "images_read": report.images_read,
        "bytes_read": report.bytes_read,
        "blobs_uploaded": report.blobs_uploaded,
        "bytes_uploaded": report.bytes_uploaded,
        "blobs_skipped": report.blobs_skipped,
        "bytes_skipped": report.bytes_skipped,
        "blobs_mounted": report.blobs_mounted,
        "bytes_mounted": report.bytes_mounted,
        "seconds": round(seconds, 3),
        "aborted": report.aborted,
    }
    document = {
        "source": report.source,
        "destination": report.destination,
        "journal": journal,
        "summary": summary,
        # a dict per tag only for JSON: at registry scale they would be the run's peak
        "tags": [
            {
                "source": o.source,
                "destination": o.destination,
                "status": o.status,
                "digest": o.digest,
                "reason": o.reason,
                "image": o.image,
            }
            for o in (report.outcomes if settings.json else ())
        ],
        "failed": [
            {"repository": o.repository, "tag": o.tag, "image": o.image, "reason": o.reason}
            for o in report.failed
        ],
        "problems": [
            {"repository": p.repository, "problem": p.kind.value, "message": p.message}
            for p in report.problems
        ],
    }
    summary["problems"] = len(report.problems)
    if swept is not None:
        summary["deleted_at_source"] = len(swept.deleted)
        summary["pruned"] = pruned_count(swept)
        document["deleted_at_source"] = sweep_document(swept)
    if repaired is not None:
        document["repair"] = _verify_document(repaired)

    def human(console: Console) -> None:
        if repaired is not None:
            _print_mismatches(settings, console, repaired)
            console.print(
                f"repair: {repaired.checked} tags and {repaired.blobs_checked} blobs checked, "
                f"{len(repaired.wrong_tags)} tags migrated again"
            )
        rows = [
            ["repositories", str(report.repositories)],
            [
                "tags",
                f"{tags} ({summary['copied']} copied, {summary['current']} current, "
                f"{summary['existing']} existing, {len(failed)} failed)",
            ],
            ["images read", str(report.images_read)],
            ["bytes read", human_size(report.bytes_read)],
            ["uploaded", f"{human_size(report.bytes_uploaded)} ({report.blobs_uploaded} blobs)"],
            ["skipped", f"{human_size(report.bytes_skipped)} ({report.blobs_skipped} blobs)"],
            ["mounted", f"{human_size(report.bytes_mounted)} ({report.blobs_mounted} blobs)"],
            ["failures", str(len(failed))],
            *(
                [["deleted at source", f"{len(swept.deleted)} ({pruned_count(swept)} pruned)"]]
                if swept is not None and swept.deleted
                else []
            ),
            ["wall time", f"{seconds:.1f} s"],
            ["throughput", human_rate(report.bytes_read, seconds)],
        ]
        print_table(settings, console, [Column("WHAT"), Column("AMOUNT")], rows)
        for outcome in failed:
            image = f" (image {visible(outcome.image)})" if outcome.image else ""
            console.print(
                f"failed: {visible(outcome.source)} -> {visible(outcome.destination)}{image}: "
                f"{visible(outcome.reason or '')}"
            )
        for problem in report.problems:
            console.print(
                f"not migrated: repository {visible(problem.repository)} "
                f"({problem.kind.value}): {visible(problem.message)}"
            )
        for line in sweep_lines(swept) if swept is not None else ():
            console.print(line)

    emit(settings, document, human)


def _verify_document(checked: VerifyReport) -> dict[str, Any]:
    return {
        "checked": checked.checked,
        "blobs_checked": checked.blobs_checked,
        "layers_streamed": checked.layers_streamed,
        "seconds": checked.seconds,
        "mismatches": [
            {
                "repository": m.repository,
                "tag": m.tag,
                "destination": m.destination,
                "source": m.source,
                "what": m.what,
                "digest": m.digest,
                "reason": m.reason,
            }
            for m in checked.mismatches
        ],
    }


def _print_mismatches(settings: Settings, console: Console, checked: VerifyReport) -> None:
    """One row per tag and blob at fault: repository, tag, what, digest, why."""
    if checked.mismatches:
        print_table(
            settings,
            console,
            [Column("REPOSITORY"), Column("TAG"), Column("WHAT"), Column("DIGEST"), Column("WHY")],
            [[m.repository, m.tag, m.what, m.digest or "", m.reason] for m in checked.mismatches],
        )


def _print_verify(settings: Settings, checked: VerifyReport, journal: str) -> None:
    document = {"journal": journal, **_verify_document(checked)}

    def human(console: Console) -> None:
        _print_mismatches(settings, console, checked)
        console.print(
            f"verified {checked.checked} tags: {len(checked.mismatches)} mismatches "
            f"in {len(checked.wrong_tags)} tags, {checked.blobs_checked} blobs looked up, "
            f"{checked.layers_streamed} source layers streamed again"
        )

    emit(settings, document, human)
