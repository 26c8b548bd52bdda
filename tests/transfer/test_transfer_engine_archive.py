"""The engine's archive destination as ``pull`` uses it: a file object gets the whole
archive once every layer is in, the listener hears of the assembly, and an archive
source (whose chain is read whole first) still goes through the ordinary run."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from docker_registry_v1 import Client
from docker_registry_v1.core.errors import NotFound
from docker_registry_v1.core.progress import PlannedLayer
from docker_registry_v1.emulator import Emulator
from docker_registry_v1.engine import (
    ArchiveDestination,
    ArchiveSource,
    V1RegistrySource,
    copy_image,
)
from transfer_support import FAST, archive_members, assert_chain_in, base_url, seed_chain


class Phases:
    """Every layer's bytes and the assembly's, as the engine reports them."""

    def __init__(self) -> None:
        self.plan: list[str] = []
        self.downloaded = 0
        self.totals: list[int] = []
        self.read_back = 0

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        self.plan += [layer.image_id for layer in layers]

    def advanced(self, image_id: str, nbytes: int) -> None:
        self.downloaded += nbytes

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        del image_id, skipped

    def assembling(self, total: int) -> None:
        self.totals.append(total)

    def assembled(self, nbytes: int) -> None:
        self.read_back += nbytes


def test_a_file_object_gets_the_archive_and_the_spool_goes(
    standalone: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = seed_chain(layers=3, size=5000)
    standalone.store.seed("acme/app", "1.0", chain)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = io.BytesIO()
    with Client(base_url(standalone), retry=FAST) as client:
        source = V1RegistrySource(client, "acme/app", "1.0", policy=FAST, concurrency=2)
        into = ArchiveDestination(out, None, None)
        result = copy_image(source, into, concurrency=2)
    assert result.destination == "-"
    assert result.image_id == chain[-1].id
    assert into.written is not None
    assert into.written.path is None
    path = tmp_path / "copy.tar"
    path.write_bytes(out.getvalue())
    assert_chain_in(path, chain)
    assert list(scratch.iterdir()) == []  # the layers were spooled there, and removed


def test_the_listener_hears_the_assembly(standalone: Emulator, tmp_path: Path) -> None:
    chain = seed_chain(layers=2, size=7000)
    standalone.store.seed("acme/app", "1.0", chain)
    phases = Phases()
    dest = tmp_path / "out.tar"
    with Client(base_url(standalone), retry=FAST) as client:
        source = V1RegistrySource(client, "acme/app", "1.0", policy=FAST, concurrency=4)
        copy_image(source, ArchiveDestination(dest, None, None), progress=phases)
    total = sum(len(image.layer_bytes) for image in chain)
    assert phases.plan == [image.id for image in chain]
    assert phases.downloaded == total
    assert phases.totals == [total]
    assert phases.read_back >= total
    assert_chain_in(dest, chain)


def test_a_failed_json_writes_nothing_to_the_stream(standalone: Emulator, tmp_path: Path) -> None:
    chain = seed_chain(layers=3, size=2048)
    standalone.store.seed("acme/app", "1.0", chain)
    standalone.faults.error(f"/v1/images/{chain[0].id}/json", 404)
    out = io.BytesIO()
    with Client(base_url(standalone), retry=FAST) as client:
        source = V1RegistrySource(client, "acme/app", "1.0", policy=FAST, concurrency=4)
        with pytest.raises(NotFound):
            copy_image(source, ArchiveDestination(out, None, None))
    assert out.getvalue() == b""


def test_an_archive_source_takes_the_ordinary_run(standalone: Emulator, tmp_path: Path) -> None:
    chain = seed_chain(layers=2, size=3000)
    standalone.store.seed("acme/app", "1.0", chain)
    first = tmp_path / "first.tar"
    with Client(base_url(standalone), retry=FAST) as client:
        source = V1RegistrySource(client, "acme/app", "1.0", policy=FAST, concurrency=4)
        copy_image(source, ArchiveDestination(first, None, None))
    again = tmp_path / "again.tar"
    result = copy_image(ArchiveSource(first), ArchiveDestination(again, "team/app", "2.0"))
    assert result.layers == tuple(image.id for image in chain)
    assert sorted(result.uploaded) == sorted(result.layers)
    assert_chain_in(again, chain)
    repositories = json.loads(archive_members(again)["repositories"])
    assert repositories == {"team/app": {"2.0": chain[-1].id}}
