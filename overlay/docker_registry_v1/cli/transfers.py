"""``pull``, ``push`` and ``mirror``: whole images, with progress bars and a short summary.

The transfer functions pick tokens or Basic themselves from the client's default
credentials, so these commands only build the clients, show progress and report.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import IO

import click
import httpx

from docker_registry_v1.transfer import mirror as mirror_images
from docker_registry_v1.transfer import pull as pull_image
from docker_registry_v1.transfer import push as push_archive

from .connect import open_pair, open_registry
from .options import Settings, common_options, examples, fail, jobs_option
from .output import human_size, transfer_document, transfer_summary
from .progress import progress_for
from .reference import ImageReference
from .sides import SidesCommand, SideSettings, assign_legacy_login, two_sided
from .transports import V1Location, parse_location

__all__ = ["mirror", "pull", "push"]


def _archive_name(reference: str, ref: ImageReference, url: str, keep_host: bool | None) -> str:
    """The repository for the archive's ``RepoTags``: docker names an image by the reference
    it was pulled as, so ``HOST:PORT/team/app`` keeps its host and ``busybox`` has none.
    ``keep_host`` True adds the host of ``--registry`` as well; False drops any host."""
    if keep_host is False:
        return ref.repo
    typed = reference if ref.tag is None else reference[: -len(ref.tag) - 1]
    if ref.scheme is not None or typed.startswith("v1://"):  # a name, not where it came from
        typed = typed.split("://", 1)[1]
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
@jobs_option(4, "Layers downloaded at once.")
@common_options
def pull(
    reference: str,
    output: Path,
    force: bool,
    keep_host: bool | None,
    jobs: int,
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
            concurrency=jobs,
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


@click.command(
    cls=SidesCommand,
    epilog=examples(
        "regv1 mirror old.example.com/team/app:1.0 127.0.0.1:5000/team/app",
        "regv1 mirror http://old.example.com:5000/team/app new.example.com/team/app \\",
        "    --all-tags --src-creds reader --dest-creds writer --dest-password-stdin",
    ),
)
@click.argument("source", metavar="SRC_REF")
@click.argument("target", metavar="DST_REF")
@click.option("--all-tags", is_flag=True, help="Copy every tag of SRC_REF.")
@functools.partial(common_options, two_sided=True)
@two_sided
def mirror(
    *,
    source: str,
    target: str,
    all_tags: bool,
    settings: Settings,
    src: SideSettings,
    dest: SideSettings,
) -> None:
    """Copy SRC_REF's tag (default latest) or --all-tags to DST_REF, v1 to v1.

    Both are v1 references ([HOST[:PORT]/]REPO, also v1://, http:// or https://).
    Each side has its own login and TLS, with skopeo's names: --src-creds and
    --dest-creds USER[:PASSWORD] (without the password: --X-password-stdin or a
    prompt on a terminal), --X-authfile, --X-no-creds, --X-tls-verify, --X-cert-dir.
    Without them each side uses the credentials stored for its own host.
    """
    from_, to = parse_location(source, "source"), parse_location(target, "destination")
    if not isinstance(from_, V1Location) or not isinstance(to, V1Location):
        fail(
            f"mirror copies v1 to v1 ({from_.transport} -> {to.transport}); "
            "use regv1 copy for other transports"
        )
    src, dest = assign_legacy_login(settings, src, dest, "dest", "mirror")
    src_ref, dst = from_.reference, to.reference
    if all_tags and src_ref.tag is not None:
        raise click.UsageError("--all-tags copies every tag; drop the :TAG from SRC_REF")
    if dst.tag is not None or dst.image is not None:
        fail(f"{target!r}: tags keep their names; give DST_REF without :TAG")
    if src_ref.image is not None:
        fail(f"{source!r}: mirror copies tags; give SRC_REF[:TAG], not @ID")
    tags = None if all_tags else [src_ref.with_tag()]
    started = time.monotonic()
    source_registry, target_registry = open_pair(settings, src_ref, dst, src, dest)
    with source_registry, target_registry, progress_for(settings) as listener:
        result = mirror_images(
            source_registry.client,
            src_ref.repo,
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
            source={"registry": source_registry.url, "repository": src_ref.repo},
        ),
        f"mirrored {src_ref.repo} to {result.repository} ({', '.join(result.tags)})",
    )
