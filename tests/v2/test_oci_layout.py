"""OCI image layouts written from converted v1 chains, checked by skopeo and umoci."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_registry_v1.core.errors import InvalidInput
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.formats import EncodedLayer, ManifestFormat, convert_image
from docker_registry_v1.formats.layout import (
    REF_NAME,
    BlobMismatch,
    LayoutError,
    OCILayout,
    parse_layout_reference,
)
from system_tools import require_tool

WRITER_READY_WITHIN = 60.0
"""Seconds the crash test's writer may take to start its big blob on a loaded machine."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_image(layout: OCILayout, chain: list[SeedImage], ref: str | None) -> str:
    """Stream each layer through the encoder into the layout, then add config and manifest."""
    blobs = []
    for image in chain:
        encoded = EncodedLayer(
            image.layer_bytes[i : i + 1000] for i in range(0, len(image.layer_bytes), 1000)
        )
        layout.write_blob(encoded)
        blobs.append(encoded.blob)
    converted = convert_image(
        [image.json_bytes for image in chain], blobs, manifest_format=ManifestFormat.OCI
    )
    return layout.add_image(converted, ref=ref).digest


def skopeo_inspect(root: Path, ref: str) -> dict[str, Any]:
    skopeo = require_tool("skopeo")
    done = subprocess.run(
        [skopeo, "inspect", f"oci:{root}:{ref}"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def blob_files(root: Path) -> list[str]:
    return sorted(path.name for path in (root / "blobs" / "sha256").iterdir())


def test_skopeo_reads_the_layout_and_copies_it_out(tmp_path: Path) -> None:
    chain = build_image_chain(3, seed=21, layer_size=3000, gzip=False)
    layout = OCILayout(tmp_path / "layout")
    write_image(layout, chain, "1.0")
    assert json.loads((tmp_path / "layout" / "oci-layout").read_text()) == {
        "imageLayoutVersion": "1.0.0"
    }
    inspected = skopeo_inspect(tmp_path / "layout", "1.0")
    manifest = json.loads(layout.blob_path(layout.refs()["1.0"]).read_bytes())
    assert inspected["Layers"] == [layer["digest"] for layer in manifest["layers"]]
    assert inspected["Architecture"] == "amd64"

    skopeo = require_tool("skopeo")
    out = tmp_path / "dir-copy"
    done = subprocess.run(
        [skopeo, "copy", f"oci:{tmp_path / 'layout'}:1.0", f"dir:{out}"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads(layout.blob_path(manifest["config"]["digest"]).read_bytes())
    assert config["rootfs"]["diff_ids"] == [sha256(image.layer_bytes) for image in chain]


def test_umoci_unpacks_the_image_with_every_layer_applied(tmp_path: Path) -> None:
    umoci = require_tool("umoci")
    chain = build_image_chain(3, seed=22, layer_size=2000, gzip=True)
    root = tmp_path / "layout"
    write_image(OCILayout(root), chain, "app")
    stat = subprocess.run(
        [umoci, "stat", "--image", f"{root}:app", "--json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stat.returncode == 0, stat.stderr
    assert len(json.loads(stat.stdout)["history"]) == 3
    bundle = tmp_path / "bundle"
    unpack = subprocess.run(
        [umoci, "unpack", "--rootless", "--image", f"{root}:app", str(bundle)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unpack.returncode == 0, unpack.stderr
    rootfs = bundle / "rootfs"
    assert sorted(p.name for p in (rootfs / "etc").iterdir()) == [
        "layer-2.conf"
    ]  # whiteouts applied
    assert (rootfs / "etc" / "layer-2.conf").read_text() == "layer=2\n"
    blobs = sorted(p.name for p in (rootfs / "data").iterdir())
    assert blobs == ["blob-0.bin", "blob-1.bin", "blob-2.bin"]
    assert all((rootfs / "data" / name).stat().st_size == 2000 for name in blobs)


def test_oci_image_tool_validates_every_ref(tmp_path: Path) -> None:
    tool = require_tool("oci-image-tool")
    layout = OCILayout(tmp_path)
    write_image(layout, build_image_chain(2, seed=27, gzip=False), "one")
    write_image(layout, build_image_chain(1, seed=28), "two")
    for ref in ("one", "two"):
        done = subprocess.run(
            [tool, "validate", "--type", "image", "--ref", f"name={ref}", str(tmp_path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "Validation succeeded" in done.stdout


def test_images_sharing_base_layers_store_each_blob_once(tmp_path: Path) -> None:
    chain = build_image_chain(4, seed=23, layer_size=1500, gzip=False)
    layout = OCILayout(tmp_path / "layout")
    write_image(layout, chain[:3], "base")
    before = {
        name: (layout.root / "blobs" / "sha256" / name).stat().st_ino
        for name in blob_files(layout.root)
    }
    write_image(layout, chain, "full")
    after = blob_files(layout.root)
    # 4 layers, 2 configs, 2 manifests; the three shared layers were not rewritten
    assert len(after) == 8
    assert all(
        (layout.root / "blobs" / "sha256" / name).stat().st_ino == ino
        for name, ino in before.items()
    )
    assert set(layout.refs()) == {"base", "full"}
    for ref, count in (("base", 3), ("full", 4)):
        assert len(skopeo_inspect(layout.root, ref)["Layers"]) == count


def test_has_blob_lets_a_writer_skip_a_source_it_would_only_duplicate(tmp_path: Path) -> None:
    layout = OCILayout(tmp_path)
    data = b"a layer"
    assert not layout.has_blob(sha256(data))
    assert layout.write_blob([data]).digest == sha256(data)
    assert layout.has_blob(sha256(data))
    with pytest.raises(InvalidInput):
        layout.has_blob("sha256:ABC")


def test_retagging_replaces_only_that_ref_and_keeps_the_others(tmp_path: Path) -> None:
    layout = OCILayout(tmp_path)
    first = write_image(layout, build_image_chain(1, seed=24), "a")
    write_image(OCILayout(tmp_path), build_image_chain(1, seed=25), "b")
    second = write_image(OCILayout(tmp_path), build_image_chain(2, seed=24), "a")
    refs = OCILayout(tmp_path).refs()
    assert refs["a"] == second != first
    assert set(refs) == {"a", "b"}
    entries = layout.index()["manifests"]
    assert [entry["annotations"][REF_NAME] for entry in entries] == ["b", "a"]
    assert entries[-1]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"


def test_a_digest_mismatch_leaves_neither_blob_nor_temporary_file(tmp_path: Path) -> None:
    layout = OCILayout(tmp_path)
    with pytest.raises(BlobMismatch, match="digest"):
        layout.write_blob([b"some", b"bytes"], digest=sha256(b"other bytes"))
    with pytest.raises(BlobMismatch, match="announced"):
        layout.write_blob([b"some", b"bytes"], size=4)
    assert blob_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs", "oci-layout"]


def test_a_source_that_fails_mid_blob_leaves_nothing_behind(tmp_path: Path) -> None:
    layout = OCILayout(tmp_path)

    def broken() -> Iterator[bytes]:
        yield b"first chunk"
        raise OSError("source connection dropped")

    with pytest.raises(OSError, match="dropped"):
        layout.write_blob(broken())
    assert blob_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs", "oci-layout"]


def test_a_manifest_naming_missing_blobs_is_refused_before_the_index_changes(
    tmp_path: Path,
) -> None:
    layout = OCILayout(tmp_path)
    chain = build_image_chain(1, seed=26)
    encoded = EncodedLayer([chain[0].layer_bytes])
    for _ in encoded:
        pass  # digest known, blob never written
    image = convert_image([chain[0].json_bytes], [encoded.blob], manifest_format=ManifestFormat.OCI)
    with pytest.raises(LayoutError, match="lacks"):
        layout.add_image(image, ref="x")
    assert layout.refs() == {}
    assert not (tmp_path / "index.json").exists()


@pytest.mark.parametrize("ref", ["", "-x", "a b", "a//b", "ü"])
def test_bad_refs_are_refused(tmp_path: Path, ref: str) -> None:
    layout = OCILayout(tmp_path)
    with pytest.raises(InvalidInput):
        layout.add_manifest(b'{"mediaType": "x", "layers": []}', ref=ref)


def test_layout_references_parse_like_skopeos() -> None:
    assert parse_layout_reference("oci:out/dir:v1.0") == (Path("out/dir"), "v1.0")
    assert parse_layout_reference("oci:out") == (Path("out"), None)
    for bad in ("docker://x", "oci:", "oci:dir:bad tag"):
        with pytest.raises(InvalidInput):
            parse_layout_reference(bad)


def test_a_directory_holding_something_else_is_refused(tmp_path: Path) -> None:
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(LayoutError, match="not an OCI image layout"):
        OCILayout(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.json").write_text("[]")
    with pytest.raises(LayoutError, match="not an OCI image index"):
        OCILayout(other)


def _tag_in_process(root: str, seed: int) -> None:
    write_image(OCILayout(root), build_image_chain(2, seed=seed, layer_size=500), f"t{seed}")


def test_concurrent_writers_keep_every_tag(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    seeds = range(30, 36)
    with context.Pool(3) as pool:
        pool.starmap(_tag_in_process, [(str(tmp_path), seed) for seed in seeds])
    assert set(OCILayout(tmp_path).refs()) == {f"t{seed}" for seed in seeds}


CRASH_WRITER = """
import sys, time
sys.path[:0] = sys.argv[3:]
from test_oci_layout import write_image
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1.formats.layout import OCILayout

def slow(data):
    for start in range(0, len(data), 1 << 16):
        yield data[start : start + (1 << 16)]
        time.sleep(float(sys.argv[2]))

layout = OCILayout(sys.argv[1])
chain = build_image_chain(2, seed=40, layer_size=4 << 20, gzip=True)
layout.write_blob(slow(chain[0].layer_bytes))
write_image(layout, chain, "big")
"""


def run_writer(root: Path, pause: float) -> subprocess.Popen[bytes]:
    here = str(Path(__file__).parent)
    return subprocess.Popen(
        [sys.executable, "-c", CRASH_WRITER, str(root), str(pause), here, str(Path(here).parent)]
    )


def test_a_writer_killed_mid_blob_leaves_a_valid_layout_and_a_rerun_completes(
    tmp_path: Path,
) -> None:
    root = tmp_path / "layout"
    write_image(OCILayout(root), build_image_chain(2, seed=41, layer_size=1000), "earlier")
    before = blob_files(root)
    writer = run_writer(root, 0.05)
    deadline = time.monotonic() + WRITER_READY_WITHIN
    while not any(p.name.endswith(".partial") and p.stat().st_size for p in root.iterdir()):
        assert writer.poll() is None, "the writer finished before it could be killed"
        assert time.monotonic() < deadline, "the writer never started its blob"
        time.sleep(0.02)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()

    assert blob_files(root) == before  # no partial blob under blobs/
    assert set(OCILayout(root).refs()) == {"earlier"}
    assert len(skopeo_inspect(root, "earlier")["Layers"]) == 2

    rerun = run_writer(root, 0)
    assert rerun.wait(timeout=300) == 0
    assert set(OCILayout(root).refs()) == {"earlier", "big"}
    assert len(skopeo_inspect(root, "big")["Layers"]) == 2
