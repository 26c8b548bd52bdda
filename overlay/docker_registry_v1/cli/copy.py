"""``copy SRC DST``: one image between the transports skopeo names, through the engine.

SRC and DST are parsed by :mod:`.transports`: ``docker://`` (an OCI/v2 registry),
``oci:DIR[:REF]``, ``docker-archive:FILE[:NAME:TAG]``, or a v1 registry (a bare
reference, ``v1://`` or ``http(s)://``). Each side has its own login and TLS options
(:mod:`.sides`). A v1 registry, a docker-archive and an oci: layout are sources; all
four are destinations, every pair runs through `docker_registry_v1.engine`. A
``docker://`` source (reading a v2 registry) is refused in one line.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from .connect import Registry, open_pair, open_side, resolve_url
from .options import Settings, common_options, examples, fail, jobs_option
from .output import emit, human_rate, human_size
from .progress import progress_for
from .sides import OCISide, SidesCommand, SideSettings, assign_legacy_login, side_origin, two_sided
from .transports import (
    ArchiveLocation,
    DockerLocation,
    Location,
    OCILocation,
    V1Location,
    parse_location,
)

if TYPE_CHECKING:
    from docker_registry_v1.engine import ImageDestination, ImageSource, TransferResult
    from docker_registry_v1.formats.errors import LayoutError

__all__ = ["copy"]

#: The transports copy reads; every transport is a destination.
SOURCES = frozenset({"v1", "docker-archive", "oci"})


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
        "regv1 copy docker-archive:app.tar docker://registry.example.com/team/app:1.0",
        "regv1 copy oci:/srv/layout:acme/app:1.0 old.example.com:5000/acme/app:1.0",
    ),
)
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option(
    "--manifest-format",
    "manifest_format",
    type=click.Choice(["docker", "oci"]),
    help="Manifest of a converted v1 image: Docker schema2 or OCI image manifest (default: "
    "docker for docker://, oci for oci:); an OCI source keeps its own.",
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
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing docker-archive: file (as pull -o FILE --force does).",
)
@click.option(
    "--no-provenance",
    is_flag=True,
    help="Attach no v1 provenance artifact to the manifest (by default a v1 image copied "
    "to docker:// or oci: gets one, see docs/migration.md).",
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
    force: bool,
    no_provenance: bool,
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

    Sources: a v1 registry, docker-archive: and oci:; destinations: all four.
    An oci: or OCI-archive image goes to docker:// or oci: as it is (same digests);
    a v1 image is converted (deterministic gzip). A second copy to the same v2
    registry reads and sends no layer again; a second copy into the same oci:
    layout writes none; a v1 registry is sent only the images it lacks.

    Each side has its own login (--src-creds/--dest-creds USER, the password from
    --X-password-stdin or a prompt, or what --X-authfile or the default auth files
    hold for its host) and TLS (--X-tls-verify, --X-cert-dir).
    """
    from_ = parse_location(source, "source")
    to = parse_location(destination, "destination")
    if from_.transport not in SOURCES:
        fail(
            f"copying from {from_.transport} ({source}) is not supported; copy reads a v1 "
            "image, a docker-archive: or an oci: layout"
        )
    for side, location in ((src, from_), (dest, to)):
        if not isinstance(location, (V1Location, DockerLocation)) and (
            side.creds is not None or side.password_stdin
        ):
            raise click.UsageError(
                f"{side.flag('creds')} is for a registry; the {side.name} is {location}"
            )
    if force and not isinstance(to, ArchiveLocation):
        raise click.UsageError(f"--force replaces a docker-archive: file; the destination is {to}")
    if isinstance(to, ArchiveLocation) and not force and os.path.lexists(to.path):
        fail(f"{to.path} exists; pass --force to replace it")
    registry_dest = isinstance(to, (DockerLocation, V1Location))
    src, dest = assign_legacy_login(settings, src, dest, "dest" if registry_dest else "src", "copy")
    started = time.monotonic()
    options = _Options(manifest_format, level, jobs, cache, force, provenance=not no_provenance)
    result = _run(settings, from_, to, (src, dest), options)
    document: dict[str, object] = {
        "registry": result.destination,
        "repository": result.repository,
        "tags": list(result.tags),
        "layers": list(result.layers),
        "uploaded": list(result.uploaded),
        "skipped": list(result.skipped),
        "mounted": list(result.mounted),
    }
    if result.digest is not None:
        document["digest"] = result.digest
    if isinstance(to, ArchiveLocation):
        document["path"] = result.destination
    digest = f" ({result.digest[:19]})" if result.digest else ""
    _done(
        settings,
        document,
        f"copied {from_} to {to}{digest}: {len(result.uploaded)} layers sent, "
        f"{len(result.skipped)} already there",
        result.bytes_transferred,
        time.monotonic() - started,
    )


class _Options:
    """copy's own options, handed to the destination that uses them."""

    def __init__(
        self,
        manifest_format: str | None,
        level: int,
        jobs: int,
        cache: Path | None,
        force: bool,
        *,
        provenance: bool = True,
    ):
        self.provenance = provenance
        self.manifest_format = manifest_format
        self.level = level
        self.jobs = jobs
        self.cache = cache
        self.force = force


