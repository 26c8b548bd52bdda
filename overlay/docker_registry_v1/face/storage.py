"""`V2Face`: the emulator's `V1Storage` answered from a v2 registry or an OCI layout.

A tag of the v2 side becomes a v1 tag whose image chain is either

- **the original one**, when the migration attached v1 provenance to the manifest
  (`formats.provenance`): the v1 ids, the JSON byte for byte, the payload checksum, and
  layers byte-identical to what the v1 registry served (a plain-tar layer the migration
  gzip-compressed is inflated on the way out, so its checksum verifies; a layer that was
  xz or bzip2 is served as its plain tar, without a checksum header, since its original
  bytes are gone);
- or **synthesized** (`formats.v1compat`, docker's v1-compatibility ids) for an image
  pushed straight to the v2 side: no checksum header (nobody ever computed one), the
  layer is the v2 blob as it is (gzip, which every v1 client reads).

Image routes only name an id, so every chain read teaches an id index (v1 id →
repository, manifest digest, place in the chain); an id not in it triggers a walk of
every repository and tag, at most once per ``walk_interval`` seconds. Manifest and
provenance lookups are cached for ``ttl`` seconds (a retag shows up after that), every
cache is bounded in entries, and layers are streamed, never staged.

All methods block on the backend: the routes call them in worker threads (``blocking``).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import enum
import json
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

import attrs

from ..core.errors import DockerRegistryError
from ..emulator.blobs import Blob
from ..emulator.storage import StorageError
from ..emulator.store import DEFAULT_METADATA, StoredImage
from ..formats.archive.compression import Compression
from ..formats.errors import LayoutError
from ..formats.provenance import Provenance, ProvenanceError, Stored, is_fallback_tag
from ..formats.v1compat import V1CompatError, synthesize
from ..oci.client import Manifest
from ..oci.errors import ReferrersError
from .backends import Backend
from .streams import StreamedBlob, inflated, zeros

LOG = logging.getLogger(__name__)

REGISTRY_VERSION = "0.9.1"
"""What ``_ping`` announces in ``X-Docker-Registry-Version``: the API of REF 0.9.1."""
DEFAULT_TTL = 5.0
DEFAULT_CHAIN_TTL = 60.0
"""Seconds the chain read from one manifest digest is kept (provenance attached to it
later shows after that)."""
DEFAULT_LOOKUPS = 8
"""Tags of one repository read at once (manifest and provenance lookups)."""
DEFAULT_CACHE_ENTRIES = 10_000
DEFAULT_ID_ENTRIES = 1_000_000
DEFAULT_WALK_INTERVAL = 30.0
EMPTY_TAR_SIZE = 1024
"""A layer-less synthesized image serves an empty tar: two 512-byte zero blocks."""
IMAGE_CONFIG_TYPES = frozenset(
    {
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.oci.image.config.v1+json",
    }
)
INDEX_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    }
)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING: Any = object()


class Serve(enum.Enum):
    """How an image's layer bytes are made from the v2 side."""

    AS_IS = "as-is"
    """The v2 blob's bytes."""
    INFLATE = "inflate"
    """The v2 blob decompressed (gzip)."""
    ZEROS = "zeros"
    """``size`` zero bytes: an empty layer, not in the v2 manifest."""


@attrs.frozen
class ChainImage:
    id: str
    json: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    parent: str | None
    checksum: str | None
    """``X-Docker-Checksum-Payload``; ``None`` when it cannot be given truthfully."""
    size: int
    """``X-Docker-Size`` and the layer's length."""
    digest: str | None
    serve: Serve


@attrs.frozen
class Chain:
    """One v2 manifest as a v1 chain, base first."""

    repository: str
    """The v2 repository it was read from."""
    digest: str
    images: tuple[ChainImage, ...]
    synthesized: bool
    source: str | None = None
    """The v1 repository the provenance names, when there is provenance."""


