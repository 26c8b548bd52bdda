"""The read-only v1 face over Debian's distribution, against the emulator it was migrated
from: the same ids, byte-identical JSON and layers, checksums that verify, ranges, the
same ``regv1`` answers and ``docker load`` archive; synthesized ids for an image pushed
straight to v2; writes refused."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from docker_registry_v1.cli import main
from docker_registry_v1.emulator.storage import READ_ONLY_MESSAGE
from face_support import DIRECT, World

REPOSITORIES = ("team/app", "library/base", "other/tool")


def _get(url: str, path: str, **headers: str) -> httpx.Response:
    return httpx.get(url + path, headers=headers, timeout=30)


def _regv1(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _host(url: str) -> str:
    return url.removeprefix("http://")


def test_tags_match_the_v1_registry(world: World) -> None:
    for repository in REPOSITORIES:
        original = _get(world.emulator.url, f"/v1/repositories/{repository}/tags").json()
        served = _get(world.face.url, f"/v1/repositories/{repository}/tags").json()
        assert served == original
        assert original == {t: c[-1].id for t, c in world.seed[repository].items()}
    assert _get(world.face.url, "/v1/repositories/nobody/here/tags").status_code == 404


def test_json_ancestry_and_checksums_match(world: World) -> None:
    for image_id, image in world.images.items():
        original = _get(world.emulator.url, f"/v1/images/{image_id}/json")
        served = _get(world.face.url, f"/v1/images/{image_id}/json")
        assert served.status_code == 200, served.text
        assert served.content == original.content == image.json_bytes
        for header in ("X-Docker-Size", "X-Docker-Checksum-Payload"):
            assert served.headers[header] == original.headers[header]
        ancestry = _get(world.face.url, f"/v1/images/{image_id}/ancestry").json()
        assert ancestry == _get(world.emulator.url, f"/v1/images/{image_id}/ancestry").json()


def test_layers_are_byte_identical_and_their_payload_checksums_verify(world: World) -> None:
    for image_id, image in world.images.items():
        served = _get(world.face.url, f"/v1/images/{image_id}/layer")
        assert served.status_code == 200
        assert served.content == image.layer_bytes
        assert served.headers["Content-Length"] == str(len(image.layer_bytes))
        checksum = _get(world.face.url, f"/v1/images/{image_id}/json").headers[
            "X-Docker-Checksum-Payload"
        ]
        payload = hashlib.sha256(image.json_bytes + b"\n" + served.content).hexdigest()
        assert checksum == f"sha256:{payload}"


def test_file_listings_and_layer_heads_match(world: World) -> None:
    for image in (world.seed["team/app"]["1.0"][0], world.seed["other/tool"]["v1"][-1]):
        files = f"/v1/images/{image.id}/files"
        served = _get(world.face.url, files)
        assert served.status_code == 200
        assert served.json() == _get(world.emulator.url, files).json() != []
        head = httpx.head(f"{world.face.url}/v1/images/{image.id}/layer", timeout=30)
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(image.layer_bytes))
        assert head.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("repository", ["team/app", "other/tool"])  # gzip as is, plain inflated
def test_layer_ranges_match(world: World, repository: str) -> None:
    image = world.seed[repository]["old" if repository == "other/tool" else "1.0"][0]
    path = f"/v1/images/{image.id}/layer"
    for asked in ("bytes=100-199", "bytes=20000-", "bytes=-50"):
        original = _get(world.emulator.url, path, Range=asked)
        served = _get(world.face.url, path, Range=asked)
        assert served.status_code == original.status_code == 206
        assert served.headers["Content-Range"] == original.headers["Content-Range"]
        assert served.content == original.content


def test_index_images_and_search(world: World) -> None:
    listed = _get(world.face.url, "/v1/repositories/team/app/images").json()
    assert {entry["id"] for entry in listed} == {i.id for i in world.seed["team/app"]["1.0"]}
    assert all(entry["checksum"].startswith("sha256:") for entry in listed)
    found = _get(world.face.url, "/v1/search?q=app").json()
    assert {r["name"] for r in found["results"]} == {"team/app", "direct/app"}
    assert found["num_results"] == 2
    ping = _get(world.face.url, "/v1/_ping")
    assert ping.status_code == 200
    assert ping.headers["X-Docker-Registry-Standalone"] == "True"
    assert ping.headers["X-Docker-Registry-Version"] == "0.9.1"
    assert "X-Docker-Registry-Version" not in _get(world.emulator.url, "/v1/_ping").headers


def test_regv1_reads_the_same_through_the_face(world: World) -> None:
    original, face = _host(world.emulator.url), _host(world.face.url)
    for repository in REPOSITORIES:
        assert _regv1("tags", f"{face}/{repository}", "--format", "json") == _regv1(
            "tags", f"{original}/{repository}", "--format", "json"
        )
    ref = "team/app:1.0"
    for command in (("ancestry", "--format", "json"), ("metadata", "--raw")):
        assert _regv1(command[0], f"{face}/{ref}", *command[1:]) == _regv1(
            command[0], f"{original}/{ref}", *command[1:]
        )


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as opened:
        return {
            m.name: opened.extractfile(m).read()  # type: ignore[union-attr]
            for m in opened.getmembers()
            if m.isfile()
        }


@pytest.mark.parametrize("ref", ["team/app:1.0", "other/tool:v1"])
def test_pull_gives_the_same_docker_load_archive(world: World, tmp_path: Path, ref: str) -> None:
    archives = {}
    for name, url in (("v1", world.emulator.url), ("face", world.face.url)):
        archives[name] = tmp_path / f"{name}.tar"
        _regv1("pull", ref, "--registry", url, "--no-keep-host", "-o", str(archives[name]))
    assert _members(archives["face"]) == _members(archives["v1"])


def test_an_image_pushed_straight_to_v2_gets_synthesized_ids(world: World, tmp_path: Path) -> None:
    tags = _get(world.face.url, f"/v1/repositories/{DIRECT}/tags").json()
    assert list(tags) == ["1"]
    top = tags["1"]
    image = _get(world.face.url, f"/v1/images/{top}/json")
    assert image.status_code == 200
    document: dict[str, Any] = json.loads(image.content)
    assert document["id"] == top
    assert document["config"]["Cmd"] == ["/bin/sh"]
    assert "X-Docker-Checksum-Payload" not in image.headers  # nobody ever computed one
    assert _get(world.face.url, f"/v1/images/{top}/ancestry").json() == [top]
    layer = _get(world.face.url, f"/v1/images/{top}/layer")
    assert layer.content == world.direct_layer
    assert image.headers["X-Docker-Size"] == str(len(world.direct_layer))
    again = _get(world.face.url, f"/v1/repositories/{DIRECT}/tags").json()
    assert again == tags  # deterministic
    archive = tmp_path / "direct.tar"
    _regv1("pull", f"{DIRECT}:1", "--registry", world.face.url, "-o", str(archive))
    members = _members(archive)
    assert members[f"{top}/json"] == image.content
    with tarfile.open(fileobj=io.BytesIO(members[f"{top}/layer.tar"])) as layer_tar:
        assert layer_tar.getnames() == ["etc/direct.txt"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/images/{id}/json"),
        ("PUT", "/v1/images/{id}/layer"),
        ("PUT", "/v1/images/{id}/checksum"),
        ("PUT", "/v1/repositories/team/app/tags/new"),
        ("DELETE", "/v1/repositories/team/app/tags/1.0"),
        ("DELETE", "/v1/repositories/team/app/tags"),
        ("PUT", "/v1/repositories/team/app/"),
        ("PUT", "/v1/repositories/team/app/images"),
        ("DELETE", "/v1/repositories/team/app/"),
    ],
)
def test_writes_answer_read_only(world: World, method: str, path: str) -> None:
    top = world.seed["team/app"]["1.0"][-1].id
    answer = httpx.request(method, world.face.url + path.format(id=top), content=b'"x"', timeout=30)
    assert answer.status_code == 405
    assert answer.json() == {"error": READ_ONLY_MESSAGE}
    assert answer.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert _get(world.face.url, "/v1/repositories/team/app/tags").json()["1.0"] == top


def test_the_layout_face_serves_the_same(world: World) -> None:
    for repository in REPOSITORIES:
        original = _get(world.emulator.url, f"/v1/repositories/{repository}/tags").json()
        assert _get(world.layout_face.url, f"/v1/repositories/{repository}/tags").json() == (
            original
        )
    for image_id, image in world.images.items():
        served = _get(world.layout_face.url, f"/v1/images/{image_id}/json")
        assert served.content == image.json_bytes
        assert _get(world.layout_face.url, f"/v1/images/{image_id}/layer").content == (
            image.layer_bytes
        )
