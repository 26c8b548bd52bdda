"""State shared by an emulator's listeners and the per-request checks every route needs."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs
import httpx
from starlette.requests import Request
from starlette.responses import Response

from .compat import Compat, Mode
from .responses import REQUIRES_AUTHORIZATION, error
from .storage import V1Storage
from .store import Store, split_repository
from .tokens import ACCESS_FOR_METHOD, Token, TokenIssuer, parse_token

IMAGE_ID = re.compile(r"^([a-f0-9]{16}|[a-f0-9]{64})$")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="regv1"'}
TOKEN_CHALLENGE = {"WWW-Authenticate": "Token"}

#: The User-Agent a hub registry sends when it asks its index about a token.
REGISTRY_AGENT = "docker-registry/0.9.1 (emulator hub registry)"

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
    #: Where a hub registry asks about tokens, as REF's ``index_endpoint``.
    index_url: str = ""
    _index_client: httpx.AsyncClient | None = None
    #: What the read routes answer from: the store itself, or a read-only backend (the
    #: store then only holds the listener's users).
    storage: V1Storage = attrs.field(
        default=attrs.Factory(lambda self: self.store, takes_self=True)
    )

    def endpoint_header(self, request: Request) -> str:
        if self.mode == "standalone":
            return request.headers.get("host", "")
        return ", ".join(
            item.replace(REGISTRY_PLACEHOLDER, self.registry_netloc) for item in self.endpoints
        )

    def token_text(self, token: Token) -> str:
        prefixed = self.compat.prefixed_tokens(self.mode)
        return f"Token {token.value}" if prefixed else token.value

    def index_client(self) -> httpx.AsyncClient:
        """The registry's HTTP client to its index (made on the listeners' event loop)."""
        if self._index_client is None:
            self._index_client = httpx.AsyncClient(
                base_url=self.index_url,
                timeout=30,
                headers={"User-Agent": REGISTRY_AGENT},
            )
        return self._index_client

    async def close(self) -> None:
        if self._index_client is not None:
            await self._index_client.aclose()
            self._index_client = None


@attrs.frozen
class Grant:
    """What a hub registry learnt from the index about a valid token (REF ``check_token``)."""

    repository: str
    authorization: str
    images: frozenset[str]


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

    def index_read(self, request: Request, repository: str, *, required: bool) -> Response | None:
        """Hub index reads: a forwarded ``Token`` must be one it issued for this repository
        (any access: a registry forwards write and delete tokens too); otherwise Basic."""
        if self.role != "index":
            return None
        authorization = request.headers.get("authorization", "")
        if authorization.partition(" ")[0].lower() == "token":
            token = self.state.tokens.lookup(authorization)
            if token is None or token.repository != repository:
                return error(REQUIRES_AUTHORIZATION, 401, TOKEN_CHALLENGE)
            return None
        return self.index(request, required=required)

    async def registry(
        self, request: Request, *, repository: str | None = None, image_id: str | None = None
    ) -> Response | Grant | None:
        """Hub registry: REF's token check, then the Hub's read scoping.

        As REF in token mode: the token's access must fit the method and its
        repository the path; then the index is asked over HTTP (``GET …/images``
        with the client's ``Authorization``), whose list is what writes may
        touch. Image reads also need the image to belong to the token's
        repository (index list or a tag's ancestry), else it is hidden (404); in
        a private repository the index's parent-access route decides, as REF.
        """
        if self.role != "registry":
            return None
        authorization = request.headers.get("authorization", "")
        fields = parse_token(authorization)
        if (
            fields is None
            or ACCESS_FOR_METHOD.get(request.method) != fields.get("access")
            or not fields.get("repository")
            or (repository is not None and fields["repository"] != repository)
        ):
            return error(REQUIRES_AUTHORIZATION, 401, TOKEN_CHALLENGE)
        name = fields["repository"]
        try:
            answer = await self.state.index_client().get(
                f"/v1/repositories/{name}/images", headers={"Authorization": authorization}
            )
            listed = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            listed = None
        if not isinstance(listed, list):
            return error(REQUIRES_AUTHORIZATION, 401, TOKEN_CHALLENGE)
        ids = frozenset(str(e["id"]) for e in listed if isinstance(e, dict) and "id" in e)
        grant = Grant(name, authorization, ids)
        if image_id is None or fields["access"] != "read":
            return grant
        store = self.state.store
        if store.is_private(name):
            visible = await self.parent_access(grant, image_id)
        else:
            visible = store.image(image_id) is None or image_id in store.repository_images(name)
        return grant if visible else error("Image not found", 404)

    async def parent_access(self, grant: Grant, image_id: str) -> bool:
        """REF's ``validate_parent_access``: the index's ``…/layer/<id>/access`` answer."""
        try:
            answer = await self.state.index_client().get(
                f"/v1/repositories/{grant.repository}/layer/{image_id}/access",
                headers={"Authorization": grant.authorization},
            )
            body = answer.json() if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return False
        return isinstance(body, dict) and body.get("access") is True

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
