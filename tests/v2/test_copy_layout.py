"""`copy` and `regv1 copy` into an OCI image layout (``oci:DIR[:TAG]``), read by skopeo, umoci."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from docker_registry_v1 import Client
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.formats.layout import OCILayout
from docker_registry_v1.transfer.copy import BlobCache, copy
from regv1_runner import regv1
from system_tools import require_tool


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("REGV1_REGISTRY", "REGV1_USERNAME", "REGV1_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "docker-config").mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def plain(layer: bytes) -> bytes:
    return gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer


def seed(standalone: Standalone, repo: str, number: int, layers: int = 3) -> list[SeedImage]:
    chain = build_image_chain(layers, seed=number, layer_size=150_000)
    standalone.store.seed(repo, "1.0", chain)
    return chain


def blob(root: Path, digest: str) -> bytes:
    return (root / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def blob_files(root: Path) -> dict[str, tuple[int, int]]:
    """Each blob file's (inode, mtime in ns): unchanged when nothing was written."""
    return {
        path.name: (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in (root / "blobs" / "sha256").iterdir()
    }


def tool(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_copy_into_a_layout_is_read_by_skopeo_and_umoci_and_a_second_writes_nothing(
    standalone: Standalone, tmp_path: Path
) -> None:
    chain = seed(standalone, "acme/layout", 71)
    root = tmp_path / "layout"
    cache = BlobCache(tmp_path / "cache.sqlite")
    with Client(standalone.url) as source:
        first = copy(source, "acme/layout", "1.0", OCILayout(root), dest_tag="app", cache=cache)
        files = blob_files(root)
        index = (root / "index.json").stat()
        second = copy(source, "acme/layout", "1.0", OCILayout(root), dest_tag="app", cache=cache)
    assert len(first.uploaded) == 3
    assert second.uploaded == ()
    assert sorted(second.skipped) == sorted(first.layers)
    assert second.bytes_transferred == 0
    assert second.digest == first.digest
    assert blob_files(root) == files
    after = (root / "index.json").stat()
    assert (after.st_ino, after.st_mtime_ns) == (index.st_ino, index.st_mtime_ns)

    inspected = json.loads(
        tool(require_tool("skopeo"), "--insecure-policy", "inspect", f"oci:{root}:app")
    )
    assert inspected["Digest"] == first.digest
    assert inspected["Layers"] == list(first.layers)
    stat = json.loads(tool(require_tool("umoci"), "stat", "--image", f"{root}:app", "--json"))
    assert len(stat["history"]) == 3
    manifest = json.loads(blob(root, first.digest))
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    config = json.loads(blob(root, manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [sha256(plain(image.layer_bytes)) for image in chain]


def test_two_images_sharing_a_base_store_it_once(standalone: Standalone, tmp_path: Path) -> None:
    chain = build_image_chain(4, seed=72, layer_size=150_000)
    standalone.store.seed("acme/base", "1.0", chain[:2])
    standalone.store.seed("acme/app", "1.0", chain)
    root = tmp_path / "layout"
    cache = BlobCache(tmp_path / "cache.sqlite")
    with Client(standalone.url) as source:
        base = copy(source, "acme/base", "1.0", OCILayout(root), dest_tag="base", cache=cache)
        app = copy(source, "acme/app", "1.0", OCILayout(root), dest_tag="app", cache=cache)
    assert sorted(app.skipped) == sorted(base.layers)
    assert len(app.uploaded) == 2
    assert app.layers[:2] == base.layers
    # 4 layers, 2 configs, 2 manifests: the base's layers are there once; and each
    # image's v1 provenance (its document and artifact manifest) and the empty config
    assert len(blob_files(root)) == 8 + 2 * 2 + 1
    assert OCILayout(root).refs() == {"base": base.digest, "app": app.digest}


def test_the_cli_copies_into_oci_dir_tag_twice(standalone: Standalone, tmp_path: Path) -> None:
    seed(standalone, "acme/ocicli", 73)
    src = f"{standalone.url.removeprefix('http://').rstrip('/')}/acme/ocicli:1.0"
    root = tmp_path / "out"
    args = ["copy", src, f"oci:{root}:v1", "--cache", str(tmp_path / "c.sqlite"), "--json"]
    first = regv1(*args)
    assert first.exit_code == 0, first.output
    files = blob_files(root)
    second = regv1(*args)
    assert second.exit_code == 0, second.output
    done, again = json.loads(first.stdout), json.loads(second.stdout)
    assert done["tags"] == ["v1"]
    assert len(done["uploaded"]) == 3
    assert again["uploaded"] == []
    assert again["bytes"] == 0
    assert blob_files(root) == files
    tool(require_tool("umoci"), "stat", "--image", f"{root}:v1")
    inspected = json.loads(
        tool(require_tool("skopeo"), "--insecure-policy", "inspect", f"oci:{root}:v1")
    )
    assert inspected["Digest"] == done["digest"]


def test_a_layout_that_is_not_one_is_one_error_line(standalone: Standalone, tmp_path: Path) -> None:
    seed(standalone, "acme/ocibad", 74)
    src = f"{standalone.url.removeprefix('http://').rstrip('/')}/acme/ocibad:1.0"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "oci-layout").write_text('{"imageLayoutVersion": "9"}')
    result = regv1("copy", src, f"oci:{tmp_path / 'bad'}:x", "--cache", str(tmp_path / "c.db"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert "not an OCI image layout" in result.stderr
    bad_tag = regv1("copy", src, f"oci:{tmp_path / 'new'}:-bad", "--cache", str(tmp_path / "c.db"))
    assert bad_tag.exit_code == 1
    assert bad_tag.stderr.startswith("error: ")
    assert not (tmp_path / "new").exists()


def test_the_manifest_format_is_chosen_on_the_command_line(
    standalone: Standalone, tmp_path: Path
) -> None:
    seed(standalone, "acme/ocifmt", 75)
    src = f"{standalone.url.removeprefix('http://').rstrip('/')}/acme/ocifmt:1.0"
    root = tmp_path / "out"
    args = ["copy", src, f"oci:{root}:d", "--cache", str(tmp_path / "c.sqlite"), "--json"]
    done = regv1(*args, "--manifest-format", "docker")
    assert done.exit_code == 0, done.output
    (entry,) = [e for e in OCILayout(root).index()["manifests"] if "artifactType" not in e]
    assert entry["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert entry["digest"] == json.loads(done.stdout)["digest"]
