"""Read `docker save` archives (legacy, `manifest.json`, OCI) as v1 chains ready to push.

Whatever the layout, the result is the same: per image/tag, the v1 chain base
first, each image with a v1 id, exact v1 JSON bytes, its parent and its layer as
a stream. Archives that carry no v1 ids get deterministic ones (see
`imageconfig.v1_chain_from_config`), so pushing the same archive twice pushes
the same images.
"""

from __future__ import annotations

import contextlib
import enum
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from .ancestry import is_image_id
from .compression import Compression, detect_compression, expand
from .errors import ArchiveError, InvalidChainError, MalformedArchiveError
from .imageconfig import (
    byte_count,
    load_json,
    load_object,
    sha256_digest,
    v1_chain_from_config,
)
from .members import DirectoryIndex, MemberIndex, ReadLimits
from .names import RepoTag, check_tag, parse_repo_tag

_BLOB_PATH = re.compile(r"blobs/sha256/([0-9a-f]{64})")
_CONFIG_TYPES = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)
_INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
_MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)
_MANIFEST_TYPES_DEFAULT = "application/vnd.oci.image.manifest.v1+json"
_NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_MAX_INDEX_DEPTH = 4


class Layout(enum.Enum):
    """Which of docker's archive layouts the chains were read from."""

    LEGACY = "legacy"
    MANIFEST = "manifest.json"
    OCI = "oci"


class ImageNotInArchiveError(ArchiveError, LookupError):
    """The archive holds no image under the requested name."""


@attrs.frozen
class ArchiveImage:
    """One v1 image of an archive; `open_layer()` streams its layer as stored."""

    image_id: str
    json_bytes: bytes = attrs.field(repr=byte_count)
    parent: str | None
    layer_size: int
    _opener: Callable[[], IO[bytes]] = attrs.field(eq=False, repr=False, alias="opener")
    blob_digest: str | None = None
    """The layer's blob digest as stored, when an OCI manifest names it (its bytes are
    checked against it as they are read)."""
    media_type: str | None = None
    """The layer's media type in that manifest."""

    def open_layer(self) -> IO[bytes]:
        """A new binary stream over the layer; close it when done."""
        return self._opener()


@attrs.frozen
class ImageChain:
    """A tagged (or untagged) image as a base-first v1 chain."""

    repo_tags: tuple[RepoTag, ...]
    images: tuple[ArchiveImage, ...]
    config_digest: str | None = None
    config: bytes | None = attrs.field(default=None, repr=False)
    """The exact config bytes, for an image read from an OCI manifest or a ``manifest.json``
    entry (its ``rootfs.diff_ids`` are checked before a push, see ``diffids``)."""
    manifest: bytes | None = attrs.field(default=None, repr=False)
    """The exact manifest bytes of that image, so a copy to an OCI destination keeps
    every digest."""
    manifest_media_type: str | None = None
    ref_names: tuple[str, ...] = ()
    """The index's ``org.opencontainers.image.ref.name`` values for the image, as written."""

    @property
    def tip(self) -> ArchiveImage:
        return self.images[-1]


@attrs.define
class SavedArchive:
    """The chains of an open archive; layers can be opened until the context exits."""

    layout: Layout
    chains: tuple[ImageChain, ...]

    def chain_for(self, repository: str, tag: str) -> ImageChain:
        """The chain tagged `repository:tag` (docker's familiar or full spelling)."""
        wanted = parse_repo_tag(f"{repository}:{tag}")
        for chain in self.chains:
            if wanted in chain.repo_tags:
                return chain
        raise ImageNotInArchiveError(f"no image tagged {repository}:{tag} in the archive")


@attrs.define
class _Session:
    """Shared state of one open archive, so streams fail cleanly after it is closed."""

    index: MemberIndex | DirectoryIndex
    limits: ReadLimits
    open: bool = True

    def opener(
        self, name: str | None, expected_sha256: str | None = None
    ) -> Callable[[], IO[bytes]]:
        def open_layer() -> IO[bytes]:
            if not self.open:
                raise ArchiveError(f"{self.index.path}: the archive has been closed")
            if name is None:
                return io.BytesIO(b"")
            return io.BufferedReader(self.index.open(name, expected_sha256))

        return open_layer

    def read_bytes(self, name: str) -> bytes:
        return self.index.read_bytes(name, self.limits.max_metadata_bytes)

    def read_json(self, name: str) -> Any:
        return load_json(self.read_bytes(name), f"{self.index.path}: {name}")


