"""A v1 chain becomes a v2 image whose config is the one `docker load` makes from it."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.formats import (
    ConvertedImage,
    EncodedLayer,
    ImageConversionError,
    LayerBlob,
    ManifestFormat,
    convert_image,
)
from docker_registry_v1.formats.archive import ChainImage, write_loadable_archive
from docker_registry_v1.formats.archive.imageconfig import EMPTY_TAR


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blobs(chain: list[SeedImage]) -> list[tuple[bytes, LayerBlob]]:
    converted = []
    for image in chain:
        layer = EncodedLayer([image.layer_bytes])
        converted.append((b"".join(layer), layer.blob))
    return converted


def blob_of(data: bytes) -> LayerBlob:
    layer = EncodedLayer([data])
    for _ in layer:
        pass
    return layer.blob


def convert(chain: list[SeedImage], **options: ManifestFormat) -> ConvertedImage:
    return convert_image(
        [image.json_bytes for image in chain], [blob for _, blob in blobs(chain)], **options
    )


def docker_load_config(chain: list[SeedImage], tmp_path: Path) -> bytes:
    archive = tmp_path / "loadable.tar"
    written = write_loadable_archive(
        archive,
        "acme/app",
        "1.0",
        [ChainImage(image.id, image.json_bytes, io.BytesIO(image.layer_bytes)) for image in chain],
    )
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"{written.config_digest.removeprefix('sha256:')}.json")
        assert member is not None
        return member.read()


@pytest.mark.parametrize("gzipped", [True, False], ids=["gzip-layers", "plain-layers"])
def test_the_config_is_the_one_docker_load_builds(gzipped: bool, tmp_path: Path) -> None:
    chain = build_image_chain(3, seed=4, layer_size=5000, gzip=gzipped)
    image = convert(chain)
    assert image.config == docker_load_config(chain, tmp_path)
    config = json.loads(image.config)
    assert config["architecture"] == "amd64"
    assert config["os"] == "linux"
    assert config["created"] == json.loads(chain[-1].json_bytes)["created"]
    assert [h["created_by"] for h in config["history"]][-1] == '/bin/sh -c #(nop) CMD ["bash"]'
    assert not any(h.get("empty_layer") for h in config["history"])
    assert config["rootfs"]["diff_ids"] == [blob.diff_id for blob in image.layers]


@pytest.mark.parametrize("manifest_format", list(ManifestFormat))
def test_the_manifest_names_config_and_layers_with_the_formats_media_types(
    manifest_format: ManifestFormat,
) -> None:
    chain = build_image_chain(2, seed=5, gzip=False)
    converted = blobs(chain)
    image = convert(chain, manifest_format=manifest_format)
    types = manifest_format.value
    manifest = json.loads(image.manifest)
    assert image.media_type == manifest["mediaType"] == types.manifest
    assert manifest["schemaVersion"] == 2
    assert manifest["config"] == {
        "mediaType": types.config,
        "digest": sha256(image.config),
        "size": len(image.config),
    }
    assert manifest["layers"] == [
        {"mediaType": types.layer, "digest": sha256(data), "size": len(data)}
        for data, _ in converted
    ]
    assert image.manifest_digest == sha256(image.manifest)
    assert image.config_digest == sha256(image.config)


def test_docker_and_oci_media_types() -> None:
    assert ManifestFormat.DOCKER.value.manifest == (
        "application/vnd.docker.distribution.manifest.v2+json"
    )
    assert ManifestFormat.DOCKER.value.config == "application/vnd.docker.container.image.v1+json"
    assert ManifestFormat.DOCKER.value.layer == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert ManifestFormat.OCI.value.manifest == "application/vnd.oci.image.manifest.v1+json"
    assert ManifestFormat.OCI.value.config == "application/vnd.oci.image.config.v1+json"
    assert ManifestFormat.OCI.value.layer == "application/vnd.oci.image.layer.v1.tar+gzip"


def test_the_same_chain_always_gives_the_same_manifest_digest() -> None:
    first = convert(build_image_chain(3, seed=6, gzip=False))
    again = convert(build_image_chain(3, seed=6, gzip=False))
    assert first.manifest == again.manifest
    assert first.manifest_digest == again.manifest_digest


def test_images_without_content_become_empty_layer_history() -> None:
    chain = build_image_chain(3, seed=7, gzip=False)
    layers = [blob for _, blob in blobs(chain)]
    layers[1] = blob_of(EMPTY_TAR)
    image = convert_image([i.json_bytes for i in chain], layers)
    config = json.loads(image.config)
    assert [bool(h.get("empty_layer")) for h in config["history"]] == [False, True, False]
    assert config["rootfs"]["diff_ids"] == [layers[0].diff_id, layers[2].diff_id]
    assert image.layers == (layers[0], layers[2])
    assert [layer["digest"] for layer in json.loads(image.manifest)["layers"]] == [
        layers[0].digest,
        layers[2].digest,
    ]


def test_bad_chains_are_typed_errors_naming_what_is_wrong() -> None:
    chain = build_image_chain(2, seed=8)
    layers = [blob for _, blob in blobs(chain)]
    with pytest.raises(ImageConversionError, match="empty"):
        convert_image([], [])
    with pytest.raises(ImageConversionError, match="2 v1 images but 1 layers"):
        convert_image([i.json_bytes for i in chain], layers[:1])
    with pytest.raises(ImageConversionError, match="v1 JSON of image 1"):
        convert_image([chain[0].json_bytes, b"{not json"], layers)
    with pytest.raises(ImageConversionError, match="every layer of its chain is empty"):
        convert_image([chain[0].json_bytes], [blob_of(b"")])
