"""Unit-level edge cases: parsing, validation, auth flows on bare requests, error mapping.

Only cases a real server cannot easily produce use ``httpx.MockTransport``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import httpx
import pytest
from docker_registry_v1 import (
    BasicAuth,
    Client,
    ContainerConfig,
    Endpoint,
    ImageMetadata,
    InvalidInput,
    InvalidResponse,
    NotFound,
    RegistryConnectionError,
    RepositoryName,
    TokenAuth,
)
from docker_registry_v1.v1.endpoints import MAX_ENDPOINTS, normalise_token, parse_endpoints

IMAGE_ID = "2427658c75a1e3d0af0e7272317a8abfaee4c15729b6840e3c2fca342fe47bf1"


def _apply(auth: httpx.Auth, request: httpx.Request) -> httpx.Request:
    return next(auth.sync_auth_flow(request))


# ---------------------------------------------------------------- auth on bare requests


def test_basic_auth_header_seed_test_5() -> None:
    request = _apply(BasicAuth("foo", "bar"), httpx.Request("GET", "http://foo.com/v1"))
    assert request.headers["Authorization"] == "Basic Zm9vOmJhcg=="
    assert base64.b64decode("Zm9vOmJhcg==") == b"foo:bar"


def test_token_auth_rewrites_host_seed_test_6() -> None:
    request = _apply(
        TokenAuth(host="bar.com", token="token xyz"), httpx.Request("GET", "http://foo.com/v1")
    )
    assert request.headers["Authorization"] == "Token token xyz"
    assert request.url.host == "bar.com"
    assert request.headers["Host"] == "bar.com"
    assert str(request.url) == "http://bar.com/v1"


def test_token_auth_uses_endpoint_scheme_and_port_and_keeps_query() -> None:
    token = TokenAuth(token="t", endpoints=[Endpoint("reg.example", 5000, "https")])
    request = _apply(token, httpx.Request("GET", "http://index.example:80/v1/search?q=a"))
    assert str(request.url) == "https://reg.example:5000/v1/search?q=a"
    assert request.headers["Host"] == "reg.example:5000"


def test_existing_authorization_is_never_overwritten() -> None:
    for auth in (BasicAuth("u", "p"), TokenAuth(host="h", token="t")):
        request = httpx.Request("GET", "http://h/v1/", headers={"Authorization": "Bearer mine"})
        assert _apply(auth, request).headers["Authorization"] == "Bearer mine"


def test_basic_auth_pinned_to_a_host_stays_there() -> None:
    auth = BasicAuth("u", "p", host="https://index.example")
    allowed = _apply(auth, httpx.Request("GET", "https://index.example/v1/"))
    assert "Authorization" in allowed.headers
    for url in ("https://other.example/v1/", "http://index.example/v1/"):
        assert "Authorization" not in _apply(auth, httpx.Request("GET", url)).headers


def test_secrets_stay_out_of_reprs() -> None:
    assert "s3cret" not in repr(BasicAuth("alice", "s3cret"))
    assert "signature" not in repr(TokenAuth(host="h", token="signature=abc"))
    assert "signature" not in str(TokenAuth(host="h", token="signature=abc"))


def test_header_injection_is_refused() -> None:
    with pytest.raises(InvalidInput):
        TokenAuth(host="h", token="a\r\nX-Evil: 1")
    with pytest.raises(InvalidInput):
        BasicAuth("a:b", "c")
    with Client("http://127.0.0.1:9/") as client, pytest.raises(InvalidInput):
        client.image.put_checksum(IMAGE_ID, "sha256:ab\nX: y")


# ---------------------------------------------------------------- endpoints and tokens


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["www.bar.com"], ["https://www.bar.com"]),
        (["https://h"], ["https://h"]),
        (["h:5000"], ["https://h:5000"]),
        (["a, b", " c ,"], ["https://a", "https://b", "https://c"]),
        (["127.0.0.1:5000"], ["https://127.0.0.1:5000"]),
        (["[::1]:5000"], ["https://[::1]:5000"]),
        (["https://h/v1/"], ["https://h"]),
        (["http://down.example, good.example"], ["https://good.example"]),
        (["user@h, h/x, h:99999, h?q, good"], ["https://good"]),
        ([], ["https://index.example:8443"]),
    ],
)
def test_endpoint_parsing(header: list[str], expected: list[str]) -> None:
    index = httpx.URL("https://index.example:8443/v1/repositories/a/b/images")
    assert [str(e) for e in parse_endpoints(header, index)] == expected


def test_endpoint_list_rules() -> None:
    plain = httpx.URL("http://index.example/")
    assert [str(e) for e in parse_endpoints(["h"], plain)] == ["http://h"]
    many = [",".join(f"h{n}" for n in range(50))]
    assert len(parse_endpoints(many, plain)) == MAX_ENDPOINTS
    with pytest.raises(ValueError, match="no usable registry"):
        parse_endpoints(["user@h", "http://x"], httpx.URL("https://index.example/"))


def test_token_normalisation() -> None:
    assert normalise_token(["foo123"]) == "foo123"
    assert normalise_token(["Token signature=A,access=read"]) == "signature=A,access=read"
    assert normalise_token(["TOKEN a", "b"]) == "a,b"
    assert normalise_token(["", " "]) is None


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ubuntu", "library/ubuntu"), ("foo/bar", "foo/bar"), ("my.ns/a_b-c.d", "my.ns/a_b-c.d")],
)
def test_repository_names(name: str, expected: str) -> None:
    assert str(RepositoryName.parse(name)) == expected


@pytest.mark.parametrize(
    "name", ["", "a//b", "a/", "../b", "a/..", "a/b/c", "a b", "a\nb", "x" * 256, "a" * 64]
)
def test_bad_repository_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        RepositoryName.parse(name)


@pytest.mark.parametrize("name", ["localhost:5000/foo", "my.registry:5000/ns/repo", "a.io/b/c"])
def test_registry_host_in_name_points_at_base_url(name: str) -> None:
    with pytest.raises(InvalidInput, match="base_url"):
        RepositoryName.parse(name)


def test_ids_and_tags_are_checked_before_the_wire() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    with Client("http://h/", transport=httpx.MockTransport(refuse)) as client:
        for bad in ("1234567890", IMAGE_ID.upper(), IMAGE_ID + "0"):
            with pytest.raises(InvalidInput):
                client.image.get_ancestry(bad)
        with pytest.raises(InvalidInput):
            client.repository.set_tag("foo", IMAGE_ID, ".bad")
        with pytest.raises(InvalidInput):
            client.search.query("x", page=0)


# ---------------------------------------------------------------- base URL and transport


def _recording(answer: httpx.Response) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return seen, httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("base", "path"),
    [
        ("http://h:5000", "/v1/repositories/library/foo/tags"),
        ("http://h:5000/v1", "/v1/repositories/library/foo/tags"),
        ("http://h:5000/v1/", "/v1/repositories/library/foo/tags"),
        ("http://h/prefix/v1/", "/prefix/v1/repositories/library/foo/tags"),
        ("http://h/prefix", "/prefix/v1/repositories/library/foo/tags"),
    ],
)
def test_base_url_forms(base: str, path: str) -> None:
    seen, transport = _recording(httpx.Response(200, json={"bar": IMAGE_ID}))
    with Client(base, transport=transport) as client:
        assert dict(client.repository.list_tags("foo")) == {"bar": IMAGE_ID}
        assert client.base_url.endswith("/v1/")
    assert seen[0].url.path == path
    assert seen[0].content == b""


def test_base_url_can_be_changed_like_the_go_field() -> None:
    seen, transport = _recording(httpx.Response(200, json=[]))
    with Client(transport=transport) as client:
        assert client.base_url == "https://index.docker.io/v1/"
        client.base_url = "http://my.registry:8080/v1"
        client.image.get_ancestry(IMAGE_ID, auth=BasicAuth("u", "p"))
    assert str(seen[0].url) == f"http://my.registry:8080/v1/images/{IMAGE_ID}/ancestry"
    assert seen[0].headers["Authorization"].startswith("Basic ")


def test_base_url_with_credentials_is_refused() -> None:
    with pytest.raises(InvalidInput, match="credentials"):
        Client("https://user:pass@h/v1/")


def test_success_statuses_and_bad_bodies() -> None:
    _, created = _recording(httpx.Response(201))
    with Client("http://h/", transport=created) as client:
        client.repository.set_tag("foo", IMAGE_ID, "bar")
    _, garbage = _recording(httpx.Response(200, text="not json"))
    with Client("http://h/", transport=garbage) as client, pytest.raises(InvalidResponse):
        client.image.get_ancestry(IMAGE_ID)
    _, wrong = _recording(httpx.Response(200, json={"not": "a list"}))
    with Client("http://h/", transport=wrong) as client, pytest.raises(InvalidResponse):
        client.image.get_ancestry(IMAGE_ID)


def test_html_error_mapping_and_redaction() -> None:
    page = "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
    answer = httpx.Response(
        404, html=page, headers={"X-Docker-Token": "signature=secret", "Set-Cookie": "s=1"}
    )
    _, transport = _recording(answer)
    with Client("http://h/", transport=transport) as client, pytest.raises(NotFound) as caught:
        client.image.get_ancestry(IMAGE_ID)
    error = caught.value
    assert str(error).startswith(f"GET http://h/v1/images/{IMAGE_ID}/ancestry returned 404")
    assert error.excerpt == "404 Not Found Not Found"
    assert error.headers["x-docker-token"] == "<redacted>"
    assert "secret" not in repr(error.headers) + str(error)


def test_connection_errors_are_typed() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    transport = httpx.MockTransport(refuse)
    with (
        Client("http://h/", transport=transport) as client,
        pytest.raises(RegistryConnectionError, match="GET http://h/v1/_ping failed"),
    ):
        client.ping()


def test_ping_without_a_json_body() -> None:
    answer = httpx.Response(200, text="", headers={"X-Docker-Registry-Standalone": "0"})
    _, transport = _recording(answer)
    with Client("http://h/", transport=transport) as client:
        ping = client.ping()
    assert (ping.standalone, ping.body) == (False, None)


# ---------------------------------------------------------------- image metadata


def test_metadata_decoding_seed_test_13() -> None:
    for comment_key, size_key in (("Comment", "Size"), ("comment", "size")):
        data = {
            "id": "1234567890",
            "parent": "0987654321",
            comment_key: "lgtm",
            "created": "1973-10-25T08:00:00Z",
            "author": "Alex",
            size_key: 20909309,
            "container_config": {"Cmd": None, "Memory": 0},
            "config": None,
        }
        meta = ImageMetadata.from_dict(data)
        assert (meta.comment, meta.size, meta.author) == ("lgtm", 20909309, "Alex")
        assert meta.config is None
        assert meta.container_config == ContainerConfig(memory=0)
        assert meta.created_at is not None
        assert meta.created_at.year == 1973


def test_metadata_encoding_seed_test_14() -> None:
    meta = ImageMetadata(
        id=IMAGE_ID,
        created="2014-10-13T21:19:18.674353812Z",
        container_config=ContainerConfig(cmd=["/bin/sh"]),
        size=3,
        extra={"future_key": [1]},
    )
    encoded = json.loads(meta.to_json())
    assert encoded == {
        "id": IMAGE_ID,
        "created": "2014-10-13T21:19:18.674353812Z",
        "container_config": {"Cmd": ["/bin/sh"]},
        "Size": 3,
        "future_key": [1],
    }
    assert ImageMetadata.from_json(meta.to_json()) == meta
    assert ImageMetadata.from_dict({"id": IMAGE_ID, "parent": ""}).parent is None
    with pytest.raises(TypeError):
        ImageMetadata.from_dict({"id": IMAGE_ID, "Size": "big"})


def test_import_loads_no_generated_endpoint_module_nor_the_generated_client() -> None:
    code = (
        "import sys, docker_registry_v1\n"
        "print(' '.join(m for m in sys.modules if m.startswith('docker_registry_v1_api')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "docker_registry_v1_api.api.registry" in loaded  # the facade's tag packages
    assert "docker_registry_v1_api.client" not in loaded
    assert not [m for m in loaded if m.count(".") >= 3]  # no api.<tag>.<operation> module
