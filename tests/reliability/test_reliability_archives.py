"""Reading ``docker save`` archives: hostile members refused, nothing extracted, temp removed."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest
from docker_registry_v1 import Client
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.formats.archive import (
    ArchiveError,
    DecompressionBombError,
    ExpansionLimits,
    ReadLimits,
    UnsafeArchiveError,
    open_saved_archive,
)
from docker_registry_v1.transfer import push
from reliability_support import FAST, save_archive, seed_chain


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> Any:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info, io.BytesIO(data) if kind == tarfile.REGTYPE else None


def _evil_archive(path: Path, *members: tuple[str, bytes, str]) -> Path:
    """A valid saved image plus the given ``(name, type, link)`` members."""
    good = save_archive(path.with_suffix(".good.tar"), "ns/r", "t", seed_chain(1))
    with tarfile.open(good) as src, tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as out:
        for info in src.getmembers():
            out.addfile(info, src.extractfile(info) if info.isfile() else None)
        for name, kind, link in members:
            out.addfile(*_member(name, kind, b"x", link))
    good.unlink()
    return path


HOSTILE: dict[str, tuple[tuple[str, bytes, str], ...]] = {
    "absolute path": (("/etc/cron.d/evil", tarfile.REGTYPE, ""),),
    "dot-dot path": (("../../evil", tarfile.REGTYPE, ""),),
    "dot-dot inside": (("a/b/../../../evil", tarfile.REGTYPE, ""),),
    "symlink escaping": (("esc", tarfile.SYMTYPE, "../../../etc/passwd"),),
    "absolute symlink": (("esc", tarfile.SYMTYPE, "/etc/passwd"),),
    "hard link escaping": (("esc", tarfile.LNKTYPE, "../outside"),),
    "character device": (("dev/null", tarfile.CHRTYPE, ""),),
    "block device": (("dev/sda", tarfile.BLKTYPE, ""),),
    "fifo": (("pipe", tarfile.FIFOTYPE, ""),),
}


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Route every temporary file and directory to a directory the test can inspect."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize("compressed", [False, True])
def test_hostile_members_are_refused_and_nothing_is_left(
    tmp_path: Path, private_tmp: Path, case: str, compressed: bool
) -> None:
    path = _evil_archive(tmp_path / "evil.tar", *HOSTILE[case])
    if compressed:
        path.with_suffix(".tar.gz").write_bytes(gzip.compress(path.read_bytes()))
        path = path.with_suffix(".tar.gz")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UnsafeArchiveError), open_saved_archive(path):
        pass
    assert list(private_tmp.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_member_larger_than_the_archive_declares(tmp_path: Path) -> None:
    path = save_archive(tmp_path / "a.tar", "ns/r", "t", seed_chain(1, size=20_000))
    data = path.read_bytes()
    with tarfile.open(path) as tar:
        layer = next(m for m in tar.getmembers() if m.name.endswith("layer.tar"))
    cut = path.with_name("cut.tar")
    cut.write_bytes(data[: layer.offset_data + 1024])
    with pytest.raises(ArchiveError), open_saved_archive(cut):
        pass


def test_compressed_archive_is_spooled_privately_and_removed(
    tmp_path: Path, private_tmp: Path
) -> None:
    chain = seed_chain(2)
    plain = save_archive(tmp_path / "a.tar", "ns/r", "t", chain)
    packed = tmp_path / "a.tar.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    with open_saved_archive(packed) as saved:
        (spool,) = private_tmp.iterdir()
        assert stat.S_IMODE(spool.stat().st_mode) == 0o700
        assert [p.name for p in spool.iterdir()] == ["archive.tar"]
        with saved.chains[0].tip.open_layer() as stream:
            assert stream.read() == chain[-1].layer_bytes
    assert list(private_tmp.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar", "a.tar.gz", "scratch"]


def test_plain_archive_is_read_in_place(tmp_path: Path, private_tmp: Path) -> None:
    plain = save_archive(tmp_path / "a.tar", "ns/r", "t", seed_chain(1))
    cwd_before = set(Path.cwd().iterdir())
    with open_saved_archive(plain):
        assert list(private_tmp.iterdir()) == []
    assert set(Path.cwd().iterdir()) == cwd_before


def test_push_of_a_hostile_archive_sends_nothing(standalone: Standalone, tmp_path: Path) -> None:
    path = _evil_archive(tmp_path / "evil.tar", *HOSTILE["symlink escaping"])
    with Client(standalone.url) as client, pytest.raises(UnsafeArchiveError):
        push(client, path, "ns/r", "t", retry=FAST)
    assert standalone.log.entries == []


def test_gzip_bomb_archive_stops_early(tmp_path: Path, private_tmp: Path) -> None:
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(gzip.compress(bytes(8 << 20)))
    limits = ReadLimits(expansion=ExpansionLimits(max_ratio=50, ratio_grace_bytes=1 << 20))
    with pytest.raises(DecompressionBombError), open_saved_archive(bomb, limits=limits):
        pass
    assert list(private_tmp.iterdir()) == []
