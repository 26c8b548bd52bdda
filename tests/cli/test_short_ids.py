"""Short image ids (12+ hex, as progress bars show them) wherever an image id is taken."""

from __future__ import annotations

import json

import pytest
from cli_support import assert_one_line_failure, chain, netloc
from docker_registry_v1.emulator import Hub, Standalone
from docker_registry_v1.emulator.seed import SeedImage, payload_checksum
from regv1_runner import document, regv1

TWIN_PREFIX = "feedfacecafe"


def _with_id(image: SeedImage, image_id: str) -> SeedImage:
    """A base image like ``image`` under another id (JSON and checksum to match)."""
    document = json.loads(image.json_bytes)
    document["id"] = image_id
    json_bytes = json.dumps(document).encode()
    return SeedImage(
        id=image_id,
        parent=None,
        json_bytes=json_bytes,
        layer_bytes=image.layer_bytes,
        checksum=payload_checksum(json_bytes, image.layer_bytes),
    )


@pytest.fixture
def seeded(standalone: Standalone) -> Standalone:
    standalone.store.seed("team/app", "1.0", chain(3))
    return standalone


def test_ancestry_and_metadata_by_short_id(seeded: Standalone) -> None:
    base, middle, tip = chain(3)
    repo = f"{netloc(seeded.url)}/team/app"
    # an id only the ancestry of a tag knows, not a tag itself
    doc = document(regv1("ancestry", f"{repo}@{middle.id[:12]}", "--json"))
    assert doc == {"image_id": middle.id, "ancestry": [middle.id, base.id]}
    with_option = regv1("ancestry", middle.id[:20], "--repo", repo)
    assert with_option.stdout.split() == [middle.id, base.id]
    raw = regv1("metadata", f"{repo}@{base.id[:12]}", "--raw")
    assert raw.stdout_bytes == base.json_bytes
    whole = document(regv1("metadata", f"{repo}@{tip.id}", "--json"))
    assert whole["image_id"] == tip.id


def test_tag_by_short_id(seeded: Standalone) -> None:
    base, _, tip = chain(3)
    doc = document(regv1("tag", f"{netloc(seeded.url)}/team/app:base", base.id[:12], "--json"))
    assert doc["image_id"] == base.id
    assert seeded.store.tags("team/app") == {"1.0": tip.id, "base": base.id}


def test_unknown_and_ambiguous_ids(standalone: Standalone) -> None:
    first = _with_id(chain(1, seed=1)[0], TWIN_PREFIX + "0" + "1" * 51)
    second = _with_id(chain(1, seed=2)[0], TWIN_PREFIX + "0" + "2" * 51)
    standalone.store.seed("team/twins", "a", [first])
    standalone.store.seed("team/twins", "b", [second])
    repo = f"{netloc(standalone.url)}/team/twins"
    assert_one_line_failure(
        regv1("ancestry", f"{repo}@{TWIN_PREFIX}"), "ambiguous", "2 images", "more characters"
    )
    resolved = document(regv1("ancestry", f"{repo}@{TWIN_PREFIX}01", "--json"))
    assert resolved["image_id"] == first.id
    assert_one_line_failure(
        regv1("ancestry", f"{repo}@{'0' * 12}"), "no image of team/twins", "0" * 12
    )
    assert_one_line_failure(regv1("tag", f"{repo}:c", "0" * 12), "no image of team/twins")
    assert "c" not in standalone.store.tags("team/twins")


def test_a_short_id_needs_its_repository(seeded: Standalone) -> None:
    prefix = chain(3)[0].id[:12]
    assert_one_line_failure(
        regv1("ancestry", prefix, "--registry", seeded.url), "--repo", f"REPO@{prefix}"
    )
    assert regv1("ancestry", "team/app@" + prefix, "--repo", "x/y").exit_code == 1


def test_at_id_is_not_a_hub_name(seeded_hub: Hub) -> None:
    """``INDEX/REPO@ID`` goes to that index (with a token), not to a Hub repository."""
    base, tip = chain(2)
    index = netloc(seeded_hub.index_url)
    doc = document(regv1("ancestry", f"{index}/team/app@{tip.id[:12]}", "--json"))
    assert doc["ancestry"] == [tip.id, base.id]
    meta = regv1("metadata", base.id[:14], "--repo", f"{index}/team/app", "--raw")
    assert meta.stdout_bytes == base.json_bytes


@pytest.fixture
def seeded_hub(hub: Hub) -> Hub:
    hub.store.seed("team/app", "1.0", chain(2))
    return hub


def test_digests_are_refused_before_the_network() -> None:
    result = regv1("ancestry", "127.0.0.1:1/team/app@sha256:" + "a" * 64)
    assert_one_line_failure(result, "only v2 registries", "REPO@ID")
