"""The hub as REF in token mode with its index: writes only for listed images, parents
checked, every token validated by the index over HTTP (v1-protocol b.5, c I11)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from docker_registry_v1 import BadRequest, BasicAuth, Client, IndexImage
from docker_registry_v1.emulator import Emulator, Hub, fingerprint
from docker_registry_v1.emulator.context import REGISTRY_AGENT
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from emulator_wire import ALICE, push_image

Factory = Callable[..., Emulator]
TOKEN_FLAG = {"X-Docker-Token": "true"}


def _write_token(index: httpx.Client, listed: list[dict[str, str]], repo: str = "ns/r") -> str:
    answer = index.put(f"/v1/repositories/{repo}/", json=listed, headers=TOKEN_FLAG, auth=ALICE)
    assert answer.status_code == 200, answer.text
    return f"Token {answer.headers['x-docker-token']}"


def test_push_sending_an_empty_list_is_refused(hub: Hub, chain: list[SeedImage]) -> None:
    with (
        httpx.Client(base_url=hub.index_url) as index,
        httpx.Client(base_url=hub.registry_url) as registry,
    ):
        token = _write_token(index, [])
        answer = registry.put(
            f"/v1/images/{chain[0].id}/json",
            content=chain[0].json_bytes,
            headers={"Authorization": token},
        )
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "This image does not belong to the repository"},
    )
    assert hub.store.image(chain[0].id) is None


def test_push_sending_the_image_list_succeeds(hub: Hub, chain: list[SeedImage]) -> None:
    """docker 1.x's lists: ids base first with the tag at I1, ids with checksums at I3."""
    listed = [{"id": image.id} for image in chain[:-1]] + [{"id": chain[-1].id, "Tag": "latest"}]
    with (
        httpx.Client(base_url=hub.index_url) as index,
        httpx.Client(base_url=hub.registry_url) as registry,
    ):
        token = _write_token(index, listed)
        for image in chain:
            push_image(registry, image, {"Authorization": token})
        tagged = registry.put(
            "/v1/repositories/ns/r/tags/latest", json=chain[-1].id, headers={"Authorization": token}
        )
        assert tagged.status_code == 200
        final = [{"id": image.id, "checksum": image.checksum} for image in chain]
        assert index.put("/v1/repositories/ns/r/images", json=final, auth=ALICE).status_code == 204
        stored = index.get("/v1/repositories/ns/r/images").json()
    assert sorted(stored, key=lambda e: e["id"]) == sorted(final, key=lambda e: e["id"])
    by_registry = hub.checks.find(role="index", path="/v1/repositories/ns/r/images")
    assert len(by_registry) == len(chain) * 3 + 1  # json, layer, checksum per image; the tag
    assert {e.authorization for e in by_registry} == {f"Token {fingerprint(token[6:])}"}
    assert {e.headers["user-agent"] for e in hub.checks.entries} == {REGISTRY_AGENT}
    access = [e.path for e in hub.checks.find(path="*/access")]
    assert access == [f"/v1/repositories/ns/r/layer/{i.parent}/access" for i in chain[1:]]
    assert not hub.log.find(path="*/access")  # the client's own traffic stays apart


def test_parent_of_a_private_repository_is_unauthorized(emulator_factory: Factory) -> None:
    hub = emulator_factory("hub", users={"alice": "s3cret"}, private=["team/secret"])
    assert isinstance(hub, Hub)
    base, child = build_image_chain(2)
    hub.store.seed("team/secret", "latest", [base])
    with (
        httpx.Client(base_url=hub.index_url) as index,
        httpx.Client(base_url=hub.registry_url) as registry,
    ):
        token = _write_token(index, [{"id": child.id}])
        answer = registry.put(
            f"/v1/images/{child.id}/json",
            content=child.json_bytes,
            headers={"Authorization": token},
        )
        assert (answer.status_code, answer.json()) == (
            400,
            {"error": "Image depends on an unauthorized parent"},
        )
        hub.store.seed("ns/public-base", "latest", [base])  # a public base may be built on
        token = _write_token(index, [{"id": child.id}])
        push_image(registry, child, {"Authorization": token})


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ('Token signature=FORGED,repository="ns/r",access=read', 401),
        ("issued:ns/other", 401),
        ("issued:ns/r", 200),
        ("", 200),
    ],
)
def test_index_validates_forwarded_tokens(hub: Hub, authorization: str, status: int) -> None:
    hub.store.seed("ns/r", "latest", build_image_chain(1))
    hub.store.seed("ns/other", "latest", build_image_chain(1, seed=3))
    if authorization.startswith("issued:"):
        authorization = f"Token {hub.issue_token(authorization[7:], 'write')}"
    headers = {"Authorization": authorization} if authorization else {}
    with httpx.Client(base_url=hub.index_url) as index:
        answer = index.get("/v1/repositories/ns/r/images", headers=headers)
    assert answer.status_code == status


