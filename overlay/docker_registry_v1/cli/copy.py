"""``copy SRC DST``: one v1 image to wherever skopeo's transport names say.

``docker://HOST[:PORT]/REPO[:TAG]`` is an OCI/v2 registry (layers streamed in,
``transfer.copy``), ``docker-archive:FILE`` today's ``pull``, ``oci:DIR[:TAG]`` an OCI
image layout, and a bare reference a v1 registry (today's ``mirror``).
--dest-creds (skopeo's), or else --username/--password-stdin and REGV1_*, give a
docker:// destination's login; the source uses the stored credentials of its host
(and -u's when it is the same host). For the other destinations -u is the source's.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import click
import httpx
from rich.console import Console

from docker_registry_v1.client import DEFAULT_TIMEOUT
from docker_registry_v1.names import origin_of

from .connect import (
    Registry,
    _verify,
    credentials_for,
    netloc_of,
    open_pair,
    open_registry,
    password_prompt,
    resolve_url,
)
from .credentials import parse_creds_option
from .options import Settings, common_options, examples, fail
from .output import emit, human_rate, human_size
from .progress import progress_for
from .reference import ImageReference, InvalidReference, _endpoint, _origin

__all__ = ["copy"]

_TRANSPORTS = ("docker://", "docker-archive:", "oci:")
_OTHER_TRANSPORTS = frozenset(
    {"containers-storage", "dir", "docker-daemon", "oci-archive", "sif", "tarball"}
)


def _split_docker(text: str, plain_http: bool) -> tuple[str, str, str | None]:
    """``HOST[:PORT]/REPO[:TAG]`` → (origin URL, repository, tag or None)."""
    host, sep, rest = text.partition("/")
    if not sep or not rest:
        raise InvalidReference("destination", f"docker://{text}: expected HOST[:PORT]/REPO[:TAG]")
    if "@" in rest:
        raise InvalidReference("destination", f"docker://{text}: give a tag, not a digest")
    name, tag = rest, None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
    return _origin(_endpoint(host, "destination"), plain_http), name, tag


def _done(
    settings: Settings, document: dict[str, object], headline: str, nbytes: int, seconds: float
) -> None:
    document |= {"bytes": nbytes, "seconds": round(seconds, 3)}

    def human(console: Console) -> None:
        console.print(headline)
        console.print(f"{human_size(nbytes)} in {seconds:.1f} s ({human_rate(nbytes, seconds)})")

    emit(settings, document, human)


@click.command(
    epilog=examples(
        "regv1 copy acme/app:1.0 docker://registry.example.com/team/app:1.0 \\",
        "    --dest-creds writer",
        "regv1 copy localhost:5000/acme/app oci:/srv/layout:app-1.0",
        "regv1 copy localhost:5000/acme/app docker-archive:app.tar",
    )
)
@click.argument("source", metavar="SRC_REF")
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
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Layers moved at once.",
)
@click.option(
    "--cache",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Blob cache of earlier copies (default: under the user's cache directory).",
)
@click.option(
    "--dest-creds",
    metavar="USER[:PASSWORD]",
    help="Credentials for a docker:// destination, as for mirror (prompts on a terminal "
    "when the password is omitted).",
)
@common_options
def copy(
    source: str,
    destination: str,
    *,
    dest_creds: str | None,
    manifest_format: str | None,
    level: int,
    concurrency: int,
    cache: Path | None,
    settings: Settings,
) -> None:
    """Copy SRC_REF (a v1 image, tag default latest) to DST.

    DST is docker://HOST[:PORT]/REPO[:TAG] (an OCI/v2 registry), docker-archive:FILE,
    oci:DIR[:TAG] or a bare v1 reference. A second copy to the same v2 registry reads
    and sends no layer again; a second copy into the same oci: layout writes none.

    A docker:// destination's login comes from --dest-creds (a password on the command
    line is visible to other local users; leave it out to be prompted), else from
    --username/--password-stdin, REGV1_* or the credentials stored for its host; it
    works with Basic and token-mode registries.
    """
    src = ImageReference.parse(source)
    started = time.monotonic()
    if dest_creds is not None and not destination.startswith("docker://"):
        raise click.UsageError("--dest-creds is for docker:// destinations")
    if dest_creds is not None and (settings.username or settings.password_stdin):
        raise click.UsageError("--dest-creds replaces --username/--password-stdin")
    if destination.startswith(("docker://", "oci:")):
        _to_registry(
            settings,
            src,
            destination,
            dest_creds=dest_creds,
            started=started,
            manifest_format=manifest_format,
            level=level,
            concurrency=concurrency,
            cache=cache,
        )
    elif destination.startswith("docker-archive:"):
        _to_archive(
            settings, src, Path(destination.removeprefix("docker-archive:")), concurrency, started
        )
    elif destination.split(":", 1)[0] in _OTHER_TRANSPORTS:
        fail(
            f"{destination!r}: not a destination copy writes; "
            f"use one of {', '.join(_TRANSPORTS)} or a v1 reference"
        )
    else:
        _to_v1(settings, src, ImageReference.parse(destination), started)


def _to_registry(
    settings: Settings,
    src: ImageReference,
    destination: str,
    *,
    dest_creds: str | None,
    started: float,
    manifest_format: str | None,
    level: int,
    concurrency: int,
    cache: Path | None,
) -> None:
    """``docker://`` (the login goes to the destination) or ``oci:`` (to the source)."""
    from docker_registry_v1.oci.auth import RegistryAuth  # noqa: PLC0415 - the copy extra
    from docker_registry_v1.oci.client import OCIClient  # noqa: PLC0415
    from docker_registry_v1.oci.convert import ImageConversionError, ManifestFormat  # noqa: PLC0415
    from docker_registry_v1.oci.layout import (  # noqa: PLC0415
        LayoutError,
        OCILayout,
        parse_layout_reference,
    )
    from docker_registry_v1.transfer.copy import copy as copy_image  # noqa: PLC0415

    dest: OCIClient | OCILayout
    if destination.startswith("oci:"):
        directory, tag = parse_layout_reference(destination)
        name = src.repo.removeprefix("library/")
        try:
            dest = OCILayout(directory)
        except (LayoutError, OSError) as exc:
            fail(f"{destination}: {exc}")
        source = open_registry(settings, src)
    else:
        url, name, tag = _split_docker(destination.removeprefix("docker://"), settings.plain_http)
        src_url = resolve_url(settings, src)
        same_host = httpx.URL(src_url).netloc == httpx.URL(url).netloc
        if dest_creds is None:
            credentials = credentials_for(settings, url)
            shared = credentials if same_host else None
        else:  # skopeo's --dest-creds: the destination's alone
            credentials = parse_creds_option(
                "--dest-creds", dest_creds, netloc_of(url), prompt=password_prompt()
            )
            shared = None
        source = Registry(
            src_url,
            settings,
            shared if shared is not None else credentials_for(settings, src_url, explicit=False),
        )
        dest = OCIClient(
            url,
            auth=RegistryAuth(
                origin_of(url),
                username=None if credentials is None else credentials.username,
                password=None if credentials is None else credentials.password,
            ),
            timeout=DEFAULT_TIMEOUT if settings.timeout is None else settings.timeout,
            verify=_verify(settings),
        )
    with (
        source,
        dest if isinstance(dest, OCIClient) else contextlib.nullcontext(),
        progress_for(settings) as listener,
    ):
        try:
            result = copy_image(
                source.client,
                src.repo,
                src.with_tag(),
                dest,
                dest_repo=name,
                dest_tag=tag or src.with_tag(),
                manifest_format=None
                if manifest_format is None
                else ManifestFormat[manifest_format.upper()],
                level=level,
                concurrency=concurrency,
                progress=listener,
                cache=cache,
            )
        except ImageConversionError as exc:
            fail(f"{src}: {exc}")
        except (LayoutError, OSError) as exc:
            fail(f"{destination}: {exc}")
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
        f"copied {src} to {destination.removeprefix('docker://')} ({result.digest[:19]}): "
        f"{len(result.uploaded)} layers sent, {len(result.skipped)} already there",
        result.bytes_transferred,
        time.monotonic() - started,
    )


