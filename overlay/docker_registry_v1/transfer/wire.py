"""The one request transfers build themselves: a layer GET that may carry ``Range``.

The facade's seam streams a layer straight into a writer and only shows the
response once the body is over. Resuming needs more: the status, ``Content-Range``
and ``Accept-Ranges`` before the first byte is kept, and a ``Range`` header on the
way out. So this module builds the request from the generated
``get_image_layer._get_kwargs(image_id=…, range_=…)`` — method, path and encoding
still come from the spec — and sends it on the client's own pooled httpx client
with the authenticator the facade would pick for the call (Basic bound to the
client's origin, tokens moving the request to their endpoint). The client's
response hooks still turn non-2xx answers into typed errors.

``Accept-Encoding: identity`` keeps proxies from compressing the stream: offsets
in ``Content-Range`` and the payload checksum both refer to the stored bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx
from docker_registry_v1_api.api.registry import get_image_layer
from docker_registry_v1_api.types import UNSET

from ..auth import Authenticator, TokenAuth
from ..names import check_image_id

if TYPE_CHECKING:  # the client module imports this package for Client.pull/push
    from ..client import AsyncClient, Client

__all__ = ["astream_layer", "fail_over", "layer_request", "stream_layer"]


def layer_request(image_id: str, range_: str | None) -> dict[str, Any]:
    request = get_image_layer._get_kwargs(
        image_id=check_image_id(image_id), range_=UNSET if range_ is None else range_
    )
    request["headers"]["Accept-Encoding"] = "identity"
    return request


def _auth(client: Client | AsyncClient, auth: Authenticator | None) -> Any:
    """The authenticator the facade's runner would use for this call."""
    return client._runner._state(auth).auth


def fail_over(auth: Authenticator | None, exc: BaseException) -> bool:
    """After a refused connection a token may move on to its next endpoint."""
    return isinstance(exc, httpx.ConnectError) and isinstance(auth, TokenAuth) and auth.fail_over()


@contextlib.contextmanager
def stream_layer(
    client: Client, image_id: str, range_: str | None, auth: Authenticator | None
) -> Iterator[httpx.Response]:

    http = client._runner.api.get_httpx_client()
    with http.stream(**layer_request(image_id, range_), auth=_auth(client, auth)) as response:
        yield response


@contextlib.asynccontextmanager
async def astream_layer(
    client: AsyncClient, image_id: str, range_: str | None, auth: Authenticator | None
) -> AsyncIterator[httpx.Response]:
    http = client._runner.api.get_async_httpx_client()
    request = layer_request(image_id, range_)
    async with http.stream(**request, auth=_auth(client, auth)) as response:
        yield response
