"""Commands that change a registry (``tag``, ``untag``, ``delete``) and ``login``.

``untag`` and ``delete`` ping the registry before anything else, even the default
index: asking a standalone registry (the reference server) for a delete token
already deletes the whole repository, so only an index that says it is not
standalone is ever asked for one.
"""

from __future__ import annotations

import click

from docker_registry_v1.auth import Access, TokenAuth
from docker_registry_v1.errors import NotFound

from .connect import Registry, open_registry
from .credentials import ENV_PASSWORD, ENV_USERNAME
from .options import Settings, common_options, examples, fail
from .output import emit
from .reference import ImageReference, is_short_id, registry_url

__all__ = ["delete", "login", "tag", "untag"]


def _standalone(registry: Registry) -> bool | None:
    """``_ping``'s standalone header; ``None`` when absent or there is no ``_ping``."""
    try:
        return registry.standalone()
    except NotFound:
        return None


@click.command(
    epilog=examples(
        "regv1 tag 127.0.0.1:5000/team/app:stable 4f2a9c1e7b3d   # a short id of the repository",
        "regv1 tag 127.0.0.1:5000/team/app:1.0 <64-hex image id>",
    )
)
@click.argument("reference", metavar="REF")
@click.argument("image", metavar="IMAGE_ID")
@common_options
def tag(reference: str, image: str, *, settings: Settings) -> None:
    """Point REF's tag (default latest) at IMAGE_ID.

    The image must already be on the registry. A short IMAGE_ID (12 or more hex
    characters) is looked up among the images of REF's repository.
    """
    ref = ImageReference.parse(reference)
    if ref.image is not None:
        fail(f"{reference!r}: give the tag as REF:TAG and the image as IMAGE_ID")
    if not is_short_id(image):
        fail(f"{image!r} is not an image id (12 to 64 lowercase hex characters)")
    name = ref.with_tag()
    with open_registry(settings, ref) as registry:
        if len(image) != 64:  # only a short id needs the repository's images
            image = registry.resolve_image(ref.repo, image, registry.auth(ref.repo, Access.READ))
        registry.client.repository.set_tag(
            ref.repo, image, name, auth=registry.auth(ref.repo, Access.WRITE)
        )
    emit(
        settings,
        {"repository": ref.repo, "tag": name, "image_id": image},
        lambda console: console.print(f"{ref.repo}:{name} -> {image}"),
    )


@click.command(
    epilog=examples(
        "regv1 untag 127.0.0.1:5000/team/app:old",
        "regv1 untag index.example.com/team/app:old --yes   # an index: see above",
    )
)
@click.argument("reference", metavar="REF:TAG")
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask before requesting a delete token from an index."
)
@common_options
def untag(reference: str, yes: bool, *, settings: Settings) -> None:
    """Remove one tag; the images stay on the registry.

    A standalone registry takes the tag DELETE directly. An index wants a delete
    token for it, and Docker's index marked the whole repository for deletion when
    it issued one: so against an index this asks first.
    """
    ref = ImageReference.parse(reference)
    if ref.tag is None:
        fail(f"{reference!r}: name the tag to remove (REF:TAG)")
    with open_registry(settings, ref) as registry:
        if (
            _standalone(registry) is False
            and not yes
            and not click.confirm(
                f"{registry.url} is an index; on a Hub-style index a delete token also marks "
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


def _what_delete_does(registry: Registry, repo: str, standalone: bool | None) -> str:
    if standalone is False:
        return (
            f"{registry.url} is an index: it hands out a delete token and marks {repo} for "
            "deletion, the registry deletes it, then the index is told."
        )
    said = "is a standalone registry" if standalone else "does not say it is an index"
    return f"{registry.url} {said}: {repo} and all its tags are deleted immediately."


@click.command(
    epilog=examples(
        "regv1 delete 127.0.0.1:5000/team/app",
        "regv1 delete 127.0.0.1:5000/team/app --yes --format json",
    )
)
@click.argument("reference", metavar="REPO_REF")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@common_options
def delete(reference: str, yes: bool, *, settings: Settings) -> None:
    """Delete a repository and its tags (asks first unless --yes).

    A standalone registry deletes it at once. An index first issues a delete token
    (marking the repository), the registry deletes, and the index is told. Image
    data may stay on the registry; v1 has no reference counting.
    """
    ref = ImageReference.parse(reference)
    if ref.tag is not None or ref.image is not None:
        fail(f"{reference!r}: delete takes a repository; remove one tag with 'regv1 untag'")
    with open_registry(settings, ref) as registry:
        standalone = _standalone(registry)
        if not yes and not click.confirm(
            f"{_what_delete_does(registry, ref.repo, standalone)} Delete repository "
            f"{ref.repo} on {registry.url}?",
            err=True,
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
        {
            "repository": ref.repo,
            "registry": registry.url,
            "standalone": standalone,
            "deleted": True,
        },
        lambda console: console.print(f"deleted {ref.repo}"),
    )


@click.command(
    epilog=examples(
        "regv1 login 127.0.0.1:5000 -u alice            # prompts for the password",
        "regv1 login registry.example.com -u alice --password-stdin < password.txt",
    )
)
@click.argument("registry_address", metavar="[REGISTRY]", required=False)
@common_options
def login(registry_address: str | None, *, settings: Settings) -> None:
    """Check credentials against REGISTRY (GET /v1/users/).

    Nothing is written: the podman and docker files are only ever read.
    """
    url = registry_url(registry_address or settings.registry, tls=settings.tls)
    with open_registry(settings, url=url) as registry:
        if registry.basic is None or registry.credentials is None:
            fail(
                f"no credentials for {registry.url}: use --username (with --password-stdin "
                f"or a prompt), {ENV_USERNAME}/{ENV_PASSWORD}, or a podman/docker auth file"
            )
        registry.client.users.login(auth=registry.basic)
        source = registry.credentials.source
    emit(
        settings,
        {"registry": registry.url, "username": registry.username, "logged_in": True},
        lambda console: console.print(
            f"Login succeeded for {registry.username} at {registry.url} (credentials from {source})"
        ),
    )
