"""The scale preset: what it stores (over HTTP, as a client sees it), how fast, and the
request kinds both sides of a migration are counted by."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

import httpx
import interruptible
import pytest
from docker_registry_v1.emulator import Store, run_standalone
from docker_registry_v1.emulator.scale import (
    add_scale_tag,
    count_source_requests,
    scale_name,
    seed_scale,
    source_kind,
)
from v2.counting_proxy import counting_proxy, dest_kind

REGV1 = Path(sys.executable).parent / "regv1"


def _members(layer: bytes) -> list[str]:
    raw = gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
        return archive.getnames()


def test_the_description_counts_what_the_store_serves() -> None:
    with run_standalone() as emulator, httpx.Client(base_url=emulator.url) as c:
        scale = seed_scale(emulator.store, repositories=20, tags=4, bases=8, base_depth=3)
        assert (scale.repositories, scale.tags, scale.bases, scale.base_depth) == (20, 4, 8, 3)
        assert scale.unique_images == 20 * 4 + 8 * 3
        assert scale.tag_names == ("v1", "v2", "v3", "latest")
        found = c.get("/v1/search", params={"q": ""}).json()
        assert sorted(r["name"] for r in found["results"]) == sorted(scale.names)
        assert len({name.split("/")[0] for name in scale.names}) == 8

        images: set[str] = set()
        layer_bytes = 0
        compressed = Counter[bool]()
        for n, name in enumerate(scale.names):
            tags = c.get(f"/v1/repositories/{name}/tags").json()
            assert tags == dict(scale.tips[name])
            base = scale.base_chains[n % 8]
            assert scale.base_of(name) == n % 8
            for tag in scale.tag_names:
                ancestry = c.get(f"/v1/images/{tags[tag]}/ancestry").json()
                assert ancestry == [tags[tag], *reversed(base)]
                images.update(ancestry)
        created: dict[str, str] = {}
        for image_id in images:
            document = c.get(f"/v1/images/{image_id}/json").json()
            created[image_id] = document["created"]
            layer = c.get(f"/v1/images/{image_id}/layer").content
            layer_bytes += len(layer)
            compressed[layer[:2] == b"\x1f\x8b"] += 1
            assert len(_members(layer)) == 1
        assert len(images) == scale.unique_images
        assert layer_bytes == scale.layer_bytes
        assert compressed[True] > 0
        assert compressed[False] > 0
        # created increases with the repository and the tag; every base is older
        order = [scale.tips[name][tag] for name in scale.names for tag in scale.tag_names]
        assert [created[i] for i in order] == sorted(created[i] for i in order)
        assert max(created[i] for chain in scale.base_chains for i in chain) < created[order[0]]


def test_the_same_arguments_give_the_same_registry() -> None:
    first = seed_scale(Store(), repositories=5)
    assert seed_scale(Store(), repositories=5) == first
    other = seed_scale(Store(), repositories=5, seed=1)
    assert {i for tags in first.tips.values() for i in tags.values()}.isdisjoint(
        i for tags in other.tips.values() for i in tags.values()
    )
    fewer = seed_scale(Store(), repositories=3, bases=8)
    assert fewer.bases == 3  # only the chains some repository builds on
    assert scale_name(9) == "team1/app9"
    with pytest.raises(ValueError, match="at least 1"):
        seed_scale(Store(), repositories=0)


def test_two_thousand_repositories_seed_in_seconds() -> None:
    started = time.process_time()
    scale = seed_scale(Store(), repositories=2000)
    seconds = time.process_time() - started
    assert scale.unique_images == 2000 * 4 + 8 * 3
    assert seconds < 5, seconds  # about 1 s of CPU on this machine


def test_a_directory_store_keeps_the_scale_seed(tmp_path: Path) -> None:
    scale = seed_scale(Store(tmp_path), repositories=40)
    reloaded = Store(tmp_path)  # one save at the end holds everything
    assert reloaded.tags(scale.names[-1]) == dict(sorted(scale.tips[scale.names[-1]].items()))
    tip = scale.tips[scale.names[17]]["latest"]
    stored = reloaded.image(tip)
    assert stored is not None
    assert stored.complete
    assert stored.ancestry == [tip, *reversed(scale.base_chains[17 % 8])]
    layer = reloaded.layer(tip)
    assert layer is not None
    with layer.open() as reader:
        assert _members(reader.read())


def test_an_added_tag_is_its_own_newest_image_on_the_repository_base() -> None:
    with run_standalone() as emulator, httpx.Client(base_url=emulator.url) as c:
        scale = seed_scale(emulator.store, repositories=10)
        added = add_scale_tag(emulator.store, scale, scale.names[3], "v9")
        assert c.get(f"/v1/repositories/{scale.names[3]}/tags/v9").json() == added.id
        ancestry = c.get(f"/v1/images/{added.id}/ancestry").json()
        assert ancestry == [added.id, *reversed(scale.base_chains[3])]
        newest = max(
            c.get(f"/v1/images/{i}/json").json()["created"]
            for tags in scale.tips.values()
            for i in tags.values()
        )
        assert json.loads(added.json_bytes)["created"] > newest


def test_source_requests_are_counted_by_route_kind() -> None:
    with run_standalone() as emulator, httpx.Client(base_url=emulator.url) as c:
        scale = seed_scale(emulator.store, repositories=2)
        tip = scale.tips[scale.names[0]]["latest"]
        emulator.log.clear()
        c.get("/v1/_ping")
        c.get("/v1/search", params={"q": ""})
        c.get(f"/v1/repositories/{scale.names[0]}/tags")
        c.get(f"/v1/repositories/{scale.names[0]}/tags/latest")
        c.get(f"/v1/repositories/{scale.names[0]}/images")
        c.get(f"/v1/images/{tip}/ancestry")
        c.get(f"/v1/images/{tip}/json")
        c.get(f"/v1/images/{tip}/json")
        c.head(f"/v1/images/{tip}/layer")
        c.get(f"/v1/images/{tip}/layer")
        c.get("/nowhere")
        seen = count_source_requests(emulator.log.entries)
    assert seen == Counter(
        {
            "ping": 1,
            "search": 1,
            "tags": 1,
            "tag": 1,
            "images": 1,
            "ancestry": 1,
            "json": 2,
            "HEAD layer": 1,
            "layer": 1,
            "other GET /nowhere": 1,
        }
    )
    assert source_kind("GET", "/_ping") == "ping"
    assert source_kind("PUT", "/v1/images/abc/json") == "PUT json"
    assert source_kind("GET", "/v1/repositories/busybox/tags") == "tags"


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/v2/", "ping"),
        ("GET", "/v2/team0/app0/tags/list", "GET tags"),
        ("GET", "/v2/team0/app0/tags/list?n=100&last=v1", "GET tags"),
        ("HEAD", "/v2/team0/app0/manifests/v1", "HEAD manifests"),
        ("PUT", "/v2/team0/app0/manifests/latest", "PUT manifests"),
        ("HEAD", "/v2/team0/app0/blobs/sha256:ab", "HEAD blobs"),
        ("POST", "/v2/team0/app0/blobs/uploads/?digest=sha256:ab", "POST uploads"),
        ("POST", "/v2/team0/app0/blobs/uploads/?mount=sha256:ab&from=x/y", "POST mount"),
        ("PATCH", "/v2/team0/app0/blobs/uploads/u-1?_state=s", "PATCH uploads"),
        ("PUT", "/v2/team0/app0/blobs/uploads/u-1?digest=sha256:ab", "PUT uploads"),
        ("GET", "/v2/_catalog", "GET other"),
    ],
)
def test_destination_requests_are_counted_by_method_and_route(
    method: str, path: str, kind: str
) -> None:
    assert dest_kind(method, path) == kind


def test_the_counting_proxy_forwards_and_counts(tmp_path: Path) -> None:
    """An upload through the proxy lands in distribution: the Location it answers names the
    proxy, so the upload's PUT comes back through it and is counted."""
    from v2.v2registry import run_registry  # noqa: PLC0415 - needs distribution

    blob = b"scale seed blob"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with (
        run_registry("none", tmp_path / "v2") as registry,
        counting_proxy(registry.host) as proxy,
        httpx.Client(base_url=f"http://{proxy.host}") as c,
    ):
        started = proxy.mark()
        assert c.get("/v2/").status_code == 200
        opened = c.post("/v2/team0/app0/blobs/uploads/")
        assert opened.status_code == 202
        location = opened.headers["location"]
        assert proxy.host in location or location.startswith("/")
        joiner = "&" if "?" in location else "?"
        put = c.put(f"{location}{joiner}digest={digest}", content=blob)
        assert put.status_code == 201
        assert c.head(f"/v2/team0/app0/blobs/{digest}").headers["content-length"] == str(len(blob))
        assert proxy.counts(started) == Counter(
            {"ping": 1, "POST uploads": 1, "PUT uploads": 1, "HEAD blobs": 1}
        )
        first = proxy.first("POST uploads")
        assert first is not None
        assert [a.status for a in proxy.arrivals] == [200, 202, 201, 200]
        assert proxy.first("PUT manifests") is None
        assert proxy.total("POST uploads") == 1


def test_regv1_serve_seed_scale(tmp_path: Path) -> None:
    description = tmp_path / "scale.json"
    argv = [str(REGV1), "serve", "--port", "0", "--seed", "scale:12", "--describe"]
    process = interruptible.popen(
        [*argv, str(description)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().removeprefix("registry: ")
        described = json.loads(description.read_text())
        assert described["repositories"] == 12
        assert described["unique_images"] == 12 * 4 + 8 * 3
        with httpx.Client(base_url=url) as c:
            found = c.get("/v1/search", params={"q": ""}).json()["results"]
            assert sorted(r["name"] for r in found) == sorted(described["names"])
            assert set(c.get("/v1/repositories/team3/app11/tags").json()) == {
                "v1",
                "v2",
                "v3",
                "latest",
            }
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in stderr


@pytest.mark.parametrize("value", ["scale", "scale:0", "scale:x", "huge"])
def test_regv1_serve_refuses_a_bad_seed(value: str) -> None:
    done = subprocess.run(
        [str(REGV1), "serve", "--port", "0", "--seed", value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "expected one of messy, scale:N" in done.stderr
    assert "Traceback" not in done.stderr
