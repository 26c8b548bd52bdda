"""Where an image comes from: a v1 registry, a ``docker save`` archive, an OCI layout.

Each source's ``open()`` is a context manager yielding one `SourceImage`; its layers
can be read until the context exits. Reading the chain reads only metadata: no layer
byte moves before the destination has said which layers it needs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..archive import (
    ArchiveImage,
    ImageChain,
    ImageNotInArchiveError,
    SavedArchive,
    open_layout_directory,
    open_saved_archive,
    validate_ancestry,
)
from ..archive.imageconfig import load_object
from ..archive.names import parse_repo_tag
from ..models import RawMetadata
from ..names import RepositoryName, check_tag
from ..oci.compress import BLOCK
from ..retry import RetryPolicy
from .access import read_access
from .bounded import run_threads
from .layers import LayerFetch, iter_layer
from .model import FileStream, Layer, LayerStream, OCIOrigin, Restarted, SourceImage

if TYPE_CHECKING:
    from ..auth import Authenticator
    from ..client import Client

__all__ = ["ArchiveSource", "GivenImage", "ImageSource", "LayoutSource", "V1RegistrySource"]

DEFAULT_TAG = "latest"


class ImageSource(Protocol):
    """Anything that yields one image as a base-first v1 chain."""

    def open(self) -> contextlib.AbstractContextManager[SourceImage]: ...


class GivenImage:
    """An image its caller has read already (``push`` selects an archive's chains
    itself); its layers stay readable as long as the caller keeps their source open."""

    def __init__(self, image: SourceImage) -> None:
        self.image = image

    def open(self) -> contextlib.AbstractContextManager[SourceImage]:
        """The image as given."""
        return contextlib.nullcontext(self.image)


def archive_layer(image: ArchiveImage) -> Layer:
    """An archive's v1 image as the engine's layer, read as stored."""
    return Layer(
        image.image_id,
        image.json_bytes,
        image.parent,
        _file_opener(image),
        size=image.layer_size,
        blob_digest=image.blob_digest,
        media_type=image.media_type,
    )


def v1_layer(  # noqa: PLR0917 - what one v1 layer read needs
    client: Client,
    image_id: str,
    meta: RawMetadata,
    parent: str | None,
    auth: Authenticator | None,
    policy: RetryPolicy,
) -> Layer:
    """A v1 registry's image as the engine's layer: each read is a new `LayerFetch`."""

    def opener(restarted: Restarted) -> LayerStream:
        return _V1Stream(client, LayerFetch(image_id, meta, auth, policy, restarted))

    return Layer(image_id, meta.json_bytes, parent, opener, size=meta.size, checksum=meta.checksum)


class _V1Stream:
    """One read of a v1 layer: `iter_layer`'s Range resume and checksum check."""

    def __init__(self, client: Client, fetch: LayerFetch) -> None:
        self._client = client
        self._fetch = fetch

    @property
    def received(self) -> int:
        return self._fetch.received

    @property
    def gave_up(self) -> BaseException | None:
        return self._fetch.gave_up

    def __iter__(self) -> Iterator[bytes]:
        return iter_layer(self._client, self._fetch, block=BLOCK)


def registry_origin(client: Client) -> str:
    """The name a v1 registry's facts are recorded under (its base URL): a v1 id it
    gave is used again only for it (see `SourceImage.source`)."""
    return str(client.base_url).rstrip("/")


class V1RegistrySource:
    """A tagged image of a v1 registry: read access (a token when the registry issues
    them), tag → id, ancestry, every image's exact JSON (``concurrency * 4`` at once);
    each layer is read with ``Range`` resume and its payload checksum checked."""

    def __init__(
        self, client: Client, repository: str, tag: str, *, policy: RetryPolicy, concurrency: int
    ) -> None:
        self.client = client
        self.repository = str(RepositoryName.parse(repository))
        self.tag = check_tag(tag)
        self.policy = policy
        self.concurrency = concurrency

    def _layer(
        self, image_id: str, meta: RawMetadata, parent: str | None, auth: Authenticator | None
    ) -> Layer:
        return v1_layer(self.client, image_id, meta, parent, auth, self.policy)

    @contextlib.contextmanager
    def open(self) -> Iterator[SourceImage]:
        """Read the chain's metadata (no layer); layers are read when the engine asks."""
        client = self.client
        auth = read_access(client, self.repository)
        image_id = client.repository.get_image_id(self.repository, self.tag, auth=auth)
        ids = tuple(
            reversed(validate_ancestry(client.image.get_ancestry(image_id, auth=auth), image_id))
        )

        def metadata(one: str) -> Callable[[], RawMetadata]:
            return lambda: client.image.get_metadata_raw(one, auth=auth)

        found = run_threads([metadata(i) for i in ids], self.concurrency * 4, threading.Event())
        layers = [
            self._layer(ids[n], meta, ids[n - 1] if n else None, auth)
            for n, meta in enumerate(found)
        ]
        yield SourceImage(self.repository, self.tag, tuple(layers), source=registry_origin(client))


