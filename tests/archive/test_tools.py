"""The archives must load in the real tools, not just in this package's own reader."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from archive_builders import layer_tar, make_chain, sample_layers
from docker_registry_v1.formats.archive import (
    Layout,
    RepoTag,
    WrittenArchive,
    open_saved_archive,
    write_loadable_archive,
)
from system_tools import require_tool


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{args} failed: {done.stderr}"
    return done.stdout


@pytest.fixture
def skopeo() -> Callable[..., str]:
    """Runs skopeo with the given arguments and returns its stdout."""
    path = require_tool("skopeo")
    return lambda *args: _run(path, "--insecure-policy", *args)


@pytest.fixture
def written(tmp_path: Path) -> WrittenArchive:
    """An archive from a gzip layer, a plain tar layer and an empty layer."""
    return write_loadable_archive(
        tmp_path / "image.tar", "acme/app", "1.0", make_chain(sample_layers())
    )


def test_skopeo_reports_our_config_digest_and_diff_ids(
    skopeo: Callable[..., str], written: WrittenArchive
) -> None:
    raw: dict[str, Any] = json.loads(skopeo("inspect", "--raw", f"docker-archive:{written.path}"))
    assert raw["config"]["digest"] == written.config_digest
    assert [layer["digest"] for layer in raw["layers"]] == [
        layer.diff_id for layer in written.layers
    ]
    assert [layer["size"] for layer in raw["layers"]] == [layer.size for layer in written.layers]

    named = json.loads(skopeo("inspect", f"docker-archive:{written.path}:acme/app:1.0"))
    assert named["Layers"] == [layer.diff_id for layer in written.layers]
    assert (named["Os"], named["Architecture"]) == ("linux", "amd64")

    config = json.loads(skopeo("inspect", "--config", f"docker-archive:{written.path}"))
    assert config["rootfs"]["diff_ids"] == [layer.diff_id for layer in written.layers]


def test_skopeo_copies_to_dir_and_every_blob_verifies(
    skopeo: Callable[..., str], written: WrittenArchive, tmp_path: Path
) -> None:
    target = tmp_path / "dir"
    skopeo("copy", f"docker-archive:{written.path}", f"dir:{target}")
    for layer in written.layers:
        blob = target / layer.diff_id.removeprefix("sha256:")
        assert "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest() == layer.diff_id
    config = target / written.config_digest.removeprefix("sha256:")
    assert "sha256:" + hashlib.sha256(config.read_bytes()).hexdigest() == written.config_digest


def test_skopeo_copies_to_oci_layout(
    skopeo: Callable[..., str], written: WrittenArchive, tmp_path: Path
) -> None:
    target = tmp_path / "oci"
    skopeo("copy", f"docker-archive:{written.path}", f"oci:{target}:1.0")
    index = json.loads((target / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1.0"
    oci_config = json.loads(skopeo("inspect", "--config", f"oci:{target}:1.0"))
    assert oci_config["rootfs"]["diff_ids"] == [layer.diff_id for layer in written.layers]


def test_reader_reads_what_skopeo_writes(
    skopeo: Callable[..., str], written: WrittenArchive, tmp_path: Path
) -> None:
    oci_archive = tmp_path / "oci.tar"
    docker_archive = tmp_path / "docker.tar"
    skopeo("copy", f"docker-archive:{written.path}", f"oci-archive:{oci_archive}:1.0")
    skopeo(
        "copy", f"docker-archive:{written.path}", f"docker-archive:{docker_archive}:acme/app:2.0"
    )
    with open_saved_archive(docker_archive) as archive:
        assert archive.layout is Layout.MANIFEST
        (chain,) = archive.chains
        assert chain.repo_tags == (RepoTag("acme/app", "2.0"),)
        assert chain.config_digest == written.config_digest
        # Derived ids: chain ids below the tip, the config digest at the tip.
        assert chain.images[0].image_id == written.layers[0].diff_id.removeprefix("sha256:")
        assert chain.tip.image_id == written.config_digest.removeprefix("sha256:")
        for image, layer in zip(chain.images, written.layers, strict=True):
            with image.open_layer() as stream:
                assert "sha256:" + hashlib.sha256(stream.read()).hexdigest() == layer.diff_id
    with open_saved_archive(oci_archive) as archive:
        assert archive.layout is Layout.OCI
        (chain,) = archive.chains
        assert chain.repo_tags == (RepoTag(None, "1.0"),)
        assert len(chain.images) == len(written.layers)
        for image, layer in zip(chain.images, written.layers, strict=True):
            with image.open_layer() as stream:
                blob = stream.read()
            if blob[:2] == b"\x1f\x8b":  # skopeo compresses layers for OCI
                blob = gzip.decompress(blob)
            assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer.diff_id


def test_round_trip_through_skopeo_keeps_the_image(
    skopeo: Callable[..., str], tmp_path: Path
) -> None:
    """Ours → skopeo docker-archive → our reader → our writer: same config, same layers."""
    first = write_loadable_archive(
        tmp_path / "a.tar", "library/busybox", "latest", make_chain([layer_tar({"x": b"y"})])
    )
    copied = tmp_path / "b.tar"
    skopeo("copy", f"docker-archive:{first.path}", f"docker-archive:{copied}:busybox:latest")
    with open_saved_archive(copied) as archive:
        chain = archive.chain_for("docker.io/library/busybox", "latest")
        assert [image.layer_size for image in chain.images] == [first.layers[0].size]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """podman refuses a runroot path longer than 50 characters, so no pytest tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="regv1-"))
    yield path
    shutil.rmtree(path)


def test_podman_loads_the_archive(written: WrittenArchive, short_dir: Path) -> None:
    podman = [
        require_tool("podman"),
        "--root",
        str(short_dir / "storage"),
        "--runroot",
        str(short_dir / "run"),
        "--storage-driver",
        "vfs",
        "--events-backend",
        "none",
    ]
    out = _run(*podman, "load", "-i", str(written.path))
    assert "acme/app:1.0" in out
    layers = json.loads(
        _run(*podman, "image", "inspect", "acme/app:1.0", "--format", "{{json .RootFS.Layers}}")
    )
    assert layers == [layer.diff_id for layer in written.layers]
    image_id = _run(*podman, "image", "inspect", "acme/app:1.0", "--format", "{{.Id}}").strip()
    assert image_id == written.config_digest.removeprefix("sha256:")
