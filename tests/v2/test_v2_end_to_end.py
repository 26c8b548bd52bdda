"""A v1 image from the emulator, converted while it streams, is a valid image in distribution.

The copy here is test code over raw httpx (the OCI client comes later): layers
stream from the v1 facade's ``image.stream_layer`` through `EncodedLayer` into
a streamed PATCH, nothing staged. Then skopeo reads the result back and copies it
into an OCI layout, whose uncompressed layers must hash to the config's
diff_ids and to the v1 layers' own content.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest
from docker_registry_v1 import Client
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.formats import (
    ConvertedImage,
    EncodedLayer,
    LayerBlob,
    ManifestFormat,
    convert_image,
)
from system_tools import require_tool
from v2registry import V2Registry
from v2wire import open_client, push_blob, with_digest


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def plain(layer: bytes) -> bytes:
    return gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer


def upload_streaming(dest: httpx.Client, name: str, layer: EncodedLayer) -> LayerBlob:
    """POST a session, PATCH the converted bytes as they come, PUT the digest they had."""
    started = dest.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    patched = dest.patch(
        started.headers["Location"],
        content=iter(layer),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert patched.status_code == 202, patched.text
    done = dest.put(with_digest(patched.headers["Location"], layer.blob.digest))
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == layer.blob.digest
    return layer.blob


def copy_image(
    source: Client,
    top: str,
    dest: httpx.Client,
    name: str,
    tag: str,
    manifest_format: ManifestFormat = ManifestFormat.DOCKER,
) -> ConvertedImage:
    """Copy the v1 image `top` to `name:tag`, every layer converted while it streams."""
    ids = list(reversed(source.image.get_ancestry(top)))
    chain = [source.image.get_metadata_raw(image_id).json_bytes for image_id in ids]
    blobs: list[LayerBlob] = []
    for image_id in ids:
        with source.image.stream_layer(image_id) as response:
            layer = EncodedLayer(response.iter_bytes(), where=f"layer of {image_id[:12]}")
            blobs.append(upload_streaming(dest, name, layer))
    image = convert_image(chain, blobs, manifest_format=manifest_format)
    push_blob(dest, name, image.config)
    answer = dest.put(
        f"/v2/{name}/manifests/{tag}",
        content=image.manifest,
        headers={"Content-Type": image.media_type},
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["Docker-Content-Digest"] == image.manifest_digest
    return image


def run_skopeo(*args: str) -> str:
    skopeo = require_tool("skopeo")
    done = subprocess.run(
        [skopeo, "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def seed(standalone: Standalone, gzipped: bool) -> list[SeedImage]:
    chain = build_image_chain(3, seed=21 if gzipped else 22, layer_size=300_000, gzip=gzipped)
    standalone.store.seed("acme/app", "1.0", chain)
    return chain


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain-v1-layers", "gzip-v1-layers"])
def test_a_converted_image_is_read_back_by_skopeo(
    standalone: Standalone, v2_any: V2Registry, tmp_path: Path, gzipped: bool
) -> None:
    chain = seed(standalone, gzipped)
    name = f"e2e/{v2_any.mode}/{'gz' if gzipped else 'plain'}"
    with Client(standalone.url) as source, open_client(v2_any, name) as dest:
        image = copy_image(source, chain[-1].id, dest, name, "1.0")

    config = json.loads(image.config)
    v1_diff_ids = [sha256(plain(i.layer_bytes)) for i in chain]
    assert config["rootfs"]["diff_ids"] == v1_diff_ids

    creds = [] if v2_any.credentials is None else [":".join(v2_any.credentials)]
    reference = f"docker://{v2_any.host}/{name}:1.0"
    login = ["--creds", *creds] if creds else []
    inspected = json.loads(run_skopeo("inspect", "--tls-verify=false", *login, reference))
    assert inspected["Digest"] == image.manifest_digest
    assert inspected["Layers"] == [blob.digest for blob in image.layers]

    layout = tmp_path / "layout"
    run_skopeo(
        "copy",
        "--src-tls-verify=false",
        *(["--src-creds", *creds] if creds else []),
        reference,
        f"oci:{layout}:1.0",
    )
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads(blob_file(layout, manifest_digest).read_bytes())
    layers = [plain(blob_file(layout, d["digest"]).read_bytes()) for d in manifest["layers"]]
    assert [sha256(layer) for layer in layers] == config["rootfs"]["diff_ids"]
    assert layers == [plain(i.layer_bytes) for i in chain]
    assert run_skopeo("inspect", f"oci:{layout}:1.0")


def blob_file(layout: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return layout / "blobs" / algorithm / hexdigest


def test_an_oci_manifest_is_accepted_and_read_back(
    standalone: Standalone, v2_open: V2Registry
) -> None:
    chain = seed(standalone, gzipped=False)
    name = "e2e/oci/app"
    with Client(standalone.url) as source, open_client(v2_open, name) as dest:
        image = copy_image(source, chain[-1].id, dest, name, "1.0", ManifestFormat.OCI)
        got = dest.get(
            f"/v2/{name}/manifests/1.0", headers={"Accept": ManifestFormat.OCI.value.manifest}
        )
    assert got.headers["Content-Type"] == ManifestFormat.OCI.value.manifest
    assert got.content == image.manifest
    raw = json.loads(
        run_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{v2_open.host}/{name}:1.0")
    )
    assert raw["config"]["mediaType"] == ManifestFormat.OCI.value.config
    assert {layer["mediaType"] for layer in raw["layers"]} == {ManifestFormat.OCI.value.layer}


def converted_again(source: Client, chain: list[SeedImage]) -> list[LayerBlob]:
    blobs = []
    for image in chain:
        with source.image.stream_layer(image.id) as response:
            layer = EncodedLayer(response.iter_bytes())
            for _ in layer:
                pass
            blobs.append(layer.blob)
    return blobs


def test_a_second_conversion_finds_every_blob_already_there(
    standalone: Standalone, v2_open: V2Registry
) -> None:
    chain = seed(standalone, gzipped=False)
    name = "e2e/again/app"
    with Client(standalone.url) as source, open_client(v2_open, name) as dest:
        first = copy_image(source, chain[-1].id, dest, name, "1.0")
        before = len(v2_open.log_lines())
        again = converted_again(source, chain)
        assert [blob.digest for blob in again] == [blob.digest for blob in first.layers]
        for blob in again:
            found = dest.head(f"/v2/{name}/blobs/{blob.digest}")
            assert found.status_code == 200
            assert int(found.headers["Content-Length"]) == blob.size
    assert not [line for line in v2_open.log_lines()[before:] if "/blobs/uploads/" in line]


def test_podman_pulls_the_converted_image(
    standalone: Standalone, v2_any: V2Registry, tmp_path: Path
) -> None:
    run_root = Path(tempfile.mkdtemp(prefix="podman-"))  # podman wants a runroot under 50 chars
    podman = require_tool("podman")
    chain = seed(standalone, gzipped=False)
    name = f"e2e/{v2_any.mode}/podman"
    with Client(standalone.url) as source, open_client(v2_any, name) as dest:
        image = copy_image(source, chain[-1].id, dest, name, "1.0")
    storage = [
        f"--root={tmp_path / 'root'}",
        f"--runroot={run_root}",
        "--storage-driver=vfs",
    ]
    login = [] if v2_any.credentials is None else ["--creds", ":".join(v2_any.credentials)]
    reference = f"{v2_any.host}/{name}:1.0"

    def run_podman(*args: str) -> str:
        done = subprocess.run(
            [podman, *storage, *args], capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        pulled = run_podman("pull", "--quiet", "--tls-verify=false", *login, reference)
        layers = run_podman("image", "inspect", "--format", "{{json .RootFS.Layers}}", reference)
    finally:
        shutil.rmtree(run_root, ignore_errors=True)
    assert f"sha256:{pulled.strip()}" == image.config_digest
    assert json.loads(layers) == json.loads(image.config)["rootfs"]["diff_ids"]