def _diff_ids(config: bytes | None) -> list[str | None]:
    if config is None:
        return []
    rootfs = load_object(config, "image config").get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return [d if isinstance(d, str) else None for d in ids] if isinstance(ids, list) else []


def _file_opener(image: ArchiveImage) -> Callable[[Restarted], LayerStream]:
    return lambda _restarted: FileStream(image.open_layer)


def _image(chain: ImageChain, repository: str, tag: str, source: str) -> SourceImage:
    """An archive's or layout's chain as the engine's image."""
    diff_ids = _diff_ids(chain.config)
    layers = []
    for n, image in enumerate(chain.images):
        stored = image.blob_digest is not None and n < len(diff_ids)
        layers.append(
            Layer(
                image.image_id,
                image.json_bytes,
                image.parent,
                _file_opener(image),
                size=image.layer_size,
                diff_id=diff_ids[n] if stored else None,
                blob_digest=image.blob_digest,
                media_type=image.media_type,
            )
        )
    origin = None
    if chain.config is not None and chain.manifest is not None:
        origin = OCIOrigin(chain.config, chain.manifest, chain.manifest_media_type or "")
    return SourceImage(repository, tag, tuple(layers), origin, source=source)


def _named(chain: ImageChain, fallback: str | None) -> tuple[str, str]:
    """The repository and tag a chain is known by (the first it names)."""
    for repo_tag in chain.repo_tags:
        return repo_tag.repository or "", repo_tag.tag
    return "", fallback or DEFAULT_TAG


class ArchiveSource:
    """An image of a ``docker save`` archive (legacy, ``manifest.json`` or OCI inside):
    the one named ``NAME:TAG``, or the archive's only image. Layers are streamed from
    the archive as stored; an OCI archive's blobs are checked against their digests."""

    def __init__(self, path: str | os.PathLike[str], name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name

    def _select(self, saved: SavedArchive) -> tuple[ImageChain, str, str]:
        if self.name is not None:
            repository, _, tag = self.name.rpartition(":")
            chain = saved.chain_for(repository, tag)
            parsed = parse_repo_tag(self.name)
            return chain, (parsed.repository or "") if parsed else repository, tag
        if len(saved.chains) != 1:
            raise ImageNotInArchiveError(
                f"{self.path} holds {len(saved.chains)} images; name one as FILE:NAME:TAG"
            )
        chain = saved.chains[0]
        return (chain, *_named(chain, None))

    @contextlib.contextmanager
    def open(self) -> Iterator[SourceImage]:
        """Open the archive (a compressed one is expanded into a private spool first)."""
        with open_saved_archive(self.path) as saved:
            chain, repository, tag = self._select(saved)
            yield _image(chain, repository, tag, f"docker-archive:{self.path.resolve()}")


class LayoutSource:
    """An image of an OCI image layout directory (``oci:DIR[:REF]``), read by the same
    index walk as an OCI archive. ``REF`` is a ref name as written: ``REPO:TAG`` (as
    ``migrate`` writes them) or a plain tag; without one the layout must hold one image."""

    def __init__(self, directory: str | os.PathLike[str], ref: str | None = None) -> None:
        self.directory = Path(directory)
        self.ref = ref

    def _select(self, saved: SavedArchive) -> tuple[ImageChain, str, str]:
        chains = saved.chains
        if self.ref is None:
            if len(chains) != 1:
                raise ImageNotInArchiveError(
                    f"oci:{self.directory} holds {len(chains)} images; name one as oci:DIR:REF"
                )
            return (chains[0], *_named(chains[0], None))
        for chain in chains:
            if self.ref in chain.ref_names:
                repository, _, tag = self.ref.rpartition(":")
                parsed = parse_repo_tag(self.ref)
                if parsed is not None:
                    return chain, parsed.repository or repository, parsed.tag
                return chain, "", tag or self.ref
        raise ImageNotInArchiveError(f"oci:{self.directory} has no image named {self.ref}")

    @contextlib.contextmanager
    def open(self) -> Iterator[SourceImage]:
        """Walk the layout's index; blobs are read, and checked, only as layers are."""
        with open_layout_directory(self.directory) as saved:
            chain, repository, tag = self._select(saved)
            yield _image(chain, repository, tag, f"oci:{self.directory.resolve()}")
