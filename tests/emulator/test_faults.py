"""Fault injection, applied at runtime to a running emulator."""

from __future__ import annotations

import time

import httpx
import pytest
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from emulator_wire import push_image


@pytest.fixture
def image(standalone: Standalone) -> SeedImage:
    image = build_image_chain(1, layer_size=50000, gzip=False)[0]
    with httpx.Client(base_url=standalone.url) as c:
        push_image(c, image)
    return image


def test_error_first_k_then_recovers(standalone: Standalone, client: httpx.Client) -> None:
    rule = standalone.faults.error("/v1/_ping", 503, retry_after=2, times=2)
    for _ in range(2):
        answer = client.get("/v1/_ping")
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "2")
    assert client.get("/v1/_ping").status_code == 200
    assert rule.hits == 2


def test_latency_method_filter_and_clear(standalone: Standalone, client: httpx.Client) -> None:
    standalone.faults.latency("/v1/_ping", 0.3, method="GET")
    start = time.monotonic()
    client.get("/v1/_ping")
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    client.head("/v1/_ping")
    assert time.monotonic() - start < 0.3
    standalone.faults.clear()
    assert standalone.faults.rules == []


def test_drop_after(standalone: Standalone, client: httpx.Client, image: SeedImage) -> None:
    url = f"/v1/images/{image.id}/layer"
    standalone.faults.drop_after(url, 1000, times=1)
    with client.stream("GET", url) as answer:
        assert answer.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            answer.read()
    entry = standalone.log.last(path=url)
    assert (entry.aborted, entry.response_size) == (True, 1000)
    assert client.get(url).content == image.layer_bytes


def test_wrong_length(standalone: Standalone, client: httpx.Client, image: SeedImage) -> None:
    url = f"/v1/images/{image.id}/json"
    standalone.faults.wrong_length(url, extra=10)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(url)


def test_malformed_and_html(standalone: Standalone, client: httpx.Client) -> None:
    standalone.faults.malformed_json("/v1/repositories/*/tags", times=1)
    broken = client.get("/v1/repositories/ns/r/tags")
    assert broken.status_code == 404
    with pytest.raises(ValueError, match="Unterminated string"):
        broken.json()
    standalone.faults.html_error("/v1/search", 502)
    page = client.get("/v1/search")
    assert page.status_code == 502
    assert page.headers["content-type"] == "text/html"
    assert client.get("/v1/search").status_code == 200


def test_ignore_range(standalone: Standalone, client: httpx.Client, image: SeedImage) -> None:
    url = f"/v1/images/{image.id}/layer"
    standalone.faults.ignore_range()
    answer = client.get(url, headers={"Range": "bytes=10-"})
    assert answer.status_code == 200
    assert answer.content == image.layer_bytes


def test_redirect_to_cdn(standalone: Standalone, image: SeedImage) -> None:
    cdn = standalone.add_cdn()
    standalone.faults.redirect("/v1/images/*/layer", cdn)
    with httpx.Client(base_url=standalone.url, follow_redirects=True) as c:
        answer = c.get(f"/v1/images/{image.id}/layer", headers={"Authorization": "Basic YTpi"})
    assert answer.content == image.layer_bytes
    first, second = standalone.log.find(method="GET", path=f"/v1/images/{image.id}/layer")
    assert (first.status, first.role, second.status, second.role) == (302, "standalone", 200, "cdn")
    assert second.authorization is None


def test_rule_validation(standalone: Standalone) -> None:
    with pytest.raises(ValueError, match="4xx or 5xx"):
        standalone.faults.error(status=200)
    with pytest.raises(ValueError, match="negative"):
        standalone.faults.drop_after("*", -1)
    with pytest.raises(ValueError, match="at least 1"):
        standalone.faults.latency(times=0)
