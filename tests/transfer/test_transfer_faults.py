"""Pulls that meet broken networks and servers: resume, restart, retries, refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from docker_registry_v1 import ChecksumMismatch, ServerError
from docker_registry_v1.emulator import Compat, Emulator
from docker_registry_v1.emulator.seed import SeedImage, payload_checksum
from transfer_support import FAST, Runner, assert_chain_in, seed_chain, settled

LAYER = "/v1/images/*/layer"


def seeded(reg: Emulator, size: int = 200_000, layers: int = 2) -> list[SeedImage]:
    chain = seed_chain(layers, size=size)
    reg.store.seed("acme/app", "1.0", chain)
    return chain


def layer_gets(reg: Emulator) -> list[tuple[str | None, int | None]]:
    return [
        (e.headers.get("range"), e.status)
        for e in settled(reg)
        if e.method == "GET" and e.path.endswith("/layer")
    ]


@pytest.mark.usefixtures("small_direct_body")
@pytest.mark.parametrize(
    ("size", "cut"),
    # a large layer (from 1 MiB on here) is read off the connection after what h11 buffered
    [(200_000, 50_000), (3_000_000, 2_000_000)],
    ids=["small", "direct"],
)
def test_dropped_connection_resumes_with_range(
    standalone: Emulator, run: Runner, tmp_path: Path, size: int, cut: int
) -> None:
    chain = seeded(standalone, size=size, layers=1)
    standalone.faults.drop_after(LAYER, cut, times=1)
    dest = tmp_path / "out.tar"
    result = run("pull", standalone.url, "acme/app", "1.0", dest, retry=FAST)
    assert_chain_in(dest, chain)
    size = len(chain[0].layer_bytes)
    assert layer_gets(standalone) == [(None, 200), (f"bytes={cut}-{size - 1}", 206)]
    assert result.bytes_transferred == size


def test_reference_ranges_resume(emulator_factory, run: Runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reg = emulator_factory("standalone", compat=Compat(reference_ranges=True))
    chain = seeded(reg, layers=1)
    reg.faults.drop_after(LAYER, 70_000, times=2)
    dest = tmp_path / "out.tar"
    run("pull", reg.url, "acme/app", "1.0", dest, retry=FAST)
    assert_chain_in(dest, chain)
    size = len(chain[0].layer_bytes)
    gets = layer_gets(reg)
    assert gets[0] == (None, 200)
    assert gets[1] == (f"bytes=70000-{size - 1}", 206)
    assert gets[-1] == (f"bytes=140000-{size - 1}", 206)


def test_ignored_range_restarts_the_layer(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    chain = seeded(standalone, layers=1)
    standalone.faults.ignore_range()
    standalone.faults.drop_after(LAYER, 60_000, times=1)

    class Recorder:
        def __init__(self) -> None:
            self.advances: list[int] = []

        def planned(self, layers: object) -> None:
            del layers

        def advanced(self, image_id: str, nbytes: int) -> None:
            self.advances.append(nbytes)

        def finished(self, image_id: str, *, skipped: bool = False) -> None:
            del image_id, skipped

    recorder = Recorder()
    dest = tmp_path / "out.tar"
    run("pull", standalone.url, "acme/app", "1.0", dest, retry=FAST, progress=recorder)
    assert_chain_in(dest, chain)
    assert [status for _, status in layer_gets(standalone)] == [200, 200]
    assert -60_000 in recorder.advances
    assert sum(recorder.advances) == len(chain[0].layer_bytes)


def test_503_burst_is_retried(standalone: Emulator, run: Runner, tmp_path: Path) -> None:
    chain = seeded(standalone, size=2048)
    standalone.faults.error(LAYER, 503, times=2)
    standalone.faults.error("/v1/images/*/json", 429, retry_after=0, times=1)
    dest = tmp_path / "out.tar"
    run("pull", standalone.url, "acme/app", "1.0", dest, retry=FAST)
    assert_chain_in(dest, chain)


def test_persistent_500_gives_up_and_leaves_nothing(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    seeded(standalone, size=2048)
    standalone.faults.error(LAYER, 500, times=None)
    with pytest.raises(ServerError):
        run("pull", standalone.url, "acme/app", "1.0", tmp_path / "out.tar", retry=FAST)
    assert list(tmp_path.iterdir()) == []
    # Each layer is tried exactly `attempts` times, no more.
    assert len([g for g in layer_gets(standalone) if g[1] == 500]) <= FAST.attempts * 2


def test_wrong_checksum_raises_and_leaves_nothing(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    chain = seed_chain(2, size=2048)
    tampered = [*chain[:1], SeedImage(**{**vars_of(chain[1]), "checksum": "sha256:" + "0" * 64})]
    standalone.store.seed("acme/app", "1.0", tampered)
    with pytest.raises(ChecksumMismatch, match="payload checksum"):
        run("pull", standalone.url, "acme/app", "1.0", tmp_path / "out.tar", retry=FAST)
    assert list(tmp_path.iterdir()) == []


def test_body_cut_after_all_bytes_is_complete(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    chain = seeded(standalone, size=2048)
    standalone.faults.wrong_length(LAYER, 1)
    dest = tmp_path / "out.tar"
    run("pull", standalone.url, "acme/app", "1.0", dest, retry=FAST)
    assert_chain_in(dest, chain)


def test_empty_layer_from_reference_server(
    emulator_factory,
    run: Runner,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    reg = emulator_factory("standalone", compat=Compat(reference_ranges=True))
    base = seed_chain(1, size=1024)[0]
    empty_id = hashlib.sha256(b"empty").hexdigest()
    doc = json.dumps({"id": empty_id, "parent": base.id}).encode()
    empty = SeedImage(empty_id, base.id, doc, b"", payload_checksum(doc, b""))
    reg.store.seed("acme/app", "1.0", [base, empty])
    dest = tmp_path / "out.tar"
    result = run("pull", reg.url, "acme/app", "1.0", dest, retry=FAST)
    assert result.layers[-1].image_id == empty_id
    assert 416 in [status for _, status in layer_gets(reg)]


def vars_of(image: SeedImage) -> dict[str, object]:
    return {
        "id": image.id,
        "parent": image.parent,
        "json_bytes": image.json_bytes,
        "layer_bytes": image.layer_bytes,
        "checksum": image.checksum,
    }