def _as_dict(value: Any, message: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedArchiveError(message)
    return value


def _as_list(value: Any, message: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedArchiveError(message)
    return value


def _as_paths(value: Any, message: str) -> list[str]:
    items = _as_list(value, message)
    if not all(isinstance(item, str) for item in items):
        raise MalformedArchiveError(message)
    return items


@contextlib.contextmanager
def open_saved_archive(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    limits: ReadLimits | None = None,
    temp_dir: str | os.PathLike[str] | None = None,
) -> Iterator[SavedArchive]:
    """Open a `docker save` archive (plain or compressed, path or stream) for reading.

    A plain tar file is read in place. A compressed archive or a stream is first
    written, decompressed under `limits.expansion`, into a private (0700)
    temporary directory under `temp_dir`, which is removed when the context exits.
    """
    limits = limits or ReadLimits()
    with contextlib.ExitStack() as stack:
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            with open(path, "rb") as stream:
                if detect_compression(stream.read(6)) is not Compression.NONE:
                    stream.seek(0)
                    path = _spool(stream, limits, stack, temp_dir, where=f"archive {path}")
        else:
            path = _spool(source, limits, stack, temp_dir, where="archive stream")
        session = _Session(MemberIndex(path, limits), limits)
        stack.callback(setattr, session, "open", False)
        yield _read_layout(session)


@contextlib.contextmanager
def open_layout_directory(
    directory: str | os.PathLike[str], *, limits: ReadLimits | None = None
) -> Iterator[SavedArchive]:
    """Read an OCI image layout directory (``oci:DIR``) as an archive with that layout:
    the same index walk, every blob checked against its digest as it is read."""
    path = Path(directory)
    index = DirectoryIndex(path)
    if "index.json" not in index or "oci-layout" not in index:
        raise MalformedArchiveError(f"{path}: not an OCI image layout (no index.json)")
    session = _Session(index, limits or ReadLimits())
    try:
        yield SavedArchive(Layout.OCI, _from_oci(session))
    finally:
        session.open = False


def _spool(
    stream: IO[bytes],
    limits: ReadLimits,
    stack: contextlib.ExitStack,
    temp_dir: str | os.PathLike[str] | None,
    *,
    where: str,
) -> Path:
    private = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=temp_dir, prefix="regv1-")))
    os.chmod(private, 0o700)
    spooled = private / "archive.tar"
    with open(spooled, "wb") as out:
        expand(stream, out.write, limits=limits.expansion, where=where)
    return spooled


def _read_layout(session: _Session) -> SavedArchive:
    index = session.index
    if "manifest.json" in index:
        return SavedArchive(Layout.MANIFEST, _from_manifest(session))
    if "index.json" in index and "oci-layout" in index:
        return SavedArchive(Layout.OCI, _from_oci(session))
    if "repositories" in index or any(name.endswith("/json") for name in index.names()):
        return SavedArchive(Layout.LEGACY, _from_legacy(session))
    raise MalformedArchiveError(
        f"{index.path}: no manifest.json, OCI index.json or legacy repositories file"
    )


def _from_manifest(session: _Session) -> tuple[ImageChain, ...]:
    where = f"{session.index.path}: manifest.json"
    manifest = _as_list(session.read_json("manifest.json"), f"{where} must be a JSON list")
    chains = []
    for position, item in enumerate(manifest):
        here = f"{where} entry {position}"
        entry = _as_dict(item, f"{here} must be an object")
        config_name = entry.get("Config")
        if not isinstance(config_name, str):
            raise MalformedArchiveError(f"{here}: Config must be a path")
        layers = _as_paths(entry.get("Layers"), f"{here}: Layers must be a list of paths")
        repo_tags = _as_paths(entry.get("RepoTags") or [], f"{here}: RepoTags must be names")
        tags = tuple(_repo_tag(text, here) for text in repo_tags)
        config = session.read_bytes(config_name)
        images = _legacy_images(session, layers) or _derived_images(session, config, layers, here)
        chains.append(ImageChain(tags, images, sha256_digest(config), config=config))
    return tuple(chains)


def _repo_tag(text: str, where: str) -> RepoTag:
    parsed = parse_repo_tag(text)
    if parsed is None:
        raise MalformedArchiveError(f"{where}: {text!r} is not a valid name:tag")
    return parsed


def _blob_hash(name: str) -> str | None:
    match = _BLOB_PATH.fullmatch(name)
    return match.group(1) if match else None


