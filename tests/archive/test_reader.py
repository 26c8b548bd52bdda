from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from archive_builders import (
    TarBuilder,
    image_config,
    image_id,
    layer_tar,
    make_chain,
    oci_archive,
    sample_layers,
    sha256_of,
    v1_json,
)
from docker_registry_v1.formats.archive import (
    ArchiveError,
    ChainImage,
    CorruptStreamError,
    ImageChain,
    ImageNotInArchiveError,
    Layout,
    MalformedArchiveError,
    RepoTag,
    open_saved_archive,
    write_loadable_archive,
)


def _layer_bytes(chain: ImageChain) -> list[bytes]:
    out = []
    for image in chain.images:
        with image.open_layer() as stream:
            out.append(stream.read())
    return out


def _written(tmp_path: Path, layers: list[bytes]) -> tuple[Path, list[ChainImage]]:
    chain = make_chain(layers)
    result = write_loadable_archive(tmp_path / "out.tar", "acme/app", "1.0", chain)
    return result.path, make_chain(layers)


def test_round_trip_keeps_ids_json_bytes_and_layer_bytes(tmp_path: Path) -> None:
    plain = [layer_tar({"a": b"1"}), layer_tar({"b": b"2" * 3000}), bytes(1024)]
    path, chain = _written(tmp_path, plain)
    with open_saved_archive(path) as archive:
        assert archive.layout is Layout.MANIFEST
        (read,) = archive.chains
        assert read.repo_tags == (RepoTag("acme/app", "1.0"),)
        assert [i.image_id for i in read.images] == [i.image_id for i in chain]
        assert [i.json_bytes for i in read.images] == [i.json_bytes for i in chain]
        assert [i.parent for i in read.images] == [None, chain[0].image_id, chain[1].image_id]
        assert _layer_bytes(read) == plain
        assert [i.layer_size for i in read.images] == [len(p) for p in plain]
        assert archive.chain_for("acme/app", "1.0") is read


def test_round_trip_of_compressed_and_empty_layers_yields_what_was_stored(tmp_path: Path) -> None:
    layers = sample_layers()
    path, chain = _written(tmp_path, layers)
    with open_saved_archive(path) as archive:
        (read,) = archive.chains
        assert [i.json_bytes for i in read.images] == [i.json_bytes for i in chain]
        assert _layer_bytes(read) == [gzip.decompress(layers[0]), layers[1], bytes(1024)]


def test_legacy_only_archive(tmp_path: Path) -> None:
    layers = [layer_tar({"a": b"1"}), layer_tar({"b": b"2"})]
    chain = make_chain(layers)
    builder = TarBuilder(tmp_path / "legacy.tar")
    for image, layer in zip(chain, layers, strict=True):
        builder.directory(f"{image.image_id}/")
        builder.file(f"{image.image_id}/VERSION", b"1.0")
        builder.file(f"{image.image_id}/json", image.json_bytes)
        builder.file(f"{image.image_id}/layer.tar", layer)
    # An untagged image sharing the base, and two tags on the same tip.
    other = image_id("other")
    builder.file(f"{other}/json", v1_json(other, chain[0].image_id, 9))
    builder.link(f"{other}/layer.tar", f"../{chain[0].image_id}/layer.tar")
    builder.json(
        "repositories", {"ubuntu": {"14.04": chain[1].image_id, "trusty": chain[1].image_id}}
    )
    with open_saved_archive(builder.close()) as archive:
        assert archive.layout is Layout.LEGACY
        tagged = archive.chain_for("library/ubuntu", "trusty")
        assert tagged.repo_tags == (RepoTag("ubuntu", "14.04"), RepoTag("ubuntu", "trusty"))
        assert tagged.config_digest is None
        assert [i.json_bytes for i in tagged.images] == [i.json_bytes for i in chain]
        assert _layer_bytes(tagged) == layers
        (untagged,) = [c for c in archive.chains if not c.repo_tags]
        assert [i.image_id for i in untagged.images] == [chain[0].image_id, other]
        assert _layer_bytes(untagged) == [layers[0], layers[0]]
        with pytest.raises(ImageNotInArchiveError, match=r"ubuntu:15\.04"):
            archive.chain_for("ubuntu", "15.04")


