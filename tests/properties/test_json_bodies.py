"""Server bodies the clients decode as JSON: random, deeply nested, huge, not JSON at all.

Unit level on purpose (``httpx.MockTransport``): the property is about the decode
helpers, and a body a hundred thousand brackets deep or a wrong type in every place
is cheaper to state than to serve. Whatever the body and status, every call of the
v1 client (`Client`) and of the OCI client (`OCIClient`, its token flow included)
returns or raises the package's typed error (`DockerRegistryError`): never
RecursionError, TypeError, AttributeError, KeyError or UnicodeError. Nesting depth
is bounded: a body nested past the decoder's limit is an invalid answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from docker_registry_v1 import Client, DockerRegistryError, InvalidResponse, OCIClient, OCIError
from docker_registry_v1.cli import main
from docker_registry_v1.formats.archive.compression import Compression
from docker_registry_v1.formats.compress import LayerBlob
from docker_registry_v1.formats.convert import ManifestFormat, convert_image
from docker_registry_v1.oci.auth import RegistryAuth
from docker_registry_v1.transfer.migrate_existing import DestinationSurvey
from docker_registry_v1.transfer.migrate_plan import PlannedTag, TagState
from docker_registry_v1.transfer.retry import RetryPolicy
from hypothesis import example, given
from hypothesis import strategies as st
from property_support import budget, hostile_json_text, json_bytes, json_values, nested, tricky_text

IMAGE = "ab" * 32
DIGEST = "sha256:" + "cd" * 32
ORIGIN = "http://reg.example"


def handler(
    status: int, body: bytes, link: str | None, token: bytes | None
) -> Callable[[httpx.Request], httpx.Response]:
    """Every request answered with ``status`` and ``body`` (and ``link``); with ``token``,
    a request without credentials gets a Bearer challenge and the realm answers ``token``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if token is not None:
            if request.url.path == "/token":
                return httpx.Response(
                    200, content=token, headers={"Content-Type": "application/json"}
                )
            if "authorization" not in request.headers:
                challenge = f'Bearer realm="{ORIGIN}/token",service="reg.example"'
                return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        headers = {"Content-Type": "application/json"}
        if link is not None:
            headers["Link"] = link
        return httpx.Response(status, content=body, headers=headers)

    return answer


V1_CALLS: dict[str, Callable[[Client], object]] = {
    "ping": lambda c: c.ping(),
    "tags": lambda c: c.repository.list_tags("ns/app"),
    "tag": lambda c: c.repository.get_image_id("ns/app", "1.0"),
    "images": lambda c: c.repository.list_images("ns/app"),
    "ancestry": lambda c: c.image.get_ancestry(IMAGE),
    "metadata": lambda c: c.image.get_metadata(IMAGE),
    "metadata_raw": lambda c: c.image.get_metadata_raw(IMAGE),
    "search": lambda c: c.search.query("x"),
    "token": lambda c: c.hub.get_read_token("ns/app"),
}

OCI_CALLS: dict[str, Callable[[OCIClient], object]] = {
    "ping": lambda c: c.ping(),
    "tags": lambda c: list(c.tags("team/app")),
    "catalog": lambda c: list(c.catalog()),
    "manifest": lambda c: c.get_manifest("team/app", "1.0"),
    "blob_size": lambda c: c.blob_size("team/app", DIGEST),
    "mount": lambda c: c.mount_blob("team/app", DIGEST, "team/base"),
    "put_manifest": lambda c: c.put_manifest(
        "team/app", "1.0", b"{}", "application/vnd.oci.image.manifest.v1+json"
    ),
}


def _shaped(key: str) -> st.SearchStrategy[bytes]:
    """The right outer shape with anything inside: what gets past a first type check."""
    return st.dictionaries(st.just(key) | tricky_text, json_values, max_size=3).map(json_bytes)


bodies = st.one_of(
    hostile_json_text,
    json_values.map(json_bytes),
    _shaped("tags"),
    _shaped("repositories"),
    _shaped("errors"),
    _shaped("error"),
    st.lists(json_values, max_size=3).map(json_bytes),
)
statuses = st.sampled_from([200, 200, 200, 201, 202, 204, 400, 404, 409, 500])
links = st.none() | st.sampled_from(
    [
        '</v2/team/app/tags/list?n=1>; rel="next"',
        "<>; rel=next",
        '<http://elsewhere/x>; rel="next"',
        "junk",
    ]
)


def outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except DockerRegistryError as exc:
        return exc


