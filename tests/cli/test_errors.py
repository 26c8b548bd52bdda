"""Errors that help: v2 servers named, 404s that may mean no access, bad values named."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cli_support import assert_one_line_failure, chain, netloc
from docker_registry_v1.emulator import Standalone
from regv1_runner import regv1


class _V2Only(BaseHTTPRequestHandler):
    """A registry that only speaks v2: ``/v2/`` answers (with distribution's version
    header), everything else is 404."""

    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/v2/" else 404
        body = b"{}" if code == 200 else b'{"errors":[{"code":"NOT_FOUND"}]}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/v2/":
            self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        if code == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="https://auth.example/token"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads results, not access logs."""


@pytest.fixture(params=[200, 401])
def v2_registry(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_V2Only,), {"status": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_v2_registry_is_named(v2_registry: str) -> None:
    for args in (
        ["ping", v2_registry],
        ["tags", f"{v2_registry}/team/app"],
        ["image-id", f"{v2_registry}/team/app:1.0"],
    ):
        assert_one_line_failure(
            regv1(*args),
            f"{v2_registry} speaks the v2 registry API only (GET /v2/ answered ",
            "skopeo for v2 sources",
        )


def test_404_on_a_repository_may_mean_no_access(standalone: Standalone) -> None:
    result = regv1("tags", f"{netloc(standalone.url)}/no/such")
    assert_one_line_failure(result, "404", "repository no/such not found, or no access to it")
    standalone.store.seed("team/app", "1.0", chain(1))
    missing_tag = regv1("image-id", f"{netloc(standalone.url)}/team/app:nope")
    assert_one_line_failure(missing_tag, "404", "tag nope not found in repository team/app")
    assert "v2" not in missing_tag.stderr  # a v1 registry is not mistaken for v2


@pytest.mark.parametrize(
    ("args", "shown", "hidden"),
    [
        (["ping", "ftp://127.0.0.1"], "'ftp://127.0.0.1'", None),
        (
            ["ping", "http://alice:hunter2@127.0.0.1:1/"],
            "'http://alice:***@127.0.0.1:1/'",
            "hunter2",
        ),
        (["tags", "app", "--registry", "http://[::1/"], "'http://[::1/'", None),
        (["tags", "app", "--registry", "host:port"], "'host:port'", None),
        (["tags", "bad host:5000/app"], "'bad host:5000' is not a valid HOST[:PORT]", None),
    ],
)
def test_url_errors_name_the_value(args: list[str], shown: str, hidden: str | None) -> None:
    result = regv1(*args)
    assert_one_line_failure(result, shown)
    if hidden is not None:
        assert hidden not in result.stderr


def test_verbose_before_or_after_the_command(standalone: Standalone) -> None:
    standalone.store.seed("team/app", "1.0", chain(1))
    ref = f"{netloc(standalone.url)}/team/app"
    for args in (["-v", "tags", ref], ["tags", ref, "-v"], ["--verbose", "tags", ref]):
        result = regv1(*args)
        assert result.exit_code == 0, result.stderr
        assert "httpx: HTTP Request: GET" in result.stderr, args
    quiet = regv1("tags", ref)
    assert "HTTP Request" not in quiet.stderr