class _Cache(Generic[K, V]):
    """At most ``limit`` entries, each for ``ttl`` seconds (``None``: for ever), least
    recently used dropped first."""

    def __init__(self, limit: int, ttl: float | None, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._data: collections.OrderedDict[K, tuple[float, V]] = collections.OrderedDict()

    def get(self, key: K) -> V:
        """The value, or `_MISSING`."""
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return _MISSING  # type: ignore[no-any-return]
            expires, value = found
            if self._ttl is not None and self._clock() >= expires:
                del self._data[key]
                return _MISSING  # type: ignore[no-any-return]
            self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        expires = self._clock() + (self._ttl or 0.0)
        with self._lock:
            self._data[key] = (expires, value)
            self._data.move_to_end(key)
            while len(self._data) > self._limit:
                self._data.popitem(last=False)

    def keys(self) -> list[K]:
        """A snapshot of the keys (expired ones included)."""
        with self._lock:
            return list(self._data)

    def __len__(self) -> int:
        return len(self._data)


def provenance_chain(repository: str, digest: str, record: Provenance) -> Chain:
    """The chain a provenance record describes, each layer served as the module says."""
    images = []
    parent: str | None = None
    for image in record.images:
        layer = image.layer
        payload = next((c for c in image.checksums if c.startswith("sha256:")), None)
        if layer.stored is Stored.AS_IS:
            serve, checksum = Serve.AS_IS, payload
        elif layer.stored is Stored.GZIP:
            serve, checksum = Serve.INFLATE, payload
        elif layer.stored is Stored.RECOMPRESSED:
            serve, checksum = Serve.INFLATE, None  # the plain tar, not the v1 bytes
        else:
            serve = Serve.ZEROS
            # a plain all-zero v1 layer is rebuilt exactly; a compressed one is not
            checksum = payload if layer.compression is Compression.NONE else None
        size = layer.v1_size if serve is not Serve.ZEROS or checksum else EMPTY_TAR_SIZE
        images.append(ChainImage(image.id, image.json, parent, checksum, size, layer.digest, serve))
        parent = image.id
    return Chain(repository, digest, tuple(images), False, record.source.repository)


def _synthesized_chain(repository: str, digest: str, config: bytes, layers: Any) -> Chain:
    images = []
    for image in synthesize(config, layers):
        if image.layer_digest is None:
            images.append(
                ChainImage(
                    image.id, image.json, image.parent, None, EMPTY_TAR_SIZE, None, Serve.ZEROS
                )
            )
        else:
            images.append(
                ChainImage(
                    image.id,
                    image.json,
                    image.parent,
                    None,
                    image.layer_size,
                    image.layer_digest,
                    Serve.AS_IS,
                )
            )
    return Chain(repository, digest, tuple(images), True)


def _pick_platform(index: dict[str, Any]) -> str | None:
    """The manifest of an index a v1 client gets: linux/amd64, else the first real one."""
    entries = [e for e in index.get("manifests") or [] if isinstance(e, dict)]
    usable = [
        e
        for e in entries
        if isinstance(e.get("digest"), str)
        and (e.get("platform") or {}).get("os", "linux") != "unknown"
    ]
    for entry in usable:
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return str(entry["digest"])
    return str(usable[0]["digest"]) if usable else None


class V2Face:
    """A read-only v1 registry's storage over ``backend`` (see the module docstring).

    ``prefix``: the v2 names start with it (``docker://host/PREFIX``); a v1 name
    ``ns/repo`` is ``PREFIX/ns/repo`` there, and ``library/app`` also finds a v2 ``app``.
    """

    read_only = True
    blocking = True
    registry_version = REGISTRY_VERSION

    def __init__(
        self,
        backend: Backend,
        *,
        prefix: str = "",
        ttl: float = DEFAULT_TTL,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
        id_entries: int = DEFAULT_ID_ENTRIES,
        walk_interval: float = DEFAULT_WALK_INTERVAL,
        chain_ttl: float = DEFAULT_CHAIN_TTL,
        lookups: int = DEFAULT_LOOKUPS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.prefix = prefix.strip("/")
        self.walk_interval = walk_interval
        self._clock = clock
        self._manifests: _Cache[tuple[str, str], Manifest | None] = _Cache(
            cache_entries, ttl, clock
        )
        self._chains: _Cache[tuple[str, str], Chain | None] = _Cache(
            cache_entries, max(ttl, chain_ttl), clock
        )
        self._tags: _Cache[str, dict[str, Chain] | None] = _Cache(cache_entries, ttl, clock)
        self._catalog: _Cache[str, list[str] | None] = _Cache(1, ttl, clock)
        self._ids: _Cache[str, tuple[str, str, int]] = _Cache(id_entries, None, clock)
        self._files: _Cache[str, bytes] = _Cache(256, None, clock)
        self._seen: _Cache[str, bool] = _Cache(cache_entries, None, clock)
        self._walk_lock = threading.Lock()
        self._last_walk: float | None = None
        self.lookups = lookups
        self._pool_lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    # -- names -------------------------------------------------------------------------

    def _v2_names(self, name: str) -> list[str]:
        head = f"{self.prefix}/" if self.prefix else ""
        names = [head + name]
        namespace, _, rest = name.partition("/")
        if namespace == "library" and "/" not in rest:
            names.append(head + rest)
        return names

    def _v1_name(self, v2_name: str) -> str | None:
        if self.prefix:
            if not v2_name.startswith(self.prefix + "/"):
                return None
            v2_name = v2_name[len(self.prefix) + 1 :]
        return v2_name if "/" in v2_name else f"library/{v2_name}"

    # -- chains ------------------------------------------------------------------------

    def _manifest(self, repository: str, reference: str) -> Manifest | None:
        key = (repository, reference)
        found = self._manifests.get(key)
        if found is _MISSING:
            found = self.backend.manifest(repository, reference)
            self._manifests.put(key, found)
        return found

    def _chain(self, repository: str, reference: str) -> Chain | None:
        """The chain of a tag or manifest digest; ``None`` when it is no image (an
        artifact, a missing manifest). The manifest a tag names is asked again after
        ``ttl``; the chain of a manifest digest after ``chain_ttl`` (its bytes never
        change, only provenance attached later would)."""
        manifest = self._manifest(repository, reference)
        if manifest is None:
            return None
        key = (repository, manifest.digest)
        found = self._chains.get(key)
        if found is _MISSING:
            found = self._read_chain(repository, manifest)
            self._chains.put(key, found)
            if found is not None:
                self._chains.put((repository, found.digest), found)
                self._learn(found)
        return found

    def _read_chain(self, repository: str, manifest: Manifest) -> Chain | None:
        subjects = [manifest.digest]
        document = json.loads(manifest.data)
        if not isinstance(document, dict):
            return None
        if document.get("mediaType", manifest.media_type) in INDEX_TYPES or (
            "manifests" in document and "layers" not in document
        ):
            chosen = _pick_platform(document)
            picked = None if chosen is None else self._manifest(repository, chosen)
            if picked is None:
                return None
            manifest = picked
            subjects.insert(0, manifest.digest)
            document = json.loads(manifest.data)
            if not isinstance(document, dict):
                return None
        config = document.get("config")
        layers = document.get("layers")
        if (
            not isinstance(config, dict)
            or config.get("mediaType") not in IMAGE_CONFIG_TYPES
            or not isinstance(layers, list)
        ):
            return None
        blobs = [str(layer.get("digest")) for layer in layers if isinstance(layer, dict)]
        for subject in subjects:
            for record in self.backend.provenance(repository, subject):
                if [i.layer.digest for i in record.images if i.layer.digest] == blobs:
                    return provenance_chain(repository, manifest.digest, record)
                LOG.warning(
                    "%s %s@%s: a provenance record names other layers than the manifest; ignored",
                    self.backend.label,
                    repository,
                    subject,
                )
        config_bytes = self.backend.small_blob(repository, str(config["digest"]))
        pairs = [(str(layer["digest"]), int(layer["size"])) for layer in layers]
        return _synthesized_chain(repository, manifest.digest, config_bytes, pairs)

    def _learn(self, chain: Chain) -> None:
        for position, image in enumerate(chain.images):
            self._ids.put(image.id, (chain.repository, chain.digest, position))
        name = self._v1_name(chain.repository)
        if name is not None:
            self._seen.put(name, True)
        if chain.source:
            self._seen.put(chain.source, True)

    def _tag_chains(self, name: str) -> dict[str, Chain] | None:
        """Tag → chain of the v1 repository ``name``; ``None`` when it does not exist."""
        found = self._tags.get(name)
        if found is not _MISSING:
            return found
        result: dict[str, Chain] | None = None
        for repository in self._v2_names(name):
            tags = self.backend.tags(repository)
            if tags is None:
                continue
            wanted = [tag for tag in sorted(tags) if not is_fallback_tag(tag)]
            chains = self._pool().map(lambda tag, r=repository: self._tag_chain(r, tag), wanted)
            result = {tag: chain for tag, chain in zip(wanted, chains, strict=True) if chain}
            break
        if result is not None:
            self._seen.put(name, True)
        self._tags.put(name, result)
        return result

    def _tag_chain(self, repository: str, tag: str) -> Chain | None:
        """One tag's chain; a tag whose image or provenance cannot be read is left out
        (logged), so one bad artifact does not hide the repository."""
        try:
            return self._chain(repository, tag)
        except (
            ProvenanceError,
            ReferrersError,
            V1CompatError,
            ValueError,
            KeyError,
            TypeError,
        ) as exc:
            LOG.warning("%s %s:%s is left out: %s", self.backend.label, repository, tag, exc)
        return None

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """The threads that read a repository's tags at once (made on first use)."""
        with self._pool_lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    self.lookups, thread_name_prefix="regv1-face"
                )
            return self._executor

    def close(self) -> None:
        """Stop the lookup threads (the backend is closed by whoever opened it)."""
        with self._pool_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def _locate(self, image_id: str) -> tuple[Chain, int] | None:
        for attempt in range(2):
            found = self._ids.get(image_id)
            if found is not _MISSING:
                repository, digest, position = found
                chain = self._chain(repository, digest)
                if (
                    chain is not None
                    and position < len(chain.images)
                    and chain.images[position].id == image_id
                ):
                    return chain, position
            if attempt == 0:
                self._walk()  # or wait for the one running, then look again
        return None

    def _walk(self) -> bool:
        """Read every repository's tags (learning their ids), at most once per
        ``walk_interval``; whether a walk ran."""
        with self._walk_lock:
            now = self._clock()
            if self._last_walk is not None and now - self._last_walk < self.walk_interval:
                return False
            self._last_walk = now
            for name in self._repository_names():
                try:
                    self._tag_chains(name)
                except DockerRegistryError as exc:
                    LOG.warning("%s: cannot read %s: %s", self.backend.label, name, exc)
            return True

    def _repository_names(self) -> list[str]:
        """The v1 names of every repository: the catalog's, else those seen so far."""
        listed = self._catalog.get("")
        if listed is _MISSING:
            listed = self.backend.repositories()
            self._catalog.put("", listed)
        names: set[str] = set()
        if listed is not None:
            names.update(n for n in map(self._v1_name, listed) if n is not None)
        else:
            names.update(self._seen_names())
        return sorted(names)

    def _seen_names(self) -> list[str]:
        return self._seen.keys()

    # -- V1Storage ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """A backend that fails (unreachable, refusing, a corrupt artifact) makes the
        route answer 502 with the reason, not a server error page."""
        try:
            yield
        except (DockerRegistryError, LayoutError, OSError, ValueError) as exc:
            raise StorageError(f"{self.backend.label}: {exc}") from exc

    def image(self, image_id: str) -> StoredImage | None:
        with self._answering():
            located = self._locate(image_id)
        if located is None:
            return None
        chain, position = located
        image = chain.images[position]
        ancestry = [one.id for one in reversed(chain.images[: position + 1])]
        return StoredImage(
            json_bytes=image.json,
            parent=image.parent,
            ancestry=ancestry,
            checksum=image.checksum,
            layer_size=image.size,
            complete=True,
        )

    def layer(self, image_id: str) -> Blob | None:
        with self._answering():
            located = self._locate(image_id)
        if located is None:
            return None
        chain, position = located
        image = chain.images[position]
        repository, digest, size = chain.repository, image.digest, image.size
        backend = self.backend
        if image.serve is Serve.ZEROS or digest is None:
            return StreamedBlob(size, lambda offset: zeros(size, offset))
        if image.serve is Serve.INFLATE:
            return StreamedBlob(
                size,
                lambda offset: inflated(
                    lambda start: backend.open_blob(repository, digest, start), offset
                ),
            )
        return StreamedBlob(size, lambda offset: backend.open_blob(repository, digest, offset))

    def cached_files(self, image_id: str) -> bytes | None:
        found = self._files.get(image_id)
        return None if found is _MISSING else found

    def cache_files(self, image_id: str, listing: bytes) -> None:
        self._files.put(image_id, listing)

    def tags(self, name: str) -> dict[str, str] | None:
        with self._answering():
            chains = self._tag_chains(name)
        if chains is None:
            return None
        return {tag: chain.images[-1].id for tag, chain in sorted(chains.items())}

    def unreadable_tags(self, name: str) -> list[str]:
        return []

    def tag_metadata(self, name: str, tag: str) -> dict[str, Any]:
        return dict(DEFAULT_METADATA)

    def repository_metadata(self, name: str) -> dict[str, Any]:
        return dict(DEFAULT_METADATA)

    def access(self, name: str) -> str:
        return "public"

    def is_private(self, name: str) -> bool:
        return False

    def index_list(self, name: str) -> bytes | None:
        """Every image of every tag, with its payload checksum where there is one."""
        with self._answering():
            chains = self._tag_chains(name)
        if chains is None:
            return None
        entries: dict[str, dict[str, str]] = {}
        for chain in chains.values():
            for image in chain.images:
                entry = {"id": image.id}
                if image.checksum is not None:
                    entry["checksum"] = image.checksum
                entries.setdefault(image.id, entry)
        return json.dumps(list(entries.values()), sort_keys=True).encode()

    def search(self, query: str, *, include_private: bool) -> list[str]:
        needle = query.lower()
        with self._answering():
            names = self._repository_names()
        return [name for name in names if needle in name.lower()]
