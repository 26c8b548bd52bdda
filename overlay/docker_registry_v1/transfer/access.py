"""Which credentials a transfer uses for reading and writing a repository.

Reading: when the registry issues tokens (``Client.issues_tokens``, the facade's one
decision), ask the index for a read token (``GET …/images``); otherwise, and when an
index that said it would answers 404 or without a token, the client's own
credentials are used on the same host.

Writing: ``PUT …/{repo}/`` with ``[]`` for a write token; a
registry without index routes (404/405) is written with the client's own
credentials and gets no final ``PUT …/images``. The existence probe is a GET,
which a strict registry refuses under a write token; it then uses a read token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ..auth import Authenticator, TokenAuth
from ..errors import InvalidResponse, NotFound, RegistryError, Unauthorized, UploadInProgress
from .retry import RetryPolicy

if TYPE_CHECKING:  # the client module imports this package for Client.pull/push
    from ..client import AsyncClient, Client

__all__ = [
    "WriteAccess",
    "ais_present",
    "aread_access",
    "awrite_access",
    "is_present",
    "read_access",
    "write_access",
]

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


def _no_index(error: RegistryError) -> bool:
    return isinstance(error, NotFound) or error.code == _METHOD_NOT_ALLOWED


def read_access(client: Client, repo: str, policy: RetryPolicy) -> Authenticator | None:
    if not policy.call(client.issues_tokens):
        return None
    try:
        return policy.call(client.hub.get_read_token_with_auth, repo)
    except (NotFound, InvalidResponse):
        return None


async def aread_access(client: AsyncClient, repo: str, policy: RetryPolicy) -> Authenticator | None:
    if not await policy.acall(client.issues_tokens):
        return None
    try:
        return await policy.acall(client.hub.get_read_token_with_auth, repo)
    except (NotFound, InvalidResponse):
        return None


def write_access(client: Client, repo: str) -> WriteAccess:
    try:
        return WriteAccess(client.hub.get_write_token(repo), indexed=True)
    except InvalidResponse:
        return WriteAccess(None, indexed=True)
    except RegistryError as error:
        if _no_index(error):
            return WriteAccess(None, indexed=False)
        raise


async def awrite_access(client: AsyncClient, repo: str) -> WriteAccess:
    try:
        return WriteAccess(await client.hub.get_write_token(repo), indexed=True)
    except InvalidResponse:
        return WriteAccess(None, indexed=True)
    except RegistryError as error:
        if _no_index(error):
            return WriteAccess(None, indexed=False)
        raise


def is_present(
    client: Client, repo: str, image_id: str, access: WriteAccess, policy: RetryPolicy
) -> bool:
    """The existence probe: a complete image answers 200; anything absent is uploaded."""
    while True:
        try:
            policy.call(client.image.get_metadata_raw, image_id, auth=access.probe)
        except _ABSENT:
            return False
        except Unauthorized:
            if not access.wants_read_token():
                return False
            access.probe = read_access(client, repo, policy)
            continue
        return True


async def ais_present(
    client: AsyncClient, repo: str, image_id: str, access: WriteAccess, policy: RetryPolicy
) -> bool:
    while True:
        try:
            await policy.acall(client.image.get_metadata_raw, image_id, auth=access.probe)
        except _ABSENT:
            return False
        except Unauthorized:
            if not access.wants_read_token():
                return False
            access.probe = await aread_access(client, repo, policy)
            continue
        return True