def test_forged_tokens_never_reach_the_data(hub: Hub) -> None:
    chain = build_image_chain(1)
    hub.store.seed("ns/r", "latest", chain)
    with httpx.Client(base_url=hub.registry_url) as registry:
        for access, method, path in (
            ("read", "GET", "/v1/repositories/ns/r/tags"),
            ("write", "PUT", f"/v1/images/{chain[0].id}/json"),
            ("delete", "DELETE", "/v1/repositories/ns/r/"),
        ):
            forged = f'Token signature=FORGED,repository="ns/r",access={access}'
            answer = registry.request(method, path, headers={"Authorization": forged})
            assert answer.status_code == 401, path
    assert hub.store.tags("ns/r") == {"latest": chain[0].id}


def test_private_repository_works_with_the_index_tokens(emulator_factory: Factory) -> None:
    hub = emulator_factory("hub", users={"alice": "s3cret"}, private=["team/app"])
    assert isinstance(hub, Hub)
    chain = build_image_chain(2)
    hub.store.seed("team/app", "latest", chain)
    with (
        httpx.Client(base_url=hub.index_url) as index,
        httpx.Client(base_url=hub.registry_url) as registry,
    ):
        assert index.get("/v1/repositories/team/app/images", headers=TOKEN_FLAG).status_code == 401
        read = index.get("/v1/repositories/team/app/images", headers=TOKEN_FLAG, auth=ALICE)
        token = {"Authorization": f"Token {read.headers['x-docker-token']}"}
        assert index.get("/v1/repositories/team/app/images", headers=token).status_code == 200
        tip = chain[-1].id
        assert registry.get(f"/v1/images/{tip}/ancestry", headers=token).status_code == 200
        assert registry.get("/v1/repositories/team/app/tags", headers=token).json() == {
            "latest": tip
        }
        access = index.get(f"/v1/repositories/team/app/layer/{tip}/access", headers=token)
        assert access.json() == {"access": True}


def test_layer_access_route(emulator_factory: Factory) -> None:
    hub = emulator_factory("hub", users={"alice": "s3cret"}, private=["team/secret"])
    assert isinstance(hub, Hub)
    mine, secret, public = (build_image_chain(1, seed=s)[0] for s in (1, 2, 3))
    hub.store.seed("ns/r", "latest", [mine])
    hub.store.seed("team/secret", "latest", [secret])
    hub.store.seed("ns/pub", "latest", [public])
    token = {"Authorization": f"Token {hub.issue_token('ns/r', 'write')}"}
    with httpx.Client(base_url=hub.index_url) as index:
        for image, allowed in ((mine, True), (public, True), (secret, False)):
            path = f"/v1/repositories/ns/r/layer/{image.id}/access"
            assert index.get(path, headers=token).json() == {"access": allowed}
        other = {"Authorization": f"Token {hub.issue_token('ns/pub', 'read')}"}
        assert (
            index.get(f"/v1/repositories/ns/r/layer/{mine.id}/access", headers=other).status_code
            == 401
        )
        assert index.get(f"/v1/repositories/ns/r/layer/{mine.id}/access").status_code == 401
        assert index.get(f"/v1/repositories/ns/r/layer/{mine.id}/access", auth=ALICE).json() == {
            "access": True
        }


def test_endpoint_placeholder_inside_a_url(emulator_factory: Factory) -> None:
    hub = emulator_factory("hub", endpoints=["http://{registry}", "mirror.example:5000"])
    assert isinstance(hub, Hub)
    with httpx.Client(base_url=hub.index_url) as index:
        answer = index.put("/v1/repositories/ns/r/", json=[], headers=TOKEN_FLAG)
    assert answer.headers["x-docker-endpoints"] == f"{hub.registry_url}, mirror.example:5000"


def test_facade_write_token_sends_the_go_list_or_the_given_images(hub: Hub) -> None:
    """``hub.get_write_token(repo, auth=…)`` keeps the Go package's ``[]``; ``images=`` lists."""
    base, child = build_image_chain(2)
    alice = BasicAuth(*ALICE)
    with Client(hub.index_url) as client:
        bare = client.hub.get_write_token("ns/r", auth=alice)
        with pytest.raises(BadRequest, match="does not belong to the repository"):
            client.image.add_metadata_raw(base.id, base.json_bytes, auth=bare)
        listed = client.hub.get_write_token(
            "ns/r", auth=alice, images=[base.id, IndexImage(id=child.id, tag="latest")]
        )
        for image in (base, child):
            client.image.add_metadata_raw(image.id, image.json_bytes, auth=listed)
    bodies = [e.body for e in hub.log.find(method="PUT", path="/v1/repositories/ns/r/")]
    assert bodies[0] == b"[]"
    assert json.loads(bodies[1] or b"") == [{"id": base.id}, {"id": child.id, "Tag": "latest"}]
