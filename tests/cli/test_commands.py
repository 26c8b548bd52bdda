"""Every command against emulators on loopback: standalone, private (Basic), hub (tokens)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cli_support import ALICE, PASSWORD, chain, netloc
from docker_registry_v1.emulator import Hub, Standalone
from regv1_runner import document, regv1

ALICE_ENV = {"REGV1_USERNAME": ALICE[0], "REGV1_PASSWORD": PASSWORD}


@pytest.fixture
def seeded(standalone: Standalone) -> Standalone:
    standalone.store.seed("team/app", "1.0", chain(2))
    return standalone


@pytest.fixture
def seeded_hub(hub: Hub) -> Hub:
    hub.store.seed("team/app", "1.0", chain(2))
    return hub


# ------------------------------------------------------------------ standalone


def test_ping(standalone: Standalone) -> None:
    doc = document(regv1("ping", standalone.url, "--json"))
    assert doc == {"registry": standalone.url + "/v1/", "version": None, "standalone": True}
    human = regv1("ping", netloc(standalone.url))
    assert human.exit_code == 0
    assert "ok (standalone)" in human.stdout


def test_tags(seeded: Standalone) -> None:
    images = chain(2)
    ref = f"{netloc(seeded.url)}/team/app"
    doc = document(regv1("tags", ref, "--json"))
    assert doc == {"repository": "team/app", "tags": {"1.0": images[-1].id}, "short_ids": False}
    human = regv1("tags", ref)
    assert human.exit_code == 0
    assert "1.0" in human.stdout
    assert images[-1].id in human.stdout


def test_registry_option_and_environment(seeded: Standalone) -> None:
    tip = chain(2)[-1].id
    doc = document(regv1("image-id", "team/app:1.0", "--registry", seeded.url, "--json"))
    assert doc == {"repository": "team/app", "tag": "1.0", "image_id": tip}
    plain = regv1("image-id", "team/app:1.0", env={"REGV1_REGISTRY": netloc(seeded.url)})
    assert plain.exit_code == 0
    assert plain.stdout.strip() == tip


def test_image_id_defaults_to_latest(seeded: Standalone) -> None:
    seeded.store.seed("team/app", "latest", chain(1, seed=3))
    result = regv1("image-id", f"{netloc(seeded.url)}/team/app")
    assert result.exit_code == 0
    assert result.stdout.strip() == chain(1, seed=3)[0].id


def test_ancestry_by_reference_and_id(seeded: Standalone) -> None:
    base, tip = chain(2)
    doc = document(regv1("ancestry", f"{netloc(seeded.url)}/team/app:1.0", "--json"))
    assert doc == {"image_id": tip.id, "ancestry": [tip.id, base.id]}
    by_id = regv1("ancestry", tip.id, "--registry", seeded.url)
    assert by_id.exit_code == 0
    assert by_id.stdout.split() == [tip.id, base.id]


def test_metadata(seeded: Standalone) -> None:
    tip = chain(2)[-1]
    ref = f"{netloc(seeded.url)}/team/app:1.0"
    raw = regv1("metadata", ref, "--raw")
    assert raw.exit_code == 0
    assert raw.stdout_bytes == tip.json_bytes
    pretty = regv1("metadata", ref)
    assert json.loads(pretty.stdout) == json.loads(tip.json_bytes)
    assert pretty.stdout.count("\n") > 10
    doc = document(regv1("metadata", tip.id, "--registry", seeded.url, "--json"))
    assert doc["image_id"] == tip.id
    assert doc["metadata"]["id"] == tip.id
    assert doc["checksum"] == tip.checksum
    both = regv1("metadata", ref, "--raw", "--json")
    assert both.exit_code == 1


def test_search_all_pages_and_limit(standalone: Standalone) -> None:
    for index in range(30):
        standalone.store.seed(f"team/app{index:02d}", "latest", chain(1, seed=index))
    doc = document(regv1("search", "app", "--registry", standalone.url, "--json"))
    assert [r["name"] for r in doc["results"]] == [f"team/app{i:02d}" for i in range(30)]
    limited = document(
        regv1("search", "app", "--limit", "3", "--registry", standalone.url, "--json")
    )
    assert len(limited["results"]) == 3
    human = regv1("search", "app", "--limit", "2", "--registry", standalone.url)
    assert human.exit_code == 0
    assert human.stdout.splitlines()[1].split("\t")[0] == "team/app01"
    assert "2 result(s)" in human.stderr


def test_tag_untag_delete(seeded: Standalone) -> None:
    base, tip = chain(2)
    host = netloc(seeded.url)
    doc = document(regv1("tag", f"{host}/team/app:old", base.id, "--json"))
    assert doc == {"repository": "team/app", "tag": "old", "image_id": base.id}
    assert seeded.store.tags("team/app") == {"1.0": tip.id, "old": base.id}

    result = regv1("untag", f"{host}/team/app:old")
    assert result.exit_code == 0
    assert "untagged team/app:old" in result.stdout
    assert seeded.store.tags("team/app") == {"1.0": tip.id}

    declined = regv1("delete", f"{host}/team/app", input="n\n")
    assert declined.exit_code == 1
    assert seeded.store.repository_exists("team/app")
    accepted = regv1("delete", f"{host}/team/app", input="y\n")
    assert accepted.exit_code == 0
    assert "deleted team/app" in accepted.stdout
    assert "Delete repository team/app" in accepted.stderr
    assert not seeded.store.repository_exists("team/app")

    seeded.store.seed("team/other", "latest", chain(1, seed=4))
    doc = document(regv1("delete", f"{host}/team/other", "--yes", "--json"))
    assert doc["deleted"] is True
    assert not seeded.store.repository_exists("team/other")


# ------------------------------------------------------------------ private registry (Basic)


def test_private_registry_credentials_from_environment(private_registry: Standalone) -> None:
    private_registry.store.seed("team/app", "1.0", chain(2))
    ref = f"{netloc(private_registry.url)}/team/app"
    doc = document(regv1("tags", ref, "--json", env=ALICE_ENV))
    assert list(doc["tags"]) == ["1.0"]


def test_private_registry_password_stdin(private_registry: Standalone) -> None:
    private_registry.store.seed("team/app", "1.0", chain(2))
    ref = f"{netloc(private_registry.url)}/team/app"
    result = regv1("tags", ref, "-u", "alice", "--password-stdin", "--json", input=PASSWORD + "\n")
    assert document(result)["tags"] == {"1.0": chain(2)[-1].id}
    assert PASSWORD not in result.stdout + result.stderr


def test_private_registry_docker_config(
    private_registry: Standalone, clean_environment: Path
) -> None:
    private_registry.store.seed("team/app", "1.0", chain(2))
    auth = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    (clean_environment / "config.json").write_text(
        json.dumps({"auths": {f"http://{netloc(private_registry.url)}/v1/": {"auth": auth}}})
    )
    result = regv1("tags", f"{netloc(private_registry.url)}/team/app", "--json")
    assert document(result)["repository"] == "team/app"


def test_login(private_registry: Standalone) -> None:
    result = regv1("login", private_registry.url, "--json", env=ALICE_ENV)
    doc = document(result)
    assert doc == {
        "registry": private_registry.url + "/v1/",
        "username": "alice",
        "logged_in": True,
        "stored": None,  # credentials from the environment are checked, not stored
    }
    assert PASSWORD not in result.stdout + result.stderr
    human = regv1(
        "login",
        netloc(private_registry.url),
        "-u",
        "alice",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert human.exit_code == 0
    assert "Login succeeded for alice" in human.stdout


# ------------------------------------------------------------------ hub (index tokens)


def test_hub_reads_through_read_tokens(seeded_hub: Hub) -> None:
    base, tip = chain(2)
    index = netloc(seeded_hub.index_url)
    ping = document(regv1("ping", seeded_hub.index_url, "--json"))
    assert ping["standalone"] is False
    tags = document(regv1("tags", f"{index}/team/app", "--json"))
    assert tags["tags"] == {"1.0": tip.id}
    image = regv1("image-id", f"{index}/team/app:1.0")
    assert image.stdout.strip() == tip.id
    anc = document(regv1("ancestry", f"{index}/team/app:1.0", "--json"))
    assert anc["ancestry"] == [tip.id, base.id]
    meta = regv1("metadata", base.id, "--repo", f"{index}/team/app", "--raw")
    assert meta.stdout_bytes == base.json_bytes
    search = document(regv1("search", "app", "--registry", seeded_hub.index_url, "--json"))
    assert [r["name"] for r in search["results"]] == ["team/app"]


def test_hub_id_without_repo_is_refused(seeded_hub: Hub) -> None:
    result = regv1("ancestry", chain(2)[0].id, "--registry", seeded_hub.index_url)
    assert result.exit_code == 1
    assert "--repo" in result.stderr


def test_hub_writes_through_write_and_delete_tokens(seeded_hub: Hub) -> None:
    base, tip = chain(2)
    index = netloc(seeded_hub.index_url)
    tagged = regv1("tag", f"{index}/team/app:old", base.id, env=ALICE_ENV)
    assert tagged.exit_code == 0, tagged.stderr
    assert seeded_hub.store.tags("team/app") == {"1.0": tip.id, "old": base.id}
    refused = regv1("untag", f"{index}/team/app:old", env=ALICE_ENV)
    assert refused.exit_code == 1
    assert "marks all of team/app for deletion" in refused.output
    assert "old" in seeded_hub.store.tags("team/app")
    untagged = regv1("untag", f"{index}/team/app:old", "--yes", env=ALICE_ENV)
    assert untagged.exit_code == 0, untagged.stderr
    assert seeded_hub.store.tags("team/app") == {"1.0": tip.id}
    deleted = regv1("delete", f"{index}/team/app", "--yes", env=ALICE_ENV)
    assert deleted.exit_code == 0, deleted.stderr
    assert not seeded_hub.store.repository_exists("team/app")


def test_hub_login(hub: Hub) -> None:
    assert document(regv1("login", hub.index_url, "--json", env=ALICE_ENV))["logged_in"] is True
