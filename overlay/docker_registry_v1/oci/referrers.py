"""Attach an artifact to a manifest, list a manifest's referrers, read the v1 provenance.

The OCI distribution spec 1.1 has two ways to find what refers to a manifest: the
referrers API (``GET /v2/<name>/referrers/<digest>``) where the registry has it, and
otherwise the referrers tag schema: an OCI index tagged ``sha256-<hex>`` that the
client writing an artifact keeps up to date itself. A writer cannot know in advance
which one a registry takes, so `attach` asks in the cheapest order: the artifact's
PUT answer carries ``OCI-Subject`` on a registry with the API; some registries (e.g.
go-containerregistry's) list referrers without that header, so a 200 listing naming
the artifact counts too; only then is the fallback index written, and only when it
changes (a rerun leaves it alone, so nothing is rewritten twice).

An OCI image layout has no API: an artifact is stored as a blob and listed in
``index.json`` as an untagged descriptor with its ``artifactType`` (no ref name, so
skopeo and umoci see only the tags they know), and readers scan ``index.json`` for
descriptors whose manifest names the subject.

Every function takes an `OCIClient` (``name`` the repository) or an `OCILayout`
(``name`` ignored), so the migration, ``--verify``, the v1 face and the export read
the same way.
"""

from __future__ import annotations

import enum
import json
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.errors import InvalidInput
from ..formats.errors import LayoutError
from ..formats.layout import OCILayout
from ..formats.provenance import (
    ARTIFACT_TYPE,
    DOCUMENT_LIMIT,
    DOCUMENT_MEDIA_TYPE,
    EMPTY_CONFIG,
    EMPTY_CONFIG_BYTES,
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Provenance,
    ProvenanceError,
    artifact_descriptor,
    decode,
    fallback_index,
    fallback_tag,
    is_provenance,
    sha256_digest,
)
from .client import OCIClient, check_digest
from .errors import ManifestUnknown, NameUnknown, OCIError, ReferrersError

__all__ = [
    "Mechanism",
    "ReferrersError",
    "attach",
    "read_provenance",
    "referrers",
]

Target = OCIClient | OCILayout


class Mechanism(enum.Enum):
    """How an artifact is found from its subject."""

    REFERRERS = "referrers"
    """The registry's referrers API lists it (or an OCI layout's ``index.json`` does)."""
    FALLBACK = "fallback"
    """The referrers tag schema: the ``sha256-<hex>`` tag's index lists it."""


def _error(what: str) -> ReferrersError:
    return ReferrersError(code=0, method="GET", url="referrers", reason=what)


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise _error(f"{what} is not JSON") from None
    if not isinstance(document, dict):
        raise _error(f"{what} is not a JSON object")
    return document


def _listed(entries: Sequence[Mapping[str, Any]], digest: str) -> bool:
    return any(entry.get("digest") == digest for entry in entries)


def _manifests_of(index: bytes, what: str) -> list[dict[str, Any]]:
    document = _json_object(index, what)
    entries = document.get("manifests")
    if not isinstance(entries, list):
        raise _error(f"{what} has no 'manifests' list")
    return [dict(entry) for entry in entries if isinstance(entry, dict)]


def _fallback(client: OCIClient, name: str, subject_digest: str) -> bytes | None:
    """The fallback tag's index bytes, ``None`` when there is no such tag."""
    try:
        return client.get_manifest(
            name, fallback_tag(subject_digest), accept=[INDEX_MEDIA_TYPE]
        ).data
    except (ManifestUnknown, NameUnknown):
        return None
    except OCIError as error:
        if error.code == 404:
            return None
        raise


def attach(
    client: Target,
    name: str,
    subject_descriptor: Mapping[str, Any],
    manifest_bytes: bytes,
    blobs: Sequence[bytes],
    *,
    unknown: bool = False,
    config_present: bool = False,
) -> Mechanism:
    """Store the artifact ``manifest_bytes`` (whose ``subject`` is ``subject_descriptor``)
    with its layer ``blobs`` and make it findable from the subject; returns how.

    An artifact the registry holds already (a HEAD by digest) is not sent again;
    otherwise its blobs go up (the empty config only when a HEAD misses) and the
    manifest by digest. Safe to repeat: equal bytes give the same digest, and a listing
    already naming it is not written again, so a second attach writes nothing.

    What a caller knows spares requests (a migration's journal): ``unknown``, the
    artifact is not known to be there (no HEAD, it is sent; sending it again is
    harmless); ``config_present``, the repository holds the empty config. A registry
    the client found without the referrers API is not asked for a listing again."""
    subject = check_digest(subject_descriptor.get("digest"), "subject_descriptor")
    entry = artifact_descriptor(manifest_bytes)
    artifact = entry["digest"]
    if isinstance(client, OCILayout):
        return _attach_layout(client, manifest_bytes, blobs, entry)
    if unknown or client.manifest_digest(name, artifact, accept=[MANIFEST_MEDIA_TYPE]) is None:
        for blob in blobs:  # new with the artifact (a document names its tag): no HEAD
            client.upload_blob(name, blob, digest=sha256_digest(blob))
        config = str(EMPTY_CONFIG["digest"])
        if not config_present and client.blob_size(name, config) is None:
            client.upload_blob(name, EMPTY_CONFIG_BYTES, digest=config)
        put = client.put_manifest_answer(name, artifact, manifest_bytes, MANIFEST_MEDIA_TYPE)
        if put.subject == subject:
            return Mechanism.REFERRERS
    listed = None if client.referrers_api is False else client.referrers(name, subject)
    if listed is not None and _listed(listed, artifact):
        return Mechanism.REFERRERS
    existing = _fallback(client, name, subject)
    updated = fallback_index(existing, [entry])
    if existing is None or _manifests_of(existing, "the fallback index") != _manifests_of(
        updated, "the fallback index"
    ):
        client.put_manifest(name, fallback_tag(subject), updated, INDEX_MEDIA_TYPE)
    return Mechanism.FALLBACK


