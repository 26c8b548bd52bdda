"""pull, push and mirror through the CLI against emulators on loopback."""

from __future__ import annotations

from pathlib import Path

from cli_support import ALICE, PASSWORD, assert_one_line_failure, chain, netloc
from docker_registry_v1.emulator import Hub, Standalone
from docker_registry_v1.emulator.pytest_plugin import EmulatorFactory
from regv1_runner import document, regv1

ALICE_ENV = {"REGV1_USERNAME": ALICE[0], "REGV1_PASSWORD": PASSWORD}


def test_pull_then_push_elsewhere(
    standalone: Standalone, private_registry: Standalone, tmp_path: Path
) -> None:
    images = chain(3)
    standalone.store.seed("team/app", "1.0", images)
    archive = tmp_path / "app.tar"
    doc = document(
        regv1("pull", f"{netloc(standalone.url)}/team/app:1.0", "-o", str(archive), "--json")
    )
    assert doc["image_id"] == images[-1].id
    assert doc["tags"] == ["1.0"]
    assert doc["skipped"] == []
    assert doc["layers"] == [image.id for image in images]
    assert doc["bytes"] == sum(len(i.layer_bytes) for i in images)
    assert archive.stat().st_size > 0

    target = f"{netloc(private_registry.url)}/copy/app"
    pushed = regv1("push", str(archive), target, "--json", env=ALICE_ENV)
    doc = document(pushed)
    assert doc["tags"] == ["1.0"]
    assert sorted(doc["layers"]) == sorted(i.id for i in images)
    assert private_registry.store.tags("copy/app") == {"1.0": images[-1].id}
    assert PASSWORD not in pushed.stdout + pushed.stderr

    again = regv1("push", str(archive), target + ":2.0", env=ALICE_ENV)
    assert again.exit_code == 0, again.stderr
    assert "0 layers transferred, 3 already there" in again.stdout
    assert private_registry.store.tags("copy/app") == {"1.0": images[-1].id, "2.0": images[-1].id}


def test_pull_human_summary_and_default_tag(standalone: Standalone, tmp_path: Path) -> None:
    standalone.store.seed("library/base", "latest", chain(1))
    result = regv1("pull", "base", "--registry", standalone.url, "-o", str(tmp_path / "b.tar"))
    assert result.exit_code == 0, result.stderr
    assert "pulled library/base:latest" in result.stdout
    assert "1 layers" in result.stdout
    assert "/s)" in result.stdout
    assert result.stderr == ""  # not a terminal: no progress bars


def test_pull_through_hub_tokens(hub: Hub, tmp_path: Path) -> None:
    hub.store.seed("team/app", "latest", chain(2))
    doc = document(
        regv1("pull", f"{netloc(hub.index_url)}/team/app", "-o", str(tmp_path / "a.tar"), "--json")
    )
    assert doc["image_id"] == chain(2)[-1].id


def test_mirror_hub_to_private(hub: Hub, private_registry: Standalone) -> None:
    images = chain(2)
    hub.store.seed("team/app", "1.0", images)
    hub.store.seed("team/app", "2.0", images[:1])
    src = f"{netloc(hub.index_url)}/team/app"
    dst = f"{netloc(private_registry.url)}/mirror/app"
    result = regv1("mirror", src, dst, "--all-tags", "--json", env=ALICE_ENV)
    doc = document(result)
    assert sorted(doc["tags"]) == ["1.0", "2.0"]
    assert sorted(doc["layers"]) == sorted(i.id for i in images)
    assert doc["skipped"] == []
    assert doc["bytes"] == sum(len(i.layer_bytes) for i in images)
    assert doc["source"] == {"registry": hub.index_url + "/v1/", "repository": "team/app"}
    assert doc["registry"] == private_registry.url + "/v1/"
    assert private_registry.store.tags("mirror/app") == {"1.0": images[-1].id, "2.0": images[0].id}

    one = regv1("mirror", src + ":2.0", dst + "2", env=ALICE_ENV)
    assert one.exit_code == 0, one.stderr
    assert "mirrored team/app to mirror/app2 (2.0)" in one.stdout
    assert "0 layers transferred, 1 already there" in one.stdout  # mirror/app has it
    assert private_registry.store.tags("mirror/app2") == {"2.0": images[0].id}


def test_mirror_credentials_stay_with_the_destination(
    emulator_factory: EmulatorFactory, standalone: Standalone
) -> None:
    """Explicit credentials are for DST; a private source on another host then refuses."""
    source = emulator_factory("standalone", users={"bob": "other-pw"})
    assert isinstance(source, Standalone)
    source.store.seed("team/app", "latest", chain(1))
    result = regv1(
        "mirror",
        f"{netloc(source.url)}/team/app",
        f"{netloc(standalone.url)}/team/app",
        "-u",
        "bob",
        "--password-stdin",
        input="other-pw\n",
    )
    assert_one_line_failure(result, "401")
    assert source.log.entries
    assert not any(entry.headers.get("authorization") for entry in source.log.entries)


def test_transfer_usage_errors(standalone: Standalone, tmp_path: Path) -> None:
    host = netloc(standalone.url)
    tagged_dst = regv1("mirror", f"{host}/a/b", f"{host}/c/d:1")
    assert_one_line_failure(tagged_dst, "without :TAG")
    both = regv1("mirror", f"{host}/a/b:1", f"{host}/c/d", "--all-tags")
    assert both.exit_code == 1
    missing = regv1("push", str(tmp_path / "none.tar"), f"{host}/a/b")
    assert missing.exit_code == 1
    not_archive = tmp_path / "bad.tar"
    not_archive.write_bytes(b"not a tar")
    assert_one_line_failure(regv1("push", str(not_archive), f"{host}/a/b"))
    unknown = regv1("pull", f"{host}/no/such", "-o", str(tmp_path / "x.tar"))
    assert_one_line_failure(unknown, "404")
