"""Push an archive, pull it back: every JSON and layer byte survives, in both modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docker_registry_v1.emulator import Emulator
from docker_registry_v1.emulator.requestlog import fingerprint
from transfer_support import (
    ALICE,
    FAST,
    Runner,
    assert_chain_in,
    base_url,
    save_archive,
    seed_chain,
    settled,
    stored_layer,
)


@pytest.fixture(params=["standalone", "hub"])
def registry(request: pytest.FixtureRequest, emulator_factory) -> Emulator:  # type: ignore[no-untyped-def]
    if request.param == "hub":
        return emulator_factory("hub", users={"alice": "s3cret"})
    return emulator_factory("standalone")


def test_push_then_pull_is_byte_identical(registry: Emulator, run: Runner, tmp_path: Path) -> None:
    chain = seed_chain(3)
    archive = save_archive(tmp_path / "in.tar", "acme/app", "1.0", chain)
    auth = ALICE if registry.state.mode == "hub" else None

    pushed = run("push", base_url(registry), archive, "acme/app", auth=auth, retry=FAST)
    assert pushed.tags == ("1.0",)
    assert list(pushed.pushed) == [i.id for i in chain]
    assert pushed.skipped == ()
    assert pushed.bytes_transferred == sum(len(i.layer_bytes) for i in chain)
    for image in chain:
        assert stored_layer(registry, image.id) == image.layer_bytes
        record = registry.store.image(image.id)
        assert record is not None
        assert record.complete
        assert record.json_bytes == image.json_bytes

    dest = tmp_path / "out.tar"
    pulled = run("pull", base_url(registry), "acme/app", "1.0", dest, auth=auth, retry=FAST)
    assert pulled.path == dest
    assert pulled.image_id == chain[-1].id
    assert [layer.image_id for layer in pulled.layers] == [i.id for i in chain]
    assert pulled.bytes_transferred == sum(len(i.layer_bytes) for i in chain)
    assert_chain_in(dest, chain)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tar", "out.tar"]


def test_hub_push_sends_basic_to_index_and_token_to_registry(
    emulator_factory,
    run: Runner,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    hub = emulator_factory("hub", users={"alice": "s3cret"})
    chain = seed_chain(2)
    archive = save_archive(tmp_path / "in.tar", "acme/app", "1.0", chain)
    run("push", hub.index_url, archive, "acme/app", auth=ALICE, retry=FAST)
    settled(hub)
    basic = f"Basic {fingerprint('alice:s3cret')}"
    assert hub.log.authorizations(role="index") == {basic}
    registry_auth = hub.log.authorizations(role="registry")
    assert registry_auth
    assert all(a.startswith("Token ") for a in registry_auth)
    assert hub.log.last(method="PUT", path="/v1/repositories/acme/app/images").status == 204
    created = hub.log.find(method="PUT", path="/v1/repositories/acme/app/")[0].body
    assert json.loads(created or b"") == [{"id": chain[0].id}, {"id": chain[1].id, "Tag": "1.0"}]
    final = hub.log.last(method="PUT", path="/v1/repositories/acme/app/images").body
    assert json.loads(final or b"") == [{"id": i.id, "checksum": i.checksum} for i in chain]


def test_push_order_skip_and_tags(standalone: Emulator, run: Runner, tmp_path: Path) -> None:
    chain = seed_chain(3)
    archive = save_archive(tmp_path / "in.tar", "acme/app", "1.0", chain)
    first = run("push", standalone.url, archive, "acme/app", retry=FAST)
    settled(standalone)
    paths = [(e.method, e.path) for e in standalone.log.entries]
    tag_at = paths.index(("PUT", "/v1/repositories/acme/app/tags/1.0"))
    for image in chain:
        assert paths.index(("PUT", f"/v1/images/{image.id}/checksum")) < tag_at
    assert paths[0] == ("PUT", "/v1/repositories/acme/app/")
    assert paths[-1] == ("PUT", "/v1/repositories/acme/app/images")
    assert standalone.log.last(method="PUT", path="/v1/repositories/acme/app/images").status == 204
    assert len(first.pushed) == 3

    # A longer chain sharing the first three images: only the new one moves.
    longer = seed_chain(4)
    assert [i.id for i in longer[:3]] == [i.id for i in chain]
    archive2 = save_archive(tmp_path / "in2.tar", "acme/app", "2.0", longer)
    standalone.log.clear()
    second = run("push", standalone.url, archive2, "acme/app", retry=FAST)
    settled(standalone)
    assert second.skipped == tuple(i.id for i in chain)
    assert second.pushed == (longer[3].id,)
    layer_puts = standalone.log.find(method="PUT", path="/v1/images/*/layer")
    assert [e.path for e in layer_puts] == [f"/v1/images/{longer[3].id}/layer"]
    assert standalone.store.tags("acme/app") == {"1.0": chain[-1].id, "2.0": longer[-1].id}


def test_push_overrides_archive_name_and_tag(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    chain = seed_chain(1)
    archive = save_archive(tmp_path / "in.tar", "other/name", "x", chain)
    result = run("push", standalone.url, archive, "acme/renamed", "v9", retry=FAST)
    assert result.tags == ("v9",)
    assert standalone.store.tags("acme/renamed") == {"v9": chain[0].id}