def _attach_layout(
    layout: OCILayout, manifest: bytes, blobs: Sequence[bytes], entry: Mapping[str, Any]
) -> Mechanism:
    for blob in [*blobs, EMPTY_CONFIG_BYTES]:
        if not layout.has_blob(sha256_digest(blob)):
            layout.write_blob([blob], digest=sha256_digest(blob))
    if not _listed(_layout_artifacts(layout), str(entry["digest"])):
        layout.add_manifest(
            manifest,
            media_type=MANIFEST_MEDIA_TYPE,
            artifact_type=str(entry["artifactType"]),
            annotations=dict(entry.get("annotations") or {}),
        )
    return Mechanism.REFERRERS


def _layout_artifacts(layout: OCILayout) -> list[dict[str, Any]]:
    """The untagged descriptors of ``index.json`` that carry an ``artifactType``."""
    return [
        dict(entry)
        for entry in layout.index()["manifests"]
        if isinstance(entry.get("artifactType"), str)
        and "org.opencontainers.image.ref.name" not in (entry.get("annotations") or {})
    ]


_SUBJECTS: weakref.WeakKeyDictionary[OCILayout, dict[str, str | None]] = weakref.WeakKeyDictionary()
_SUBJECTS_LOCK = threading.Lock()


def _layout_subject(layout: OCILayout, digest: object) -> str | None:
    """The subject digest of the layout's artifact ``digest``. An artifact manifest is
    content-addressed, so what it names is read once per layout object: a ``--verify``
    of every tag then reads each artifact once, not once per tag."""
    if not isinstance(digest, str):
        return None
    with _SUBJECTS_LOCK:
        known = _SUBJECTS.setdefault(layout, {})
        if digest in known:
            return known[digest]
    document = _json_object(_read_manifest(layout, "", digest), f"artifact {digest}")
    subject = document.get("subject")
    found = subject.get("digest") if isinstance(subject, dict) else None
    named = found if isinstance(found, str) else None
    with _SUBJECTS_LOCK:
        known[digest] = named
    return named


def _read_manifest(target: Target, name: str, digest: str) -> bytes:
    if isinstance(target, OCILayout):
        try:
            return target.read_blob(digest)
        except (LayoutError, InvalidInput) as exc:
            raise _error(f"artifact {digest}: {exc}") from exc
    return target.get_manifest(name, digest, accept=[MANIFEST_MEDIA_TYPE]).data


def referrers(client: Target, name: str, subject_digest: str) -> list[dict[str, Any]]:
    """The descriptors that refer to ``subject_digest``: the referrers API's listing
    (every page), else (no API) the fallback tag's index, else none. In a layout:
    the artifacts of ``index.json`` whose manifest names the subject."""
    check_digest(subject_digest, "subject_digest")
    if isinstance(client, OCILayout):
        return [
            entry
            for entry in _layout_artifacts(client)
            if _layout_subject(client, entry.get("digest")) == subject_digest
        ]
    listed = None if client.referrers_api is False else client.referrers(name, subject_digest)
    if listed is not None:
        return listed
    index = _fallback(client, name, subject_digest)
    if index is None:
        return []
    return _manifests_of(index, f"the fallback index {fallback_tag(subject_digest)} of {name}")


def _document(target: Target, name: str, digest: str) -> bytes:
    if isinstance(target, OCILayout):
        size = target.blob_size(digest)
        if size is None:
            raise _error(f"the provenance document {digest} is not in the layout")
        if size > DOCUMENT_LIMIT:
            raise _error(f"the provenance document {digest} is over {DOCUMENT_LIMIT} bytes")
        return target.read_blob(digest)
    size = target.blob_size(name, digest)
    if size is None:
        raise _error(f"the provenance document {digest} is not in {name}")
    if size > DOCUMENT_LIMIT:
        raise _error(f"the provenance document {digest} is over {DOCUMENT_LIMIT} bytes")
    return target.get_blob(name, digest)  # checked against its digest


def read_provenance(target: Target, name: str, subject_digest: str) -> list[Provenance]:
    """Every v1 provenance record attached to ``subject_digest`` (usually one).

    Each candidate the listing gives (`is_provenance`) is opened: only a manifest of
    our ``artifactType`` whose ``subject`` is this digest counts; its one layer is read
    (at most `DOCUMENT_LIMIT` bytes, checked against its digest) and decoded.
    Raises `ReferrersError` (or `ProvenanceError`) for an artifact of ours that
    cannot be read."""
    found = []
    for entry in referrers(target, name, subject_digest):
        digest = entry.get("digest")
        if not is_provenance(entry) or not isinstance(digest, str):
            continue
        manifest = _json_object(_read_manifest(target, name, digest), f"artifact {digest}")
        subject = manifest.get("subject")
        if manifest.get("artifactType") != ARTIFACT_TYPE or not (
            isinstance(subject, dict) and subject.get("digest") == subject_digest
        ):
            continue
        layers = manifest.get("layers")
        if (
            not isinstance(layers, list)
            or len(layers) != 1
            or not isinstance(layers[0], dict)
            or layers[0].get("mediaType") != DOCUMENT_MEDIA_TYPE
            or not isinstance(layers[0].get("digest"), str)
        ):
            raise ProvenanceError(f"artifact {digest}: not one provenance document layer")
        found.append(decode(_document(target, name, str(layers[0]["digest"]))))
    return found
