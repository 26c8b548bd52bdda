"""``pull``, ``push`` and ``mirror``: whole images, with progress bars and a short summary.

The transfer functions pick tokens or Basic themselves from the client's default
credentials, so these commands only build the clients, show progress and report.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO

import click
import httpx

from docker_registry_v1.transfer import mirror as mirror_images
from docker_registry_v1.transfer import pull as pull_image
from docker_registry_v1.transfer import push as push_archive

from .connect import Choice, netloc_of, open_pair, open_registry, password_prompt, resolve_url
from .credentials import parse_creds_option
from .options import Settings, common_options, examples, fail
from .output import human_size, transfer_document, transfer_summary
from .progress import progress_for
from .reference import ImageReference

__all__ = ["mirror", "pull", "push"]


def _archive_name(reference: str, ref: ImageReference, url: str, keep_host: bool | None) -> str:
    """The repository for the archive's ``RepoTags``: docker names an image by the reference
    it was pulled as, so ``HOST:PORT/team/app`` keeps its host and ``busybox`` has none.
    ``keep_host`` True adds the host of ``--registry`` as well; False drops any host."""
    if keep_host is False:
        return ref.repo
    typed = reference if ref.tag is None else reference[: -len(ref.tag) - 1]
    if keep_host and ref.netloc is None:
        return f"{httpx.URL(url).netloc.decode('ascii')}/{typed}"
    return typed


def _archive_sink(output: Path, force: bool, settings: Settings) -> Path | IO[bytes]:
    """Where the archive goes, refused before anything touches the network."""
    if str(output) == "-":
        if settings.json:
            raise click.UsageError("-o - writes the archive to stdout; --json needs -o FILE")
        if sys.stdout.isatty():
            fail("refusing to write an archive to a terminal; redirect stdout or use -o FILE")
        return sys.stdout.buffer
    if not force and (output.exists() or output.is_symlink()):
        fail(f"{output} exists; pass --force to replace it")
    return output


@click.command(
    epilog=examples(
        "regv1 pull registry.example.com:5000/team/app:1.0 -o app.tar",
        "regv1 pull 127.0.0.1:5000/team/app -o - | docker load",
        "regv1 pull old.example.com/team/app@6f2bb0fbb7ae -o app.tar --force",
    )
)
@click.argument("reference", metavar="REF")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Archive to write (loadable with docker load); - for stdout.",
)
@click.option("--force", is_flag=True, help="Replace an existing archive.")
@click.option(
    "--keep-host/--no-keep-host",
    default=None,
    help="Name the image HOST/REPO in the archive even when the registry came from "
    "--registry (--no-keep-host: never). Default: as REF names it, like docker save.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Layers downloaded at once.",
)
@common_options
def pull(
    reference: str,
    output: Path,
    force: bool,
    keep_host: bool | None,
    concurrency: int,
    *,
    settings: Settings,
) -> None:
    """Pull REF (tag default latest) into a docker-loadable archive.

    The archive names the image as REF does (HOST:PORT/REPO:TAG keeps its host, as
    docker save does). With -o - it goes to stdout and everything else to stderr.
    """
    ref = ImageReference.parse(reference)
    sink = _archive_sink(output, force, settings)
    started = time.monotonic()
    with open_registry(settings, ref) as registry, progress_for(settings) as listener:
        result = pull_image(
            registry.client,
            ref.repo,
            tag=ref.with_tag(),
            dest=sink,
            concurrency=concurrency,
            progress=listener,
            overwrite=force,
            archive_name=_archive_name(reference, ref, registry.url, keep_host),
        )
    layer_bytes = sum(layer.size for layer in result.layers)
    where = "stdout" if result.path is None else str(result.path)
    transfer_summary(
        settings,
        transfer_document(
            registry=registry.url,
            repository=result.repository,
            tags=[result.tag],
            layers=[layer.image_id for layer in result.layers],
            skipped=[],
            nbytes=result.bytes_transferred,
            seconds=time.monotonic() - started,
            image_id=result.image_id,
            path=None if result.path is None else str(result.path),
        ),
        f"pulled {result.repository}:{result.tag} ({result.image_id[:12]}) to {where}: "
        f"{len(result.layers)} layers, {human_size(layer_bytes)}",
        stdout_taken=result.path is None,
    )


@click.command(
    epilog=examples(
        "regv1 push app.tar 127.0.0.1:5000/team/app:1.0   # app.tar from docker save",
        "regv1 push app.tar registry.example.com/team/app -u alice --password-stdin < pw.txt",
    )
)
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("reference", metavar="REF")
@common_options
def push(archive: Path, reference: str, *, settings: Settings) -> None:
    """Push a docker save ARCHIVE to REF.

    Without :TAG every tag the archive names is pushed.
    """
    ref = ImageReference.parse(reference)
    started = time.monotonic()
    with open_registry(settings, ref) as registry, progress_for(settings) as listener:
        result = push_archive(registry.client, archive, ref.repo, ref.tag, progress=listener)
    transfer_summary(
        settings,
        transfer_document(
            registry=registry.url,
            repository=result.repository,
            tags=result.tags,
            layers=result.pushed,
            skipped=result.skipped,
            nbytes=result.bytes_transferred,
            seconds=time.monotonic() - started,
        ),
        f"pushed {result.repository} ({', '.join(result.tags)})",
    )


def _creds_choice(
    settings: Settings, flag: str, value: str | None, anonymous: bool, ref: ImageReference
) -> Choice:
    if value is not None and anonymous:
        raise click.UsageError(f"{flag} and {flag.replace('creds', 'no-creds')} cannot be combined")
    if anonymous:
        return "anonymous"
    if value is None:
        return None
    return parse_creds_option(
        flag, value, netloc_of(resolve_url(settings, ref)), prompt=password_prompt()
    )


@click.command(
    epilog=examples(
        "regv1 mirror old.example.com/team/app:1.0 127.0.0.1:5000/team/app",
        "regv1 mirror old.example.com/team/app new.example.com/team/app --all-tags \\",
        '    --src-creds reader --dest-creds writer:"$WRITER_PASSWORD"',
    )
)
@click.argument("source", metavar="SRC_REF")
@click.argument("target", metavar="DST_REF")
@click.option("--all-tags", is_flag=True, help="Copy every tag of SRC_REF.")
@click.option(
    "--src-creds",
    metavar="USER[:PASSWORD]",
    help="Credentials for the source (prompts for the password on a terminal when omitted).",
)
@click.option(
    "--dest-creds",
    metavar="USER[:PASSWORD]",
    help="Credentials for the destination (prompts on a terminal when the password is omitted).",
)
@click.option("--src-no-creds", is_flag=True, help="Read the source anonymously.")
@click.option("--dest-no-creds", is_flag=True, help="Write to the destination anonymously.")
@common_options
def mirror(
    *,
    source: str,
    target: str,
    all_tags: bool,
    src_creds: str | None,
    dest_creds: str | None,
    src_no_creds: bool,
    dest_no_creds: bool,
    settings: Settings,
) -> None:
    """Copy SRC_REF's tag (default latest) or --all-tags to DST_REF.

    Credentials follow skopeo: --src-creds for the source, --dest-creds for the
    destination (a password on the command line is visible to other local users;
    leave it out to be prompted). Without them, --username/--password-stdin and
    REGV1_* go to the destination (and to the source only when it is the same
    host), and each side otherwise uses the credentials stored for its own host.
    """
    src, dst = ImageReference.parse(source), ImageReference.parse(target)
    if all_tags and src.tag is not None:
        raise click.UsageError("--all-tags copies every tag; drop the :TAG from SRC_REF")
    if dst.tag is not None or dst.image is not None:
        fail(f"{target!r}: tags keep their names; give DST_REF without :TAG")
    if src.image is not None:
        fail(f"{source!r}: mirror copies tags; give SRC_REF[:TAG], not @ID")
    if (dest_creds is not None or dest_no_creds) and (settings.username or settings.password_stdin):
        raise click.UsageError("--dest-creds/--dest-no-creds replace --username/--password-stdin")
    source_choice = _creds_choice(settings, "--src-creds", src_creds, src_no_creds, src)
    target_choice = _creds_choice(settings, "--dest-creds", dest_creds, dest_no_creds, dst)
    tags = None if all_tags else [src.with_tag()]
    started = time.monotonic()
    source_registry, target_registry = open_pair(
        settings, src, dst, source_credentials=source_choice, target_credentials=target_choice
    )
    with source_registry, target_registry, progress_for(settings) as listener:
        result = mirror_images(
            source_registry.client,
            src.repo,
            target_registry.client,
            dst.repo,
            tags=tags,
            progress=listener,
        )
    transfer_summary(
        settings,
        transfer_document(
            registry=target_registry.url,
            repository=result.repository,
            tags=result.tags,
            layers=result.copied,
            skipped=result.skipped,
            nbytes=result.bytes_transferred,
            seconds=time.monotonic() - started,
            source={"registry": source_registry.url, "repository": src.repo},
        ),
        f"mirrored {src.repo} to {result.repository} ({', '.join(result.tags)})",
    )
