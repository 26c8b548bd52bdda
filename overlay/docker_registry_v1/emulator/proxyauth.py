"""A standalone registry behind a Basic-auth proxy: all but ``_ping`` needs credentials."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .context import BASIC_CHALLENGE, EmulatorState, basic_credentials
from .responses import REQUIRES_AUTHORIZATION, error

OPEN_PATHS = frozenset({"/_ping", "/v1/_ping"})


class ProxyAuthMiddleware:
    """Lets through valid Basic credentials or a token this emulator issued (any scope:
    a proxy does not read tokens, and the reference server in standalone mode never checks them)."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        creds = basic_credentials(request)
        if creds is not None and self.state.store.check_user(*creds):
            await self.app(scope, receive, send)
            return
        if self.state.tokens.lookup(request.headers.get("authorization", "")) is not None:
            await self.app(scope, receive, send)
            return
        await error(REQUIRES_AUTHORIZATION, 401, BASIC_CHALLENGE)(scope, receive, send)
