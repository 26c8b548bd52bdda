from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from archive_builders import TarBuilder, image_id, layer_tar, make_chain
from docker_registry_v1.formats.archive import (
    DecompressionBombError,
    ExpansionLimits,
    MalformedArchiveError,
    ReadLimits,
    UnsafeArchiveError,
    open_saved_archive,
    write_loadable_archive,
)


def _open(path: Path, limits: ReadLimits | None = None) -> None:
    with open_saved_archive(path, limits=limits):
        pass


def _valid_archive(tmp_path: Path) -> Path:
    chain = make_chain([layer_tar({"a": b"1"})])
    return write_loadable_archive(tmp_path / "valid.tar", "x", "t", chain).path


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda b: b.file("/etc/passwd", b"x"), "absolute path '/etc/passwd'"),
        (lambda b: b.file("../escape", b"x"), "climbs out"),
        (lambda b: b.file("a/../../escape", b"x"), "climbs out"),
        (lambda b: b.link("evil", "/etc/shadow"), "links to absolute path"),
        (lambda b: b.link("a/evil", "../../etc/shadow"), "outside the archive"),
        (lambda b: b.link("evil", ".."), "outside the archive"),
        (lambda b: b.link("evil", "../etc/passwd", hard=True), "hard link.*climbs out"),
        (lambda b: b.link("evil", "/etc/passwd", hard=True), "hard link.*absolute"),
        (lambda b: b.special("dev/sda", tarfile.BLKTYPE), "device or FIFO"),
        (lambda b: b.special("dev/tty", tarfile.CHRTYPE), "device or FIFO"),
        (lambda b: b.special("pipe", tarfile.FIFOTYPE), "device or FIFO"),
        (lambda b: b.file("dup", b"1").file("./dup", b"2"), "appears twice"),
    ],
)
def test_hostile_members_are_rejected(tmp_path: Path, build, message: str) -> None:  # type: ignore[no-untyped-def]
    builder = TarBuilder(tmp_path / "evil.tar")
    builder.file("manifest.json", b"[]")
    build(builder)
    with pytest.raises(UnsafeArchiveError, match=message):
        _open(builder.close())


def test_link_inside_the_archive_is_followed(tmp_path: Path) -> None:
    layer = layer_tar({"a": b"1"})
    chain = make_chain([layer, layer])
    builder = TarBuilder(tmp_path / "links.tar")
    builder.file(f"{chain[0].image_id}/json", chain[0].json_bytes)
    builder.file(f"{chain[0].image_id}/layer.tar", layer)
    builder.file(f"{chain[1].image_id}/json", chain[1].json_bytes)
    builder.link(f"{chain[1].image_id}/layer.tar", f"../{chain[0].image_id}/layer.tar")
    with open_saved_archive(builder.close()) as archive:
        tip = archive.chains[0].tip
        assert tip.layer_size == len(layer)
        with tip.open_layer() as stream:
            assert stream.read() == layer


def test_link_loop_is_malformed(tmp_path: Path) -> None:
    chain = make_chain([b""])
    builder = TarBuilder(tmp_path / "loop.tar")
    builder.file(f"{chain[0].image_id}/json", chain[0].json_bytes)
    builder.link(f"{chain[0].image_id}/layer.tar", "layer.tar")
    with pytest.raises(MalformedArchiveError, match="link loop"):
        _open(builder.close())


def test_member_claiming_more_than_the_archive_holds(tmp_path: Path) -> None:
    path = _valid_archive(tmp_path)
    data = bytearray(path.read_bytes())
    with tarfile.open(path) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("layer.tar"))
    # Rewrite the size field (octal, 12 bytes at offset 124) and fix the checksum.
    header = bytearray(data[member.offset : member.offset + 512])
    header[124:136] = b"%011o\0" % (1 << 32)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    data[member.offset : member.offset + 512] = header
    lying = tmp_path / "lying.tar"
    lying.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchiveError, match="past the end"):
        _open(lying)


