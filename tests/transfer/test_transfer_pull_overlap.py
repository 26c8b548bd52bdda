"""A pull sends its layer GETs while the image JSONs are still on their way, yet the
listener still gets the whole plan before any byte, and a failed JSON leaves nothing."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from docker_registry_v1.core.errors import NotFound
from docker_registry_v1.core.progress import PlannedLayer
from docker_registry_v1.emulator import Emulator, Hub
from transfer_support import FAST, Runner, assert_chain_in, seed_chain


class Recorder:
    """Every listener call in order, from whichever thread made it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, int | None]] = []
        self._lock = threading.Lock()

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        with self._lock:
            self.calls += [("planned", layer.image_id, layer.size) for layer in layers]

    def advanced(self, image_id: str, nbytes: int) -> None:
        with self._lock:
            self.calls.append(("advanced", image_id, nbytes))

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        with self._lock:
            self.calls.append(("finished", image_id, None))


def test_the_plan_comes_whole_before_any_byte(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    chain = seed_chain(layers=6, size=3000)
    standalone.store.seed("acme/app", "1.0", chain)
    # the tip's JSON is held back a second after it arrives: the layer GETs go out meanwhile
    standalone.faults.latency(f"/v1/images/{chain[-1].id}/json", 1.0)
    recorder = Recorder()
    dest = tmp_path / "out.tar"
    run("pull", standalone.url, "acme/app", "1.0", dest, progress=recorder, retry=FAST)
    assert_chain_in(dest, chain)
    kinds = [kind for kind, _, _ in recorder.calls]
    first_byte = kinds.index("advanced")
    assert kinds[:first_byte] == ["planned"] * len(chain)
    assert recorder.calls[:first_byte] == [
        ("planned", image.id, len(image.layer_bytes)) for image in chain
    ]
    assert "planned" not in kinds[first_byte:]
    entries = standalone.log.entries
    layer_gets = [e for e in entries if e.path.endswith("/layer")]
    assert sorted(e.path.split("/")[3] for e in layer_gets) == sorted(i.id for i in chain)
    tip_json = next(e for e in entries if e.path == f"/v1/images/{chain[-1].id}/json")
    answered_at_the_earliest = tip_json.started + 1.0
    assert min(e.started for e in layer_gets) < answered_at_the_earliest


def test_a_missing_json_stops_the_layers_and_leaves_nothing(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    chain = seed_chain(layers=5, size=2048)
    standalone.store.seed("acme/app", "1.0", chain)
    standalone.faults.error(f"/v1/images/{chain[1].id}/json", 404)
    recorder = Recorder()
    dest = tmp_path / "out.tar"
    with pytest.raises(NotFound):
        run("pull", standalone.url, "acme/app", "1.0", dest, progress=recorder, retry=FAST)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []
    assert [kind for kind, _, _ in recorder.calls] == []


def test_the_tag_is_asked_for_while_the_token_decision_is_out(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    chain = seed_chain(layers=2, size=2048)
    standalone.store.seed("acme/app", "1.0", chain)
    standalone.faults.latency("/v1/_ping", 1.0)
    run("pull", standalone.url, "acme/app", "1.0", tmp_path / "out.tar", retry=FAST)
    assert_chain_in(tmp_path / "out.tar", chain)
    entries = standalone.log.entries
    ping = next(e for e in entries if e.path == "/v1/_ping")
    tag = next(e for e in entries if e.path == "/v1/repositories/acme/app/tags/1.0")
    assert tag.started < ping.started + 1.0
    assert len([e for e in entries if e.path == tag.path]) == 1


def test_concurrency_one_asks_for_the_tag_after_the_token_decision(
    standalone: Emulator, run: Runner, tmp_path: Path
) -> None:
    chain = seed_chain(layers=2, size=2048)
    standalone.store.seed("acme/app", "1.0", chain)
    standalone.faults.latency("/v1/_ping", 0.5)
    dest = tmp_path / "out.tar"
    run("pull", standalone.url, "acme/app", "1.0", dest, concurrency=1, retry=FAST)
    entries = standalone.log.entries
    ping = next(e for e in entries if e.path == "/v1/_ping")
    tag = next(e for e in entries if e.path == "/v1/repositories/acme/app/tags/1.0")
    assert tag.started >= ping.started + 0.5


def test_a_token_registry_drops_the_early_tag_answer(hub: Hub, run: Runner, tmp_path: Path) -> None:
    chain = seed_chain(layers=2, size=2048)
    hub.store.seed("acme/app", "1.0", chain)
    run("pull", hub.index_url, "acme/app", "1.0", tmp_path / "out.tar", retry=FAST)
    assert_chain_in(tmp_path / "out.tar", chain)
    tag_path = "/v1/repositories/acme/app/tags/1.0"
    answered = [e for e in hub.log.find(method="GET", path=tag_path) if e.status == 200]
    assert [e.headers.get("authorization", "")[:6] for e in answered] == ["Token "]
