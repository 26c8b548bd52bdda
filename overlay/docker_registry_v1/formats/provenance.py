"""The v1 provenance of a migrated image: what it was called and what it was, byte for byte.

docker's own v1→v2 move kept no record linking the two worlds: image ids changed, the
v1 JSON was gone, and nobody could say which v2 digest an image shipped as v1 id
``9f4c…`` became. A migration here writes that record into the new registry itself,
next to the image, as an OCI 1.1 artifact whose ``subject`` is the migrated manifest:

- an OCI image manifest, ``artifactType`` = :data:`ARTIFACT_TYPE`, the empty config
  (:data:`EMPTY_CONFIG`), one layer: the provenance document (:data:`DOCUMENT_MEDIA_TYPE`);
- the document (:class:`Provenance`, canonical JSON: sorted keys, no spaces, ASCII only,
  so the same migration always gives the same bytes and the same artifact digest) holds
  the source (registry URL without credentials, repository, tag) and, base first, every
  image of the chain: its v1 id, its JSON exactly as the v1 registry served it, its v1
  checksums, how its layer was compressed on the v1 side, and where that layer went
  (the v2 blob digest, its diff_id, the v1 layer's size).

A registry with the referrers API lists the artifact under the subject's digest; others
get the referrers tag schema's fallback (:func:`fallback_tag`: an OCI index tagged
``sha256-<hex>``), as the OCI distribution spec 1.1 describes. A reader therefore finds
it either way, and everything here is pure: no HTTP, no files.

What the layer fields let a reader restore (`Layer.stored`):

- ``as-is``: the v2 blob is the v1 layer's bytes (gzip layers pass through unchanged);
- ``gzip``: the v2 blob is the deterministic gzip of the v1 layer's plain tar, so
  decompressing it gives the v1 bytes back, and the v1 payload checksum verifies;
- ``recompressed``: the v1 layer was xz or bzip2 and is stored as gzip of the same tar;
  its original bytes cannot be rebuilt (the tar can);
- ``empty``: the image has no layer in the v2 manifest (an empty v1 layer).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .archive.compression import Compression

ARTIFACT_TYPE = "application/vnd.docker-registry-v1.provenance.v1+json"
"""The artifact's ``artifactType`` (and what a referrers listing filters on)."""
DOCUMENT_MEDIA_TYPE = ARTIFACT_TYPE
"""The media type of the artifact's one layer, the provenance document."""
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
EMPTY_CONFIG_BYTES = b"{}"
EMPTY_CONFIG: Mapping[str, Any] = {
    "mediaType": "application/vnd.oci.empty.v1+json",
    "digest": "sha256:" + hashlib.sha256(EMPTY_CONFIG_BYTES).hexdigest(),
    "size": len(EMPTY_CONFIG_BYTES),
}
SOURCE_ANNOTATION = "vnd.docker-registry-v1.source"
"""Annotation on the artifact manifest (and so on its referrers descriptor): the v1
``registry/repository:tag`` it came from, so a listing tells artifacts apart unopened."""
SCHEMA_VERSION = 1
DOCUMENT_LIMIT = 16 << 20
"""The largest provenance document a reader takes (a chain of 127 images of 100 KiB
JSON each is under 13 MiB once escaped)."""

_IMAGE_ID = re.compile(r"[a-f0-9]{16}|[a-f0-9]{64}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")


class ProvenanceError(ValueError):
    """A provenance document or artifact that cannot be read (says what is wrong)."""


class Stored(enum.Enum):
    """How the v1 layer's bytes relate to the v2 blob (see the module docstring)."""

    AS_IS = "as-is"
    GZIP = "gzip"
    RECOMPRESSED = "recompressed"
    EMPTY = "empty"


def stored_as(compression: Compression, *, empty: bool) -> Stored:
    """What `formats.compress` did to a layer that arrived as ``compression``."""
    if empty:
        return Stored.EMPTY
    if compression is Compression.GZIP:
        return Stored.AS_IS
    if compression is Compression.NONE:
        return Stored.GZIP
    return Stored.RECOMPRESSED