def _modern_without_v1(tmp_path: Path) -> tuple[Path, list[bytes], bytes]:
    """docker >= 25 style: manifest.json pointing into blobs/, no v1 directories."""
    layers = [layer_tar({"a": b"1"}), layer_tar({"b": b"2"}), layer_tar({"c": b"3"})]
    path, config = oci_archive(tmp_path / "modern.tar", layers, with_manifest_json=True)
    return path, layers, config


def test_modern_archive_gets_docker_push_style_ids(tmp_path: Path) -> None:
    path, layers, config = _modern_without_v1(tmp_path)
    diff_ids = [sha256_of(layer) for layer in layers]
    chain1 = hashlib.sha256(f"{diff_ids[0]} {diff_ids[1]}".encode()).hexdigest()
    with open_saved_archive(path) as archive:
        assert archive.layout is Layout.MANIFEST
        (read,) = archive.chains
        assert read.repo_tags == (RepoTag("busybox", "1.36"),)
        ids = [i.image_id for i in read.images]
        assert ids == [
            diff_ids[0].removeprefix("sha256:"),
            chain1,
            hashlib.sha256(config).hexdigest(),
        ]
        assert [i.parent for i in read.images] == [None, ids[0], ids[1]]
        assert _layer_bytes(read) == layers
        base = json.loads(read.images[0].json_bytes)
        assert base == {
            "id": ids[0],
            "Size": len(layers[0]),
            "architecture": "arm64",
            "os": "linux",
            "created": "2024-01-02T00:00:00Z",
            "container_config": {"Cmd": ["/bin/sh", "-c", "step 0"]},
        }
        tip = json.loads(read.tip.json_bytes)
        assert tip["id"] == ids[2]
        assert tip["parent"] == ids[1]
        assert tip["config"] == {"Cmd": ["sh"]}
        assert tip["architecture"] == "arm64"
        assert "rootfs" not in tip
        assert "history" not in tip
    with open_saved_archive(path) as again:
        assert [i.json_bytes for i in again.chains[0].images] == [i.json_bytes for i in read.images]


@pytest.mark.parametrize("nested", [False, True])
def test_oci_archive_without_manifest_json(tmp_path: Path, nested: bool) -> None:
    layers = [gzip.compress(layer_tar({"a": b"1"})), layer_tar({"b": b"2"})]
    path, config = oci_archive(
        tmp_path / "oci.tar", layers, with_manifest_json=False, nested_index=nested
    )
    with open_saved_archive(path) as archive:
        assert archive.layout is Layout.OCI
        (read,) = archive.chains  # the attestation manifest is skipped
        assert read.repo_tags == (RepoTag("busybox", "1.36"),)
        assert read.config_digest == sha256_of(config)
        assert read.tip.image_id == hashlib.sha256(config).hexdigest()
        assert read.images[0].image_id == sha256_of(gzip.decompress(layers[0]))[7:]
        assert _layer_bytes(read) == layers  # blobs are handed out as stored
        assert archive.chain_for("docker.io/library/busybox", "1.36") is read


def test_oci_and_manifest_views_of_one_archive_agree(tmp_path: Path) -> None:
    layers = [layer_tar({"a": b"1"}), layer_tar({"b": b"2"})]
    with_manifest, _ = oci_archive(tmp_path / "a.tar", layers, with_manifest_json=True)
    without, _ = oci_archive(tmp_path / "b.tar", layers, with_manifest_json=False)
    with open_saved_archive(with_manifest) as first, open_saved_archive(without) as second:
        assert [i.image_id for i in first.chains[0].images] == [
            i.image_id for i in second.chains[0].images
        ]


def test_image_without_layers_becomes_one_empty_v1_image(tmp_path: Path) -> None:
    config = image_config([])
    builder = TarBuilder(tmp_path / "scratch.tar")
    name = builder.blob(config).replace(":", "/")
    builder.json("manifest.json", [{"Config": f"blobs/{name}", "RepoTags": None, "Layers": []}])
    with open_saved_archive(builder.close()) as archive:
        (image,) = archive.chains[0].images
        assert image.image_id == hashlib.sha256(config).hexdigest()
        assert image.layer_size == 0
        assert image.parent is None
        assert _layer_bytes(archive.chains[0]) == [b""]


