"""``regv1 pull``'s archive: -o - to stdout, --force, the file mode, the name in RepoTags."""

from __future__ import annotations

import gzip
import io
import json
import os
import pty
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import assert_one_line_failure, chain, netloc
from docker_registry_v1.emulator import Standalone
from regv1_runner import regv1

REGV1 = Path(sys.executable).with_name("regv1")


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def repo_tags(path: Path) -> list[str]:
    manifest = json.loads(members(path.read_bytes())["manifest.json"])
    return list(manifest[0]["RepoTags"])


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_pull_to_stdout(
    standalone: Standalone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    images = chain(2)
    standalone.store.seed("team/app", "1.0", images)
    ref = f"{netloc(standalone.url)}/team/app:1.0"
    result = regv1("pull", ref, "-o", "-")
    assert result.exit_code == 0, result.stderr
    archive = members(result.stdout_bytes)
    for image in images:
        assert archive[f"{image.id}/json"] == image.json_bytes
        assert archive[f"{image.id}/layer.tar"] == gzip.decompress(image.layer_bytes)
    assert "pulled team/app:1.0" in result.stderr
    assert "to stdout" in result.stderr
    assert list(scratch.iterdir()) == []  # the layers were spooled there, and removed
    both = regv1("pull", ref, "-o", "-", "--json")
    assert both.exit_code == 1
    assert both.stdout == ""


def test_pull_refuses_a_terminal_as_stdout(standalone: Standalone) -> None:
    standalone.store.seed("team/app", "1.0", chain(1))
    controller, terminal = pty.openpty()
    try:
        process = subprocess.run(
            [str(REGV1), "pull", f"{netloc(standalone.url)}/team/app:1.0", "-o", "-"],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert process.returncode == 1
    assert process.stderr.decode().splitlines() == [
        "error: refusing to write an archive to a terminal; redirect stdout or use -o FILE"
    ]
    assert not [e for e in standalone.log.entries if e.path.startswith("/v1/repositories")]


def test_pull_keeps_an_existing_file_without_force(standalone: Standalone, tmp_path: Path) -> None:
    standalone.store.seed("team/app", "1.0", chain(1))
    archive = tmp_path / "app.tar"
    archive.write_bytes(b"precious")
    ref = f"{netloc(standalone.url)}/team/app:1.0"
    refused = regv1("pull", ref, "-o", str(archive))
    assert_one_line_failure(refused, str(archive), "exists", "--force")
    assert archive.read_bytes() == b"precious"
    assert standalone.log.entries == []
    forced = regv1("pull", ref, "-o", str(archive), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert tarfile.is_tarfile(archive)


@pytest.mark.usefixtures("umask_022")
def test_pull_archive_gets_a_normal_file_mode(standalone: Standalone, tmp_path: Path) -> None:
    standalone.store.seed("team/app", "1.0", chain(1))
    archive = tmp_path / "app.tar"
    result = regv1("pull", f"{netloc(standalone.url)}/team/app:1.0", "-o", str(archive))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(archive.stat().st_mode) == 0o644


def test_repo_tags_follow_docker_and_the_host_flags(standalone: Standalone, tmp_path: Path) -> None:
    standalone.store.seed("team/app", "1.0", chain(1))
    standalone.store.seed("library/base", "latest", chain(1, seed=1))
    host = netloc(standalone.url)

    def pulled(*args: str) -> list[str]:
        archive = tmp_path / "a.tar"
        result = regv1("pull", *args, "-o", str(archive), "--force")
        assert result.exit_code == 0, result.stderr
        return repo_tags(archive)

    # as docker save names an image pulled from HOST:PORT, and one from the default index
    assert pulled(f"{host}/team/app:1.0") == [f"{host}/team/app:1.0"]
    assert pulled(f"{host}/base") == [f"{host}/base:latest"]
    assert pulled("base", "--registry", standalone.url) == ["base:latest"]
    assert pulled("library/base", "--registry", standalone.url) == ["base:latest"]
    # --keep-host names the registry even when it came from --registry; --no-keep-host never
    assert pulled("team/app:1.0", "--registry", standalone.url, "--keep-host") == [
        f"{host}/team/app:1.0"
    ]
    assert pulled(f"{host}/team/app:1.0", "--no-keep-host") == ["team/app:1.0"]
    assert pulled(f"{host}/base", "--no-keep-host") == ["base:latest"]
