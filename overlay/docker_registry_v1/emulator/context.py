"""State shared by an emulator's listeners and the per-request checks every route needs."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs
from starlette.requests import Request
from starlette.responses import Response

from .compat import Compat
from .responses import REQUIRES_AUTHORIZATION, error
from .store import Store, split_repository
from .tokens import ACCESS_FOR_METHOD, Token, TokenIssuer

Mode = Literal["standalone", "hub"]

IMAGE_ID = re.compile(r"^([a-f0-9]{16}|[a-f0-9]{64})$")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="regv1"'}
TOKEN_CHALLENGE = {"WWW-Authenticate": "Token"}

#: Placeholder in a hub's endpoint list for the registry listener's own address.
REGISTRY_PLACEHOLDER = "{registry}"


class _Undecodable:
    """Marker for a body that is not JSON (or was sent as a form)."""


UNDECODABLE = _Undecodable()


@attrs.define
class EmulatorState:
    """Everything the listeners of one emulator share."""

    mode: Mode
    store: Store
    compat: Compat = attrs.field(factory=Compat)
    auth_required: bool = False
    tokens: TokenIssuer = attrs.field(factory=TokenIssuer)
    endpoints: list[str] = attrs.field(factory=lambda: [REGISTRY_PLACEHOLDER])
    registry_netloc: str = ""
    #: Repositories the hub index issued a delete token for, awaiting the final DELETE.
    pending_deletes: set[str] = attrs.field(factory=set)

    def endpoint_header(self, request: Request) -> str:
        if self.mode == "standalone":
            return request.headers.get("host", "")
        return ", ".join(
            self.registry_netloc if item == REGISTRY_PLACEHOLDER else item
            for item in self.endpoints
        )

    def token_text(self, token: Token) -> str:
        prefixed = self.compat.token_prefix
        if prefixed is None:
            prefixed = self.mode == "standalone"
        return f"Token {token.value}" if prefixed else token.value


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(user, password)`` from ``Authorization: Basic``; ``None`` when absent or malformed."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def asks_for_token(request: Request) -> bool:
    return request.headers.get("x-docker-token", "").strip().lower() == "true"


async def json_body(request: Request) -> tuple[bytes, Any]:
    """Raw body and its decoded JSON (``UNDECODABLE`` for non-JSON or form-typed bodies).

    The reference server never reads the body of a form-typed request.
    """
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        return raw, UNDECODABLE
    try:
        return raw, json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw, UNDECODABLE


def repository_name(request: Request) -> str:
    return split_repository(str(request.path_params["repo"]))


class Guard:
    """Per-listener authorisation; which checks apply depends on mode and role.

    Standalone with users is guarded as a whole by the proxy middleware, so
    route checks only run on hub listeners: the index checks Basic, the
    registry checks tokens.
    """

    def __init__(self, state: EmulatorState, role: str) -> None:
        self.state = state
        self.role = role

    def basic_user(self, request: Request) -> str | Literal[False] | None:
        """The authenticated user, ``None`` without credentials, ``False`` for wrong ones."""
        creds = basic_credentials(request)
        if creds is None:
            return None
        return creds[0] if self.state.store.check_user(*creds) else False

    def index(self, request: Request, *, required: bool) -> Response | None:
        """Hub index: wrong Basic credentials always fail; missing ones when ``required``."""
        if self.role != "index":
            return None
        user = self.basic_user(request)
        if user is False or (user is None and required and self.state.auth_required):
            return error(REQUIRES_AUTHORIZATION, 401, BASIC_CHALLENGE)
        return None

    def registry(
        self, request: Request, *, repository: str | None = None, image_id: str | None = None
    ) -> Response | None:
        """Hub registry: an issued token, for this repository, with the method's access.

        Image reads also need the image to belong to the token's repository (its
        index list or a tag's ancestry); otherwise the image is hidden (404).
        """
        if self.role != "registry":
            return None
        token = self.state.tokens.lookup(request.headers.get("authorization", ""))
        if (
            token is None
            or ACCESS_FOR_METHOD.get(request.method) != token.access
            or (repository is not None and token.repository != repository)
        ):
            return error(REQUIRES_AUTHORIZATION, 401, TOKEN_CHALLENGE)
        if (
            image_id is not None
            and token.access == "read"
            and self.state.store.image(image_id) is not None
            and image_id not in self.state.store.repository_images(token.repository)
        ):
            return error("Image not found", 404)
        return None

    def token_headers(self, request: Request, repository: str, access: str) -> Mapping[str, str]:
        """Token headers of an index answer: always on standalone, on request in a hub."""
        if self.state.mode == "hub" and not asks_for_token(request):
            return {}
        token = self.state.tokens.issue(repository, access, short=self.state.mode == "standalone")
        return {
            "X-Docker-Token": self.state.token_text(token),
            "WWW-Authenticate": f"Token {token.value}",
            "X-Docker-Endpoints": self.state.endpoint_header(request),
        }