def test_tampered_blob_fails_when_streamed(tmp_path: Path) -> None:
    layer = layer_tar({"a": b"1"})
    config = image_config([sha256_of(layer)])
    builder = TarBuilder(tmp_path / "t.tar")
    config_name = builder.blob(config).replace(":", "/")
    fake = "blobs/sha256/" + "0" * 64
    builder.file(fake, layer)
    builder.json(
        "manifest.json", [{"Config": f"blobs/{config_name}", "RepoTags": [], "Layers": [fake]}]
    )
    with (
        open_saved_archive(builder.close()) as archive,
        archive.chains[0].images[0].open_layer() as stream,
    ):
        assert stream.read(10) == layer[:10]
        with pytest.raises(CorruptStreamError, match="expected sha256:0000"):
            stream.read()


def test_layer_stream_is_seekable_and_independent(tmp_path: Path) -> None:
    path, _ = _written(tmp_path, [layer_tar({"a": b"1" * 5000}), layer_tar({"b": b"2"})])
    with open_saved_archive(path) as archive:
        first, second = archive.chains[0].images
        with first.open_layer() as a, second.open_layer() as b:
            head = a.read(700)
            other = b.read()
            a.seek(0)
            assert a.read(700) == head
            assert len(a.read()) + 700 == first.layer_size
            assert len(other) == second.layer_size


def test_layers_cannot_be_opened_after_the_archive_is_closed(tmp_path: Path) -> None:
    path, _ = _written(tmp_path, [layer_tar({"a": b"1"})])
    with open_saved_archive(path) as archive:
        image = archive.chains[0].images[0]
    with pytest.raises(ArchiveError, match="closed"):
        image.open_layer()


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress])
def test_compressed_archive_is_decompressed_into_a_private_dir_then_removed(
    tmp_path: Path, compress: Callable[[bytes], bytes]
) -> None:
    path, chain = _written(tmp_path, [layer_tar({"a": b"1"})])
    packed = tmp_path / "out.tar.z"
    packed.write_bytes(compress(path.read_bytes()))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with open_saved_archive(packed, temp_dir=scratch) as archive:
        (private,) = scratch.iterdir()
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert archive.chains[0].images[0].json_bytes == chain[0].json_bytes
    assert list(scratch.iterdir()) == []


def test_stream_source_is_spooled_and_cleaned_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, chain = _written(tmp_path, [layer_tar({"a": b"1"})])
    # The default temporary directory, but a private one: the shared one changes under
    # other processes (another pytest-xdist worker) while the test looks at it.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with open_saved_archive(io.BytesIO(path.read_bytes())) as archive:
        assert len(list(scratch.iterdir())) == 1  # spooled there
        assert archive.chains[0].images[0].image_id == chain[0].image_id
    assert list(scratch.iterdir()) == []


def test_archive_with_no_known_layout_is_malformed(tmp_path: Path) -> None:
    path = TarBuilder(tmp_path / "x.tar").file("README", b"hi").close()
    with pytest.raises(MalformedArchiveError, match=r"no manifest\.json"), open_saved_archive(path):
        pass


def test_not_a_tar_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    path.write_bytes(b"this is not a tar archive" * 100)
    with pytest.raises(MalformedArchiveError, match="not a readable tar"), open_saved_archive(path):
        pass


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"Config": "c.json"}, "must be a JSON list"),
        ([["x"]], "must be an object"),
        ([{"Config": 1, "Layers": []}], "Config must be a path"),
        ([{"Config": "c.json", "Layers": "a"}], "Layers must be a list"),
        ([{"Config": "c.json", "Layers": [], "RepoTags": ["Bad Name:x"]}], "not a valid name"),
        ([{"Config": "missing.json", "Layers": []}], "'missing.json' is missing"),
        ([{"Config": "c.json", "Layers": ["l.tar", "l.tar"]}], "2 layers"),
    ],
)
def test_malformed_manifest_json(tmp_path: Path, manifest: object, message: str) -> None:
    layer = layer_tar({"a": b"1"})
    builder = TarBuilder(tmp_path / "m.tar")
    builder.file("l.tar", layer)
    builder.file("c.json", image_config([sha256_of(layer)]))
    builder.json("manifest.json", manifest)
    with pytest.raises(MalformedArchiveError, match=message), open_saved_archive(builder.close()):
        pass


def test_legacy_chain_with_missing_parent_is_malformed(tmp_path: Path) -> None:
    child = image_id("child")
    builder = TarBuilder(tmp_path / "l.tar")
    builder.file(f"{child}/json", v1_json(child, image_id("gone"), 1))
    builder.file(f"{child}/layer.tar", layer_tar({"a": b"1"}))
    with (
        pytest.raises(MalformedArchiveError, match="referenced but has no json"),
        open_saved_archive(builder.close()),
    ):
        pass