def _run(
    settings: Settings,
    from_: Location,
    to: Location,
    sides: tuple[SideSettings, SideSettings],
    options: _Options,
) -> TransferResult:
    """Open both sides, run the engine, and turn a refusal into one line naming its side."""
    from docker_registry_v1.engine import copy_image  # noqa: PLC0415
    from docker_registry_v1.formats.convert import ImageConversionError  # noqa: PLC0415
    from docker_registry_v1.formats.errors import LayoutError  # noqa: PLC0415
    from docker_registry_v1.transfer.retry import RetryPolicy  # noqa: PLC0415

    with contextlib.ExitStack() as stack:
        registries = _registries(stack, settings, from_, to, sides)
        image_source = _source(
            from_, registries[0], options, into_archive=isinstance(to, ArchiveLocation)
        )
        into = _destination(stack, settings, from_, to, sides[1], registries[1], options)
        listener = stack.enter_context(progress_for(settings))
        policy = registries[0].client.retry if registries[0] is not None else None
        try:
            return copy_image(
                image_source,
                into,
                concurrency=options.jobs,
                progress=listener,
                retry=policy or RetryPolicy(),
            )
        except ImageConversionError as exc:
            fail(f"{from_}: {exc}")
        except LayoutError as exc:
            fail(f"{_layout_side(exc, from_, to)}: {exc}")
        except FileExistsError as exc:  # an archive appeared meanwhile, without --force
            fail(f"{exc.filename} exists; pass --force to replace it")
    raise AssertionError("unreachable")  # pragma: no cover - every branch returns or fails


def _layout_side(exc: LayoutError, from_: Location, to: Location) -> Location:
    """The side a layout error belongs to: the layout holding the path it names (a
    planted link in the source layout is the source's), else the destination layout."""
    path = exc.path
    if isinstance(from_, OCILocation) and path is not None and path.is_relative_to(from_.directory):
        return from_
    return to if isinstance(to, OCILocation) else from_


def _registries(
    stack: contextlib.ExitStack,
    settings: Settings,
    from_: Location,
    to: Location,
    sides: tuple[SideSettings, SideSettings],
) -> tuple[Registry | None, Registry | None]:
    """The v1 registries of the pair, each side with its own TLS and login (a v1 → v1
    pair through `open_pair`, which lets the deprecated one-registry login reach a
    second side only on the same host)."""
    src, dest = sides
    if isinstance(from_, V1Location) and isinstance(to, V1Location):
        pair = open_pair(settings, from_.reference, to.reference, src, dest)
        return stack.enter_context(pair[0]), stack.enter_context(pair[1])
    source = None
    if isinstance(from_, V1Location):
        source = stack.enter_context(open_side(settings, src, from_.reference))
    target = None
    if isinstance(to, V1Location):
        url = resolve_url(settings, to.reference, dest)
        target = stack.enter_context(open_side(settings, dest, to.reference, url=url))
    return source, target


def _source(
    from_: Location, registry: Registry | None, options: _Options, *, into_archive: bool
) -> ImageSource:
    """The source side; into an archive, a v1 registry is read exactly as ``pull`` reads
    it (the tag asked for while the token decision is out)."""
    from docker_registry_v1.engine import (  # noqa: PLC0415
        ArchiveSource,
        LayoutSource,
        V1RegistrySource,
    )
    from docker_registry_v1.transfer.retry import RetryPolicy  # noqa: PLC0415

    if isinstance(from_, ArchiveLocation):
        if not from_.path.is_file():
            fail(f"{from_}: no such archive")
        return ArchiveSource(from_.path, from_.name)
    if isinstance(from_, OCILocation):
        if not Path(from_.directory).is_dir():
            fail(f"{from_}: no such layout directory")
        return LayoutSource(from_.directory, from_.ref)
    assert isinstance(from_, V1Location)
    assert registry is not None
    ref = from_.reference
    return V1RegistrySource(
        registry.client,
        ref.repo,
        ref.with_tag(),
        policy=registry.client.retry or RetryPolicy(),
        concurrency=options.jobs,
        early_lookup=into_archive,
    )


def _destination(  # noqa: PLR0917 - both sides and the options, in one place
    stack: contextlib.ExitStack,
    settings: Settings,
    from_: Location,
    to: Location,
    dest: SideSettings,
    registry: Registry | None,
    options: _Options,
) -> ImageDestination:
    from docker_registry_v1.engine import (  # noqa: PLC0415
        ArchiveDestination,
        LayoutDestination,
        RegistryDestination,
        V1Destination,
    )
    from docker_registry_v1.formats.convert import ManifestFormat  # noqa: PLC0415
    from docker_registry_v1.formats.errors import LayoutError  # noqa: PLC0415
    from docker_registry_v1.formats.layout import OCILayout  # noqa: PLC0415

    chosen = options.manifest_format
    if isinstance(to, V1Location):
        assert registry is not None
        return V1Destination(registry.client, to.reference.repo, to.reference.tag)
    if isinstance(to, ArchiveLocation):
        name, tag = None, None
        if to.name is not None:
            name, _, tag = to.name.rpartition(":")
            if not name:
                name, tag = to.name, None
        return ArchiveDestination(to.path, name, tag, overwrite=options.force)
    if isinstance(to, OCILocation):
        try:
            layout = stack.enter_context(OCILayout(to.directory))
        except (LayoutError, OSError) as exc:
            fail(f"{to}: {exc}")
        repository = (
            from_.reference.repo.removeprefix("library/") if isinstance(from_, V1Location) else ""
        )
        return LayoutDestination(
            layout,
            to.ref,
            repository=repository,
            manifest_format=ManifestFormat[(chosen or "oci").upper()],
            level=options.level,
            cache=options.cache,
            strict_format=chosen is not None,
            provenance=options.provenance,
        )
    assert isinstance(to, DockerLocation)
    if to.digest is not None:
        fail(f"docker://{to}: give a tag, not a digest, to write to")
    url = side_origin(dest, to.api_host, to.port, None)
    side = stack.enter_context(OCISide(settings, dest, url, to.netloc))
    return RegistryDestination(
        side.client,
        to.repository,
        to.tag,
        manifest_format=ManifestFormat[(chosen or "docker").upper()],
        level=options.level,
        cache=options.cache,
        strict_format=chosen is not None,
        provenance=options.provenance,
    )
