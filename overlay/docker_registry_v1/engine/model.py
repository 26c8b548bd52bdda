"""The image every source yields and every destination takes, and the one result.

An image is a base-first v1 chain whatever its origin: each image has a v1 id, its
exact v1 JSON bytes, its parent and its layer. The layer is an opener plus what the
source knows of it before reading a byte (size, v1 payload checksum, diff_id, and
for an OCI source the blob digest and media type), so a destination can decide to
reuse it without reading the source. An OCI source also hands over its config and
manifest bytes: an OCI destination then stores them as they are and every digest
stays the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import IO, Protocol

import attrs

from ..core.errors import DockerRegistryError
from ..core.models import RawMetadata
from ..formats.archive.imageconfig import byte_count

__all__ = [
    "RESTARTS",
    "FileStream",
    "Layer",
    "LayerStream",
    "OCIOrigin",
    "PendingImage",
    "Restarted",
    "SourceImage",
    "SourceRestarted",
    "SourceRestartedError",
    "TransferResult",
]

Restarted = Callable[[int], None]
"""Called with the bytes already given when a source starts a layer over from byte 0
(a v1 registry answering a resume with 200); it raises to abandon the attempt."""

RESTARTS = 3
"""Times one layer's upload is started again after the source restarted from byte 0."""


class SourceRestarted(Exception):  # noqa: N818 - a signal inside one layer's copy
    """The source answered a resume from byte 0: the upload must start again."""


class SourceRestartedError(DockerRegistryError):
    """The source kept restarting a layer from byte 0 instead of resuming it."""

    def __init__(self, image_id: str) -> None:
        super().__init__(
            f"layer of {image_id}: the source restarted it {RESTARTS + 1} times; giving up"
        )


class LayerStream(Protocol):
    """One read of a layer: its bytes in blocks, how many were given, and the error the
    source's own resume loop gave up with (so the destination does not retry it again)."""

    @property
    def received(self) -> int: ...
    @property
    def gave_up(self) -> BaseException | None: ...

    def __iter__(self) -> Iterator[bytes]: ...


@attrs.frozen
class Layer:
    """One v1 image of the chain and its layer, as stored by the source."""

    image_id: str
    json_bytes: bytes = attrs.field(repr=byte_count)
    parent: str | None
    opener: Callable[[Restarted], LayerStream] = attrs.field(eq=False, repr=False)
    size: int | None = None
    """Bytes of the layer as the source stores it (what is read)."""
    checksum: str | None = None
    """The v1 payload checksum the source announced (a v1 registry)."""
    diff_id: str | None = None
    blob_digest: str | None = None
    """The stored blob's digest (an OCI source): its bytes are checked against it."""
    media_type: str | None = None

    def open(self, restarted: Restarted) -> LayerStream:
        """A new read of the layer; ``restarted`` as `Restarted` says."""
        return self.opener(restarted)


@attrs.frozen
class OCIOrigin:
    """The config and manifest an OCI source stores for the image, byte for byte."""

    config: bytes = attrs.field(repr=byte_count)
    manifest: bytes = attrs.field(repr=byte_count)
    media_type: str


@attrs.frozen
class SourceImage:
    """One image: the source's name and tag for it and its chain, base first."""

    repository: str
    tag: str
    layers: tuple[Layer, ...]
    oci: OCIOrigin | None = None
    tags: tuple[tuple[str, str], ...] = ()
    """For a v1 destination, several tags at once as (tag, v1 id) pairs, the layers then
    being the union of their chains (each parent before its children), as ``push`` of
    an archive sets them; empty: ``tag`` on the top image."""
    source: str = ""
    """Where the chain was read: a v1 registry's base URL, or ``docker-archive:``/
    ``oci:`` and a file's absolute path. A v1 id is a name its source gave, so what a
    cache learned of an id is used again only for the same source ("" : never)."""

    @property
    def image_id(self) -> str:
        """The top image's v1 id ("" for an empty set of images, a mirror of no tags)."""
        return self.layers[-1].image_id if self.layers else ""


@attrs.frozen
class PendingImage:
    """A v1 chain whose ids are known while its image JSONs are still to be read.

    A destination that takes layers without looking at their JSON first (an archive)
    lets the engine fetch the JSONs and the layers at the same time: a layer's GET then
    goes out at once, and its bytes are taken only once ``ready`` has its JSON (the
    payload checksum is checked against it). ``complete`` makes the image once every
    JSON is in."""

    repository: str
    tag: str
    ids: tuple[str, ...]
    """Base first."""
    width: int
    """How many requests go out at once (the JSONs are read this wide)."""
    metadata: Callable[[str], RawMetadata]
    """Reads one image's JSON."""
    early_layer: Callable[[str, Callable[[], RawMetadata]], Layer] = attrs.field(repr=False)
    """The layer of an image whose JSON ``ready`` gives once it is in; the layer's
    ``json_bytes`` are empty until then (``complete`` has them)."""
    complete: Callable[[Mapping[str, RawMetadata]], SourceImage] = attrs.field(repr=False)


@attrs.frozen
class TransferResult:
    """What one copy did, whatever the pair.

    ``layers``, ``uploaded``, ``skipped`` and ``mounted`` name layers the way the
    destination does: blob digests for an OCI registry or layout, v1 ids for a v1
    registry or a ``docker load`` archive. ``digest`` is the manifest's (None for v1
    and archives); ``bytes_transferred`` the bytes read from the source.
    """

    destination: str
    repository: str
    tags: tuple[str, ...]
    image_id: str
    digest: str | None
    layers: tuple[str, ...]
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    mounted: tuple[str, ...]
    bytes_transferred: int
    seconds: float


class FileStream:
    """A layer read from a file-like source (an archive member, a layout blob) in
    `BLOCK` pieces; such a source never restarts, and a mismatching digest raises when
    the last byte is read (the reader checks it)."""

    def __init__(self, opener: Callable[[], IO[bytes]]) -> None:
        self._opener = opener
        self.received = 0
        self.gave_up: BaseException | None = None

    def __iter__(self) -> Iterator[bytes]:
        # the compressor's block: loaded here, with isal, only when a file layer is read
        from ..formats.compress import BLOCK  # noqa: PLC0415

        with self._opener() as stream:
            while block := stream.read(BLOCK):
                self.received += len(block)
                yield block
