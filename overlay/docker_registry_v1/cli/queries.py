"""Read-only commands: ``ping``, ``tags``, ``image-id``, ``ancestry``, ``metadata``, ``search``."""

from __future__ import annotations

import itertools
import json
import sys

import click
from rich.console import Console
from rich.table import Table

from docker_registry_v1.auth import Access, Authenticator

from .connect import Registry, open_registry
from .options import Settings, common_options, fail
from .output import emit
from .reference import ImageReference, is_image_id, registry_url

__all__ = ["ancestry", "image_id", "metadata", "ping", "search", "tags"]


def _parse_repository(text: str) -> ImageReference:
    reference = ImageReference.parse(text)
    if reference.tag is not None:
        fail(f"{text!r}: this command takes a repository without a :TAG")
    return reference


@click.command()
@click.argument("registry_address", metavar="[REGISTRY]", required=False)
@common_options
def ping(registry_address: str | None, *, settings: Settings) -> None:
    """Ping REGISTRY (HOST[:PORT] or URL; default --registry)."""
    url = registry_url(registry_address or settings.registry, plain_http=settings.plain_http)
    with open_registry(settings, url=url) as registry:
        answer = registry.client.ping(auth=registry.direct())
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


@click.command()
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
        table = Table("TAG", "IMAGE ID", title=f"{registry.url} {ref.repo}", title_justify="left")
        for tag in sorted(tag_map):
            table.add_row(tag, tag_map[tag])
        console.print(table)
        if tag_map.short_ids:
            console.print("(the registry sent abbreviated image ids)")

    emit(settings, document, human)


@click.command("image-id")
@click.argument("reference", metavar="REF")
@common_options
def image_id(reference: str, *, settings: Settings) -> None:
    """Print the image id of REF's tag (default latest)."""
    ref = ImageReference.parse(reference)
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


def _image_target(
    settings: Settings, target: str, repo_option: str | None
) -> tuple[Registry, str, Authenticator]:
    """Registry, image id and auth for REF_OR_ID (a tag is resolved through its repository)."""
    if is_image_id(target):
        ref = None if repo_option is None else _parse_repository(repo_option)
        registry = open_registry(settings, ref)
        try:
            if ref is None:
                if registry.token_based():
                    fail(
                        f"{registry.url} hands out tokens per repository: "
                        "name the image's repository with --repo"
                    )
                return registry, target, registry.direct()
            return registry, target, registry.auth(ref.repo, Access.READ)
        except BaseException:
            registry.close()
            raise
    ref = ImageReference.parse(target)
    registry = open_registry(settings, ref)
    try:
        auth = registry.auth(ref.repo, Access.READ)
        found = registry.client.repository.get_image_id(ref.repo, ref.with_tag(), auth=auth)
    except BaseException:
        registry.close()
        raise
    return registry, found, auth


_REPO_OPTION = click.option(
    "--repo",
    "repo_option",
    metavar="REF",
    help="Repository holding IMAGE_ID (needed for token-based indexes).",
)


@click.command()
@click.argument("target", metavar="REF_OR_ID")
@_REPO_OPTION
@common_options
def ancestry(target: str, repo_option: str | None, *, settings: Settings) -> None:
    """List an image's ancestry, the image first."""
    registry, found, auth = _image_target(settings, target, repo_option)
    with registry:
        chain = registry.client.image.get_ancestry(found, auth=auth)
    emit(
        settings,
        {"image_id": found, "ancestry": chain},
        lambda console: console.print("\n".join(chain)),
    )


@click.command()
@click.argument("target", metavar="REF_OR_ID")
@_REPO_OPTION
@click.option("--raw", is_flag=True, help="Print the image JSON exactly as the registry sent it.")
@common_options
def metadata(target: str, repo_option: str | None, raw: bool, *, settings: Settings) -> None:
    """Show an image's JSON (--raw: the exact bytes)."""
    if raw and settings.json:
        raise click.UsageError("--raw and --json cannot be combined")
    registry, found, auth = _image_target(settings, target, repo_option)
    with registry:
        answer = registry.client.image.get_metadata_raw(found, auth=auth)
    if raw:
        sys.stdout.buffer.write(answer.json_bytes)
        sys.stdout.buffer.flush()
        return
    try:
        document = json.loads(answer.json_bytes)
    except ValueError:
        fail(f"the registry's JSON for {found} does not parse; see it with --raw")
    emit(
        settings,
        {
            "image_id": found,
            "size": answer.size,
            "checksum": answer.checksum,
            "metadata": document,
        },
        lambda _: click.echo(json.dumps(document, indent=2, ensure_ascii=False)),
    )


@click.command()
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
        table = Table("NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED")
        for r in found:
            table.add_row(
                r.name,
                r.description,
                str(r.star_count),
                "yes" if r.is_official else "",
                "yes" if r.is_automated else "",
            )
        console.print(table)
        console.print(f"{len(found)} result(s)")

    emit(settings, document, human)
