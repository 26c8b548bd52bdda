"""Where a pull's archive goes and how it looks: streams, existing files, file mode,
the name in ``RepoTags``, the assembly phase's progress and its cancellation."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
import anyio.from_thread
import pytest
from docker_registry_v1 import AssemblyListener, AsyncClient, InvalidInput, ProgressListener
from docker_registry_v1.core.progress import PlannedLayer
from docker_registry_v1.emulator import Emulator
from docker_registry_v1.transfer import apull
from transfer_support import Runner, archive_members, assert_chain_in, seed_chain


class Phases:
    """A listener with the assembly phase: records what each phase reported."""

    def __init__(self) -> None:
        self.downloaded = 0
        self.totals: list[int] = []
        self.assembled_bytes = 0
        self.order: list[str] = []
        self._lock = threading.Lock()

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        self.order.append("planned")

    def advanced(self, image_id: str, nbytes: int) -> None:
        with self._lock:
            self.downloaded += nbytes

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        with self._lock:
            self.order.append("finished")

    def assembling(self, total: int) -> None:
        self.totals.append(total)
        self.order.append("assembling")

    def assembled(self, nbytes: int) -> None:
        self.assembled_bytes += nbytes


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_stream_gets_the_same_archive_as_a_file(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    chain = seed_chain(3)
    standalone.store.seed("acme/app", "1.0", chain)
    as_file = run("pull", standalone.url, "acme/app", "1.0", tmp_path / "a.tar")
    out = io.BytesIO()
    streamed = run("pull", standalone.url, "acme/app", "1.0", out)
    assert streamed.path is None
    assert as_file.path == tmp_path / "a.tar"
    assert out.getvalue() == (tmp_path / "a.tar").read_bytes()
    assert streamed.layers == as_file.layers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar"]


def test_existing_file_is_kept_unless_overwrite(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    standalone.store.seed("acme/app", "1.0", seed_chain(1))
    dest = tmp_path / "a.tar"
    dest.write_bytes(b"precious")
    before = len(standalone.log.entries)
    with pytest.raises(InvalidInput) as caught:
        run("pull", standalone.url, "acme/app", "1.0", dest, overwrite=False)
    assert caught.value.field == "dest"
    assert dest.read_bytes() == b"precious"
    assert len(standalone.log.entries) == before  # refused before anything was sent
    run("pull", standalone.url, "acme/app", "1.0", dest)
    assert dest.read_bytes() != b"precious"


@pytest.mark.usefixtures("umask")
def test_archive_mode_follows_the_umask(standalone: Emulator, run: Runner, tmp_path: Path) -> None:
    standalone.store.seed("acme/app", "1.0", seed_chain(1))
    dest = tmp_path / "a.tar"
    run("pull", standalone.url, "acme/app", "1.0", dest)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640  # 0666 & ~027, not mkstemp's 0600


def test_archive_name_sets_repo_tags(standalone: Emulator, run: Runner, tmp_path: Path) -> None:
    chain = seed_chain(2)
    standalone.store.seed("library/app", "1.0", chain)
    named = tmp_path / "named.tar"
    run("pull", standalone.url, "app", "1.0", named, archive_name="localhost:5000/app")
    manifest = json.loads(archive_members(named)["manifest.json"])
    assert manifest[0]["RepoTags"] == ["localhost:5000/app:1.0"]
    repositories = json.loads(archive_members(named)["repositories"])
    assert repositories == {"localhost:5000/app": {"1.0": chain[-1].id}}
    plain = tmp_path / "plain.tar"
    run("pull", standalone.url, "library/app", "1.0", plain)
    assert json.loads(archive_members(plain)["manifest.json"])[0]["RepoTags"] == ["app:1.0"]
    with pytest.raises(InvalidInput) as caught:
        run("pull", standalone.url, "app", "1.0", tmp_path / "x.tar", archive_name="Bad Name")
    assert caught.value.field == "archive_name"


def test_assembly_phase_is_reported(standalone: Emulator, run: Runner, tmp_path: Path) -> None:
    chain = seed_chain(3, size=300_000)
    standalone.store.seed("acme/app", "1.0", chain)
    phases = Phases()
    assert isinstance(phases, ProgressListener)
    assert isinstance(phases, AssemblyListener)
    dest = tmp_path / "a.tar"
    run("pull", standalone.url, "acme/app", "1.0", dest, progress=phases)
    assert_chain_in(dest, chain)
    layer_bytes = sum(len(image.layer_bytes) for image in chain)
    assert phases.totals == [layer_bytes]
    assert phases.assembled_bytes == layer_bytes
    assert phases.order == ["planned", "finished", "finished", "finished", "assembling"]


def test_cancelling_during_assembly_leaves_nothing(standalone: Emulator, tmp_path: Path) -> None:
    standalone.store.seed("acme/app", "1.0", seed_chain(3, size=300_000))
    dest = tmp_path / "a.tar"

    async def main() -> tuple[bool, Phases]:
        with anyio.CancelScope() as scope:

            class CancelWhileWriting(Phases):
                def assembled(self, nbytes: int) -> None:
                    super().assembled(nbytes)
                    anyio.from_thread.run_sync(scope.cancel)

            listener = CancelWhileWriting()
            async with AsyncClient(standalone.url) as client:
                await apull(client, "acme/app", "1.0", dest, progress=listener)
        return scope.cancelled_caught, listener

    cancelled, listener = anyio.run(main)
    assert cancelled
    assert 0 < listener.assembled_bytes < listener.totals[0]
    assert list(tmp_path.iterdir()) == []


def test_stream_archive_loads_as_a_tar(standalone: Emulator, run: Runner) -> None:
    chain = seed_chain(2)
    standalone.store.seed("acme/app", "1.0", chain)
    out = io.BytesIO()
    run("pull", standalone.url, "acme/app", "1.0", out, archive_name="r.example:5000/acme/app")
    out.seek(0)
    with tarfile.open(fileobj=out, mode="r|") as tar:
        names = [member.name for member in tar]
    assert "manifest.json" in names
    assert names.count("repositories") == 1
    assert f"{chain[0].id}/layer.tar" in names
