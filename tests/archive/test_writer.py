from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from archive_builders import image_id, layer_tar, make_chain, sample_layers, v1_json
from docker_registry_v1.formats.archive import (
    ArchiveError,
    ChainImage,
    Compression,
    DecompressionBombError,
    ExpansionLimits,
    InvalidChainError,
    write_loadable_archive,
)
from docker_registry_v1.formats.archive import writer as writer_module

EMPTY_TAR_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {
            member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile()
        }


def test_archive_holds_legacy_and_manifest_layouts(tmp_path: Path) -> None:
    chain = make_chain(sample_layers())
    result = write_loadable_archive(tmp_path / "out.tar", "acme/app", "1.0", chain)
    members = _members(result.path)
    ids = [image.image_id for image in chain]

    for image in chain:
        assert members[f"{image.image_id}/VERSION"] == b"1.0"
        assert members[f"{image.image_id}/json"] == image.json_bytes
    assert json.loads(members["repositories"]) == {"acme/app": {"1.0": ids[-1]}}

    (entry,) = json.loads(members["manifest.json"])
    assert entry["RepoTags"] == ["acme/app:1.0"]
    assert entry["Layers"] == [f"{i}/layer.tar" for i in ids]
    config_bytes = members[entry["Config"]]
    assert entry["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
    assert result.config_digest == "sha256:" + hashlib.sha256(config_bytes).hexdigest()

    config = json.loads(config_bytes)
    diff_ids = config["rootfs"]["diff_ids"]
    assert config["rootfs"]["type"] == "layers"
    assert diff_ids == [layer.diff_id for layer in result.layers]
    for image_id_, diff_id in zip(ids, diff_ids, strict=True):
        assert diff_id == "sha256:" + hashlib.sha256(members[f"{image_id_}/layer.tar"]).hexdigest()
    assert "id" not in config
    assert "parent" not in config
    assert config["config"] == {"Cmd": ["bash"], "Env": ["PATH=/usr/bin"]}
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["history"][0] == {
        "created": "2014-10-13T21:19:00.674353812Z",
        "created_by": "/bin/sh -c #(nop) step 0",
    }
    assert len(config["history"]) == 3


def test_layers_are_stored_uncompressed_and_empty_layer_is_an_empty_tar(tmp_path: Path) -> None:
    layers = sample_layers()
    chain = make_chain(layers)
    result = write_loadable_archive(tmp_path / "out.tar", "acme/app", "1.0", chain)
    members = _members(result.path)
    stored = [members[f"{image.image_id}/layer.tar"] for image in chain]
    assert stored[0] == gzip.decompress(layers[0])
    assert stored[1] == layers[1]
    assert stored[2] == bytes(1024)
    assert result.layers[2].diff_id == EMPTY_TAR_DIFF_ID
    assert [layer.source_compression for layer in result.layers] == [
        Compression.GZIP,
        Compression.NONE,
        Compression.NONE,
    ]
    assert [layer.size for layer in result.layers] == [len(s) for s in stored]


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress, bz2.compress])
def test_all_compressions_give_the_same_diff_id(
    tmp_path: Path, compress: Callable[[bytes], bytes]
) -> None:
    plain = layer_tar({"a": b"content"})
    result = write_loadable_archive(tmp_path / "out.tar", "x", "t", make_chain([compress(plain)]))
    assert result.layers[0].diff_id == "sha256:" + hashlib.sha256(plain).hexdigest()


def test_layers_from_paths_and_streams_left_open(tmp_path: Path) -> None:
    on_disk = tmp_path / "layer.tar.gz"
    on_disk.write_bytes(gzip.compress(layer_tar({"f": b"1"})))
    stream = io.BytesIO(layer_tar({"g": b"2"}))
    chain = make_chain([on_disk, b""])
    chain[1] = ChainImage(chain[1].image_id, chain[1].json_bytes, stream)
    write_loadable_archive(tmp_path / "out.tar", "x", "t", chain)
    assert not stream.closed  # the caller's stream is the caller's to close


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("library/busybox", "busybox"),
        ("busybox", "busybox"),
        ("docker.io/library/busybox", "busybox"),
        ("docker.io/acme/app", "acme/app"),
        ("localhost:5000/acme/app", "localhost:5000/acme/app"),
        ("acme/library", "acme/library"),
    ],
)
def test_repository_names_follow_docker_save(
    tmp_path: Path, repository: str, expected: str
) -> None:
    chain = make_chain([layer_tar({"f": b"x"})])
    result = write_loadable_archive(tmp_path / "out.tar", repository, "latest", chain)
    members = _members(result.path)
    assert json.loads(members["repositories"]) == {expected: {"latest": chain[0].image_id}}
    assert json.loads(members["manifest.json"])[0]["RepoTags"] == [f"{expected}:latest"]


