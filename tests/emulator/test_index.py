"""Index routes on a standalone emulator: image lists, token headers, search, users."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from docker_registry_v1.emulator import Compat, Hub, Standalone
from emulator_wire import ALICE

TOKEN = re.compile(r'^Token signature=[A-Z0-9]{16},repository="ns/r",access=(read|write|delete)$')


def _assert_token(answer: httpx.Response, access: str) -> None:
    value = answer.headers["x-docker-token"]
    assert TOKEN.match(value), value
    assert value.endswith(f"access={access}")
    assert answer.headers["www-authenticate"] == value
    assert answer.headers["x-docker-endpoints"] == answer.request.headers["host"]


def test_image_lists_and_tokens(client: httpx.Client) -> None:
    first = b'[{"id": "abc", "Tag": "latest"}]'
    created = client.put("/v1/repositories/ns/r/", content=first)
    assert (created.status_code, created.json()) == (200, "")
    _assert_token(created, "write")
    listed = client.get("/v1/repositories/ns/r/images")
    assert listed.content == first
    _assert_token(listed, "read")
    update = [{"id": "abc", "checksum": "sha256:1"}, {"id": "def"}]
    done = client.put("/v1/repositories/ns/r/images", json=update)
    assert (done.status_code, done.content) == (204, b"")
    _assert_token(done, "write")
    merged = {e["id"]: e for e in client.get("/v1/repositories/ns/r/images").json()}
    assert merged == {"abc": {"id": "abc", "checksum": "sha256:1"}, "def": {"id": "def"}}
    client.put("/v1/repositories/ns/r/images", json=[{"id": "abc"}])
    assert {e.get("checksum") for e in client.get("/v1/repositories/ns/r/images").json()} == {
        "sha256:1",
        None,
    }
    deleted = client.delete("/v1/repositories/ns/r/images")
    assert deleted.status_code == 204
    _assert_token(deleted, "delete")
    assert client.get("/v1/repositories/ns/r/images").status_code == 200
    assert client.put("/v1/repositories/ns/r/auth").json() == "OK"


def test_unknown_images_have_no_token(client: httpx.Client) -> None:
    answer = client.get("/v1/repositories/ns/none/images")
    assert (answer.status_code, answer.json()) == (404, {"error": "images not found"})
    assert "x-docker-token" not in answer.headers


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"nope", "application/json", "Error Decoding JSON"),
        (b'{"id": "x"}', "application/json", "Invalid data"),
        (b"[1]", "application/json", "Invalid data"),
        (b"[]", "application/x-www-form-urlencoded", "Error Decoding JSON"),
    ],
)
def test_image_list_validation(
    client: httpx.Client, body: bytes, content_type: str, message: str
) -> None:
    for method, path in (
        ("PUT", "/v1/repositories/ns/r/"),
        ("PUT", "/v1/repositories/ns/r/images"),
    ):
        answer = client.request(method, path, content=body, headers={"Content-Type": content_type})
        assert (answer.status_code, answer.json()) == (400, {"error": message})


def test_create_without_slash_redirects(client: httpx.Client) -> None:
    answer = client.put("/v1/repositories/ns/r", json=[])
    assert answer.status_code == 301
    assert answer.headers["location"].endswith("/v1/repositories/ns/r/")
    assert answer.headers["content-type"].startswith("text/html")


def test_token_prefix_switch(standalone: Standalone, client: httpx.Client) -> None:
    standalone.compat = Compat(token_prefix=False)
    value = client.put("/v1/repositories/ns/r/", json=[]).headers["x-docker-token"]
    assert value.startswith("signature=")


def _create(client: httpx.Client, names: list[str]) -> None:
    for name in names:
        assert client.put(f"/v1/repositories/{name}/", json=[]).status_code == 200


def test_search_paging(standalone: Standalone, client: httpx.Client) -> None:
    standalone.compat = Compat(search="paged")
    _create(client, [f"ns/repo{i:02d}" for i in range(7)] + ["other/thing"])
    client.put("/v1/repositories/ns/tagonly/tags/latest", json="a" * 64)
    everything = client.get("/v1/search").json()
    assert (everything["num_results"], everything["query"]) == (8, "")
    page = client.get("/v1/search", params={"q": "REPO", "n": 3, "page": 3}).json()
    assert page == {
        "num_pages": 3,
        "num_results": 7,
        "page": 3,
        "page_size": 3,
        "query": "REPO",
        "results": [
            {
                "description": "",
                "is_automated": False,
                "is_official": False,
                "is_trusted": False,
                "name": "ns/repo06",
                "star_count": 0,
            }
        ],
    }
    none = client.get("/v1/search", params={"q": "zzz"}).json()
    assert (none["num_results"], none["results"]) == (0, [])
    for bad in ({"n": 0}, {"n": 101}, {"page": "x"}):
        assert client.get("/v1/search", params=bad).status_code == 400


def test_search_shape_by_mode(standalone: Standalone, client: httpx.Client) -> None:
    """Standalone answers REF's three keys, paging ignored; the Hub's shape has "page": "1"."""
    _create(client, ["ns/a", "ns/b"])
    answer = client.get("/v1/search", params={"q": "ns", "n": 1, "page": 2})
    assert json.loads(answer.content) == {
        "num_results": 2,
        "query": "ns",
        "results": [{"description": "", "name": "ns/a"}, {"description": "", "name": "ns/b"}],
    }
    standalone.compat = Compat(search="hub")
    hub_shape = client.get("/v1/search", params={"n": 1}).json()
    assert set(hub_shape) == {"num_pages", "num_results", "page", "page_size", "query", "results"}
    assert (hub_shape["page"], hub_shape["num_pages"], hub_shape["page_size"]) == ("1", 2, 1)
    standalone.compat = Compat(search="paged")
    assert client.get("/v1/search", params={"n": 1}).json()["page"] == 1


def test_hub_search_default_is_the_hubs(hub: Hub) -> None:
    with httpx.Client(base_url=hub.index_url) as index:
        assert index.put("/v1/repositories/ns/a/", json=[], auth=ALICE).status_code == 200
        answer = index.get("/v1/search", params={"q": "ns"}).json()
    assert answer["page"] == "1"
    assert answer["results"] == [
        {
            "description": "",
            "is_automated": False,
            "is_official": False,
            "is_trusted": False,
            "name": "ns/a",
            "star_count": 0,
        }
    ]


def test_users_as_reference_server(client: httpx.Client) -> None:
    """REF answers every users call with success, whoever asks (h.8)."""
    assert (client.get("/v1/users/").status_code, client.get("/v1/users/").json()) == (200, "OK")
    new = {"username": "bob", "password": "pw", "email": "bob@example.com"}
    for _ in range(2):
        created = client.post("/v1/users/", json=new)
        assert (created.status_code, created.json()) == (201, "User Created")
    assert client.post("/v1/users/", content=b"nope").json() == {"error": "Error Decoding JSON"}
    assert client.get("/v1/users/", auth=("bob", "wrong")).json() == "OK"
    updated = client.put("/v1/users/bob/", json={"password": "x"})
    assert (updated.status_code, updated.content) == (204, b"")


def test_users_with_accounts(standalone: Standalone, client: httpx.Client) -> None:
    standalone.compat = Compat(users="accounts")
    assert client.get("/v1/users/").status_code == 401
    new = {"username": "bob", "password": "pw", "email": "bob@example.com"}
    created = client.post("/v1/users/", json=new)
    assert (created.status_code, created.json()) == (201, "User Created")
    exists = client.post("/v1/users/", json=new)
    assert (exists.status_code, exists.json()) == (400, "Username or email already exists")
    assert client.post("/v1/users/", content=b"nope").json() == {"error": "Error Decoding JSON"}
    assert client.post("/v1/users/", json={"username": "x"}).json() == {"error": "Invalid data"}
    assert client.get("/v1/users/", auth=("bob", "pw")).json() == "OK"
    assert client.get("/v1/users/", auth=("bob", "wrong")).status_code == 401
    assert (
        client.put("/v1/users/bob/", json={"password": "new"}, auth=("bob", "pw")).status_code
        == 204
    )
    assert client.get("/v1/users/", auth=("bob", "new")).status_code == 200
    assert client.put("/v1/users/bob/", json={}, auth=("bob", "pw")).status_code == 401
    client.post("/v1/users/", json={**new, "username": "carol"})
    assert client.put("/v1/users/carol/", json={}, auth=("bob", "new")).status_code == 403
    assert client.put("/v1/users/nobody/", json={}, auth=("bob", "new")).status_code == 404
    assert client.put("/v1/users/bob", json={}).status_code == 301