def test_truncated_archive_is_rejected(tmp_path: Path) -> None:
    path = _valid_archive(tmp_path)
    with tarfile.open(path) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("layer.tar"))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(path.read_bytes()[: member.offset_data + 100])
    with pytest.raises((UnsafeArchiveError, MalformedArchiveError)):
        _open(cut)


def test_absurd_pax_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "pax.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("big")
        info.pax_headers = {"comment": "x" * (2 << 20)}
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(UnsafeArchiveError, match="over the 1048576 byte limit"):
        _open(path)


def test_long_gnu_name_over_the_header_limit(tmp_path: Path) -> None:
    path = tmp_path / "gnu.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("d/" * 2000 + "f")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(UnsafeArchiveError, match="tar header"):
        _open(path, ReadLimits(max_header_bytes=1024))


def test_too_many_members(tmp_path: Path) -> None:
    builder = TarBuilder(tmp_path / "many.tar")
    for n in range(20):
        builder.file(f"f{n}", b"")
    with pytest.raises(UnsafeArchiveError, match="more than 10 members"):
        _open(builder.close(), ReadLimits(max_members=10))


def test_oversized_metadata_is_not_read(tmp_path: Path) -> None:
    builder = TarBuilder(tmp_path / "meta.tar")
    builder.file("manifest.json", b"[" + b" " * 5000 + b"]")
    with pytest.raises(MalformedArchiveError, match="over the 1000 byte limit"):
        _open(builder.close(), ReadLimits(max_metadata_bytes=1000))


def test_overlong_legacy_chain(tmp_path: Path) -> None:
    chain = make_chain([b""] * 5)
    builder = TarBuilder(tmp_path / "deep.tar")
    for image in chain:
        builder.file(f"{image.image_id}/json", image.json_bytes)
        builder.file(f"{image.image_id}/layer.tar", bytes(1024))
    with pytest.raises(MalformedArchiveError, match="longer than 3"):
        _open(builder.close(), ReadLimits(max_chain_length=3))


def test_gzip_bomb_archive_is_refused_and_cleaned_up(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(gzip.compress(bytes(32 << 20)))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    limits = ReadLimits(expansion=ExpansionLimits(max_ratio=100, ratio_grace_bytes=1 << 20))
    with (
        pytest.raises(DecompressionBombError, match=r"bomb\.tar\.gz"),
        open_saved_archive(bomb, limits=limits, temp_dir=scratch),
    ):
        pass
    assert list(scratch.iterdir()) == []


def test_repositories_pointing_at_garbage(tmp_path: Path) -> None:
    builder = TarBuilder(tmp_path / "r.tar")
    builder.json("repositories", {"x": {"t": "../../etc"}})
    with pytest.raises(MalformedArchiveError, match="not an image id"):
        _open(builder.close())


def test_oci_blob_with_wrong_size_or_digest(tmp_path: Path) -> None:
    builder = TarBuilder(tmp_path / "oci.tar")
    builder.file("oci-layout", b"{}")
    digest = builder.blob(b"{}")
    builder.json(
        "index.json",
        {"manifests": [{"mediaType": "x", "digest": digest, "size": 999}]},
    )
    with pytest.raises(MalformedArchiveError, match="not 999 bytes"):
        _open(builder.close())
    builder = TarBuilder(tmp_path / "oci2.tar")
    builder.file("oci-layout", b"{}")
    builder.file(f"blobs/sha256/{image_id('x')}", b"{}")
    builder.json(
        "index.json",
        {"manifests": [{"digest": f"sha256:{image_id('x')}", "size": 2}]},
    )
    with pytest.raises(MalformedArchiveError, match="does not match its digest"):
        _open(builder.close())
    builder = TarBuilder(tmp_path / "oci3.tar")
    builder.file("oci-layout", b"{}")
    builder.json("index.json", {"manifests": [{"digest": "sha256:../../x", "size": 2}]})
    with pytest.raises(MalformedArchiveError, match="not a sha256 digest"):
        _open(builder.close())