def _to_archive(
    settings: Settings, src: ImageReference, path: Path, concurrency: int, started: float
) -> None:
    from docker_registry_v1.transfer import pull as pull_image  # noqa: PLC0415

    with open_registry(settings, src) as registry, progress_for(settings) as listener:
        result = pull_image(
            registry.client,
            src.repo,
            src.with_tag(),
            path,
            concurrency=concurrency,
            progress=listener,
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
        f"copied {src} to docker-archive:{result.path}: {len(result.layers)} layers",
        result.bytes_transferred,
        time.monotonic() - started,
    )


def _to_v1(settings: Settings, src: ImageReference, dst: ImageReference, started: float) -> None:
    from docker_registry_v1.transfer import mirror as mirror_images  # noqa: PLC0415

    if dst.tag is not None and dst.tag != src.with_tag():
        fail(
            f"{dst}: a v1 copy keeps the tag's name; give DST without :TAG or with {src.with_tag()}"
        )
    source_registry, target_registry = open_pair(settings, src, dst)
    with source_registry, target_registry, progress_for(settings) as listener:
        result = mirror_images(
            source_registry.client,
            src.repo,
            target_registry.client,
            dst.repo,
            tags=[src.with_tag()],
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
        f"copied {src} to {result.repository}: {len(result.copied)} layers, "
        f"{len(result.skipped)} already there",
        result.bytes_transferred,
        time.monotonic() - started,
    )
