"""Mirror between two emulators: layers relayed without disk, present images skipped."""

from __future__ import annotations

import pytest
from docker_registry_v1 import ChecksumMismatch, InvalidInput
from docker_registry_v1.emulator.seed import SeedImage
from transfer_support import ALICE, FAST, Runner, seed_chain, settled, stored_layer


def test_mirror_copies_tags_and_skips_present(emulator_factory, run: Runner) -> None:  # type: ignore[no-untyped-def]
    source = emulator_factory("standalone")
    target = emulator_factory("hub", users={"alice": "s3cret"})
    chain = seed_chain(3, size=150_000)
    source.store.seed("acme/app", "1.0", chain[:2])
    source.store.seed("acme/app", "2.0", chain)
    target.store.seed("mirror/app", None, chain[:1])
    source.faults.drop_after("/v1/images/*/layer", 40_000, times=1)

    result = run(
        "mirror", (source.url, target.index_url), "acme/app", "mirror/app", auth=ALICE, retry=FAST
    )
    assert result.tags == ("1.0", "2.0")
    assert result.skipped == (chain[0].id,)
    assert result.copied == (chain[1].id, chain[2].id)
    assert target.store.tags("mirror/app") == {"1.0": chain[1].id, "2.0": chain[2].id}
    for image in chain:
        assert stored_layer(target, image.id) == image.layer_bytes
        record = target.store.image(image.id)
        assert record is not None
        assert record.complete
        assert record.json_bytes == image.json_bytes
    entries = settled(target)
    layer_puts = [e.path for e in entries if e.method == "PUT" and e.path.endswith("/layer")]
    assert layer_puts == [f"/v1/images/{i.id}/layer" for i in chain[1:]]
    ranged = [e for e in settled(source) if e.headers.get("range")]
    assert ranged
    assert ranged[0].status == 206


def test_mirror_selected_tags_only(emulator_factory, run: Runner) -> None:  # type: ignore[no-untyped-def]
    source, target = emulator_factory(), emulator_factory()
    chain = seed_chain(2, size=1000)
    source.store.seed("acme/app", "1.0", chain[:1])
    source.store.seed("acme/app", "2.0", chain)
    result = run(
        "mirror", (source.url, target.url), "acme/app", "acme/app", tags=["1.0"], retry=FAST
    )
    assert result.tags == ("1.0",)
    assert target.store.tags("acme/app") == {"1.0": chain[0].id}
    with pytest.raises(InvalidInput, match="nope"):
        run("mirror", (source.url, target.url), "acme/app", "acme/app", tags=["nope"], retry=FAST)


def test_mirror_refuses_a_corrupt_source(emulator_factory, run: Runner) -> None:  # type: ignore[no-untyped-def]
    source, target = emulator_factory(), emulator_factory()
    image = seed_chain(1, size=1000)[0]
    bad = SeedImage(image.id, None, image.json_bytes, image.layer_bytes, "sha256:" + "1" * 64)
    source.store.seed("acme/app", "1.0", [bad])
    with pytest.raises(ChecksumMismatch):
        run("mirror", (source.url, target.url), "acme/app", "acme/app", retry=FAST)
    record = target.store.image(image.id)
    assert record is None or not record.complete
    assert target.store.tags("acme/app") in (None, {})