@pytest.mark.parametrize(
    ("repository", "tag", "message"),
    [
        ("Acme/App", "t", "not a valid docker name"),
        ("acme/app/", "t", "not a valid docker name"),
        ("", "t", "not a valid docker name"),
        ("acme/app", "-bad", "does not match"),
        ("acme/app", "x" * 129, "does not match"),
    ],
)
def test_bad_names_are_refused(tmp_path: Path, repository: str, tag: str, message: str) -> None:
    with pytest.raises(InvalidChainError, match=message):
        write_loadable_archive(tmp_path / "out.tar", repository, tag, make_chain([b""]))
    assert list(tmp_path.iterdir()) == []


def _broken_chains() -> list[tuple[list[ChainImage], str]]:
    a, b = image_id("a"), image_id("b")
    layer = layer_tar({"f": b"x"})
    return [
        ([], "empty"),
        ([ChainImage("A" * 64, v1_json("A" * 64, None, 0), io.BytesIO(layer))], "lowercase hex"),
        ([ChainImage(a, v1_json(b, None, 0), io.BytesIO(layer))], "JSON id"),
        ([ChainImage(a, v1_json(a, b, 0), io.BytesIO(layer))], "JSON parent"),
        (
            [
                ChainImage(a, v1_json(a, None, 0), io.BytesIO(layer)),
                ChainImage(b, v1_json(b, None, 1), io.BytesIO(layer)),
            ],
            "JSON parent",
        ),
        (
            [
                ChainImage(a, v1_json(a, None, 0), io.BytesIO(layer)),
                ChainImage(a, v1_json(a, a, 1), io.BytesIO(layer)),
            ],
            "appears twice",
        ),
        ([ChainImage(a, b"[1]", io.BytesIO(layer))], "JSON object"),
        ([ChainImage(a, b"{nope", io.BytesIO(layer))], "not valid JSON"),
        ([ChainImage(a, v1_json(a, None, 0), io.BytesIO(b"not a tar at all" * 64))], "not a tar"),
    ]


@pytest.mark.parametrize(("chain", "message"), _broken_chains())
def test_inconsistent_chains_are_refused(
    tmp_path: Path, chain: list[ChainImage], message: str
) -> None:
    with pytest.raises(InvalidChainError, match=message):
        write_loadable_archive(tmp_path / "out.tar", "x", "t", chain)
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.tar"
    target.write_bytes(b"previous archive")
    calls = 0
    real_add_layer = writer_module._add_layer

    def failing_add_layer(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk full (injected)")
        return real_add_layer(*args, **kwargs)

    monkeypatch.setattr(writer_module, "_add_layer", failing_add_layer)
    with pytest.raises(OSError, match="injected"):
        write_loadable_archive(target, "x", "t", make_chain(sample_layers()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar"]
    assert target.read_bytes() == b"previous archive"


def test_bomb_in_a_layer_aborts_cleanly(tmp_path: Path) -> None:
    bomb = gzip.compress(layer_tar({"zeros": bytes(16 << 20)}))
    with pytest.raises(DecompressionBombError, match="layer of image"):
        write_loadable_archive(
            tmp_path / "out.tar",
            "x",
            "t",
            make_chain([bomb]),
            limits=ExpansionLimits(max_ratio=50, ratio_grace_bytes=1 << 20),
        )
    assert list(tmp_path.iterdir()) == []


def test_fsync_failure_before_rename_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError("fsync failed (injected)")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="injected"):
        write_loadable_archive(tmp_path / "out.tar", "x", "t", make_chain(sample_layers()))
    assert list(tmp_path.iterdir()) == []


def test_destination_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="is a directory"):
        write_loadable_archive(tmp_path, "x", "t", make_chain([b""]))


def test_same_input_gives_byte_identical_archives(tmp_path: Path) -> None:
    first = write_loadable_archive(tmp_path / "1.tar", "x", "t", make_chain(sample_layers()))
    second = write_loadable_archive(tmp_path / "2.tar", "x", "t", make_chain(sample_layers()))
    assert first.path.read_bytes() == second.path.read_bytes()


def test_big_layer_is_streamed_in_constant_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.tar"
    with tarfile.open(big, "w") as tar:
        info = tarfile.TarInfo("blob")
        info.size = 48 << 20
        tar.addfile(info, io.BytesIO(os.urandom(1 << 20) * 48))
    tracemalloc.start()
    try:
        result = write_loadable_archive(tmp_path / "out.tar", "x", "t", make_chain([big]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.layers[0].size == big.stat().st_size
    assert peak < 8 << 20, f"peak traced memory {peak} bytes"
