"""Registry repository routes: tags, the reference server's metadata and properties, delete."""

from __future__ import annotations

import re
import time
from typing import Any

import pydantic
from docker_registry_v1_models import ImageIdString, RepositoryProperties
from starlette.requests import Request
from starlette.responses import Response

from .context import UNDECODABLE, EmulatorState, Guard, json_body, repository_name
from .responses import error, html_page, json_response
from .storage import call

TAG_NAME = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
INVALID_TAG = "Invalid tag name (must match ^[\\w][\\w.-]{0,127}$)"

_UA_KEYS = {
    "docker": "docker_version",
    "go": "docker_go_version",
    "arch": "arch",
    "kernel": "kernel",
    "os": "os",
}


def tag_metadata(user_agent: str) -> dict[str, Any]:
    """What the reference server records from a tag PUT's User-Agent (R15)."""
    meta: dict[str, Any] = {}
    for part in user_agent.split():
        key, sep, value = part.partition("/")
        if sep and key.lower() in _UA_KEYS:
            field = _UA_KEYS[key.lower()]
            meta[field] = value.lower() if field in ("arch", "kernel", "os") else value
    meta["last_update"] = int(time.time())
    return meta


class RepositoryRoutes:
    def __init__(self, state: EmulatorState, guard: Guard) -> None:
        self.state = state
        self.store = state.store
        self.storage = state.storage
        self.guard = guard

    async def _name(self, request: Request) -> tuple[str, Response | None]:
        name = repository_name(request)
        denied = await self.guard.registry(request, repository=name)
        return name, denied if isinstance(denied, Response) else None

    async def list_tags(self, request: Request) -> Response:
        name, denied = await self._name(request)
        if denied is not None:
            return denied
        tags = await call(self.storage, self.storage.tags, name)
        if tags is None:
            return error("Repository not found", 404)
        if await call(self.storage, self.storage.unreadable_tags, name):
            return html_page(500)  # REF cannot encode a tag file that is not text
        if self.state.compat.tag_list_as_list:
            return json_response([{"layer": i[:8], "name": t} for t, i in tags.items()])
        return json_response(tags)

    async def get_tag(self, request: Request) -> Response:
        name, denied = await self._name(request)
        if denied is not None:
            return denied
        tag = str(request.path_params["tag"])
        if tag in await call(self.storage, self.storage.unreadable_tags, name):
            return html_page(500)
        image_id = (await call(self.storage, self.storage.tags, name) or {}).get(tag)
        if image_id is None:
            return error("Tag not found", 404)
        return json_response(image_id)

    async def put_tag(self, request: Request) -> Response:
        name, denied = await self._name(request)
        if denied is not None:
            return denied
        tag = str(request.path_params["tag"])
        if not TAG_NAME.match(tag):
            return error(INVALID_TAG)
        _, data = await json_body(request)
        if data is UNDECODABLE or not isinstance(data, str) or not data:
            return error("Invalid data")
        try:
            image_id = ImageIdString.model_validate(data).root
        except pydantic.ValidationError:
            return error("Image not found", 404)
        meta = tag_metadata(request.headers.get("user-agent", ""))
        if not self.store.set_tag(name, tag, image_id, meta):
            return error("Image not found", 404)
        return json_response(True)

    async def delete_tag(self, request: Request) -> Response:
        name, denied = await self._name(request)
        if denied is not None:
            return denied
        tag = str(request.path_params["tag"])
        if not self.store.delete_tag(name, tag):
            return error(f"Tag not found: {tag}", 404)
        return json_response(True)

    async def get_tag_json(self, request: Request) -> Response:
        name, denied = await self._name(request)
        if denied is not None:
            return denied
        tag = str(request.path_params["tag"])
        return json_response(await call(self.storage, self.storage.tag_metadata, name, tag))

    async def get_repository_json(self, request: Request) -> Response:
        name, denied = await self._name(request)
        if denied is not None:
            return denied
        return json_response(await call(self.storage, self.storage.repository_metadata, name))

    async def get_properties(self, request: Request) -> Response:
        name, denied = await self._name(request)
        if denied is not None:
            return denied
        return json_response({"access": await call(self.storage, self.storage.access, name)})

    async def put_properties(self, request: Request) -> Response:
        name, denied = await self._name(request)
        if denied is not None:
            return denied
        _, data = await json_body(request)
        if not isinstance(data, dict):
            return error("Invalid data")
        try:
            access = RepositoryProperties.model_validate(data).access
        except pydantic.ValidationError:
            return error("Invalid data")
        self.store.set_access(name, access.value)
        return json_response(True)

    async def delete_repository(self, request: Request) -> Response:
        name, denied = await self._name(request)
        if denied is not None:
            return denied
        if not self.store.delete_repository(name):
            return error("Repository not found", 404)
        return json_response(True)
