"""A hostile or broken v2 registry whose paged listings never end: a ``Link`` that leads back
to a page already read, or one that always leads on, stops the listing with a typed error
instead of looping forever. Served over a real socket by a small server of its own."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from docker_registry_v1 import EndlessPagingError, OCIClient
from docker_registry_v1.oci import client as oci_client


class _Pages(BaseHTTPRequestHandler):
    """``/v2/team/app/tags/list``: one tag a page; ``Link`` to itself (mode ``loop``),
    to an ever new page (``endless``), or nowhere after three pages (``finite``)."""

    mode = "loop"
    asked: list[str] = []  # noqa: RUF012 - one server per test, reset by the fixture

    def do_GET(self) -> None:
        self.asked.append(self.path)
        page = int(self.path.rsplit("page=", 1)[1]) if "page=" in self.path else 0
        body = json.dumps({"name": "team/app", "tags": [f"t{page}"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        following = {"loop": 0, "endless": page + 1, "finite": page + 1}[self.mode]
        if self.mode != "finite" or following < 3:
            self.send_header("Link", f'</v2/team/app/tags/list?n=1&page={following}>; rel="next"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def pages() -> Iterator[tuple[str, type[_Pages]]]:
    handler = type("Pages", (_Pages,), {"asked": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_link_back_to_a_page_already_read_ends_the_listing(
    pages: tuple[str, type[_Pages]],
) -> None:
    url, handler = pages
    handler.mode = "loop"
    with OCIClient(url) as v2, pytest.raises(EndlessPagingError, match="already read"):
        list(v2.tags("team/app", page_size=1))
    assert len(handler.asked) == 2  # the first page, and the one its Link named


def test_an_endless_chain_of_pages_stops_at_the_cap(
    pages: tuple[str, type[_Pages]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = pages
    handler.mode = "endless"
    monkeypatch.setattr(oci_client, "MAX_PAGES", 25)
    with OCIClient(url) as v2, pytest.raises(EndlessPagingError, match="goes on"):
        list(v2.tags("team/app", page_size=1))
    assert len(handler.asked) == 26


def test_a_finite_listing_is_read_whole(pages: tuple[str, type[_Pages]]) -> None:
    url, handler = pages
    handler.mode = "finite"
    with OCIClient(url) as v2:
        assert list(v2.tags("team/app", page_size=1)) == ["t0", "t1", "t2"]
