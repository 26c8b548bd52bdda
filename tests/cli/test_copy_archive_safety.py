"""``regv1 copy … docker-archive:FILE[:NAME:TAG]`` as a destination (issue 19): an
existing file is kept unless ``--force`` (as ``pull -o FILE`` keeps one), the archive
appears only once complete, and ``NAME:TAG`` is what the archive calls the image."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from cli_support import assert_one_line_failure, netloc
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from regv1_runner import document, regv1

BEFORE = b"an archive the user made earlier\n"


def seed(standalone: Standalone) -> tuple[str, list[SeedImage]]:
    images = build_image_chain(2, seed=61, layer_size=4000)
    standalone.store.seed("acme/app", "1.0", images)
    return f"{netloc(standalone.url)}/acme/app:1.0", images


def members(archive: Path) -> tuple[Any, Any]:
    """The archive's ``manifest.json`` and ``repositories``."""
    with tarfile.open(archive) as tar:
        manifest, repositories = (
            json.load(tar.extractfile(name))  # type: ignore[arg-type]
            for name in ("manifest.json", "repositories")
        )
    return manifest, repositories


def layer_requests(standalone: Standalone) -> list[str]:
    return [entry.path for entry in standalone.log.entries if entry.path.endswith("/layer")]


def out_dir(tmp_path: Path) -> Path:
    """A folder of its own for the archive, to see everything written next to it."""
    out = tmp_path / "out"
    out.mkdir()
    return out


def test_an_existing_archive_is_kept_without_force_and_replaced_with_it(
    standalone: Standalone, tmp_path: Path
) -> None:
    src, images = seed(standalone)
    out = out_dir(tmp_path)
    archive = out / "app.tar"
    archive.write_bytes(BEFORE)

    refused = regv1("copy", src, f"docker-archive:{archive}")

    assert_one_line_failure(refused, str(archive), "exists", "--force")
    assert archive.read_bytes() == BEFORE
    assert layer_requests(standalone) == []  # refused before the source was read
    assert sorted(p.name for p in out.iterdir()) == ["app.tar"]

    forced = document(regv1("copy", src, f"docker-archive:{archive}", "--force", "--json"))

    assert forced["path"] == str(archive)
    manifest, _ = members(archive)
    assert manifest[0]["RepoTags"] == ["acme/app:1.0"]
    assert len(manifest[0]["Layers"]) == len(images)
    assert sorted(p.name for p in out.iterdir()) == ["app.tar"]  # no partial, no spool


def test_a_link_at_the_archive_path_is_kept_without_force_and_replaced_not_followed_with_it(
    standalone: Standalone, tmp_path: Path
) -> None:
    src, _ = seed(standalone)
    precious = tmp_path / "precious"
    precious.write_bytes(BEFORE)
    out = out_dir(tmp_path)
    archive = out / "app.tar"
    archive.symlink_to(precious)

    assert_one_line_failure(regv1("copy", src, f"docker-archive:{archive}"), "exists", "--force")
    assert archive.is_symlink()

    assert regv1("copy", src, f"docker-archive:{archive}", "--force").exit_code == 0
    assert not archive.is_symlink()
    assert precious.read_bytes() == BEFORE
    assert members(archive)[0][0]["RepoTags"] == ["acme/app:1.0"]


def test_name_and_tag_in_the_destination_name_the_image_in_the_archive(
    standalone: Standalone, tmp_path: Path
) -> None:
    src, images = seed(standalone)
    archive = tmp_path / "named.tar"

    done = regv1("copy", src, f"docker-archive:{archive}:registry.example.com/team/web:2.0")

    assert done.exit_code == 0, done.stderr
    manifest, repositories = members(archive)
    assert manifest[0]["RepoTags"] == ["registry.example.com/team/web:2.0"]
    assert repositories == {"registry.example.com/team/web": {"2.0": images[-1].id}}

    untagged = tmp_path / "untagged.tar"
    done = regv1("copy", src, f"docker-archive:{untagged}:team/web")
    assert done.exit_code == 0, done.stderr
    assert members(untagged)[0][0]["RepoTags"] == ["team/web:1.0"]  # the source's tag


def test_a_failed_copy_leaves_the_existing_archive_and_nothing_else(
    standalone: Standalone, tmp_path: Path
) -> None:
    src, images = seed(standalone)
    out = out_dir(tmp_path)
    archive = out / "app.tar"
    archive.write_bytes(BEFORE)
    standalone.faults.error(f"/v1/images/{images[0].id}/layer", 404, method="GET", times=None)

    failed = regv1("copy", src, f"docker-archive:{archive}", "--force")

    assert failed.exit_code == 1, failed.stderr
    assert failed.stderr.startswith("error: "), failed.stderr
    assert archive.read_bytes() == BEFORE
    assert sorted(p.name for p in out.iterdir()) == ["app.tar"]


def test_force_is_refused_for_a_destination_that_is_not_an_archive(
    standalone: Standalone, tmp_path: Path
) -> None:
    src, _ = seed(standalone)
    refused = regv1("copy", src, f"oci:{tmp_path / 'layout'}:app", "--force")
    assert refused.exit_code == 1, refused.stderr  # a usage error: nothing could start
    assert "--force replaces a docker-archive: file" in refused.stderr
    assert not (tmp_path / "layout").exists()
