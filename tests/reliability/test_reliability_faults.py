"""Faults: resets mid-layer, 5xx bursts, slow servers and a registry restarted mid-push."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest
from docker_registry_v1 import (
    AsyncClient,
    Client,
    DockerRegistryError,
    NotFound,
    RegistryTimeout,
    ServerError,
)
from docker_registry_v1.emulator import Standalone, run_standalone
from docker_registry_v1.formats.archive import open_saved_archive
from docker_registry_v1.transfer import RetryPolicy, apull, pull, push
from reliability_support import FAST, closed_port, save_archive, seed_chain, settled


def _pull(url: str, dest: Path, flavour: str, retry: RetryPolicy = FAST) -> None:
    if flavour == "sync":
        with Client(url) as client:
            pull(client, "ns/r", "t", dest, retry=retry)
        return

    async def main() -> None:
        async with AsyncClient(url) as client:
            await apull(client, "ns/r", "t", dest, retry=retry)

    anyio.run(main)


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("cut", ["drop_after", "wrong_length", "ignore_range"])
def test_reset_mid_layer_gives_a_byte_identical_archive(
    standalone: Standalone, tmp_path: Path, flavour: str, cut: str
) -> None:
    chain = seed_chain(3, size=200_000)
    standalone.store.seed("ns/r", "t", chain)
    _pull(standalone.url, tmp_path / "clean.tar", flavour)
    layer = f"/v1/images/{chain[1].id}/layer"
    if cut == "drop_after":
        standalone.faults.drop_after(layer, 70_000, times=2)
    elif cut == "wrong_length":
        standalone.faults.wrong_length(layer, 5000, times=1)
        standalone.faults.drop_after(layer, 50_000, times=1)
    else:
        standalone.faults.ignore_range(layer, times=1)
        standalone.faults.drop_after(layer, 50_000, times=1)
    standalone.log.clear()
    _pull(standalone.url, tmp_path / "faulty.tar", flavour)
    assert (tmp_path / "faulty.tar").read_bytes() == (tmp_path / "clean.tar").read_bytes()
    gets = [e for e in settled(standalone) if e.path == layer]
    assert len(gets) >= 2  # the cut really happened and was recovered from
    assert any(e.aborted for e in gets)


def test_503_burst_is_retried_with_backoff(standalone: Standalone, tmp_path: Path) -> None:
    standalone.store.seed("ns/r", "t", seed_chain(1))
    standalone.faults.error("/v1/repositories/ns/r/tags/t", 503, times=2)
    policy = RetryPolicy(attempts=3, base_delay=0.1, max_delay=1.0, jitter=0.0)
    _pull(standalone.url, tmp_path / "out.tar", "sync", policy)
    tries = [e.started for e in settled(standalone) if e.path.endswith("/tags/t")]
    assert len(tries) == 3
    assert tries[1] - tries[0] >= 0.09
    assert tries[2] - tries[1] >= 0.19  # doubled


def test_persistent_500_stops_after_the_bounded_attempts(
    standalone: Standalone, tmp_path: Path
) -> None:
    standalone.store.seed("ns/r", "t", seed_chain(1))
    standalone.faults.error("/v1/images/*/layer", 500, times=None)
    policy = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, jitter=0.0)
    started = time.monotonic()
    with pytest.raises(ServerError, match="returned 500"):
        _pull(standalone.url, tmp_path / "out.tar", "sync", policy)
    assert time.monotonic() - started < 5
    assert len([e for e in settled(standalone) if e.path.endswith("/layer")]) == 3
    assert list(tmp_path.iterdir()) == []


def test_retry_after_longer_than_max_delay_gives_up_at_once(standalone: Standalone) -> None:
    standalone.faults.error("/v1/repositories/*", 503, retry_after=3600, times=None)
    started = time.monotonic()
    with (
        Client(standalone.url, retry=RetryPolicy(max_delay=1.0)) as client,
        pytest.raises(ServerError),
    ):
        client.repository.list_tags("ns/r")
    assert len([e for e in settled(standalone) if e.path.startswith("/v1/repositories/")]) == 1
    assert time.monotonic() - started < 1


def test_slow_server_honours_the_timeout(standalone: Standalone) -> None:
    standalone.faults.latency("/v1/repositories/*", 1.0, times=1)
    started = time.monotonic()
    with (
        Client(standalone.url, timeout=0.3, retry=None) as client,
        pytest.raises(RegistryTimeout),
    ):
        client.repository.list_tags("ns/r")
    assert time.monotonic() - started < 1.5


def test_unreachable_host_fails_fast_with_a_typed_error() -> None:
    started = time.monotonic()
    with (
        Client(f"http://127.0.0.1:{closed_port()}/", retry=FAST) as client,
        pytest.raises(DockerRegistryError, match="ConnectError"),
    ):
        client.ping()
    assert time.monotonic() - started < 2


def test_registry_restarted_mid_push_rerun_completes(tmp_path: Path) -> None:
    chain = seed_chain(3, size=100_000)
    archive = save_archive(tmp_path / "in.tar", "ns/r", "t", chain)
    data = tmp_path / "data"
    data.mkdir()
    reg = run_standalone(data_dir=data)
    port = int(reg.url.rsplit(":", 1)[1])
    # Hold every layer PUT a little so the stop lands inside the push.
    reg.faults.latency("/v1/images/*/layer", 0.3, method="PUT")

    stopped = threading.Event()

    def stop_after_first_image() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not reg.log.find(
            method="PUT", path="/v1/images/*/checksum"
        ):
            time.sleep(0.01)
        reg.stop()
        stopped.set()

    stopper = threading.Thread(target=stop_after_first_image)
    stopper.start()
    try:
        with Client(reg.url) as client, pytest.raises(DockerRegistryError):
            push(client, archive, "ns/r", "t", retry=FAST)
    finally:
        stopper.join()
    assert stopped.is_set()
    with run_standalone(data_dir=data, port=port) as again, Client(again.url) as client:
        # Mid-push state: some images stored, the repository never tagged.
        assert again.store.image(chain[0].id) is not None
        assert again.store.image(chain[-1].id) is None or not again.store.tags("ns/r")
        with pytest.raises(NotFound):
            client.repository.get_image_id("ns/r", "t")
        result = push(client, archive, "ns/r", "t", retry=FAST)
        assert result.tags == ("t",)
        assert client.repository.get_image_id("ns/r", "t") == chain[-1].id
        entries = settled(again)
        tag_put = max(i for i, e in enumerate(entries) if e.path.endswith("/tags/t"))
        checksums = [i for i, e in enumerate(entries) if e.path.endswith("/checksum")]
        assert checksums
        assert all(i < tag_put for i in checksums)
        pull(client, "ns/r", "t", tmp_path / "out.tar", retry=FAST)
    with open_saved_archive(tmp_path / "out.tar") as saved:
        images = saved.chains[0].images
        assert [i.image_id for i in images] == [c.id for c in chain]
        for image, seeded in zip(images, chain, strict=True):
            with image.open_layer() as stream:
                assert stream.read() == seeded.layer_bytes
