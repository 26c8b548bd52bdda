"""Index routes: repository allocation and image lists with tokens, search, users."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pydantic
from docker_registry_v1_models import RepositoryImageList, UserCreate, UserUpdate
from starlette.requests import Request
from starlette.responses import Response

from .context import (
    BASIC_CHALLENGE,
    UNDECODABLE,
    EmulatorState,
    Guard,
    basic_credentials,
    json_body,
    repository_name,
)
from .responses import REQUIRES_AUTHORIZATION, empty, error, json_response, raw_json_response
from .storage import call

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
USER_EXISTS = "Username or email already exists"
#: A search result as the Hub wrote one (the emulator has no stars or official images).
HUB_RESULT = {
    "description": "",
    "is_automated": False,
    "is_official": False,
    "is_trusted": False,
    "star_count": 0,
}


def _int_param(request: Request, name: str, default: int, upper: int) -> int | None:
    """The query parameter as an int in ``1..upper``; ``None`` when invalid."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 1 <= value <= upper else None


class IndexRoutes:
    def __init__(self, state: EmulatorState, guard: Guard) -> None:
        self.state = state
        self.store = state.store
        self.storage = state.storage
        self.guard = guard

    async def _image_list(self, request: Request) -> tuple[bytes, list[dict[str, Any]] | Response]:
        raw, data = await json_body(request)
        if data is UNDECODABLE:
            return raw, error("Error Decoding JSON")
        if not isinstance(data, list):
            return raw, error("Invalid data")
        try:
            entries = RepositoryImageList.model_validate(data).model_dump(exclude_none=True)
        except pydantic.ValidationError:
            return raw, error("Invalid data")
        return raw, entries

    async def _store_list(self, request: Request, *, create: bool) -> Response | Mapping[str, str]:
        """Authorise, validate and store a pushed image list; the write-token headers."""
        denied = self.guard.index(request, required=True)
        if denied is not None:
            return denied
        name = repository_name(request)
        raw, entries = await self._image_list(request)
        if isinstance(entries, Response):
            return entries
        self.store.put_index_list(name, raw, entries, create=create)
        return self.guard.token_headers(request, name, "write")

    async def create_repository(self, request: Request) -> Response:
        headers = await self._store_list(request, create=True)
        return headers if isinstance(headers, Response) else json_response("", headers=headers)

    async def update_images(self, request: Request) -> Response:
        headers = await self._store_list(request, create=False)
        return headers if isinstance(headers, Response) else empty(204, headers)

    async def list_images(self, request: Request) -> Response:
        name = repository_name(request)
        private = await call(self.storage, self.storage.is_private, name)
        denied = self.guard.index_read(request, name, required=private)
        if denied is not None:
            return denied
        listed = await call(self.storage, self.storage.index_list, name)
        if listed is None:
            return error("images not found", 404)
        return raw_json_response(listed, self.guard.token_headers(request, name, "read"))

    async def layer_access(self, request: Request) -> Response:
        """The route a token-mode REF asks before accepting a parent (or reading a private
        image): may the token's repository use this image? Its own images, or any public
        repository's, may be used."""
        name = repository_name(request)
        denied = self.guard.index_read(request, name, required=True)
        if denied is not None:
            return denied
        image_id = str(request.path_params["image_id"])
        return json_response({"access": self.store.image_access(name, image_id)})

    async def delete_images(self, request: Request) -> Response:
        denied = self.guard.index(request, required=True)
        if denied is not None:
            return denied
        name = repository_name(request)
        return empty(204, self.guard.token_headers(request, name, "delete"))

    async def delete_repository(self, request: Request) -> Response:
        """Hub index delete: 202 with a delete token when asked, else the final 200 "Deleted".

        The final DELETE comes after the registry deleted the repository with that
        token, so the index remembers which deletions it started.
        """
        denied = self.guard.index(request, required=True)
        if denied is not None:
            return denied
        name = repository_name(request)
        pending = self.state.pending_deletes
        if name in pending and not request.headers.get("x-docker-token"):
            pending.discard(name)
            return json_response("Deleted")
        if not self.store.repository_exists(name):
            return error("Repository not found", 404)
        headers = self.guard.token_headers(request, name, "delete")
        if headers:
            pending.add(name)
            return json_response("", 202, headers)
        return json_response("Deleted")

    async def authorize_token(self, request: Request) -> Response:
        name = repository_name(request)
        if self.state.mode == "hub":
            token = self.state.tokens.lookup(request.headers.get("authorization", ""))
            if token is None or token.repository != name:
                return error(REQUIRES_AUTHORIZATION, 401, {"WWW-Authenticate": "Token"})
        return json_response("OK")

    async def search(self, request: Request) -> Response:
        query = request.query_params.get("q", "")
        include_private = self.state.mode == "standalone" or self.guard.basic_user(request) not in (
            None,
            False,
        )
        names = await call(
            self.storage, self.storage.search, query, include_private=include_private
        )
        shape = self.state.compat.search_shape(self.state.mode)
        if shape == "reference":
            results = [{"description": "", "name": n} for n in names]
            return json_response({"num_results": len(names), "query": query, "results": results})
        size = _int_param(request, "n", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        page = _int_param(request, "page", 1, 100_000)
        if size is None or page is None:
            return error("Invalid paging parameters (n: 1-100, page: from 1)")
        chunk = names[(page - 1) * size : page * size]
        return json_response(
            {
                "num_pages": math.ceil(len(names) / size),
                "num_results": len(names),
                "page": str(page) if shape == "hub" else page,
                "page_size": size,
                "query": query,
                "results": [{**HUB_RESULT, "name": n} for n in chunk],
            }
        )

    def _reference_users(self) -> bool:
        return self.state.compat.users_api(self.state.mode) == "reference"

    async def check_login(self, request: Request) -> Response:
        if not self._reference_users() and self.guard.basic_user(request) in (None, False):
            return error(REQUIRES_AUTHORIZATION, 401, BASIC_CHALLENGE)
        return json_response("OK")

    async def create_user(self, request: Request) -> Response:
        _, data = await json_body(request)
        if data is UNDECODABLE:
            return error("Error Decoding JSON")
        if self._reference_users():
            return json_response("User Created", 201)
        try:
            user = UserCreate.model_validate(data)
        except pydantic.ValidationError:
            return error("Invalid data")
        if not self.store.add_user(user.username, user.password, user.email):
            return json_response(USER_EXISTS, 400)
        return json_response("User Created", 201)

    async def update_user(self, request: Request) -> Response:
        if self._reference_users():
            return empty(204)
        username = str(request.path_params["username"])
        creds = basic_credentials(request)
        if creds is None or not self.store.check_user(*creds):
            return error(REQUIRES_AUTHORIZATION, 401, BASIC_CHALLENGE)
        if creds[0] != username:
            if not self.store.user_exists(username):
                return json_response("No such user", 404)
            return json_response("Forbidden", 403)
        _, data = await json_body(request)
        if data is UNDECODABLE:
            return error("Error Decoding JSON")
        try:
            update = UserUpdate.model_validate(data)
        except pydantic.ValidationError:
            return error("Invalid data")
        self.store.update_user(username, password=update.password, email=update.email)
        return empty(204)
