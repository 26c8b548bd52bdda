"""``regv1 copy v1 docker-archive:`` is the run ``regv1 pull`` makes: the tag is asked
for while the token decision's ``_ping`` is out, and the layer GETs go out while the
image JSONs are still on their way."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

from cli_support import netloc
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import build_image_chain
from regv1_runner import document, regv1


def test_copy_into_an_archive_overlaps_like_pull(standalone: Standalone, tmp_path: Path) -> None:
    images = build_image_chain(4, seed=7, layer_size=3000)
    standalone.store.seed("acme/overlap", "1.0", images)
    standalone.faults.latency("/v1/_ping", 0.5)
    standalone.faults.latency(f"/v1/images/{images[-1].id}/json", 1.0)
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "image.tar"
    src = f"{netloc(standalone.url)}/acme/overlap:1.0"
    done = document(regv1("copy", src, f"docker-archive:{dest}", "--json"))
    assert done["layers"] == [image.id for image in images]
    with tarfile.open(dest) as tar:
        manifest = json.load(io.BytesIO(tar.extractfile("manifest.json").read()))  # type: ignore[union-attr]
        for image in images:
            layer = tar.extractfile(f"{image.id}/layer.tar")
            assert layer is not None
            assert layer.read() == gzip.decompress(image.layer_bytes)  # stored as plain tar
    assert manifest[0]["RepoTags"] == ["acme/overlap:1.0"]
    assert [p.name for p in out.iterdir()] == ["image.tar"]  # no spool left

    entries = standalone.log.entries
    ping = next(e for e in entries if e.path == "/v1/_ping")
    tag = next(e for e in entries if e.path == "/v1/repositories/acme/overlap/tags/1.0")
    assert tag.started < ping.started + 0.5
    tip_json = next(e for e in entries if e.path == f"/v1/images/{images[-1].id}/json")
    layer_gets = [e for e in entries if e.path.endswith("/layer")]
    assert len(layer_gets) == len(images)
    assert min(e.started for e in layer_gets) < tip_json.started + 1.0