def _legacy_images(session: _Session, layers: list[str]) -> tuple[ArchiveImage, ...]:
    """The archive's own v1 images when every layer sits in a consistent `<id>/` directory."""
    images: list[ArchiveImage] = []
    parent: str | None = None
    for layer in layers:
        directory, _, leaf = layer.rpartition("/")
        json_name = f"{directory}/json"
        if leaf != "layer.tar" or not is_image_id(directory) or json_name not in session.index:
            return ()
        json_bytes = session.read_bytes(json_name)
        document = load_object(json_bytes, f"{session.index.path}: {json_name}")
        if document.get("id") != directory or (document.get("parent") or None) != parent:
            return ()
        size = session.index.resolve(layer).size
        images.append(ArchiveImage(directory, json_bytes, parent, size, session.opener(layer)))
        parent = directory
    return tuple(images)


def _derived_images(
    session: _Session, config: bytes, layers: list[str], where: str
) -> tuple[ArchiveImage, ...]:
    sizes = [session.index.resolve(layer).size for layer in layers]
    derived = v1_chain_from_config(config, sizes, f"{where} config")
    images: list[ArchiveImage] = []
    parent: str | None = None
    for position, (v1_id, json_bytes) in enumerate(derived):
        if layers:
            opener = session.opener(layers[position], _blob_hash(layers[position]))
            size = sizes[position]
        else:
            opener, size = session.opener(None), 0
        images.append(ArchiveImage(v1_id, json_bytes, parent, size, opener))
        parent = v1_id
    return tuple(images)


def _from_oci(session: _Session) -> tuple[ImageChain, ...]:
    where = f"{session.index.path}: index.json"
    top = _as_dict(session.read_json("index.json"), f"{where} must be an object")
    chains: list[ImageChain] = []
    _walk_index(session, top, where, (), chains, depth=0)
    return tuple(chains)


def _descriptor_blob(session: _Session, descriptor: Any, where: str) -> tuple[str, str]:
    """The archive path of a descriptor's blob and its hex digest, its size checked."""
    fields = _as_dict(descriptor, f"{where}: descriptor must be an object")
    digest, size = fields.get("digest"), fields.get("size")
    name = f"blobs/{digest.replace(':', '/')}" if isinstance(digest, str) else ""
    hex_digest = _blob_hash(name)
    if hex_digest is None:
        raise MalformedArchiveError(f"{where}: digest {digest!r} is not a sha256 digest")
    if not isinstance(size, int) or session.index.resolve(name).size != size:
        raise MalformedArchiveError(f"{where}: blob {digest} is not {size!r} bytes as declared")
    return name, hex_digest


def _verified_json(session: _Session, name: str, hex_digest: str) -> tuple[bytes, dict[str, Any]]:
    data = session.read_bytes(name)
    where = f"{session.index.path}: {name}"
    if sha256_digest(data) != f"sha256:{hex_digest}":
        raise MalformedArchiveError(f"{where} does not match its digest")
    return data, load_object(data, where)


def _walk_index(
    session: _Session,
    index: dict[str, Any],
    where: str,
    inherited: tuple[RepoTag, ...],
    chains: list[ImageChain],
    *,
    depth: int,
) -> None:
    if depth > _MAX_INDEX_DEPTH:
        raise MalformedArchiveError(f"{where}: image indexes nested too deeply")
    manifests = _as_list(index.get("manifests"), f"{where}: manifests must be a list")
    for position, descriptor in enumerate(manifests):
        here = f"{where} manifest {position}"
        name, hex_digest = _descriptor_blob(session, descriptor, here)
        tags = inherited or _annotated_names(descriptor.get("annotations"))
        refs = _raw_ref_names(descriptor.get("annotations"))
        data, document = _verified_json(session, name, hex_digest)
        media_type = _media_type(document.get("mediaType", descriptor.get("mediaType")), here)
        if media_type in _INDEX_TYPES or (media_type is None and "manifests" in document):
            _walk_index(session, document, f"{here} ({name})", tags, chains, depth=depth + 1)
        elif media_type in _MANIFEST_TYPES or (media_type is None and "layers" in document):
            chain = _oci_chain(session, document, f"{here} ({name})", tags)
            if chain is not None:
                chains.append(
                    attrs.evolve(
                        chain,
                        manifest=data,
                        manifest_media_type=media_type or _MANIFEST_TYPES_DEFAULT,
                        ref_names=refs,
                    )
                )


def _media_type(value: Any, where: str) -> str | None:
    """A ``mediaType`` as found (None when absent); any other JSON type is malformed (and
    would not even be hashable for the lookups that follow)."""
    if value is not None and not isinstance(value, str):
        raise MalformedArchiveError(f"{where}: mediaType must be a string")
    return value


