"""Authentication: a standalone registry behind Basic, and a hub enforcing tokens."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from docker_registry_v1.emulator import Emulator, Hub, Standalone, fingerprint, run_standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from emulator_wire import ALICE, push_image

Factory = Callable[..., Emulator]


def test_private_registry_needs_basic_everywhere(
    private_registry: Standalone, chain: list[SeedImage]
) -> None:
    with httpx.Client(base_url=private_registry.url) as anon:
        assert anon.get("/v1/_ping").status_code == 200
        assert anon.get("/_ping").status_code == 200
        for method, path in [
            ("GET", "/"),
            ("GET", "/v1/search"),
            ("GET", f"/v1/images/{chain[0].id}/json"),
            ("PUT", "/v1/repositories/ns/r/"),
            ("GET", "/v1/repositories/ns/r/tags"),
            ("GET", "/nowhere"),
            ("POST", "/v1/users/"),
        ]:
            answer = anon.request(method, path)
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"] == 'Basic realm="regv1"'
            assert answer.headers["content-type"].startswith("text/html")
            assert "<center><h1>401 Authorization Required</h1></center>" in answer.text
        assert anon.get("/v1/search", auth=("alice", "nope")).status_code == 401
    with httpx.Client(base_url=private_registry.url, auth=ALICE) as alice:
        for image in chain:
            push_image(alice, image)
        token = alice.put("/v1/repositories/ns/r/", json=[]).headers["x-docker-token"]
        assert alice.get("/v1/users/").json() == "OK"
    with httpx.Client(base_url=private_registry.url) as by_token:
        # nginx auth_basic never reads a token: even one the registry issued is refused
        refused = by_token.get(f"/v1/images/{chain[0].id}/json", headers={"Authorization": token})
        assert (refused.status_code, refused.headers["www-authenticate"]) == (
            401,
            'Basic realm="regv1"',
        )


def test_private_needs_users() -> None:
    with pytest.raises(ValueError, match="need users"):
        run_standalone(private=["ns/r"])
    with pytest.raises(ValueError, match="invalid user name"):
        run_standalone(users={"a:b": "x"})


def _write_token(index: httpx.Client, repo: str = "ns/r") -> str:
    answer = index.put(
        f"/v1/repositories/{repo}/", json=[], headers={"X-Docker-Token": "true"}, auth=ALICE
    )
    assert answer.status_code == 200
    return answer.headers["x-docker-token"]


def test_hub_push_pull(hub: Hub, chain: list[SeedImage]) -> None:
    with (
        httpx.Client(base_url=hub.index_url) as index,
        httpx.Client(base_url=hub.registry_url) as registry,
    ):
        assert index.put("/v1/repositories/ns/r/", json=[]).status_code == 401
        listed = [{"id": image.id} for image in chain]
        answer = index.put(
            "/v1/repositories/ns/r/", json=listed, headers={"X-Docker-Token": "true"}, auth=ALICE
        )
        token = answer.headers["x-docker-token"]
        assert re.fullmatch(r'signature=[0-9a-f]{40},repository="ns/r",access=write', token)
        assert answer.headers["www-authenticate"] == f"Token {token}"
        assert answer.headers["x-docker-endpoints"] == hub.registry_url.removeprefix("http://")
        no_flag = index.put("/v1/repositories/ns/r/", json=[], auth=ALICE)
        assert "x-docker-token" not in no_flag.headers
        write = {"Authorization": f"Token {token}"}
        for image in chain:
            push_image(registry, image, write)
        assert (
            registry.put(
                "/v1/repositories/ns/r/tags/latest", json=chain[-1].id, headers=write
            ).status_code
            == 200
        )
        assert registry.get("/v1/repositories/ns/r/tags", headers=write).status_code == 401
        assert index.put("/v1/repositories/ns/r/images", json=listed, auth=ALICE).status_code == 204
        read = index.get("/v1/repositories/ns/r/images", headers={"X-Docker-Token": "true"})
        read_headers = {"Authorization": f"Token {read.headers['x-docker-token']}"}
        assert registry.get("/v1/repositories/ns/r/tags", headers=read_headers).json() == {
            "latest": chain[-1].id
        }
        assert (
            registry.get(f"/v1/images/{chain[-1].id}/ancestry", headers=read_headers).status_code
            == 200
        )
        assert registry.get("/v1/_ping").headers["x-docker-registry-standalone"] == "False"
    assert hub.log.authorizations(role="registry") == {
        f"Token {fingerprint(token)}",
        f"Token {fingerprint(read.headers['x-docker-token'])}",
    }
    assert f"Basic {fingerprint('alice:s3cret')}" in hub.log.authorizations(role="index")


@pytest.mark.parametrize(
    ("method", "path", "token_repo", "access", "status"),
    [
        ("GET", "/v1/repositories/ns/r/tags", "ns/r", "read", 200),
        ("GET", "/v1/repositories/ns/r/tags", "ns/other", "read", 401),
        ("GET", "/v1/repositories/ns/r/tags", "ns/r", "write", 401),
        ("HEAD", "/v1/repositories/ns/r/tags", "ns/r", "read", 200),
        ("DELETE", "/v1/repositories/ns/r/tags/latest", "ns/r", "write", 401),
        ("DELETE", "/v1/repositories/ns/r/tags/latest", "ns/r", "delete", 200),
        ("GET", "/v1/images/{tip}/json", "ns/other", "read", 404),
        ("GET", "/v1/images/{tip}/json", "ns/r", "read", 200),
        ("PUT", "/v1/images/{tip}/checksum", "ns/other", "write", 409),
    ],
)
def test_hub_token_scope(
    hub: Hub, method: str, path: str, token_repo: str, access: str, status: int
) -> None:
    chain = build_image_chain(2)
    hub.store.seed("ns/r", "latest", chain)
    hub.store.seed("ns/other", "latest", build_image_chain(1, seed=9))
    token = hub.issue_token(token_repo, access)
    with httpx.Client(base_url=hub.registry_url) as registry:
        answer = registry.request(
            method,
            path.format(tip=chain[-1].id),
            headers={
                "Authorization": f"Token {token}",
                "X-Docker-Checksum-Payload": chain[-1].checksum,
            },
        )
    assert answer.status_code == status


def test_hub_registry_rejects_basic_and_forgeries(hub: Hub) -> None:
    hub.store.seed("ns/r", "latest", build_image_chain(1))
    with httpx.Client(base_url=hub.registry_url) as registry:
        for auth in (
            {},
            {"Authorization": "Basic YWxpY2U6czNjcmV0"},
            {"Authorization": 'Token signature=abc,repository="ns/r",access=read'},
        ):
            answer = registry.get("/v1/repositories/ns/r/tags", headers=auth)
            assert (answer.status_code, answer.json()) == (401, {"error": "Requires authorization"})
            assert answer.headers["www-authenticate"] == "Token"
        assert registry.get("/v1/search").status_code == 404
        assert registry.put("/v1/repositories/ns/r/", json=[]).status_code == 405


def test_hub_private_repository(emulator_factory: Factory) -> None:
    hub = emulator_factory("hub", users={"alice": "s3cret"}, private=["team/app"])
    assert isinstance(hub, Hub)
    hub.store.seed("team/app", "latest", build_image_chain(1))
    hub.store.seed("ns/pub", "latest", build_image_chain(1, seed=2))
    with httpx.Client(base_url=hub.index_url) as index:
        assert index.get("/v1/repositories/ns/pub/images").status_code == 200
        assert index.get("/v1/repositories/team/app/images").status_code == 401
        assert (
            index.get("/v1/repositories/team/app/images", auth=("alice", "bad")).status_code == 401
        )
        assert index.get("/v1/repositories/team/app/images", auth=ALICE).status_code == 200
        assert [r["name"] for r in index.get("/v1/search").json()["results"]] == ["ns/pub"]
        assert len(index.get("/v1/search", auth=ALICE).json()["results"]) == 2


def test_hub_delete_flow(hub: Hub) -> None:
    hub.store.seed("ns/r", "latest", build_image_chain(1))
    with (
        httpx.Client(base_url=hub.index_url) as index,
        httpx.Client(base_url=hub.registry_url) as registry,
    ):
        assert (
            index.delete("/v1/repositories/ns/r/", headers={"X-Docker-Token": "true"}).status_code
            == 401
        )
        marked = index.delete(
            "/v1/repositories/ns/r/", headers={"X-Docker-Token": "true"}, auth=ALICE
        )
        assert marked.status_code == 202
        token = marked.headers["x-docker-token"]
        assert token.endswith("access=delete")
        assert hub.store.tags("ns/r") == {"latest": build_image_chain(1)[0].id}
        assert (
            index.put(
                "/v1/repositories/ns/r/auth", headers={"Authorization": f"Token {token}"}
            ).json()
            == "OK"
        )
        assert index.put("/v1/repositories/ns/r/auth").status_code == 401
        deleted = registry.delete(
            "/v1/repositories/ns/r/", headers={"Authorization": f"Token {token}"}
        )
        assert deleted.json() is True
        assert hub.store.tags("ns/r") is None
        # The documented last step (v1-protocol f.5): the index DELETE again, no flag.
        confirmed = index.delete("/v1/repositories/ns/r/", auth=ALICE)
        assert confirmed.status_code == 200
        assert confirmed.json() == "Deleted"
        assert index.delete("/v1/repositories/ns/r/", auth=ALICE).status_code == 404


def test_hub_endpoints_injection(emulator_factory: Factory) -> None:
    hub = emulator_factory("hub", endpoints=["evil.invalid:1", "{registry}"])
    assert isinstance(hub, Hub)
    with httpx.Client(base_url=hub.index_url) as index:
        answer = index.put("/v1/repositories/ns/r/", json=[], headers={"X-Docker-Token": "true"})
        assert answer.status_code == 200  # no users: the index is open
        assert answer.headers["x-docker-endpoints"] == f"evil.invalid:1, {hub.registry_url[7:]}"
        hub.endpoints = ["http://other.invalid:5000"]
        again = index.put("/v1/repositories/ns/r/", json=[], headers={"X-Docker-Token": "true"})
        assert again.headers["x-docker-endpoints"] == "http://other.invalid:5000"
    with pytest.raises(ValueError, match="endpoints"):
        hub.endpoints = [""]
