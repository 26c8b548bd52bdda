"""A transport in front of a real registry that refuses cross-repository mounts, as
registries that do not lend blobs across repositories (or projects) answer them."""

from __future__ import annotations

import threading

import httpx


class MountRefusingTransport(httpx.HTTPTransport):
    """A real transport to the registry that answers mount POSTs itself: 403 (as a
    registry refusing cross-repository mounts does), or 202 with a real upload session
    of the target repository, opened without the mount. Counts every request."""

    def __init__(self, answer: int) -> None:
        super().__init__()
        self.answer = answer
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str]] = []

    def requests(self, method: str, marker: str) -> list[str]:
        with self.lock:
            return [url for m, url in self.seen if m == method and marker in url]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.seen.append((request.method, str(request.url)))
        if request.method != "POST" or "mount" not in request.url.params:
            return super().handle_request(request)
        if self.answer == 403:
            body = {"errors": [{"code": "DENIED", "message": "cross-repository mount refused"}]}
            return httpx.Response(403, json=body)
        plain = request.url.copy_remove_param("mount").copy_remove_param("from")
        return super().handle_request(
            httpx.Request("POST", plain, headers=request.headers, content=b"")
        )