@attrs.frozen
class Layer:
    """One image's layer on both sides."""

    compression: Compression
    """As the v1 registry stored and served it."""
    stored: Stored
    v1_size: int
    """Bytes of the v1 layer as served (``X-Docker-Size``); for a recompressed layer, the
    plain tar's size."""
    digest: str | None
    """The v2 blob (compressed) digest the manifest names; ``None`` when `stored` is EMPTY."""
    diff_id: str | None
    """sha256 of the plain tar (the config's ``rootfs.diff_ids`` entry); ``None`` when EMPTY."""


@attrs.frozen
class Image:
    """One v1 image of the chain."""

    id: str
    json: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    """The image JSON exactly as the v1 registry served it."""
    checksums: tuple[str, ...]
    """The v1 checksums known for it (``sha256:`` payload, ``tarsum+sha256:``)."""
    layer: Layer


@attrs.frozen
class Source:
    registry: str
    """The v1 registry's base URL, never with credentials in it."""
    repository: str
    tag: str


@attrs.frozen
class Provenance:
    """The record for one migrated tag: its source and its chain, base first."""

    source: Source
    images: tuple[Image, ...]

    @property
    def top(self) -> Image:
        return self.images[-1]


def _json_field(data: bytes) -> dict[str, str]:
    try:
        return {"json": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"json_base64": base64.b64encode(data).decode("ascii")}


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def encode(provenance: Provenance) -> bytes:
    """The document's canonical bytes: equal records give equal bytes."""
    images = []
    for image in provenance.images:
        layer = image.layer
        images.append(
            {
                "id": image.id,
                **_json_field(image.json),
                "checksums": list(image.checksums),
                "layer": {
                    "compression": layer.compression.value,
                    "stored": layer.stored.value,
                    "v1_size": layer.v1_size,
                    "digest": layer.digest,
                    "diff_id": layer.diff_id,
                },
            }
        )
    source = provenance.source
    document = {
        "schemaVersion": SCHEMA_VERSION,
        "source": {"registry": source.registry, "repository": source.repository, "tag": source.tag},
        "images": images,
    }
    return _canonical(document)


