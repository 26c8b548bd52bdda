"""A standalone registry behind nginx ``auth_basic``: the classic private v1 deployment.

Every route but the two pings needs valid Basic credentials; anything else
(no header, a wrong password, a ``Token`` the registry itself issued) gets
nginx's own HTML 401, before the registry sees the request.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .context import BASIC_CHALLENGE, EmulatorState, basic_credentials
from .responses import HTML

OPEN_PATHS = frozenset({"/_ping", "/v1/_ping"})
NGINX_VERSION = "nginx/1.22.1"
NGINX_401 = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n"
    f"<hr><center>{NGINX_VERSION}</center>\r\n</body>\r\n</html>\r\n"
)


def nginx_unauthorized() -> Response:
    return Response(
        NGINX_401.encode(), 401, {**BASIC_CHALLENGE, "Server": NGINX_VERSION}, media_type=HTML
    )


class ProxyAuthMiddleware:
    """nginx ``auth_basic`` in front of the app (the realm is ``regv1``)."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        creds = basic_credentials(Request(scope))
        if creds is not None and self.state.store.check_user(*creds):
            await self.app(scope, receive, send)
            return
        await nginx_unauthorized()(scope, receive, send)
