"""Which credentials a transfer uses for reading and writing a repository.

Reading: when the registry issues tokens (``Client.issues_tokens``, the facade's one
decision), ask the index for a read token (``GET …/images``); otherwise, and when an
index that said it would answers 404 or without a token, the client's own
credentials are used on the same host.

Writing: ``PUT …/{repo}/`` with the image list for a write token (v1-protocol
f.3: a token-checking registry accepts json PUTs only for listed ids); a
registry without index routes (404/405) is written with the client's own
credentials and gets no final ``PUT …/images``. A token whose endpoint is the
index's own host (a standalone registry) is not used: such a registry ignores
tokens, and the Basic-auth proxy in front of it refuses them (docker never
replaced its Basic credentials with a token there either). The existence probe is a GET,
which a strict registry refuses under a write token; it then uses a read token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs
import httpx

from ..core.errors import InvalidResponse, NotFound, RegistryError, Unauthorized, UploadInProgress
from ..core.httplog import reused
from ..core.models import IndexImage
from ..v1.auth import Authenticator, TokenAuth

if TYPE_CHECKING:  # the client module imports this package for Client.pull/push
    from ..v1.client import Client

__all__ = ["WriteAccess", "index_list", "is_present", "read_access", "write_access"]

_METHOD_NOT_ALLOWED = 405
_ABSENT = (NotFound, UploadInProgress)


@attrs.define
class WriteAccess:
    """Write credentials (``None``: the client's own), and whether the index took part."""

    auth: Authenticator | None
    indexed: bool
    probe: Authenticator | None = None
    probe_upgraded: bool = False

    def __attrs_post_init__(self) -> None:
        self.probe = self.auth

    def wants_read_token(self) -> bool:
        """After a refused probe: whether a read token is worth asking for (once)."""
        if self.probe_upgraded or not isinstance(self.auth, TokenAuth):
            return False
        self.probe_upgraded = True
        return True


def index_list(ids: Iterable[str], tags: Mapping[str, str]) -> list[IndexImage]:
    """The write-token request's list as docker 1.x sent it: every id in push order
    (base first), one entry per tag of a tagged image."""
    tags_of: dict[str, list[str | None]] = {}
    for tag, image_id in tags.items():
        tags_of.setdefault(image_id, []).append(tag)
    return [IndexImage(id=i, tag=tag) for i in ids for tag in tags_of.get(i, [None])]


def _own_host(client: Client, token: TokenAuth) -> Authenticator | None:
    if token.host == httpx.URL(client.base_url).netloc.decode():
        return None
    return token


def _no_index(error: RegistryError) -> bool:
    return isinstance(error, NotFound) or error.code == _METHOD_NOT_ALLOWED


def read_access(client: Client, repo: str) -> Authenticator | None:
    if not client.issues_tokens():
        return None
    try:
        return _own_host(client, client.hub.get_read_token_with_auth(repo))
    except (NotFound, InvalidResponse):
        return None


def write_access(client: Client, repo: str, images: Iterable[IndexImage] = ()) -> WriteAccess:
    try:
        token = client.hub.get_write_token(repo, images=images)
        return WriteAccess(_own_host(client, token), indexed=True)
    except InvalidResponse:
        return WriteAccess(None, indexed=True)
    except RegistryError as error:
        if _no_index(error):
            return WriteAccess(None, indexed=False)
        raise


def is_present(client: Client, repo: str, image_id: str, access: WriteAccess) -> bool:
    """The existence probe: a complete image answers 200; anything absent is uploaded."""
    while True:
        try:
            client.image.get_metadata_raw(image_id, auth=access.probe)
        except _ABSENT:
            return False
        except Unauthorized:
            if not access.wants_read_token():
                return False
            access.probe = read_access(client, repo)
            continue
        reused("image %s is on the target already (its JSON answered)", image_id)
        return True
