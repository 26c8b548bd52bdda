"""Tags, repository metadata, properties and repository delete (standalone)."""

from __future__ import annotations

import httpx
import pytest
from docker_registry_v1.emulator import Compat, Standalone
from docker_registry_v1.emulator.seed import SeedImage
from emulator_wire import push_image

UA = "docker/1.3.2 go/go1.3.3 git-commit/c78088f kernel/3.16.0 os/Linux arch/AMD64"


@pytest.fixture
def pushed(client: httpx.Client, chain: list[SeedImage]) -> list[SeedImage]:
    for image in chain:
        push_image(client, image)
    return chain


def test_tag_lifecycle(client: httpx.Client, pushed: list[SeedImage]) -> None:
    tip = pushed[-1].id
    repo = "/v1/repositories/myns/myrepo"
    assert client.get(f"{repo}/tags").json() == {"error": "Repository not found"}
    assert client.put(f"{repo}/tags/v2", json=tip).json() is True
    assert client.put(f"{repo}/tags/latest", json=pushed[0].id).status_code == 200
    assert client.put(f"{repo}/tags/latest", json=tip).status_code == 200
    assert client.put(f"{repo}/tags/a.b-c_D", json=tip).status_code == 200
    tags = client.get(f"{repo}/tags")
    assert tags.text == (f'{{"a.b-c_D": "{tip}", "latest": "{tip}", "v2": "{tip}"}}')
    assert client.get(f"{repo}/tags/latest").json() == tip
    assert client.get(f"{repo}/tags/nope").json() == {"error": "Tag not found"}
    assert client.delete(f"{repo}/tags/a.b-c_D").json() is True
    gone = client.delete(f"{repo}/tags/a.b-c_D")
    assert (gone.status_code, gone.json()) == (404, {"error": "Tag not found: a.b-c_D"})


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"a" * 64, {}),
        (b'["x"]', {}),
        (b'""', {}),
        (b'"' + b"a" * 64 + b'"', {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
)
def test_tag_put_invalid_data(
    client: httpx.Client, pushed: list[SeedImage], body: bytes, headers: dict[str, str]
) -> None:
    answer = client.put("/v1/repositories/ns/r/tags/latest", content=body, headers=headers)
    assert (answer.status_code, answer.json()) == (400, {"error": "Invalid data"})


def test_tag_put_checks(client: httpx.Client, chain: list[SeedImage]) -> None:
    bad = client.put("/v1/repositories/ns/r/tags/.bad", json=chain[0].id)
    assert bad.json() == {"error": "Invalid tag name (must match ^[\\w][\\w.-]{0,127}$)"}
    missing = client.put("/v1/repositories/ns/r/tags/latest", json=chain[0].id)
    assert (missing.status_code, missing.json()) == (404, {"error": "Image not found"})
    client.put(f"/v1/images/{chain[0].id}/json", content=chain[0].json_bytes)
    assert client.put("/v1/repositories/ns/r/tags/latest", json=chain[0].id).status_code == 200


def test_library_and_slash_forms(client: httpx.Client, pushed: list[SeedImage]) -> None:
    assert client.put("/v1/repositories/solo/tags/latest", json=pushed[0].id).status_code == 200
    assert client.get("/v1/repositories/library/solo/tags/latest").json() == pushed[0].id
    moved = client.delete("/v1/repositories/library/solo")
    assert moved.status_code == 301
    assert moved.headers["location"].endswith("/v1/repositories/library/solo/")
    assert client.delete(moved.headers["location"]).json() is True


def test_metadata_from_user_agent(client: httpx.Client, pushed: list[SeedImage]) -> None:
    repo = "/v1/repositories/ns/r"
    defaults = {
        "arch": "amd64",
        "docker_go_version": None,
        "docker_version": None,
        "kernel": None,
        "last_update": None,
        "os": "linux",
    }
    assert client.get(f"{repo}/json").json() == defaults
    assert client.get(f"{repo}/tags/latest/json").json() == defaults
    client.put(f"{repo}/tags/latest", json=pushed[0].id, headers={"User-Agent": UA})
    meta = client.get(f"{repo}/tags/latest/json").json()
    assert isinstance(meta.pop("last_update"), int)
    expected = {"arch": "amd64", "docker_go_version": "go1.3.3", "docker_version": "1.3.2"}
    assert meta == {**expected, "kernel": "3.16.0", "os": "linux"}
    assert client.get(f"{repo}/json").json()["docker_version"] == "1.3.2"
    client.put(f"{repo}/tags/other", json=pushed[0].id, headers={"User-Agent": "curl/8"})
    assert list(client.get(f"{repo}/tags/other/json").json()) == ["last_update"]


def test_properties(client: httpx.Client) -> None:
    url = "/v1/repositories/ns/r/properties"
    assert client.get(url).json() == {"access": "public"}
    assert client.put(url, json={"access": "private"}).json() is True
    assert client.get(url).json() == {"access": "private"}
    for body in ([], {"access": "secret"}, {}):
        assert client.put(url, json=body).json() == {"error": "Invalid data"}


@pytest.mark.parametrize("path", ["/v1/repositories/ns/r/", "/v1/repositories/ns/r/tags"])
def test_repository_delete(client: httpx.Client, pushed: list[SeedImage], path: str) -> None:
    client.put("/v1/repositories/ns/r/", json=[{"id": pushed[-1].id}])
    client.put("/v1/repositories/ns/r/tags/latest", json=pushed[-1].id)
    assert client.get("/v1/search", params={"q": "ns/r"}).json()["num_results"] == 1
    assert client.delete(path).json() is True
    again = client.delete(path)
    assert (again.status_code, again.json()) == (404, {"error": "Repository not found"})
    assert client.get("/v1/repositories/ns/r/tags").status_code == 404
    assert client.get("/v1/repositories/ns/r/images").status_code == 404
    assert client.get("/v1/search", params={"q": "ns/r"}).json()["num_results"] == 0
    assert client.get(f"/v1/images/{pushed[-1].id}/json").status_code == 200


def test_tag_list_as_list(
    standalone: Standalone, client: httpx.Client, pushed: list[SeedImage]
) -> None:
    client.put("/v1/repositories/ns/r/tags/latest", json=pushed[-1].id)
    standalone.compat = Compat(tag_list_as_list=True)
    assert client.get("/v1/repositories/ns/r/tags").json() == [
        {"layer": pushed[-1].id[:8], "name": "latest"}
    ]


def test_repository_without_tags_is_empty_map(client: httpx.Client) -> None:
    client.put("/v1/repositories/ns/r/", json=[])
    assert client.get("/v1/repositories/ns/r/tags").json() == {}


def test_framework_answers(client: httpx.Client, pushed: list[SeedImage]) -> None:
    unknown = client.get("/v2/")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html")
    wrong = client.post(f"/v1/images/{pushed[0].id}/json")
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "PUT"}
    options = client.options("/v1/repositories/ns/r/tags/latest")
    assert (options.status_code, options.content) == (200, b"")
    assert set(options.headers["allow"].split(", ")) == {"DELETE", "GET", "HEAD", "OPTIONS", "PUT"}
    assert client.get("/").json() == "docker-registry server"
    for path in ("/_ping", "/v1/_ping"):
        ping = client.get(path)
        assert (ping.json(), ping.headers["x-docker-registry-standalone"]) == ({}, "True")
        assert ping.headers["cache-control"] == "no-cache"
        assert ping.headers["content-type"] == "application/json"
    assert client.head("/v1/_ping").content == b""
    users = client.get("/v1/users")
    assert (users.status_code, users.headers["location"].endswith("/v1/users/")) == (301, True)
