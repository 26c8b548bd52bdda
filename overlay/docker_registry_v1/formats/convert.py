"""A v1 image chain as a v2 image: its config and a Docker schema2 or OCI manifest.

The config is the one `docker load` builds from the same chain
(`archive.imageconfig.config_from_v1`), except that images whose layer is empty
are marked ``empty_layer`` in the history and have no layer, as v2 images
record metadata-only steps. Config and manifest bytes are deterministic, so the
same chain always gives the same manifest digest.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import attrs

from .archive.errors import MalformedArchiveError
from .archive.imageconfig import byte_count, config_from_v1, load_object
from .compress import LayerBlob


class ImageConversionError(ValueError):
    """The v1 chain and its layers cannot make a v2 image (names the image at fault)."""


@attrs.frozen
class MediaTypes:
    manifest: str
    config: str
    layer: str
    """Media type of a gzip layer, the only kind `compress` produces."""


class ManifestFormat(enum.Enum):
    """Docker schema2 (what every v2 registry takes) or an OCI image manifest."""

    DOCKER = MediaTypes(
        manifest="application/vnd.docker.distribution.manifest.v2+json",
        config="application/vnd.docker.container.image.v1+json",
        layer="application/vnd.docker.image.rootfs.diff.tar.gzip",
    )
    OCI = MediaTypes(
        manifest="application/vnd.oci.image.manifest.v1+json",
        config="application/vnd.oci.image.config.v1+json",
        layer="application/vnd.oci.image.layer.v1.tar+gzip",
    )


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@attrs.frozen
class ConvertedImage:
    """The bytes to upload for one image; `layers` are the blobs the manifest names, in order."""

    config: bytes = attrs.field(repr=byte_count)
    manifest: bytes = attrs.field(repr=byte_count)
    manifest_format: ManifestFormat
    layers: tuple[LayerBlob, ...]

    @property
    def media_type(self) -> str:
        return self.manifest_format.value.manifest

    @property
    def config_digest(self) -> str:
        return _sha256(self.config)

    @property
    def manifest_digest(self) -> str:
        """What the registry answers as ``Docker-Content-Digest`` for the manifest PUT."""
        return _sha256(self.manifest)


def _parse_chain(chain: Sequence[bytes]) -> list[dict[str, Any]]:
    documents = []
    for index, data in enumerate(chain):
        try:
            documents.append(load_object(data, f"v1 JSON of image {index} (base first)"))
        except MalformedArchiveError as exc:
            raise ImageConversionError(str(exc)) from exc
    return documents


def convert_image(
    chain: Sequence[bytes],
    layers: Sequence[LayerBlob],
    *,
    manifest_format: ManifestFormat = ManifestFormat.DOCKER,
) -> ConvertedImage:
    """Build config and manifest for a base-first chain of v1 JSON documents.

    `layers[i]` is what `compress` found for image `i`'s layer. At least one
    layer must have content: registries and runtimes expect a base layer.
    """
    if not chain:
        raise ImageConversionError("the v1 chain is empty")
    if len(layers) != len(chain):
        raise ImageConversionError(f"{len(chain)} v1 images but {len(layers)} layers")
    documents = _parse_chain(chain)
    empty = frozenset(index for index, layer in enumerate(layers) if layer.empty)
    kept = tuple(layer for index, layer in enumerate(layers) if index not in empty)
    if not kept:
        top = documents[-1].get("id", "the top image")
        raise ImageConversionError(f"image {top}: every layer of its chain is empty")
    config = config_from_v1(documents, [layer.diff_id for layer in kept], empty_layers=empty)
    types = manifest_format.value
    manifest = {
        "schemaVersion": 2,
        "mediaType": types.manifest,
        "config": {"mediaType": types.config, "digest": _sha256(config), "size": len(config)},
        "layers": [
            {"mediaType": types.layer, "digest": layer.digest, "size": layer.size} for layer in kept
        ],
    }
    return ConvertedImage(
        config=config,
        manifest=json.dumps(manifest, separators=(",", ":")).encode(),
        manifest_format=manifest_format,
        layers=kept,
    )