@budget(300)
@given(call=st.sampled_from(sorted(V1_CALLS)), status=statuses, body=bodies)
@example(call="tags", status=200, body=nested(100_000, "list"))
@example(call="ancestry", status=200, body=nested(5_000, "object"))
@example(call="search", status=200, body=b'{"results":' + nested(3_000, "mixed") + b"}")
@example(call="metadata", status=500, body=nested(100_000, "object"))
def test_v1_client_bodies(call: str, status: int, body: bytes) -> None:
    with Client(
        ORIGIN, transport=httpx.MockTransport(handler(status, body, None, None)), retry=None
    ) as client:
        outcome(lambda: V1_CALLS[call](client))


@budget(300)
@given(call=st.sampled_from(sorted(OCI_CALLS)), status=statuses, body=bodies, link=links)
@example(call="tags", status=200, body=nested(100_000, "list"), link=None)
@example(call="tags", status=200, body=b'{"tags": 5}', link=None)
@example(call="catalog", status=200, body=b"[1, 2]", link=None)
@example(call="manifest", status=404, body=nested(100_000, "object"), link=None)
def test_oci_client_bodies(call: str, status: int, body: bytes, link: str | None) -> None:
    transport = httpx.MockTransport(handler(status, body, link, None))
    with OCIClient(ORIGIN, transport=transport, retry=None) as client:
        outcome(lambda: OCI_CALLS[call](client))


@budget(150)
@given(
    token=bodies
    | st.dictionaries(
        st.sampled_from(["token", "access_token", "expires_in", "issued_at"]), json_values
    ).map(json_bytes)
)
@example(token=nested(100_000, "object"))
@example(token=b'{"token": "t", "expires_in": 1e999}')
@example(token=b'{"token": "t", "expires_in": 10000000000000000000000, "issued_at": "x"}')
def test_token_answers(token: bytes) -> None:
    transport = httpx.MockTransport(handler(200, b'{"tags": []}', None, token))
    with OCIClient(ORIGIN, auth=RegistryAuth(ORIGIN), transport=transport, retry=None) as client:
        outcome(lambda: list(client.tags("team/app")))


# ---------------------------------------------------------------- the bound, named


@pytest.mark.parametrize("kind", ["list", "object", "mixed"])
def test_nesting_past_the_bound_is_an_invalid_answer(kind: str) -> None:
    """Not only no crash: the deep body is refused with the typed error for a bad answer."""
    body = nested(100_000, kind)
    v1 = httpx.MockTransport(handler(200, body, None, None))
    with Client(ORIGIN, transport=v1, retry=None) as client, pytest.raises(InvalidResponse):
        client.repository.list_tags("ns/app")
    oci = httpx.MockTransport(handler(200, body, None, None))
    with (
        OCIClient(ORIGIN, transport=oci, retry=None) as client,
        pytest.raises(OCIError, match="tags of team/app"),
    ):
        list(client.tags("team/app"))


def test_a_shallow_body_is_still_read() -> None:
    """The bound leaves room for any real answer: a tag list nested 50 deep inside is fine."""
    inner: Any = "x"
    for _ in range(50):
        inner = [inner]
    body = json_bytes({"tags": ["1.0", "2.0"], "deep": inner})
    with OCIClient(
        ORIGIN, transport=httpx.MockTransport(handler(200, body, None, None)), retry=None
    ) as client:
        assert list(client.tags("team/app")) == ["1.0", "2.0"]


# ---------------------------------------------------------------- the destination a rerun surveys

_V1_JSON = json_bytes({"id": IMAGE, "created": "2014-10-13T21:19:18Z", "os": "linux"})
_BLOB = LayerBlob(DIGEST, 100, "sha256:" + "ef" * 32, 200, Compression.GZIP, False)
_GENUINE = convert_image([_V1_JSON], [_BLOB], manifest_format=ManifestFormat.OCI)


class _Destination:
    """A destination whose tag's manifest and config are whatever the example says."""

    registry = "reg.example"
    manifest_format = ManifestFormat.OCI

    def __init__(self, manifest: bytes, config: bytes) -> None:
        self.manifest, self.config = manifest, config

    def reference(self, repository: str, tag: str) -> tuple[str, str]:
        return repository, tag

    def read_manifest(self, name: str, reference: str) -> bytes:
        return self.manifest

    def read_blob(self, name: str, digest: str) -> bytes:
        return self.config

    def blob_size(self, name: str, digest: str) -> int:
        return 1

    def current(self, repository: str, tag: str) -> None:
        return None