def _field(mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProvenanceError(f"{where}: {key!r} is missing or not a {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {str: "string", int: "number", list: "list", dict: "object"}.get(k, k.__name__)
        for k in kinds
    )


def _digest_or_none(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise ProvenanceError(f"{where}: not a sha256 digest: {value!r:.80}")
    return value


def _image_json(entry: Mapping[str, Any], where: str) -> bytes:
    if isinstance(entry.get("json"), str):
        try:
            return str(entry["json"]).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ProvenanceError(f"{where}: 'json' is not valid text") from exc
    if isinstance(entry.get("json_base64"), str):
        try:
            return base64.b64decode(entry["json_base64"], validate=True)
        except binascii.Error as exc:
            raise ProvenanceError(f"{where}: 'json_base64' is not base64") from exc
    raise ProvenanceError(f"{where}: neither 'json' nor 'json_base64' is given")


def _layer(entry: Mapping[str, Any], where: str) -> Layer:
    try:
        compression = Compression(_field(entry, "compression", str, where))
        stored = Stored(_field(entry, "stored", str, where))
    except ValueError as exc:
        raise ProvenanceError(f"{where}: {exc}") from exc
    v1_size = _field(entry, "v1_size", int, where)
    if v1_size < 0:
        raise ProvenanceError(f"{where}: 'v1_size' is negative")
    digest = _digest_or_none(entry.get("digest"), where)
    diff_id = _digest_or_none(entry.get("diff_id"), where)
    if (stored is Stored.EMPTY) != (digest is None) or (digest is None) != (diff_id is None):
        raise ProvenanceError(f"{where}: an empty layer has no digests; any other has both")
    return Layer(compression, stored, v1_size, digest, diff_id)


def _image(entry: object, index: int) -> Image:
    where = f"image {index} (base first)"
    if not isinstance(entry, dict):
        raise ProvenanceError(f"{where} is not an object")
    image_id = _field(entry, "id", str, where)
    if not _IMAGE_ID.fullmatch(image_id):
        raise ProvenanceError(f"{where}: not a v1 image id: {image_id!r:.80}")
    checksums = _field(entry, "checksums", list, where)
    if not all(isinstance(value, str) for value in checksums):
        raise ProvenanceError(f"{where}: 'checksums' holds a non-string")
    layer = _layer(_field(entry, "layer", dict, where), f"{where}, layer")
    return Image(image_id, _image_json(entry, where), tuple(checksums), layer)


def decode(data: bytes) -> Provenance:
    """Read a document (at most `DOCUMENT_LIMIT` bytes); `ProvenanceError` says what is wrong."""
    if len(data) > DOCUMENT_LIMIT:
        raise ProvenanceError(f"the provenance document is over {DOCUMENT_LIMIT} bytes")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProvenanceError(f"the provenance document is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ProvenanceError("the provenance document is not a JSON object")
    version = document.get("schemaVersion")
    if version != SCHEMA_VERSION:
        raise ProvenanceError(f"unknown provenance schemaVersion {version!r:.40}")
    source = _field(document, "source", dict, "source")
    entries = _field(document, "images", list, "images")
    if not entries:
        raise ProvenanceError("the provenance document names no image")
    return Provenance(
        Source(
            _field(source, "registry", str, "source"),
            _field(source, "repository", str, "source"),
            _field(source, "tag", str, "source"),
        ),
        tuple(_image(entry, index) for index, entry in enumerate(entries)),
    )


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}


def source_label(source: Source) -> str:
    """``host[:port]/repository:tag`` of a source, for the annotation and for people."""
    host = source.registry.split("://", 1)[-1].rstrip("/")
    return f"{host}/{source.repository}:{source.tag}"


def artifact_manifest(subject: Mapping[str, Any], document: bytes, source: Source) -> bytes:
    """The artifact's manifest bytes (canonical), ``subject`` being the migrated manifest's
    descriptor (mediaType, digest, size)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": dict(EMPTY_CONFIG),
        "layers": [descriptor(DOCUMENT_MEDIA_TYPE, document)],
        "subject": {key: subject[key] for key in ("mediaType", "digest", "size")},
        "annotations": {SOURCE_ANNOTATION: source_label(source)},
    }
    return _canonical(manifest)


def artifact_descriptor(manifest: bytes) -> dict[str, Any]:
    """The descriptor a referrers listing (or the fallback index) holds for an artifact."""
    parsed = json.loads(manifest)
    entry = descriptor(MANIFEST_MEDIA_TYPE, manifest)
    entry["artifactType"] = parsed.get("artifactType", ARTIFACT_TYPE)
    if parsed.get("annotations"):
        entry["annotations"] = parsed["annotations"]
    return entry


def fallback_tag(subject_digest: str) -> str:
    """The referrers tag schema's tag for a subject: ``sha256:abc…`` → ``sha256-abc…``."""
    algorithm, _, encoded = subject_digest.partition(":")
    return f"{algorithm}-{encoded}"[:128]


def is_fallback_tag(tag: str) -> bool:
    """A tag the referrers fallback writes (never a migrated image's own tag)."""
    return re.fullmatch(r"sha256-[a-f0-9]{64}", tag) is not None


def fallback_index(existing: bytes | None, artifacts: Sequence[Mapping[str, Any]]) -> bytes:
    """The fallback tag's index with ``artifacts`` added to what ``existing`` lists
    (another tool's referrers are kept; an entry already there is not added twice)."""
    manifests: list[Any] = []
    if existing:
        try:
            parsed = json.loads(existing)
        except ValueError as exc:
            raise ProvenanceError(f"the referrers fallback index is not JSON: {exc}") from exc
        listed = parsed.get("manifests") if isinstance(parsed, dict) else None
        if not isinstance(listed, list):
            raise ProvenanceError("the referrers fallback index has no 'manifests' list")
        manifests = list(listed)
    known = {entry.get("digest") for entry in manifests if isinstance(entry, dict)}
    manifests.extend(dict(entry) for entry in artifacts if entry["digest"] not in known)
    return _canonical({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests})


def is_provenance(entry: Mapping[str, Any]) -> bool:
    """A referrers descriptor that may be ours. Some registries list the config's media
    type instead of ``artifactType`` (the empty type here), so those are candidates too:
    open them and check the manifest's own ``artifactType``."""
    kind = entry.get("artifactType")
    return kind in (ARTIFACT_TYPE, EMPTY_CONFIG["mediaType"], None)
