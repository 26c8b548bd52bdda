"""``copy SRC DST``: one image between the transports skopeo names.

SRC and DST are parsed by :mod:`.transports`: ``docker://`` (an OCI/v2 registry),
``oci:DIR[:REF]``, ``docker-archive:FILE[:NAME:TAG]``, or a v1 registry (a bare
reference, ``v1://`` or ``http(s)://``). Each side has its own login and TLS options
(:mod:`.sides`). The pairs wired today: a v1 image to any of the four, and a
docker-archive into a v1 registry (what ``push`` does); any other pair is refused
in one line.
"""

from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path

import click
from rich.console import Console

from .connect import open_pair, open_side, resolve_url
from .options import Settings, common_options, examples, fail, jobs_option
from .output import emit, human_rate, human_size
from .progress import progress_for
from .reference import ImageReference
from .sides import OCISide, SidesCommand, SideSettings, assign_legacy_login, side_origin, two_sided
from .transports import (
    ArchiveLocation,
    DockerLocation,
    OCILocation,
    V1Location,
    parse_location,
)

__all__ = ["copy"]

#: (SRC transport, DST transport) pairs copy runs today.
SUPPORTED_PAIRS = frozenset(
    {
        ("v1", "docker"),
        ("v1", "oci"),
        ("v1", "docker-archive"),
        ("v1", "v1"),
        ("docker-archive", "v1"),
    }
)


def _done(
    settings: Settings, document: dict[str, object], headline: str, nbytes: int, seconds: float
) -> None:
    document |= {"bytes": nbytes, "seconds": round(seconds, 3)}

    def human(console: Console) -> None:
        console.print(headline)
        console.print(f"{human_size(nbytes)} in {seconds:.1f} s ({human_rate(nbytes, seconds)})")

    emit(settings, document, human)