def _document(data: bytes, change: tuple[list[int], Any] | bytes | None) -> bytes:
    """The genuine document, changed at a random place, or replaced by hostile text."""
    if change is None:
        return data
    if isinstance(change, bytes):
        return change
    path, value = change
    document: Any = json.loads(data)
    node = document
    for step in path[:-1]:
        if isinstance(node, dict) and node:
            node = node[sorted(node)[step % len(node)]]
        elif isinstance(node, list) and node:
            node = node[step % len(node)]
    if isinstance(node, dict) and node and path:
        node[sorted(node)[path[-1] % len(node)]] = value
    elif isinstance(node, list) and node and path:
        node[path[-1] % len(node)] = value
    else:
        return json_bytes(value)
    return json_bytes(document)


_changes = (
    st.none() | hostile_json_text | st.tuples(st.lists(st.integers(0, 9), max_size=4), json_values)
)


@budget(150)
@given(manifest=_changes, config=_changes)
@example(manifest=None, config=None)  # the genuine image: found current
@example(manifest=None, config=([1], [1, 2]))  # a history of numbers
@example(manifest=nested(100_000, "object"), config=None)
@example(manifest=None, config=nested(100_000, "list"))
def test_destination_manifests_a_rerun_surveys(manifest: Any, config: Any) -> None:
    """`migrate` reads what the destination holds to skip what is already there; a
    manifest or config it cannot use means "not current", never an exception."""
    source = httpx.MockTransport(lambda _request: httpx.Response(200, content=_V1_JSON))
    destination = _Destination(
        _document(_GENUINE.manifest, manifest), _document(_GENUINE.config, config)
    )
    one = PlannedTag("ns/app", "1.0", IMAGE, (IMAGE,), "team/app", "1.0", TagState.COPY)
    with Client(ORIGIN, transport=source, retry=None) as client:
        survey = DestinationSurvey(destination, client, None, 6, RetryPolicy(), 1)  # type: ignore[arg-type]
        found = survey._check(one, {})
    if manifest is None and config is None:
        assert found == _GENUINE.manifest_digest
    else:
        assert found in (None, _GENUINE.manifest_digest)


# ---------------------------------------------------------------- the CLI shows an image's JSON


class _ImageServer(BaseHTTPRequestHandler):
    """A v1 registry over a real socket whose one image's JSON is ``body``."""

    body = b"{}"
    tags = b"{}"

    def do_GET(self) -> None:
        if self.path.endswith("/tags/1.0"):
            data = json_bytes(IMAGE)
        elif self.path.endswith("/tags"):
            data = self.tags
        elif self.path == f"/v1/images/{IMAGE}/json":
            data = self.body
        else:
            data = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        """Quiet: the test reads the CLI's output, not the server's."""


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ImageServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ns/app:1.0"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@budget(15)
@given(body=bodies)
@example(body=nested(100_000, "object"))
@example(body=b'{"comment": "\\ud800 \\udfff"}')  # lone surrogates: no UTF-8 output takes them raw
@example(body=b'{"id": "x", "config": {"Env": ["A=1"]}}')
def test_regv1_metadata_shows_or_refuses_any_image_json(image_server: str, body: bytes) -> None:
    """`regv1 metadata` prints the JSON it parses, or says in one line that it does not
    parse: never an "unexpected …" error."""
    _ImageServer.body = body
    result = CliRunner().invoke(
        main, ["metadata", image_server, "--format", "json"], catch_exceptions=False
    )
    assert "unexpected" not in result.stderr, result.stderr
    if result.exit_code == 0:
        shown = json.loads(result.stdout)["metadata"]
        assert json.dumps(shown, sort_keys=True) == json.dumps(json.loads(body), sort_keys=True)
    else:
        assert result.exit_code == 1, result.stderr
        assert result.stderr.startswith("error: "), result.stderr


_tag_maps = st.dictionaries(tricky_text, st.just(IMAGE) | tricky_text, max_size=3).map(json_bytes)


@budget(6)
@given(tags=bodies | _tag_maps)
@example(tags=b'{"\\ud800": "' + IMAGE.encode() + b'", "\\u009b2J": "' + IMAGE.encode() + b'"}')
def test_regv1_tags_prints_any_tag_list_in_every_format(image_server: str, tags: bytes) -> None:
    """A server's tag names reach every output format escaped or refused in one line:
    never an "unexpected …" error (a lone surrogate cannot be written as UTF-8)."""
    _ImageServer.tags = tags
    repository = image_server.removesuffix(":1.0")
    for form in ("json", "plain", "table"):
        result = CliRunner().invoke(
            main, ["tags", repository, "--format", form], catch_exceptions=False
        )
        assert "unexpected" not in result.stderr, (form, result.stderr)
        assert result.exit_code in (0, 1), (form, result.stderr)
        assert "\x1b" not in result.stdout
        assert "\x9b" not in result.stdout