def _raw_ref_names(annotations: Any) -> tuple[str, ...]:
    if not isinstance(annotations, dict):
        return ()
    value = annotations.get("org.opencontainers.image.ref.name")
    return (value,) if isinstance(value, str) else ()


def _annotated_names(annotations: Any) -> tuple[RepoTag, ...]:
    if not isinstance(annotations, dict):
        return ()
    for key in _NAME_ANNOTATIONS:
        value = annotations.get(key)
        if not isinstance(value, str):
            continue
        if (parsed := parse_repo_tag(value)) is not None:
            return (parsed,)
        with contextlib.suppress(InvalidChainError):
            return (RepoTag(None, check_tag(value)),)
    return ()


def _oci_chain(
    session: _Session, manifest: dict[str, Any], where: str, tags: tuple[RepoTag, ...]
) -> ImageChain | None:
    """The chain of one image manifest; None for non-image artifacts such as attestations."""
    config_descriptor = _as_dict(manifest.get("config"), f"{where}: config must be a descriptor")
    if _media_type(config_descriptor.get("mediaType"), f"{where} config") not in _CONFIG_TYPES:
        return None
    config_name, config_hex = _descriptor_blob(session, config_descriptor, f"{where} config")
    config, _ = _verified_json(session, config_name, config_hex)
    layer_descriptors = _as_list(manifest.get("layers"), f"{where}: layers must be a list")
    layers = [
        _descriptor_blob(session, descriptor, f"{where} layer {n}")[0]
        for n, descriptor in enumerate(layer_descriptors)
    ]
    images = _derived_images(session, config, layers, where)
    if layer_descriptors:  # a config without layers yields one image with an empty layer
        images = tuple(
            attrs.evolve(
                image,
                blob_digest=descriptor["digest"],
                media_type=descriptor.get("mediaType")
                if isinstance(descriptor.get("mediaType"), str)
                else None,
            )
            for image, descriptor in zip(images, layer_descriptors, strict=True)
        )
    return ImageChain(tags, images, sha256_digest(config), config=config)


def _from_legacy(session: _Session) -> tuple[ImageChain, ...]:
    index = session.index
    documents: dict[str, tuple[bytes, str | None]] = {}
    for name in index.names():
        directory, _, leaf = name.rpartition("/")
        if leaf != "json" or not is_image_id(directory):
            continue
        json_bytes = session.read_bytes(name)
        document = load_object(json_bytes, f"{index.path}: {name}")
        parent = document.get("parent") or None
        if document.get("id") != directory or not (parent is None or is_image_id(parent)):
            raise MalformedArchiveError(
                f"{index.path}: {name} has id {document.get('id')!r} and parent {parent!r}"
            )
        documents[directory] = (json_bytes, parent)
    tips: dict[str, list[RepoTag]] = {}
    if "repositories" in index:
        for repo_tag, tip in _repositories(session):
            tips.setdefault(tip, []).append(repo_tag)
    parents = {parent for _, parent in documents.values() if parent}
    for image_id in sorted(documents):
        if image_id not in parents:
            tips.setdefault(image_id, [])
    return tuple(
        ImageChain(tuple(tags), _walk_parents(session, documents, tip))
        for tip, tags in tips.items()
    )


def _repositories(session: _Session) -> Iterator[tuple[RepoTag, str]]:
    where = f"{session.index.path}: repositories"
    repositories = _as_dict(session.read_json("repositories"), f"{where} must be an object")
    for repository, value in repositories.items():
        tags = _as_dict(value, f"{where}: {repository!r} must map tags to ids")
        for tag, tip in tags.items():
            parsed = _repo_tag(f"{repository}:{tag}", where)
            if not is_image_id(tip):
                raise MalformedArchiveError(f"{where}: {parsed} names {tip!r}, not an image id")
            yield parsed, tip


def _walk_parents(
    session: _Session, documents: dict[str, tuple[bytes, str | None]], tip: str
) -> tuple[ArchiveImage, ...]:
    path = session.index.path
    chain: list[ArchiveImage] = []
    current: str | None = tip
    while current is not None:
        if current not in documents:
            raise MalformedArchiveError(f"{path}: image {current} is referenced but has no json")
        if len(chain) >= session.limits.max_chain_length:
            raise MalformedArchiveError(
                f"{path}: the chain of {tip} is longer than {session.limits.max_chain_length}"
            )
        json_bytes, parent = documents[current]
        layer = f"{current}/layer.tar"
        size = session.index.resolve(layer).size
        chain.append(ArchiveImage(current, json_bytes, parent, size, session.opener(layer)))
        current = parent
    return tuple(reversed(chain))
