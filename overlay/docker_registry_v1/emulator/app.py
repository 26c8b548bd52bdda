"""The ASGI application of one listener: the routes its role serves, wrapped in
request logging, fault injection and (standalone with users) proxy authentication."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from .context import REGISTRY_AGENT, EmulatorState, Guard
from .faults import FaultMiddleware, Faults
from .images import ImageRoutes
from .index import IndexRoutes
from .proxyauth import ProxyAuthMiddleware
from .repositories import RepositoryRoutes
from .requestlog import LogMiddleware, RequestLog
from .responses import HTML, html_page, json_response, slash_redirect
from .storage import StorageError, read_only_answer, unavailable_answer

Handler = Callable[[Request], Awaitable[Response]]

#: Listener roles: one address playing both parts, the two halves of a hub, a layer CDN.
ROLES = ("standalone", "index", "registry", "cdn")
BANNER = "docker-registry server"
REPO = "/v1/repositories/{repo:repo}"


class _RepositoryConvertor(Convertor[str]):
    """Like ``path`` but also across newlines (any decoded character may be in a name)."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


@functools.cache
def _register_convertor() -> None:
    """Starlette keeps URL convertors in one process-wide table: add ours once, when the
    first app's routes are built, rather than as a side effect of importing this module."""
    register_url_convertor("repo", _RepositoryConvertor())


def _allow(methods: Mapping[str, Handler]) -> str:
    names = set(methods) | {"OPTIONS"}
    if "GET" in names:
        names.add("HEAD")
    return ", ".join(sorted(names))


def route(path: str, methods: Mapping[str, Handler]) -> Route:
    """A route whose ``OPTIONS`` answers 200 with ``Allow`` and whose ``HEAD`` runs the GET."""
    allow = _allow(methods)

    async def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(b"", 200, {"Allow": allow}, media_type=HTML)
        handler = methods["GET" if request.method == "HEAD" else request.method]
        return await handler(request)

    return Route(path, endpoint, methods=[*methods, "OPTIONS"])


async def _redirect_to_slash(request: Request) -> Response:
    return slash_redirect(str(request.url.replace(path=request.url.path + "/")))


async def _read_only(request: Request) -> Response:
    return read_only_answer()


def _routes(state: EmulatorState, role: str) -> list[Route]:
    _register_convertor()
    guard = Guard(state, role)
    images = ImageRoutes(state, guard)
    repos = RepositoryRoutes(state, guard)
    index = IndexRoutes(state, guard)

    def write(handler: Handler) -> Handler:
        """A write route's handler, or the read-only answer over a read-only storage."""
        return _read_only if state.storage.read_only else handler

    async def ping(request: Request) -> Response:
        headers = {"X-Docker-Registry-Standalone": "True" if role == "standalone" else "False"}
        version = getattr(state.storage, "registry_version", None)
        if version is not None:  # REF 0.9.1 sends none; a storage may announce one
            headers["X-Docker-Registry-Version"] = str(version)
        return json_response({}, headers=headers)

    async def banner(request: Request) -> Response:
        return json_response(BANNER)

    common = [
        route("/", {"GET": banner}),
        route("/_ping", {"GET": ping}),
        route("/v1/_ping", {"GET": ping}),
    ]
    if role == "cdn":
        return [
            route("/_ping", {"GET": ping}),
            route("/v1/images/{image_id}/layer", {"GET": images.get_layer}),
        ]
    registry = [
        route(
            "/v1/images/{image_id}/json", {"GET": images.get_json, "PUT": write(images.put_json)}
        ),
        route(
            "/v1/images/{image_id}/layer", {"GET": images.get_layer, "PUT": write(images.put_layer)}
        ),
        route("/v1/images/{image_id}/checksum", {"PUT": write(images.put_checksum)}),
        route("/v1/images/{image_id}/ancestry", {"GET": images.get_ancestry}),
        route("/v1/images/{image_id}/files", {"GET": images.get_files}),
        route("/v1/images/{image_id}/diff", {"GET": images.get_diff}),
        route(f"{REPO}/tags/{{tag}}/json", {"GET": repos.get_tag_json}),
        route(
            f"{REPO}/tags/{{tag}}",
            {
                "GET": repos.get_tag,
                "PUT": write(repos.put_tag),
                "DELETE": write(repos.delete_tag),
            },
        ),
        route(f"{REPO}/tags", {"GET": repos.list_tags, "DELETE": write(repos.delete_repository)}),
        route(f"{REPO}/json", {"GET": repos.get_repository_json}),
        route(
            f"{REPO}/properties", {"GET": repos.get_properties, "PUT": write(repos.put_properties)}
        ),
    ]
    index_routes = [
        route(
            f"{REPO}/images",
            {
                "GET": index.list_images,
                "PUT": write(index.update_images),
                "DELETE": write(index.delete_images),
            },
        ),
        route(f"{REPO}/auth", {"PUT": index.authorize_token}),
        route("/v1/search", {"GET": index.search}),
        route("/v1/users/", {"GET": index.check_login, "POST": index.create_user}),
        route("/v1/users/{username}/", {"PUT": index.update_user}),
        route("/v1/users", {"GET": _redirect_to_slash, "POST": _redirect_to_slash}),
        route("/v1/users/{username}", {"PUT": _redirect_to_slash}),
    ]
    slashed: dict[str, Handler] = {}
    if role in ("standalone", "index"):
        slashed["PUT"] = write(index.create_repository)
    slashed["DELETE"] = write(
        index.delete_repository if role == "index" else repos.delete_repository
    )
    redirects = dict.fromkeys(slashed, _redirect_to_slash)
    tail = [
        route(f"{REPO}/", slashed),
        route("/v1/repositories/{namespace}/{repository}", redirects),
        route("/v1/repositories/{repository}", redirects),
    ]
    if role == "registry":
        return [*common, *registry, *tail]
    if role == "index":
        access = route(f"{REPO}/layer/{{image_id}}/access", {"GET": index.layer_access})
        return [*common, access, *index_routes, *tail]
    return [*common, *registry, *index_routes, *tail]


async def _not_found(request: Request, exc: Exception) -> Response:
    return html_page(404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    headers = exc.headers if isinstance(exc, HTTPException) and exc.headers else {}
    return html_page(405, headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return html_page(500)


async def _storage_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StorageError)
    return unavailable_answer(exc)


def build_app(
    state: EmulatorState,
    role: str,
    *,
    log: RequestLog,
    faults: Faults,
    port: int,
    checks: RequestLog | None = None,
) -> ASGIApp:
    """The full ASGI stack of one listener; ``port`` only labels its log entries;
    ``checks`` logs what the hub registry asks the index (index role)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    starlette = Starlette(
        routes=_routes(state, role),
        exception_handlers={
            404: _not_found,
            405: _not_allowed,
            500: _server_error,
            StorageError: _storage_failed,
        },
    )
    starlette.router.redirect_slashes = False
    app: ASGIApp = starlette
    if state.auth_required and role == "standalone":
        app = ProxyAuthMiddleware(app, state)
    split = (checks, REGISTRY_AGENT.encode()) if checks is not None and role == "index" else None
    return LogMiddleware(FaultMiddleware(app, faults, role), log, role, port, checks=split)
