"""Layer ranges: RFC 7233 by default, reference registry 0.9.1 exactly with the switch."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from docker_registry_v1.emulator import Compat, Standalone
from docker_registry_v1.emulator.ranges import RangePlan, reference_plan, standard_plan
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from emulator_wire import push_image

SIZE = 10240


@pytest.mark.parametrize(
    ("header", "plan"),
    [
        (None, RangePlan(200, 0, SIZE, SIZE)),
        ("bytes=0-99", RangePlan(206, 0, 100, 100, "0-99/10240")),
        ("bytes=0-10239", RangePlan(206, 0, SIZE, SIZE, "0-10239/10240")),
        ("bytes=100-", RangePlan(206, 100, 10140, 10141, "100-10240/10240")),
        ("bytes=0-999999", RangePlan(206, 0, SIZE, 1000000, "0-999999/10240")),
        ("bytes=10240-20000", RangePlan(206, 10240, 0, 9761, "10240-20000/10240")),
        ("bytes=0-0", RangePlan(416)),
        ("bytes=5-4", RangePlan(416)),
        ("bytes=5-5", RangePlan(416)),
        ("bytes=-100", RangePlan(200, 0, SIZE, SIZE)),
        ("items=0-10", RangePlan(200, 0, SIZE, SIZE)),
    ],
)
def test_reference_plan_matches_observed_table(header: str | None, plan: RangePlan) -> None:
    assert reference_plan(header, SIZE) == plan


def test_reference_plan_empty_layer() -> None:
    assert reference_plan(None, 0).status == 416


@pytest.mark.parametrize(
    ("header", "plan"),
    [
        (None, RangePlan(200, 0, SIZE, SIZE)),
        ("bytes=0-99", RangePlan(206, 0, 100, 100, "bytes 0-99/10240")),
        ("bytes=0-0", RangePlan(206, 0, 1, 1, "bytes 0-0/10240")),
        ("bytes=100-", RangePlan(206, 100, 10140, 10140, "bytes 100-10239/10240")),
        ("bytes=0-999999", RangePlan(206, 0, SIZE, SIZE, "bytes 0-10239/10240")),
        ("bytes=-100", RangePlan(206, 10140, 100, 100, "bytes 10140-10239/10240")),
        ("bytes=-20000", RangePlan(206, 0, SIZE, SIZE, "bytes 0-10239/10240")),
        ("bytes=10240-", RangePlan(416, content_range="bytes */10240")),
        ("bytes=-0", RangePlan(416, content_range="bytes */10240")),
        ("bytes=5-4", RangePlan(200, 0, SIZE, SIZE)),
        ("items=0-10", RangePlan(200, 0, SIZE, SIZE)),
        ("bytes=0-1,5-6", RangePlan(200, 0, SIZE, SIZE)),
    ],
)
def test_standard_plan(header: str | None, plan: RangePlan) -> None:
    assert standard_plan(header, SIZE) == plan


def test_standard_plan_empty_layer() -> None:
    assert standard_plan(None, 0) == RangePlan(200)
    assert standard_plan("bytes=0-", 0).status == 416


@pytest.fixture
def layer_image(standalone: Standalone) -> SeedImage:
    image = build_image_chain(1, layer_size=20000, gzip=False)[0]
    with httpx.Client(base_url=standalone.url) as c:
        push_image(c, image)
    return image


def test_standard_ranges_on_the_wire(client: httpx.Client, layer_image: SeedImage) -> None:
    layer = layer_image.layer_bytes
    url = f"/v1/images/{layer_image.id}/layer"
    part = client.get(url, headers={"Range": "bytes=100-"})
    assert part.status_code == 206
    assert part.content == layer[100:]
    assert part.headers["content-range"] == f"bytes 100-{len(layer) - 1}/{len(layer)}"
    suffix = client.get(url, headers={"Range": "bytes=-10"})
    assert suffix.content == layer[-10:]
    bad = client.get(url, headers={"Range": f"bytes={len(layer)}-"})
    assert (bad.status_code, bad.headers["content-range"]) == (416, f"bytes */{len(layer)}")


def test_reference_ranges_on_the_wire(
    standalone: Standalone, client: httpx.Client, layer_image: SeedImage
) -> None:
    standalone.compat = Compat(reference_ranges=True)
    layer = layer_image.layer_bytes
    url = f"/v1/images/{layer_image.id}/layer"
    exact = client.get(url, headers={"Range": "bytes=0-99"})
    assert (exact.status_code, exact.headers["content-range"]) == (206, f"0-99/{len(layer)}")
    assert exact.content == layer[:100]
    with client.stream("GET", url, headers={"Range": "bytes=100-"}) as answer:
        assert answer.headers["content-length"] == str(len(layer) - 100 + 1)
        with pytest.raises(httpx.RemoteProtocolError):
            answer.read()
    entry = standalone.log.last(path=url)
    assert (entry.aborted, entry.response_size) == (True, len(layer) - 100)
    assert client.get(url, headers={"Range": "bytes=0-0"}).status_code == 416
    assert client.get(url, headers={"Range": "bytes=-100"}).status_code == 200


def test_reference_empty_layer_is_416(standalone: Standalone, client: httpx.Client) -> None:
    image = build_image_chain(1)[0]
    raw = image.json_bytes
    client.put(f"/v1/images/{image.id}/json", content=raw)
    client.put(f"/v1/images/{image.id}/layer", content=b"")
    checksum = "sha256:" + hashlib.sha256(raw + b"\n").hexdigest()
    client.put(f"/v1/images/{image.id}/checksum", headers={"X-Docker-Checksum-Payload": checksum})
    assert client.get(f"/v1/images/{image.id}/layer").status_code == 200
    standalone.compat = Compat(reference_ranges=True)
    answer = client.get(f"/v1/images/{image.id}/layer")
    assert (answer.status_code, answer.content) == (416, b"")
    assert answer.headers["content-type"] == "application/octet-stream"