@click.command(
    cls=SidesCommand,
    epilog=examples(
        "regv1 copy acme/app:1.0 docker://registry.example.com/team/app:1.0 \\",
        "    --dest-creds writer --dest-cert-dir /etc/containers/certs.d/registry.example.com",
        "regv1 copy http://old.example.com:5000/acme/app oci:/srv/layout:app-1.0",
        "regv1 copy localhost:5000/acme/app docker-archive:app.tar",
    ),
)
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option(
    "--manifest-format",
    "manifest_format",
    type=click.Choice(["docker", "oci"]),
    help="Manifest: Docker schema2 or OCI image manifest (default: docker for docker://, "
    "oci for oci:).",
)
@click.option(
    "--level",
    type=click.IntRange(0, 3),
    default=1,
    show_default=True,
    help="Gzip level for plain-tar layers (ISA-L; the blob digests depend on it).",
)
@jobs_option(4, "Layers moved at once.")
@click.option(
    "--cache",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Blob cache of earlier copies (default: under the user's cache directory).",
)
@functools.partial(common_options, two_sided=True)
@two_sided
def copy(
    source: str,
    destination: str,
    *,
    manifest_format: str | None,
    level: int,
    jobs: int,
    cache: Path | None,
    settings: Settings,
    src: SideSettings,
    dest: SideSettings,
) -> None:
    """Copy the image SRC to DST.

    \b
    SRC and DST (skopeo's transport names):
      docker://[HOST[:PORT]/]REPO[:TAG]  an OCI/v2 registry (no host: Docker Hub)
      oci:DIR[:REF]                      an OCI image layout
      docker-archive:FILE[:NAME:TAG]     a docker save archive
      [HOST[:PORT]/]REPO[:TAG]           a v1 registry (also v1://, http://, https://)

    Wired today: a v1 image to any of them, and docker-archive: into a v1 registry.
    A second copy to the same v2 registry reads and sends no layer again; a second
    copy into the same oci: layout writes none.

    Each side has its own login (--src-creds/--dest-creds USER, the password from
    --X-password-stdin or a prompt, or what --X-authfile or the default auth files
    hold for its host) and TLS (--X-tls-verify, --X-cert-dir).
    """
    from_ = parse_location(source, "source")
    to = parse_location(destination, "destination")
    pair = (from_.transport, to.transport)
    if pair not in SUPPORTED_PAIRS:
        fail(
            f"copying {from_.transport} to {to.transport} ({source} -> {destination}) is "
            "not supported yet; copy reads a v1 image (to docker://, oci:, docker-archive: "
            "or v1) or a docker-archive: (to v1)"
        )
    for side, location in ((src, from_), (dest, to)):
        if not isinstance(location, (V1Location, DockerLocation)) and (
            side.creds is not None or side.password_stdin
        ):
            raise click.UsageError(
                f"{side.flag('creds')} is for a registry; the {side.name} is {location}"
            )
    registry_dest = isinstance(to, (DockerLocation, V1Location))
    src, dest = assign_legacy_login(settings, src, dest, "dest" if registry_dest else "src", "copy")
    started = time.monotonic()
    if isinstance(from_, ArchiveLocation):
        assert isinstance(to, V1Location)
        _archive_to_v1(settings, from_, to.reference, dest, started)
        return
    assert isinstance(from_, V1Location)
    ref = from_.reference
    if isinstance(to, (DockerLocation, OCILocation)):
        _to_registry(
            settings,
            ref,
            to,
            src=src,
            dest=dest,
            started=started,
            manifest_format=manifest_format,
            level=level,
            jobs=jobs,
            cache=cache,
        )
    elif isinstance(to, ArchiveLocation):
        _to_archive(settings, ref, to, src, jobs=jobs, started=started)
    else:
        _to_v1(settings, ref, to.reference, (src, dest), started)


def _to_registry(
    settings: Settings,
    src_ref: ImageReference,
    destination: DockerLocation | OCILocation,
    *,
    src: SideSettings,
    dest: SideSettings,
    started: float,
    manifest_format: str | None,
    level: int,
    jobs: int,
    cache: Path | None,
) -> None:
    """A v1 image into an OCI/v2 registry (streamed) or an OCI layout."""
    from docker_registry_v1.oci.convert import ImageConversionError, ManifestFormat  # noqa: PLC0415
    from docker_registry_v1.oci.layout import LayoutError, OCILayout  # noqa: PLC0415
    from docker_registry_v1.transfer.copy import copy as copy_image  # noqa: PLC0415

    dest_target: OCISide | OCILayout
    if isinstance(destination, OCILocation):
        name, tag = src_ref.repo.removeprefix("library/"), destination.ref
        try:
            dest_target = OCILayout(destination.directory)
        except (LayoutError, OSError) as exc:
            fail(f"{destination}: {exc}")
    else:
        if destination.digest is not None:
            fail(f"docker://{destination}: give a tag, not a digest, to write to")
        name, tag = destination.repository, destination.tag
        url = side_origin(dest, destination.api_host, destination.port, None)
        dest_target = OCISide(settings, dest, url, destination.netloc)
    source = open_side(settings, src, src_ref)
    with (
        source,
        dest_target if isinstance(dest_target, OCISide) else contextlib.nullcontext(),
        progress_for(settings) as listener,
    ):
        try:
            result = copy_image(
                source.client,
                src_ref.repo,
                src_ref.with_tag(),
                dest_target.client if isinstance(dest_target, OCISide) else dest_target,
                dest_repo=name,
                dest_tag=tag or src_ref.with_tag(),
                manifest_format=None
                if manifest_format is None
                else ManifestFormat[manifest_format.upper()],
                level=level,
                concurrency=jobs,
                progress=listener,
                cache=cache,
            )
        except ImageConversionError as exc:
            fail(f"{src_ref}: {exc}")
        except (LayoutError, OSError) as exc:
            fail(f"{destination}: {exc}")
    shown = str(destination)
    _done(
        settings,
        {
            "registry": result.registry,
            "repository": result.repository,
            "tags": list(result.tags),
            "layers": list(result.layers),
            "uploaded": list(result.uploaded),
            "skipped": list(result.skipped),
            "mounted": list(result.mounted),
            "digest": result.digest,
        },
        f"copied {src_ref} to {shown} ({result.digest[:19]}): "
        f"{len(result.uploaded)} layers sent, {len(result.skipped)} already there",
        result.bytes_transferred,
        time.monotonic() - started,
    )


def _to_archive(
    settings: Settings,
    src_ref: ImageReference,
    destination: ArchiveLocation,
    src: SideSettings,
    *,
    jobs: int,
    started: float,
) -> None:
    from docker_registry_v1.transfer import pull as pull_image  # noqa: PLC0415

    archive_name = None
    if destination.name is not None:
        archive_name, _, tag = destination.name.rpartition(":")
        if not archive_name or tag != src_ref.with_tag():
            fail(
                f"{destination}: the archive names the image NAME:{src_ref.with_tag()} "
                "(the tag is the source's)"
            )
    with open_side(settings, src, src_ref) as registry, progress_for(settings) as listener:
        result = pull_image(
            registry.client,
            src_ref.repo,
            src_ref.with_tag(),
            destination.path,
            concurrency=jobs,
            progress=listener,
            archive_name=archive_name,
        )
    _done(
        settings,
        {
            "registry": registry.url,
            "repository": result.repository,
            "tags": [result.tag],
            "layers": [layer.image_id for layer in result.layers],
            "skipped": [],
            "path": str(result.path),
        },
        f"copied {src_ref} to docker-archive:{result.path}: {len(result.layers)} layers",
        result.bytes_transferred,
        time.monotonic() - started,
    )


def _to_v1(
    settings: Settings,
    src_ref: ImageReference,
    dst: ImageReference,
    sides: tuple[SideSettings, SideSettings],
    started: float,
) -> None:
    from docker_registry_v1.transfer import mirror as mirror_images  # noqa: PLC0415

    if dst.tag is not None and dst.tag != src_ref.with_tag():
        fail(
            f"{dst}: a v1 copy keeps the tag's name; give DST without :TAG or with "
            f"{src_ref.with_tag()}"
        )
    source_registry, target_registry = open_pair(settings, src_ref, dst, *sides)
    with source_registry, target_registry, progress_for(settings) as listener:
        result = mirror_images(
            source_registry.client,
            src_ref.repo,
            target_registry.client,
            dst.repo,
            tags=[src_ref.with_tag()],
            progress=listener,
        )
    _done(
        settings,
        {
            "registry": target_registry.url,
            "repository": result.repository,
            "tags": list(result.tags),
            "layers": [*result.copied, *result.skipped],
            "uploaded": list(result.copied),
            "skipped": list(result.skipped),
        },
        f"copied {src_ref} to {result.repository}: {len(result.copied)} layers, "
        f"{len(result.skipped)} already there",
        result.bytes_transferred,
        time.monotonic() - started,
    )


def _archive_to_v1(
    settings: Settings,
    source: ArchiveLocation,
    dst: ImageReference,
    dest: SideSettings,
    started: float,
) -> None:
    """What ``push`` does: the archive's image (NAME:TAG's, or its only one) into v1."""
    from docker_registry_v1.transfer import push as push_archive  # noqa: PLC0415

    tag = dst.tag
    if source.name is not None:
        _, _, named_tag = source.name.rpartition(":")
        tag = tag or named_tag or None
    if not source.path.is_file():
        fail(f"{source}: no such archive")
    with (
        open_side(settings, dest, dst, url=resolve_url(settings, dst, dest)) as registry,
        progress_for(settings) as listener,
    ):
        result = push_archive(registry.client, source.path, dst.repo, tag, progress=listener)
    _done(
        settings,
        {
            "registry": registry.url,
            "repository": result.repository,
            "tags": list(result.tags),
            "layers": [*result.pushed, *result.skipped],
            "uploaded": list(result.pushed),
            "skipped": list(result.skipped),
        },
        f"copied {source} to {result.repository} ({', '.join(result.tags)}): "
        f"{len(result.pushed)} layers sent, {len(result.skipped)} already there",
        result.bytes_transferred,
        time.monotonic() - started,
    )
