"""Read-only commands: ``ping``, ``tags``, ``image-id``, ``ancestry``, ``metadata``, ``search``."""

from __future__ import annotations

import itertools
import json
import sys

import attrs
import click
from rich.console import Console

from docker_registry_v1.v1.auth import Access, Authenticator

from .connect import Registry, open_registry
from .options import Settings, common_options, examples, fail
from .output import Column, emit, json_text, print_table
from .reference import MIN_SHORT_ID, ImageReference, is_image_id, is_short_id, registry_url

__all__ = ["ancestry", "image_id", "metadata", "ping", "search", "tags"]


def _parse_repository(text: str) -> ImageReference:
    reference = ImageReference.parse(text)
    if reference.tag is not None or reference.image is not None:
        fail(f"{text!r}: this command takes a repository without a :TAG or @ID")
    return reference


@click.command(
    epilog=examples(
        "regv1 ping 127.0.0.1:5000",
        "regv1 ping https://registry.example.com --format json",
    )
)
@click.argument("registry_address", metavar="[REGISTRY]", required=False)
@common_options
def ping(registry_address: str | None, *, settings: Settings) -> None:
    """Ping REGISTRY (HOST[:PORT] or URL; default --registry)."""
    url = registry_url(registry_address or settings.registry, tls=settings.tls)
    with open_registry(settings, url=url) as registry:
        answer = registry.ping()
    document = {
        "registry": registry.url,
        "version": answer.version,
        "standalone": answer.standalone,
    }

    def human(console: Console) -> None:
        kind = {True: "standalone", False: "index with tokens", None: "unknown"}
        console.print(f"{registry.url}: ok ({kind[answer.standalone]})")
        if answer.version:
            console.print(f"version: {answer.version}")

    emit(settings, document, human)


@click.command(
    epilog=examples(
        "regv1 tags 127.0.0.1:5000/team/app",
        "regv1 tags team/app --registry registry.example.com --no-trunc",
        "regv1 tags team/app --format json | jq -r '.tags.latest'",
    )
)
@click.argument("reference", metavar="REF")
@common_options
def tags(reference: str, *, settings: Settings) -> None:
    """List a repository's tags and their image ids."""
    ref = _parse_repository(reference)
    with open_registry(settings, ref) as registry:
        tag_map = registry.client.repository.list_tags(
            ref.repo, auth=registry.auth(ref.repo, Access.READ)
        )
    document = {"repository": ref.repo, "tags": dict(tag_map), "short_ids": tag_map.short_ids}

    def human(console: Console) -> None:
        print_table(
            settings,
            console,
            [Column("TAG"), Column("IMAGE ID", image_id=True)],
            [(tag, tag_map[tag]) for tag in sorted(tag_map)],
            title=f"{registry.url} {ref.repo}",
        )
        if tag_map.short_ids:
            click.echo("note: the registry sent abbreviated image ids", err=True)

    emit(settings, document, human)


@click.command(
    "image-id",
    epilog=examples(
        "regv1 image-id 127.0.0.1:5000/team/app:1.0",
        "regv1 image-id team/app --registry registry.example.com   # the latest tag",
    ),
)
@click.argument("reference", metavar="REF")
@common_options
def image_id(reference: str, *, settings: Settings) -> None:
    """Print the image id of REF's tag (default latest)."""
    ref = ImageReference.parse(reference)
    if ref.image is not None:
        fail(f"{reference!r} already names an image; image-id looks up a tag")
    tag = ref.with_tag()
    with open_registry(settings, ref) as registry:
        found = registry.client.repository.get_image_id(
            ref.repo, tag, auth=registry.auth(ref.repo, Access.READ)
        )
    emit(
        settings,
        {"repository": ref.repo, "tag": tag, "image_id": found},
        lambda console: console.print(found),
    )


def _parse_target(target: str, repo_option: str | None) -> ImageReference | str:
    """REF[:TAG], REF@ID or a bare ID with --repo as a reference; a bare ID alone as itself.

    A bare string of 12 to 64 lowercase hex characters is read as an image id, as
    docker reads it (a repository with such a name is written ``library/NAME``).
    """
    if is_short_id(target):
        if repo_option is None:
            return target
        return attrs.evolve(_parse_repository(repo_option), image=target)
    if repo_option is not None:
        raise click.UsageError("--repo only applies to a bare IMAGE_ID")
    return ImageReference.parse(target)


def _open_target(settings: Settings, target: ImageReference | str) -> Registry:
    return open_registry(settings, None if isinstance(target, str) else target)


