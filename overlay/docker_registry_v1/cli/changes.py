"""Commands that change a registry (``tag``, ``untag``, ``delete``), ``login`` and ``logout``.

``untag`` and ``delete`` ping the registry before anything else, even the default
index: asking a standalone registry (the reference server) for a delete token
already deletes the whole repository, so only an index that says it is not
standalone is ever asked for one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import attrs
import click
from rich.console import Console

from docker_registry_v1.core.errors import InvalidInput, NotFound
from docker_registry_v1.v1.auth import Access, TokenAuth

from .connect import Registry, credentials_for, netloc_of, open_registry, password_prompt
from .credentials import ENV_PASSWORD, ENV_USERNAME, resolve_credentials
from .login_store import remove_all_logins, remove_login, store_login
from .options import Settings, common_options, examples, fail, warn
from .output import emit
from .reference import ImageReference, is_short_id, registry_url

__all__ = ["delete", "login", "logout", "tag", "untag"]


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


_AUTHFILE = click.option(
    "--authfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The auth file to use instead of podman's default [default: $REGISTRY_AUTH_FILE, "
    "else $XDG_RUNTIME_DIR/containers/auth.json, else ~/.config/containers/auth.json].",
)


@click.command(
    epilog=examples(
        "regv1 login 127.0.0.1:5000 -u alice            # prompts for the password",
        "regv1 login registry.example.com -u alice --password-stdin < password.txt",
        "regv1 login registry.example.com -u alice --authfile ./auth.json",
    )
)
@click.argument("registry_address", metavar="[REGISTRY]", required=False)
@_AUTHFILE
@common_options
def login(registry_address: str | None, authfile: Path | None, *, settings: Settings) -> None:
    """Check credentials against REGISTRY (GET /v1/users/), then store them.

    podman and skopeo refuse v1 registries, so their login cannot keep a v1 login;
    this one stores it where they keep theirs, and later regv1 commands use it
    without -u.

    With -u USER the password comes from --password-stdin, REGV1_PASSWORD or a
    hidden prompt on a terminal (a terminal also asks for the user when -u is left
    out). It is stored through the credential helper that docker's config.json (or
    the auth file) names for the host, credHelpers else credsStore, never in clear
    text; otherwise in the auth file (--authfile, else $REGISTRY_AUTH_FILE, else
    $XDG_RUNTIME_DIR/containers/auth.json, else ~/.config/containers/auth.json) as
    auths[HOST], the rest of the file kept. The file is replaced atomically, mode
    0600; a symbolic link at its path, or a file that is not JSON, is refused.

    Without -u and without a terminal, the credentials in REGV1_USERNAME and
    REGV1_PASSWORD or those already stored (in --authfile when given) are checked,
    and nothing is written. A
    refused login stores nothing and exits 1; a usage error exits 1 too. regv1 logout
    removes a login.
    """
    if settings.password_stdin and not settings.username:
        raise click.UsageError("--password-stdin needs -u/--username")
    url = registry_url(registry_address or settings.registry, tls=settings.tls)
    netloc = netloc_of(url)
    if authfile is not None and settings.username is None:  # as podman: check that file's
        credentials = resolve_credentials(
            netloc,
            username=None,
            password_stdin=False,
            stdin=sys.stdin,
            env={**os.environ, "REGISTRY_AUTH_FILE": str(authfile)},
            warn=warn,
        )
    else:
        credentials = credentials_for(settings, url)
    if credentials is None and settings.username is None and password_prompt() is not None:
        username = str(click.prompt(f"Username for {netloc}", err=True)).strip()
        if not username:
            fail("empty user name")
        settings = attrs.evolve(settings, username=username)
        credentials = credentials_for(settings, url)
    if credentials is None:
        fail(
            f"no credentials for {url}: use -u/--username (with --password-stdin "
            f"or a prompt), {ENV_USERNAME}/{ENV_PASSWORD}, or a podman/docker auth file"
        )
    with Registry(url, settings, credentials) as registry:
        assert registry.basic is not None  # credentials were given: Basic for this host
        registry.client.users.login(auth=registry.basic)
    stored = (
        store_login(netloc, credentials, authfile=authfile).describe()
        if settings.username is not None
        else None
    )
    source = credentials.source

    def human(console: Console) -> None:
        done = f"Login succeeded for {credentials.username} at {registry.url}"
        if stored is not None:
            console.print(f"{done}; stored in {stored}")
        else:
            console.print(f"{done} (credentials from {source}; nothing stored)")

    emit(
        settings,
        {
            "registry": registry.url,
            "username": credentials.username,
            "logged_in": True,
            "stored": stored,
        },
        human,
    )


@click.command(
    epilog=examples(
        "regv1 logout 127.0.0.1:5000",
        "regv1 logout --all --authfile ./auth.json",
    )
)
@click.argument("registry_address", metavar="[REGISTRY]", required=False)
@click.option("--all", "-a", "all_", is_flag=True, help="Remove every login in the auth file.")
@_AUTHFILE
def logout(registry_address: str | None, all_: bool, authfile: Path | None) -> None:
    """Remove the login for REGISTRY that regv1 login (or podman) stored.

    It is erased from the credential helper docker's config.json (or the auth file)
    names for the host, and taken out of the auth file's auths (--authfile, else
    podman's default file); the file's other keys stay. --all empties the auth file's
    auths and leaves credential helpers alone. A host with no stored login is an
    error (exit 1), as with podman; a usage error exits 1 too.
    """
    if all_ == (registry_address is not None):
        raise click.UsageError("give one REGISTRY or --all")
    try:
        if all_:
            path, count = remove_all_logins(authfile=authfile)
        else:
            assert registry_address is not None
            netloc = netloc_of(registry_url(registry_address))
            removed = remove_login(netloc, authfile=authfile)
    except (InvalidInput, OSError) as exc:
        fail(str(exc) if isinstance(exc, InvalidInput) else f"{exc.filename}: {exc.strerror}")
    # printed outside the try: a closed stdout is not a failure to remove the login
    if all_:
        click.echo(f"Removed {count} login{'s' * (count != 1)} from {path}")
    else:
        click.echo(f"Removed login for {netloc} from {' and '.join(removed.places)}")
