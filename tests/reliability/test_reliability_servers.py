"""Hostile or broken servers: a typed error or a documented safe fallback, bounded in time.

The emulator's fault switches cover what a real registry does wrong; a scriptable
loopback server (``reliability_support.Hostile``) covers answers no registry should
ever give: wrong-shape JSON, missing or malicious token headers.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from pathlib import Path

import attrs
import httpx
import pytest
from docker_registry_v1 import (
    Client,
    DockerRegistryError,
    IncompleteBody,
    InvalidResponse,
    RegistryConnectionError,
    ServerError,
    TokenAuth,
)
from docker_registry_v1.emulator import Hub, Standalone
from docker_registry_v1.emulator.seed import payload_checksum
from docker_registry_v1.formats.archive import DecompressionBombError
from docker_registry_v1.transfer import pull
from docker_registry_v1.v1.endpoints import MAX_ENDPOINTS, parse_endpoints
from reliability_support import ALICE, FAST, IMAGE_ID, Answer, hostile, seed_chain, settled

JSON = (("Content-Type", "application/json"),)


def _json(body: object, *extra: tuple[str, str]) -> Answer:
    return Answer(200, json.dumps(body).encode(), (*JSON, *extra))


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("body", "call"),
    [
        ([1, 2], lambda c: c.repository.list_tags("ns/r")),
        ({"latest": 5}, lambda c: c.repository.list_tags("ns/r")),
        ("latest", lambda c: c.repository.list_tags("ns/r")),
        ({"id": IMAGE_ID}, lambda c: c.image.get_ancestry(IMAGE_ID)),
        ([IMAGE_ID, 7], lambda c: c.image.get_ancestry(IMAGE_ID)),
        ({"id": 5}, lambda c: c.repository.get_image_id("ns/r", "t")),
        ([], lambda c: c.repository.get_image_id("ns/r", "t")),
        ({"images": []}, lambda c: c.repository.list_images("ns/r")),
        ([{"id": 5}], lambda c: c.repository.list_images("ns/r")),
        ([], lambda c: c.search.query("x")),
        ({"results": "none"}, lambda c: c.search.query("x")),
        ([], lambda c: c.image.get_metadata(IMAGE_ID)),
        ({"id": IMAGE_ID, "created": 12}, lambda c: c.image.get_metadata(IMAGE_ID)),
    ],
)
def test_wrong_shape_json_is_invalid_response(body: object, call: object) -> None:
    with (
        hostile(lambda _m, _p: _json(body)) as server,
        Client(server.url) as client,
        pytest.raises(InvalidResponse) as caught,
    ):
        call(client)  # type: ignore[operator]
    assert caught.value.code == 200


@pytest.mark.parametrize(
    "body", [b"<html><body>oops</body></html>", b"\xff\xfe\x00garbage", b"", b"[" * 5000]
)
def test_non_json_bodies_are_invalid_response(body: bytes) -> None:
    answer = Answer(200, body, JSON)
    with hostile(lambda _m, _p: answer) as server, Client(server.url) as client:
        for call in (
            lambda: client.repository.list_tags("ns/r"),
            lambda: client.image.get_ancestry(IMAGE_ID),
            lambda: client.search.query("x"),
        ):
            with pytest.raises(InvalidResponse):
                call()


def test_html_error_pages_become_short_typed_errors(standalone: Standalone) -> None:
    standalone.faults.html_error("/v1/repositories/*", 502, times=None)
    with Client(standalone.url) as client, pytest.raises(ServerError) as caught:
        client.repository.list_tags("ns/r")
    error = caught.value
    assert error.code == 502
    assert "<" not in str(error)
    assert "DOCTYPE" not in str(error)
    assert len(str(error)) < 400


def test_malformed_json_is_invalid_response(standalone: Standalone) -> None:
    standalone.store.seed("ns/r", "t", seed_chain(1))
    standalone.faults.malformed_json("/v1/repositories/*/tags")
    with Client(standalone.url) as client, pytest.raises(InvalidResponse):
        client.repository.list_tags("ns/r")


def test_huge_numbers_in_headers_do_not_crash() -> None:
    """Unicode digits and 5000-digit sizes are not sizes; they are ignored, not a crash."""
    for size in ("\u00b2", "9" * 5000, "-1"):
        answer = _json({"id": IMAGE_ID}, ("X-Docker-Size", size))
        with hostile(lambda _m, _p, a=answer: a) as server, Client(server.url) as client:
            assert client.image.get_metadata_raw(IMAGE_ID).size is None


def test_odd_retry_after_gives_up_cleanly() -> None:
    answer = Answer(503, b'{"error": "busy"}', (*JSON, ("Retry-After", "\u00b3")))
    with (
        hostile(lambda _m, _p: answer) as server,
        Client(server.url, retry=FAST) as client,
        pytest.raises(ServerError),
    ):
        client.repository.list_tags("ns/r")
    assert len(server.seen) == FAST.attempts


# ---------------------------------------------------------------- token headers


def test_missing_token_is_invalid_response() -> None:
    with (
        hostile(lambda _m, _p: _json([])) as server,
        Client(server.url) as client,
        pytest.raises(InvalidResponse, match="no X-Docker-Token"),
    ):
        client.hub.get_read_token("ns/r")


@pytest.mark.parametrize("header", [None, "", " , ,"])
def test_missing_or_empty_endpoints_mean_the_index_itself(header: str | None) -> None:
    extra = (("X-Docker-Token", "signature=1"),)
    if header is not None:
        extra += (("X-Docker-Endpoints", header),)
    with hostile(lambda _m, _p: _json([], *extra)) as server, Client(server.url) as client:
        token = client.hub.get_read_token("ns/r")
    assert [str(e) for e in token.endpoints] == [f"http://{server.netloc}"]


@pytest.mark.parametrize(
    "endpoints",
    [
        ["evil.example/path"],
        ["user@127.0.0.1:1"],
        ["http://user:pw@127.0.0.1:1/v1/"],
        ["127.0.0.1:1/../../x"],
        ["127.0.0.1:99999"],
        ["127.0.0.1:1?x=y", "ftp://127.0.0.1:1"],
    ],
)
def test_malicious_endpoints_are_refused(hub: Hub, endpoints: list[str]) -> None:
    hub.store.seed("ns/r", "t", seed_chain(1))
    hub.endpoints = endpoints
    with Client(hub.index_url) as client, pytest.raises(InvalidResponse, match="no usable"):
        client.hub.get_read_token("ns/r")


def test_malicious_items_are_dropped_and_good_ones_kept(hub: Hub) -> None:
    hub.store.seed("ns/r", "t", seed_chain(1))
    hub.endpoints = ["evil.example/path", "user@127.0.0.1:1", "{registry}"]
    with Client(hub.index_url) as client:
        token = client.hub.get_read_token("ns/r")
        assert [e.netloc for e in token.endpoints] == [hub.registry_url.removeprefix("http://")]
        assert "t" in client.repository.list_tags("ns/r", auth=token)


def test_hundreds_of_endpoints_are_capped(hub: Hub) -> None:
    hub.store.seed("ns/r", "t", seed_chain(1))
    hub.endpoints = [f"127.0.0.1:{port}" for port in range(1000, 1400)]
    with Client(hub.index_url) as client:
        token = client.hub.get_read_token("ns/r")
    assert len(token.endpoints) == MAX_ENDPOINTS


def test_https_index_never_downgrades_to_http() -> None:
    url = httpx.URL("https://127.0.0.1:1/v1/")
    kept = parse_endpoints(["http://127.0.0.1:2, 127.0.0.1:3, https://127.0.0.1:4"], url)
    assert [str(e) for e in kept] == ["https://127.0.0.1:3", "https://127.0.0.1:4"]
    with pytest.raises(ValueError, match="no usable"):
        parse_endpoints(["http://127.0.0.1:2"], url)


def test_token_with_non_ascii_bytes_is_invalid_response() -> None:
    extra = (("X-Docker-Token", "signature=\u00e9"),)
    with (
        hostile(lambda _m, _p: _json([], *extra)) as server,
        Client(server.url) as client,
        pytest.raises(InvalidResponse),
    ):
        client.hub.get_read_token("ns/r")


# ---------------------------------------------------------------- layers and redirects


def test_truncated_layer_is_incomplete_body(standalone: Standalone) -> None:
    image = seed_chain(1, size=50_000)[0]
    standalone.store.seed("ns/r", "t", [image])
    standalone.faults.drop_after("/v1/images/*/layer", 1000, times=None)
    with Client(standalone.url) as client, pytest.raises(IncompleteBody):
        client.image.get_layer(image.id, io.BytesIO())


def test_content_length_mismatch_is_incomplete_body(standalone: Standalone) -> None:
    image = seed_chain(1)[0]
    standalone.store.seed("ns/r", "t", [image])
    standalone.faults.wrong_length("/v1/images/*/layer", 4096)
    with Client(standalone.url) as client, pytest.raises(IncompleteBody, match="body ended"):
        client.image.get_layer(image.id, io.BytesIO())


def test_redirect_loop_is_a_bounded_typed_error(standalone: Standalone, tmp_path: Path) -> None:
    standalone.store.seed("ns/r", "t", seed_chain(1))
    standalone.faults.redirect("/v1/images/*/layer", standalone.url)
    started = time.monotonic()
    with Client(standalone.url) as client:
        with pytest.raises(RegistryConnectionError, match="TooManyRedirects"):
            client.image.get_layer(seed_chain(1)[0].id, io.BytesIO())
        with pytest.raises(DockerRegistryError):
            pull(client, "ns/r", "t", tmp_path / "out.tar", retry=FAST)
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []


def test_redirect_to_another_host_drops_credentials(private_registry: Standalone) -> None:
    image = seed_chain(1)[0]
    private_registry.store.seed("ns/r", "t", [image])
    cdn = private_registry.add_cdn()
    private_registry.faults.redirect("/v1/images/*/layer", cdn)
    sink = io.BytesIO()
    with Client(private_registry.url, auth=ALICE) as client:
        client.image.get_layer(image.id, sink)
    assert sink.getvalue() == image.layer_bytes
    entries = settled(private_registry)
    assert [e.authorization for e in entries if e.role == "cdn"] == [None]
    assert all(e.authorization for e in entries if e.role != "cdn")


def test_gzip_bomb_in_a_layer_is_refused_while_computing_diff_ids(
    standalone: Standalone, tmp_path: Path
) -> None:
    base = seed_chain(1)[0]
    bomb = gzip.compress(bytes(80 << 20), compresslevel=6)
    assert len(bomb) < 200_000
    image = attrs.evolve(base, layer_bytes=bomb, checksum=payload_checksum(base.json_bytes, bomb))
    standalone.store.seed("ns/bomb", "t", [image])
    started = time.monotonic()
    with Client(standalone.url) as client, pytest.raises(DecompressionBombError):
        pull(client, "ns/bomb", "t", tmp_path / "out.tar", retry=FAST)
    assert time.monotonic() - started < 20
    assert list(tmp_path.iterdir()) == []


def test_unknown_status_codes_are_typed(standalone: Standalone) -> None:
    for status in (418, 451, 599):
        standalone.faults.error("/v1/_ping", status)
        with (
            Client(standalone.url, retry=None) as client,  # 599 is a 5xx: retried otherwise
            pytest.raises(DockerRegistryError) as caught,
        ):
            client.ping()
        assert caught.value.code == status  # type: ignore[attr-defined]


def test_token_endpoint_order_is_kept_for_fail_over() -> None:
    token = TokenAuth(
        endpoints=parse_endpoints(
            ["127.0.0.1:1, 127.0.0.1:2"], httpx.URL("http://127.0.0.1:5000/v1/")
        )
    )
    assert token.host == "127.0.0.1:1"
    assert token.fail_over()
    assert token.host == "127.0.0.1:2"
    assert not token.fail_over()