def _find_image(registry: Registry, target: ImageReference | str) -> tuple[str, Authenticator]:
    """The full image id and the auth to read it with."""
    if isinstance(target, str):
        if not is_image_id(target):
            fail(
                f"{target} is a short image id: name its repository with --repo REPO "
                f"or as REPO@{target}"
            )
        if registry.token_based():
            fail(
                f"{registry.url} hands out tokens per repository: "
                f"name the image's repository with --repo or as REPO@{target[:MIN_SHORT_ID]}"
            )
        return target, registry.direct()
    auth = registry.auth(target.repo, Access.READ)
    if target.image is not None:
        return registry.resolve_image(target.repo, target.image, auth), auth
    found = registry.client.repository.get_image_id(target.repo, target.with_tag(), auth=auth)
    return found, auth


_REPO_OPTION = click.option(
    "--repo",
    "repo_option",
    metavar="REF",
    help="Repository holding IMAGE_ID (needed for short ids and token-based indexes).",
)


@click.command(
    epilog=examples(
        "regv1 ancestry 127.0.0.1:5000/team/app:1.0",
        "regv1 ancestry 127.0.0.1:5000/team/app@4f2a9c1e7b3d   # a short id, as shown in bars",
        "regv1 ancestry 4f2a9c1e7b3d --repo 127.0.0.1:5000/team/app",
    )
)
@click.argument("target", metavar="REF_OR_ID")
@_REPO_OPTION
@common_options
def ancestry(target: str, repo_option: str | None, *, settings: Settings) -> None:
    """List an image's ancestry, the image first.

    REF_OR_ID is REF[:TAG], REF@ID, or an image ID (12 or more hex characters are
    enough when the repository is known).
    """
    parsed = _parse_target(target, repo_option)
    with _open_target(settings, parsed) as registry:
        found, auth = _find_image(registry, parsed)
        chain = registry.client.image.get_ancestry(found, auth=auth)
    emit(
        settings,
        {"image_id": found, "ancestry": chain},
        lambda console: print_table(
            settings, console, [Column("IMAGE ID", image_id=True)], [(i,) for i in chain]
        ),
    )


@click.command(
    epilog=examples(
        "regv1 metadata 127.0.0.1:5000/team/app:1.0",
        "regv1 metadata 127.0.0.1:5000/team/app@4f2a9c1e7b3d --raw > image.json",
    )
)
@click.argument("target", metavar="REF_OR_ID")
@_REPO_OPTION
@click.option("--raw", is_flag=True, help="Print the image JSON exactly as the registry sent it.")
@common_options
def metadata(target: str, repo_option: str | None, raw: bool, *, settings: Settings) -> None:
    """Show an image's JSON (--raw: the exact bytes).

    REF_OR_ID is REF[:TAG], REF@ID, or an image ID (12 or more hex characters are
    enough when the repository is known).
    """
    if raw and settings.json:
        raise click.UsageError("--raw and --json cannot be combined")
    parsed = _parse_target(target, repo_option)
    with _open_target(settings, parsed) as registry:
        found, auth = _find_image(registry, parsed)
        answer = registry.client.image.get_metadata_raw(found, auth=auth)
    if raw:
        sys.stdout.buffer.write(answer.json_bytes)
        sys.stdout.buffer.flush()
        return
    try:
        document = json.loads(answer.json_bytes)
    except (ValueError, RecursionError):  # RecursionError: nested past the decoder's bound
        fail(f"the registry's JSON for {found} does not parse; see it with --raw")
    emit(
        settings,
        {
            "image_id": found,
            "size": answer.size,
            "checksum": answer.checksum,
            "metadata": document,
        },
        lambda _: click.echo(json_text(document, sort_keys=False)),
    )


@click.command(
    epilog=examples(
        "regv1 search nginx --registry 127.0.0.1:5000",
        "regv1 search app --limit 10 --format plain | cut -f1",
    )
)
@click.argument("term")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after N results.")
@common_options
def search(term: str, limit: int | None, *, settings: Settings) -> None:
    """Search the index (all pages, or the first --limit)."""
    with open_registry(settings) as registry:
        found = list(
            itertools.islice(
                registry.client.search.iter_results(term, auth=registry.direct()), limit
            )
        )
    document = {
        "query": term,
        "results": [
            {
                "name": r.name,
                "description": r.description,
                "star_count": r.star_count,
                "is_official": r.is_official,
                "is_automated": r.is_automated,
                "is_trusted": r.is_trusted,
            }
            for r in found
        ],
    }

    def human(console: Console) -> None:
        print_table(
            settings,
            console,
            [Column(name) for name in ("NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED")],
            [
                (
                    r.name,
                    r.description,
                    str(r.star_count),
                    "yes" if r.is_official else "",
                    "yes" if r.is_automated else "",
                )
                for r in found
            ],
        )
        click.echo(f"{len(found)} result(s)", err=True)

    emit(settings, document, human)
