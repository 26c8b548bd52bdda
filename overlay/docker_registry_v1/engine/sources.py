"""Where an image comes from: a v1 registry, a ``docker save`` archive, an OCI layout.

Each source's ``open()`` is a context manager yielding one `SourceImage`; its layers
can be read until the context exits. Reading the chain reads only metadata: no layer
byte moves before the destination has said which layers it needs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..core.models import RawMetadata
from ..core.names import RepositoryName, check_tag
from ..core.retry import RetryPolicy
from ..formats.archive import (
    ArchiveImage,
    ImageChain,
    ImageNotInArchiveError,
    SavedArchive,
    check_diff_ids,
    open_layout_directory,
    open_saved_archive,
    validate_ancestry,
)
from ..formats.archive.imageconfig import load_object
from ..formats.archive.names import parse_repo_tag
from ..formats.layout import check_layout
from .access import read_access
from .bounded import run_threads
from .layers import LayerFetch, iter_layer
from .model import (
    FileStream,
    Layer,
    LayerStream,
    OCIOrigin,
    PendingImage,
    Restarted,
    SourceImage,
)

if TYPE_CHECKING:
    from ..v1.auth import Authenticator
    from ..v1.client import Client

__all__ = [
    "ArchiveSource",
    "GivenImage",
    "ImageSource",
    "LayoutSource",
    "OverlappingSource",
    "V1RegistrySource",
]

DEFAULT_TAG = "latest"

# Image JSONs are a few hundred bytes, so their cost is the round trip alone: read them
# this many times as wide as the layers.
JSON_FANOUT = 4


class ImageSource(Protocol):
    """Anything that yields one image as a base-first v1 chain."""

    def open(self) -> contextlib.AbstractContextManager[SourceImage]: ...


@runtime_checkable
class OverlappingSource(Protocol):
    """A source whose layers can be read while their image JSONs are (a v1 registry)."""

    def open(self) -> contextlib.AbstractContextManager[SourceImage]: ...

    def open_pending(self) -> contextlib.AbstractContextManager[PendingImage]: ...


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
    """One read of a v1 layer: `iter_layer`'s Range resume and checksum check (``ready``:
    the image JSON of a fetch made before it was in)."""

    def __init__(
        self, client: Client, fetch: LayerFetch, ready: Callable[[], RawMetadata] | None = None
    ) -> None:
        self._client = client
        self._fetch = fetch
        self._ready = ready
        self.blocks = ready is None
        """In the compressor's blocks (a converting destination needs them to stay
        deterministic); a layer read before its JSON goes to an archive, as it came."""

    @property
    def received(self) -> int:
        return self._fetch.received

    @property
    def gave_up(self) -> BaseException | None:
        return self._fetch.gave_up

    def __iter__(self) -> Iterator[bytes]:
        if not self.blocks:
            return iter_layer(self._client, self._fetch, self._ready)
        # loaded here, with isal, only when a destination may compress: pull needs neither
        from ..formats.compress import BLOCK  # noqa: PLC0415

        return iter_layer(self._client, self._fetch, block=BLOCK)


def _settle(future: Future[str], call: Callable[..., str], *args: str) -> None:
    try:
        future.set_result(call(*args))
    except BaseException as error:  # handed to whoever waits for the answer
        future.set_exception(error)


def registry_origin(client: Client) -> str:
    """The name a v1 registry's facts are recorded under (its base URL): a v1 id it
    gave is used again only for it (see `SourceImage.source`)."""
    return str(client.base_url).rstrip("/")


class V1RegistrySource:
    """A tagged image of a v1 registry: read access (a token when the registry issues
    them), tag → id, ancestry, every image's exact JSON (``concurrency * 4`` at once;
    one at a time for ``concurrency=1``, as v1 clients did); each layer is read with
    ``Range`` resume and its payload checksum checked.

    ``early_lookup``: when the token decision needs a ``_ping``, the registry nearly
    always issues no tokens, so the tag is asked for at the same time, with the auth it
    is then asked with (the client's default); a token makes that answer useless, and it
    is dropped (one request more). ``concurrency=1`` stays one request at a time."""

    def __init__(
        self,
        client: Client,
        repository: str,
        tag: str,
        *,
        policy: RetryPolicy,
        concurrency: int,
        early_lookup: bool = False,
    ) -> None:
        self.client = client
        self.repository = str(RepositoryName.parse(repository))
        self.tag = check_tag(tag)
        self.policy = policy
        self.concurrency = concurrency
        self.early_lookup = early_lookup

    @property
    def width(self) -> int:
        """How many image JSONs are read at once: they are a few hundred bytes, so their
        cost is the round trip alone."""
        return 1 if self.concurrency == 1 else self.concurrency * JSON_FANOUT

    def _layer(
        self, image_id: str, meta: RawMetadata, parent: str | None, auth: Authenticator | None
    ) -> Layer:
        return v1_layer(self.client, image_id, meta, parent, auth, self.policy)

    def _access_and_image_id(self) -> tuple[Authenticator | None, str]:
        """Read access, then the tag's image id (asked early: see the class docstring)."""
        client = self.client
        lookup = client.repository.get_image_id
        early: Future[str] | None = None
        if self.early_lookup and self.concurrency > 1 and client._tokens_known() is None:
            early = Future()
            threading.Thread(
                target=_settle, args=(early, lookup, self.repository, self.tag), daemon=True
            ).start()
        auth = read_access(client, self.repository)
        if early is not None and auth is None:
            return None, early.result()
        return auth, lookup(self.repository, self.tag, auth=auth)

    @contextlib.contextmanager
    def open_pending(self) -> Iterator[PendingImage]:
        """Read access, tag and ancestry (validated before anything is downloaded); the
        JSONs and layers are read as the engine asks."""
        client = self.client
        auth, image_id = self._access_and_image_id()
        ids = tuple(
            reversed(validate_ancestry(client.image.get_ancestry(image_id, auth=auth), image_id))
        )
        parents = {one: ids[n - 1] if n else None for n, one in enumerate(ids)}

        def metadata(one: str) -> RawMetadata:
            return client.image.get_metadata_raw(one, auth=auth)

        def early_layer(one: str, ready: Callable[[], RawMetadata]) -> Layer:
            def opener(restarted: Restarted) -> LayerStream:
                fetch = LayerFetch(one, None, auth, self.policy, restarted)
                return _V1Stream(client, fetch, ready)

            return Layer(one, b"", parents[one], opener)

        def complete(found: Mapping[str, RawMetadata]) -> SourceImage:
            layers = [self._layer(one, found[one], parents[one], auth) for one in ids]
            return SourceImage(
                self.repository, self.tag, tuple(layers), source=registry_origin(client)
            )

        yield PendingImage(
            self.repository, self.tag, ids, self.width, metadata, early_layer, complete
        )

    @contextlib.contextmanager
    def open(self) -> Iterator[SourceImage]:
        """Read the chain's metadata (no layer); layers are read when the engine asks."""
        with self.open_pending() as pending:
            found = run_threads(
                [functools.partial(pending.metadata, one) for one in pending.ids],
                pending.width,
                threading.Event(),
            )
            yield pending.complete(dict(zip(pending.ids, found, strict=True)))


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
        """Open the archive (a compressed one is expanded into a private spool first) and
        check the image's layers against its config's diff_ids (``DiffIdMismatchError``)."""
        with open_saved_archive(self.path) as saved:
            chain, repository, tag = self._select(saved)
            check_diff_ids([chain], str(self.path))  # before the engine sends a byte
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
        check_layout(self.directory)
        with open_layout_directory(self.directory) as saved:
            chain, repository, tag = self._select(saved)
            yield _image(chain, repository, tag, f"oci:{self.directory.resolve()}")
