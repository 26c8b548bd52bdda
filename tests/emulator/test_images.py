"""Image routes and the upload state machine, over real loopback sockets."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from emulator_wire import push_image

ID = "a" * 64


def _json(image_id: str, **extra: object) -> bytes:
    return json.dumps({"id": image_id, **extra}).encode()


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"not json", {}, 400, "Invalid JSON"),
        (b"[1, 2]", {}, 400, "Invalid JSON"),
        (b"{}", {}, 400, "Invalid JSON"),
        (b'{"parent": ""}', {}, 400, "Missing key `id' in JSON"),
        (_json("b" * 64), {}, 400, "JSON data contains invalid id"),
        (_json(ID, parent="c" * 64), {}, 400, "Image depends on a non existing parent"),
        (_json(ID, Size=-1), {}, 400, "Invalid JSON"),
        (_json(ID), {"Content-Type": "application/x-www-form-urlencoded"}, 400, "Invalid JSON"),
    ],
)
def test_put_json_rejects(
    client: httpx.Client, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    answer = client.put(f"/v1/images/{ID}/json", content=body, headers=headers)
    assert (answer.status_code, answer.json()) == (status, {"error": message})


@pytest.mark.parametrize("bad_id", ["A" * 64, "a" * 15, "NOTHEX", "g" * 64])
@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("GET", "json"),
        ("PUT", "json"),
        ("GET", "layer"),
        ("PUT", "layer"),
        ("PUT", "checksum"),
        ("GET", "ancestry"),
        ("GET", "files"),
    ],
)
def test_invalid_image_id_first(client: httpx.Client, bad_id: str, method: str, route: str) -> None:
    answer = client.request(method, f"/v1/images/{bad_id}/{route}", content=b"{}")
    assert (answer.status_code, answer.json()) == (404, {"error": "Invalid image ID"})


def test_sixteen_hex_ids_are_accepted(client: httpx.Client) -> None:
    short = "0123456789abcdef"
    assert client.put(f"/v1/images/{short}/json", content=_json(short)).status_code == 200


def test_state_machine(client: httpx.Client) -> None:
    raw = _json(ID, created="2014-10-13T21:19:18.674353812Z") + b"\n"
    layer = b"tar bytes" * 1000
    good = "sha256:" + hashlib.sha256(raw + b"\n" + layer).hexdigest()
    url = f"/v1/images/{ID}"
    # absent
    assert client.put(f"{url}/layer", content=layer).json() == {"error": "Image not found"}
    assert (
        client.put(f"{url}/checksum", headers={"X-Docker-Checksum-Payload": good}).status_code
        == 404
    )
    assert client.get(f"{url}/json").status_code == 404
    # in progress, no layer
    assert client.put(f"{url}/json", content=raw).json() is True
    assert client.put(f"{url}/json", content=raw).status_code == 200
    for route in ("json", "layer", "ancestry", "files"):
        answer = client.get(f"{url}/{route}")
        assert (answer.status_code, answer.json()) == (
            400,
            {"error": "Image is being uploaded, retry later"},
        )
    no_layer = client.put(f"{url}/checksum", headers={"X-Docker-Checksum-Payload": good})
    assert no_layer.status_code == 500
    assert no_layer.headers["content-type"].startswith("text/html")
    # in progress + layer
    assert client.put(f"{url}/layer", content=b"first").status_code == 200
    assert client.put(f"{url}/layer", content=layer).status_code == 200
    missing = client.put(
        f"{url}/checksum", headers={"X-Docker-Checksum": "tarsum+sha256:" + "0" * 64}
    )
    assert missing.status_code == 412
    assert missing.json()["error"].startswith("X-Docker-Checksum-Payload not set.  If you")
    empty = client.put(f"{url}/checksum", headers={"X-Docker-Checksum-Payload": ""})
    assert (empty.status_code, empty.json()) == (400, {"error": "Missing Image's checksum"})
    wrong = client.put(
        f"{url}/checksum", headers={"X-Docker-Checksum-Payload": "sha256:" + "0" * 64}
    )
    assert (wrong.status_code, wrong.json()) == (400, {"error": "Checksum mismatch"})
    assert client.put(f"{url}/checksum", headers={"X-Docker-Checksum-Payload": good}).json() is True
    # complete
    assert client.put(f"{url}/json", content=raw).json() == {"error": "Image already exists"}
    assert client.put(f"{url}/layer", content=layer).status_code == 409
    again = client.put(f"{url}/checksum", headers={"X-Docker-Checksum-Payload": good})
    assert (again.status_code, again.json()) == (409, {"error": "Cannot set this image checksum"})
    got = client.get(f"{url}/json")
    assert got.content == raw
    assert got.headers["x-docker-size"] == str(len(layer))
    assert got.headers.get_list("x-docker-checksum-payload") == [good]
    assert client.get(f"{url}/layer").content == layer


def test_json_retry_discards_layer(client: httpx.Client) -> None:
    raw = _json(ID)
    client.put(f"/v1/images/{ID}/json", content=raw)
    client.put(f"/v1/images/{ID}/layer", content=b"x")
    client.put(f"/v1/images/{ID}/json", content=raw)
    good = "sha256:" + hashlib.sha256(raw + b"\n" + b"x").hexdigest()
    assert (
        client.put(
            f"/v1/images/{ID}/checksum", headers={"X-Docker-Checksum-Payload": good}
        ).status_code
        == 500
    )


def test_no_content_type_and_chunked_upload(client: httpx.Client) -> None:
    raw = _json(ID)
    request = client.build_request("PUT", f"/v1/images/{ID}/json", content=raw)
    assert "content-type" not in request.headers
    assert client.send(request).status_code == 200
    chunks = [b"a" * 70000, b"b" * 5, b""]
    assert client.put(f"/v1/images/{ID}/layer", content=iter(chunks)).status_code == 200
    layer = b"".join(chunks)
    good = "sha256:" + hashlib.sha256(raw + b"\n" + layer).hexdigest()
    assert (
        client.put(
            f"/v1/images/{ID}/checksum", headers={"X-Docker-Checksum-Payload": good}
        ).status_code
        == 200
    )
    assert client.get(f"/v1/images/{ID}/layer").content == layer


def test_parent_needs_only_json_and_ancestry(client: httpx.Client, chain: list[SeedImage]) -> None:
    base, middle, tip = chain
    assert client.put(f"/v1/images/{base.id}/json", content=base.json_bytes).status_code == 200
    assert client.put(f"/v1/images/{middle.id}/json", content=middle.json_bytes).status_code == 200
    for image in chain:
        push_image(client, image)
    ancestry = client.get(f"/v1/images/{tip.id}/ancestry")
    assert ancestry.json() == [tip.id, middle.id, base.id]
    assert ancestry.headers["cache-control"] == "public, max-age=31536000"
    assert ancestry.headers["last-modified"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert ancestry.headers["expires"].endswith("GMT")


def test_cacheable_and_not_modified(client: httpx.Client, chain: list[SeedImage]) -> None:
    push_image(client, chain[0])
    for image_id in (chain[0].id, "f" * 64):
        for route in ("json", "layer", "ancestry", "files"):
            answer = client.get(
                f"/v1/images/{image_id}/{route}", headers={"If-Modified-Since": "yesterday"}
            )
            assert answer.status_code == 304
            assert answer.content == b""
            assert "last-modified" not in answer.headers


def test_empty_layer(client: httpx.Client) -> None:
    raw = _json(ID)
    client.put(f"/v1/images/{ID}/json", content=raw)
    assert client.put(f"/v1/images/{ID}/layer", content=b"").status_code == 200
    good = "sha256:" + hashlib.sha256(raw + b"\n").hexdigest()
    assert (
        client.put(
            f"/v1/images/{ID}/checksum", headers={"X-Docker-Checksum-Payload": good}
        ).status_code
        == 200
    )
    assert client.get(f"/v1/images/{ID}/json").headers["x-docker-size"] == "0"
    layer = client.get(f"/v1/images/{ID}/layer")
    assert (layer.status_code, layer.content) == (200, b"")
    assert client.get(f"/v1/images/{ID}/files").json() == []


def test_head_and_layer_headers(client: httpx.Client, chain: list[SeedImage]) -> None:
    push_image(client, chain[0])
    head = client.head(f"/v1/images/{chain[0].id}/layer")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(chain[0].layer_bytes))
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["content-type"] == "application/octet-stream"
    json_head = client.head(f"/v1/images/{chain[0].id}/json")
    assert json_head.headers["x-docker-size"] == str(len(chain[0].layer_bytes))


def test_files_and_diff(client: httpx.Client) -> None:
    tip = build_image_chain(2, gzip=False)
    for image in tip:
        push_image(client, image)
    files = client.get(f"/v1/images/{tip[1].id}/files").json()
    assert ["/", "d", False, 0, files[0][4], 493, 0, 0] == files[0]
    by_path = {entry[0]: entry for entry in files}
    assert by_path["/data/blob-1.bin"][1:4] == ["f", False, 1024]
    assert by_path["/etc/layer-0.conf"][2] is True  # a whiteout
    diff = client.get(f"/v1/images/{tip[1].id}/diff")
    assert (diff.status_code, diff.json()) == (400, {"error": "Diff queue is disabled"})


def test_files_rejects_non_tar(client: httpx.Client) -> None:
    raw = _json(ID)
    client.put(f"/v1/images/{ID}/json", content=raw)
    client.put(f"/v1/images/{ID}/layer", content=b"definitely not a tar archive" * 30)
    good = (
        "sha256:" + hashlib.sha256(raw + b"\n" + b"definitely not a tar archive" * 30).hexdigest()
    )
    client.put(f"/v1/images/{ID}/checksum", headers={"X-Docker-Checksum-Payload": good})
    answer = client.get(f"/v1/images/{ID}/files")
    assert (answer.status_code, answer.json()) == (400, {"error": "Layer format not supported"})
