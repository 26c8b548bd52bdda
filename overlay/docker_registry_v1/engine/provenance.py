"""The v1 provenance of a tag written into a registry or a layout: built from what the
copy of its chain knew, attached next to its manifest (`oci.referrers.attach`).

Only a chain read from a v1 registry gets one: its ids, JSON and checksums are names
that registry gave. An OCI source keeps its own digests (nothing to remember), and an
archive or a v1 destination has no referrers to hold it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from ..core.errors import DockerRegistryError
from ..formats.archive.compression import Compression
from ..formats.compress import LayerBlob
from ..formats.layout import OCILayout
from ..formats.provenance import (
    Image,
    Layer,
    Provenance,
    Source,
    artifact_descriptor,
    artifact_manifest,
    descriptor,
    encode,
    stored_as,
)
from ..oci.client import OCIClient
from ..oci.referrers import Mechanism, attach
from .model import SourceImage

__all__ = ["Attached", "ProvenanceWriteError", "attach_provenance", "v1_provenance"]


class ProvenanceWriteError(DockerRegistryError):
    """The tag's manifest is written but its provenance artifact could not be: charged
    to that tag only (a rerun attaches it without moving any layer)."""


@attrs.frozen
class Attached:
    """A provenance artifact in place: its subject, its own digest and how it is found."""

    subject: str
    artifact: str
    mechanism: Mechanism


def v1_registry(source: str) -> str | None:
    """The v1 registry base URL a chain was read from, without credentials; ``None``
    when the source is no v1 registry (an archive, a layout, an OCI registry's image)."""
    if not source.startswith(("http://", "https://")):
        return None
    url = httpx.URL(source)
    path = url.path.rstrip("/").removesuffix("/v1")  # the client's API root
    bare = url.copy_with(username=None, password=None, path=path or "/", query=None, fragment=None)
    return str(bare).rstrip("/")


def _layer(blob: LayerBlob) -> Layer:
    v1_size = blob.size if blob.source is Compression.GZIP else blob.plain_size
    stored = stored_as(blob.source, empty=blob.empty)
    if blob.empty:
        return Layer(blob.source, stored, v1_size, None, None)
    return Layer(blob.source, stored, v1_size, blob.digest, blob.diff_id)


def v1_provenance(image: SourceImage, blobs: Mapping[str, LayerBlob]) -> Provenance | None:
    """The record of ``image`` (a v1 chain, base first) whose layers became ``blobs``
    (by v1 id); ``None`` when it was not read from a v1 registry."""
    registry = v1_registry(image.source)
    if registry is None or image.oci is not None or not image.layers:
        return None
    return Provenance(
        Source(registry, image.repository, image.tag),
        tuple(
            Image(
                layer.image_id,
                layer.json_bytes,
                (layer.checksum,) if layer.checksum else (),
                _layer(blobs[layer.image_id]),
            )
            for layer in image.layers
        ),
    )


def attach_provenance(
    target: OCIClient | OCILayout,
    repository: str,
    provenance: Provenance,
    manifest: bytes,
    media_type: str,
    *,
    unknown: bool = False,
    config_present: bool = False,
) -> Attached:
    """Attach ``provenance`` to the manifest ``manifest`` of ``repository`` (written
    already); ``unknown`` and ``config_present`` as `oci.referrers.attach` says. Raises
    `ProvenanceWriteError` naming the tag when it cannot."""
    subject: dict[str, Any] = descriptor(media_type, manifest)
    document = encode(provenance)
    artifact = artifact_manifest(subject, document, provenance.source)
    try:
        how = attach(
            target,
            repository,
            subject,
            artifact,
            [document],
            unknown=unknown,
            config_present=config_present,
        )
    except (DockerRegistryError, OSError, ValueError) as error:
        said = " ".join(str(error).split()) or type(error).__name__
        raise ProvenanceWriteError(
            f"the manifest {subject['digest']} is written, its provenance artifact is not: {said}"
        ) from error
    return Attached(str(subject["digest"]), str(artifact_descriptor(artifact)["digest"]), how)
