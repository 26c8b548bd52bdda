"""Commands that change a registry (``tag``, ``untag``, ``delete``) and ``login``."""

from __future__ import annotations

import click

from docker_registry_v1.auth import Access, TokenAuth
from docker_registry_v1.names import check_image_id

from .connect import open_registry
from .options import Settings, common_options, fail
from .output import emit
from .reference import ImageReference, registry_url

__all__ = ["delete", "login", "tag", "untag"]


@click.command()
@click.argument("reference", metavar="REF")
@click.argument("image", metavar="IMAGE_ID")
@common_options
def tag(reference: str, image: str, *, settings: Settings) -> None:
    """Point REF's tag (default latest) at IMAGE_ID.

    The image must already be on the registry.
    """
    ref = ImageReference.parse(reference)
    check_image_id(image)
    name = ref.with_tag()
    with open_registry(settings, ref) as registry:
        registry.client.repository.set_tag(
            ref.repo, image, name, auth=registry.auth(ref.repo, Access.WRITE)
        )
    emit(
        settings,
        {"repository": ref.repo, "tag": name, "image_id": image},
        lambda console: console.print(f"{ref.repo}:{name} -> {image}"),
    )


@click.command()
@click.argument("reference", metavar="REF:TAG")
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask before requesting a delete token from an index."
)
@common_options
def untag(reference: str, yes: bool, *, settings: Settings) -> None:
    """Remove one tag; the images stay on the registry.

    On a token-issuing index the tag DELETE needs a delete token, and Docker's index
    marked the whole repository for deletion when it issued one: so it asks first.
    """
    ref = ImageReference.parse(reference)
    if ref.tag is None:
        fail(f"{reference!r}: name the tag to remove (REF:TAG)")
    with open_registry(settings, ref) as registry:
        if (
            registry.token_based()
            and not yes
            and not click.confirm(
                f"{registry.url} issues tokens; on a Hub-style index a delete token also marks "
                f"all of {ref.repo} for deletion. Request one to remove {ref.tag}?",
                err=True,
            )
        ):
            fail("not untagged")
        registry.client.repository.delete_tag(
            ref.repo, ref.tag, auth=registry.auth(ref.repo, Access.DELETE)
        )
    emit(
        settings,
        {"repository": ref.repo, "tag": ref.tag, "deleted": True},
        lambda console: console.print(f"untagged {ref.repo}:{ref.tag}"),
    )


@click.command()
@click.argument("reference", metavar="REPO_REF")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@common_options
def delete(reference: str, yes: bool, *, settings: Settings) -> None:
    """Delete a repository and its tags (asks first unless --yes).

    Image data may stay on the registry; v1 has no reference counting.
    """
    ref = ImageReference.parse(reference)
    if ref.tag is not None:
        fail(f"{reference!r}: delete takes a repository; remove one tag with 'regv1 untag'")
    with open_registry(settings, ref) as registry:
        if not yes and not click.confirm(
            f"Delete repository {ref.repo} on {registry.url}?", err=True
        ):
            fail("not deleted")
        token = registry.auth(ref.repo, Access.DELETE)
        registry.client.repository.delete(ref.repo, auth=token)
        if isinstance(token, TokenAuth):  # the Hub flow ends by telling the index
            registry.client.hub.confirm_delete(
                ref.repo,
                auth=registry.direct(),
                endpoints=[str(token.endpoint)] if token.endpoint else [],
            )
    emit(
        settings,
        {"repository": ref.repo, "registry": registry.url, "deleted": True},
        lambda console: console.print(f"deleted {ref.repo}"),
    )


@click.command()
@click.argument("registry_address", metavar="[REGISTRY]", required=False)
@common_options
def login(registry_address: str | None, *, settings: Settings) -> None:
    """Check credentials against REGISTRY (GET /v1/users/).

    Nothing is written: docker's config.json is only ever read.
    """
    url = registry_url(registry_address or settings.registry, plain_http=settings.plain_http)
    with open_registry(settings, url=url) as registry:
        if registry.basic is None:
            fail(
                f"no credentials for {registry.url}: use --username/--password-stdin, "
                "REGV1_USERNAME/REGV1_PASSWORD or docker's config.json"
            )
        registry.client.users.login(auth=registry.basic)
    emit(
        settings,
        {"registry": registry.url, "username": registry.username, "logged_in": True},
        lambda console: console.print(f"Login succeeded for {registry.username} at {registry.url}"),
    )
