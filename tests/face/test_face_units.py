"""Edge cases of the face without servers: an in-memory backend (counting what it is
asked) for the id index, the walk's rate limit, the caches' TTL and the name mapping;
the layer streams' bounds."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from docker_registry_v1.core.errors import RegistryConnectionError
from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.emulator.blobs import iter_blob
from docker_registry_v1.face import Serve, V2Face
from docker_registry_v1.face.storage import provenance_chain
from docker_registry_v1.face.streams import (
    INFLATE_STEP,
    InflateError,
    StreamedBlob,
    gunzip,
    inflated,
)
from docker_registry_v1.formats.archive.compression import Compression
from docker_registry_v1.formats.provenance import Image, Layer, Provenance, Source, Stored
from docker_registry_v1.oci.client import Manifest
from oci_images import one_layer_manifest

FALLBACK = "sha256-" + "ab" * 32


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class MemoryBackend:
    """A v2 side in memory: repositories of tags, each tag its own one-layer image."""

    label = "memory"

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.refs: dict[str, dict[str, str]] = {}
        self.manifests: dict[str, Manifest] = {}
        self.blobs: dict[str, bytes] = {}
        self.catalog = True

    def add(self, name: str, tag: str, content: bytes) -> str:
        """Tag a new one-layer image; its layer's digest."""
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as archive:
            info = tarfile.TarInfo("file")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        layer = gzip.compress(raw.getvalue(), mtime=0)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [_digest(raw.getvalue())]},
            }
        ).encode()
        manifest = one_layer_manifest(config, _digest(layer), len(layer))
        for blob in (layer, config):
            self.blobs[_digest(blob)] = blob
        found = Manifest(manifest, "application/vnd.oci.image.manifest.v1+json", _digest(manifest))
        self.manifests[found.digest] = found
        self.refs.setdefault(name, {})[tag] = found.digest
        return _digest(layer)

    def repositories(self) -> list[str] | None:
        self.calls["catalog"] += 1
        return sorted(self.refs) if self.catalog else None

    def tags(self, name: str) -> list[str] | None:
        self.calls["tags"] += 1
        tags = self.refs.get(name)
        return list(tags) if tags is not None else None

    def manifest(self, name: str, reference: str) -> Manifest | None:
        self.calls["manifest"] += 1
        return self.manifests.get(self.refs.get(name, {}).get(reference, reference))

    def small_blob(self, name: str, digest: str) -> bytes:
        return self.blobs[digest]

    def provenance(self, name: str, digest: str) -> list[Provenance]:
        self.calls["provenance"] += 1
        return []

    @contextlib.contextmanager
    def open_blob(self, name: str, digest: str, offset: int) -> Iterator[Iterator[bytes]]:
        self.calls["open"] += 1
        yield iter([self.blobs[digest][offset:]])


def _face(backend: MemoryBackend, clock: Clock, **options: object) -> V2Face:
    return V2Face(backend, ttl=5.0, walk_interval=30.0, clock=clock, **options)  # type: ignore[arg-type]


def test_an_unknown_id_walks_the_catalog_at_most_once_per_interval() -> None:
    backend, clock = MemoryBackend(), Clock()
    backend.add("team/app", "1", b"one")
    face = _face(backend, clock)
    assert face.image("0" * 64) is None
    assert backend.calls["catalog"] == 1
    assert face.image("1" * 64) is None  # inside the interval: no second walk
    assert backend.calls["catalog"] == 1
    backend.add("team/late", "1", b"late")
    late = _face(backend, Clock()).tags("team/late")
    assert late is not None
    assert face.image(late["1"]) is None  # still inside the interval
    clock.now += 31
    record = face.image(late["1"])  # the next walk finds it
    assert record is not None
    assert record.ancestry == [late["1"]]
    assert backend.calls["catalog"] == 2  # two walks; the fresh face read no catalog


def test_an_id_is_found_by_the_walk_then_from_the_index() -> None:
    backend, clock = MemoryBackend(), Clock()
    backend.add("team/app", "1", b"one")
    top = _face(backend, clock).tags("team/app")
    assert top is not None
    face = _face(backend, clock)  # a fresh face knows no id yet
    record = face.image(top["1"])
    assert record is not None
    assert backend.calls["catalog"] == 1
    manifests = backend.calls["manifest"]
    assert face.image(top["1"]) is not None
    assert backend.calls["manifest"] == manifests  # cached


def test_tags_are_cached_for_the_ttl_then_read_again() -> None:
    backend, clock = MemoryBackend(), Clock()
    backend.add("team/app", "1", b"one")
    face = _face(backend, clock)
    first = face.tags("team/app")
    backend.add("team/app", "1", b"retagged")
    assert face.tags("team/app") == first
    clock.now += 5.1
    again = face.tags("team/app")
    assert again is not None
    assert first is not None
    assert again["1"] != first["1"]


def test_fallback_tags_are_not_v1_tags() -> None:
    backend, clock = MemoryBackend(), Clock()
    backend.add("team/app", "1", b"one")
    backend.add("team/app", FALLBACK, b"an index, really")
    tags = _face(backend, clock).tags("team/app")
    assert tags is not None
    assert list(tags) == ["1"]


def test_a_prefix_maps_names_both_ways() -> None:
    backend, clock = MemoryBackend(), Clock()
    backend.add("mirror/team/app", "1", b"one")
    backend.add("mirror/solo", "1", b"solo")
    backend.add("elsewhere/x", "1", b"x")
    face = _face(backend, clock, prefix="mirror")
    assert face.tags("team/app") is not None
    assert face.tags("library/solo") is not None
    assert face.tags("elsewhere/x") is None
    assert face.search("", include_private=True) == ["library/solo", "team/app"]


def test_search_without_a_catalog_names_the_repositories_seen() -> None:
    backend, clock = MemoryBackend(), Clock()
    backend.add("team/app", "1", b"one")
    backend.add("team/other", "1", b"other")
    backend.catalog = False
    face = _face(backend, clock)
    assert face.search("team", include_private=True) == []
    face.tags("team/app")
    assert face.search("team", include_private=True) == ["team/app"]


def test_a_synthesized_layer_is_the_blob_as_is_with_ranges() -> None:
    backend, clock = MemoryBackend(), Clock()
    digest = backend.add("team/app", "1", b"x" * 5000)
    face = _face(backend, clock)
    tags = face.tags("team/app")
    assert tags is not None
    blob = face.layer(tags["1"])
    assert blob is not None
    assert blob.size == len(backend.blobs[digest])
    assert b"".join(iter_blob(blob)) == backend.blobs[digest]
    assert b"".join(iter_blob(blob, 10, 20)) == backend.blobs[digest][10:30]


def test_gunzip_gives_bounded_steps_and_reads_every_member() -> None:
    zeros = gzip.compress(bytes(8 << 20), compresslevel=9)
    sizes = [len(chunk) for chunk in gunzip([zeros])]
    assert sum(sizes) == 8 << 20
    assert max(sizes) <= INFLATE_STEP
    members = gzip.compress(b"one", mtime=0) + gzip.compress(b"two", mtime=0)
    halves = [members[:7], members[7:]]
    assert b"".join(gunzip(halves)) == b"onetwo"
    with pytest.raises(InflateError):
        list(gunzip([b"plain tar, not gzip"]))


def test_an_inflated_layer_streams_in_bounded_memory_from_any_offset() -> None:
    size = 64 << 20
    compressed = gzip.compress(bytes(size), compresslevel=6)

    @contextlib.contextmanager
    def source(offset: int) -> Iterator[Iterator[bytes]]:
        assert offset == 0  # a compressed stream is read from its start
        yield (compressed[i : i + 65536] for i in range(0, len(compressed), 65536))

    blob = StreamedBlob(size, lambda offset: inflated(source, offset))
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in iter_blob(blob))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 8 << 20  # a few steps' worth, not the layer
    tail = b"".join(iter_blob(blob, size - 10, 10))
    assert tail == bytes(10)


def test_the_route_s_chunk_stream_is_bounded_too_and_cut_to_its_length() -> None:
    """What the layer route sends (``chunks``, consumed on the event loop): the same
    bytes as the reader, a few read-ahead steps held at most."""
    size = 64 << 20
    compressed = gzip.compress(bytes(size), compresslevel=6)

    @contextlib.contextmanager
    def source(offset: int) -> Iterator[Iterator[bytes]]:
        yield (compressed[i : i + 65536] for i in range(0, len(compressed), 65536))

    blob = StreamedBlob(size, lambda offset: inflated(source, offset))

    async def count(start: int, length: int) -> tuple[int, bytes]:
        total, last = 0, b""
        async for chunk in blob.chunks(start, length):
            total, last = total + len(chunk), chunk
        return total, last

    tracemalloc.start()
    try:
        total, _ = asyncio.run(count(0, size))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 8 << 20
    assert asyncio.run(count(size - 10, 10)) == (10, bytes(10))


def test_a_layer_stream_left_early_releases_the_backend_in_its_thread() -> None:
    """A client that leaves mid-layer: the route's stream is closed, and the backend's
    response is released by the thread that reads it, at once."""
    released: list[str] = []

    @contextlib.contextmanager
    def endless(offset: int) -> Iterator[Iterator[bytes]]:
        try:
            yield iter(lambda: b"x" * 65536, b"")
        finally:
            released.append(threading.current_thread().name)

    blob = StreamedBlob(1 << 40, endless)

    async def take_one() -> bytes:
        stream = blob.chunks(0, 1 << 40)
        first = await anext(stream)
        await stream.aclose()
        return first

    assert asyncio.run(take_one()) == b"x" * 65536
    deadline = time.monotonic() + 10
    while not released:
        assert time.monotonic() < deadline, "the backend's stream outlived the client"
        time.sleep(0.01)
    assert released == ["regv1-face-layer"]


class BrokenBackend(MemoryBackend):
    """Lists tags, then cannot reach the registry for anything else; its layers break off."""

    def manifest(self, name: str, reference: str) -> Manifest | None:
        if name == "team/down":
            raise RegistryConnectionError("GET", "http://v2.invalid/v2/", "connection refused")
        return super().manifest(name, reference)

    @contextlib.contextmanager
    def open_blob(self, name: str, digest: str, offset: int) -> Iterator[Iterator[bytes]]:
        def chunks() -> Iterator[bytes]:
            yield self.blobs[digest][offset : offset + 100]
            raise RegistryConnectionError("GET", "http://v2.invalid/v2/", "reset by peer")

        yield chunks()


def test_a_failing_backend_is_a_502_with_the_reason_and_a_broken_layer_a_cut() -> None:
    backend = BrokenBackend()
    backend.add("team/down", "1", b"unreachable")
    backend.add("team/app", "1", b"y" * 20_000)
    face = V2Face(backend)
    with run_standalone(storage=face) as served:
        down = httpx.get(f"{served.url}/v1/repositories/team/down/tags")
        assert down.status_code == 502
        assert "connection refused" in down.json()["error"]
        assert down.json()["error"].startswith("memory: ")
        top = httpx.get(f"{served.url}/v1/repositories/team/app/tags").json()["1"]
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{served.url}/v1/images/{top}/layer")
        assert httpx.get(f"{served.url}/v1/images/{top}/json").status_code == 200


class AttestedBackend(MemoryBackend):
    """Every manifest has one provenance record, naming ``layer`` as its blob."""

    layer = ""

    def provenance(self, name: str, digest: str) -> list[Provenance]:
        blob = self.blobs[self.layer]
        image = Image(
            "f" * 64,
            b'{"id":"' + b"f" * 64 + b'"}',
            ("sha256:" + "0" * 64,),
            Layer(Compression.GZIP, Stored.AS_IS, len(blob), self.layer, "sha256:" + "1" * 64),
        )
        return [Provenance(Source("http://old.example", name, "1"), (image,))]


def test_provenance_is_used_only_when_it_names_the_manifest_s_layers() -> None:
    backend = AttestedBackend()
    backend.layer = backend.add("team/app", "1", b"one")
    assert V2Face(backend).tags("team/app") == {"1": "f" * 64}
    backend.add("team/moved", "1", b"re-pushed with another layer")
    tags = V2Face(backend).tags("team/moved")
    assert tags is not None
    assert tags["1"] != "f" * 64  # synthesized: the record describes another image


@pytest.mark.parametrize(
    ("compression", "stored", "serve", "checksum", "size"),
    [
        (Compression.GZIP, Stored.AS_IS, Serve.AS_IS, True, 10),
        (Compression.NONE, Stored.GZIP, Serve.INFLATE, True, 10),
        (Compression.XZ, Stored.RECOMPRESSED, Serve.INFLATE, False, 10),
        (Compression.NONE, Stored.EMPTY, Serve.ZEROS, True, 10),
        (Compression.GZIP, Stored.EMPTY, Serve.ZEROS, False, 1024),
    ],
)
def test_how_each_stored_layer_is_served(
    compression: Compression, stored: Stored, serve: Serve, checksum: bool, size: int
) -> None:
    empty = stored is Stored.EMPTY
    layer = Layer(
        compression,
        stored,
        10,
        None if empty else "sha256:" + "2" * 64,
        None if empty else "sha256:" + "3" * 64,
    )
    image = Image("e" * 64, b"{}", ("tarsum+sha256:" + "4" * 64, "sha256:" + "5" * 64), layer)
    record = Provenance(Source("http://old.example", "team/app", "1"), (image,))
    (served,) = provenance_chain("team/app", "sha256:" + "6" * 64, record).images
    assert served.serve is serve
    assert served.checksum == ("sha256:" + "5" * 64 if checksum else None)
    assert served.size == size


def test_a_manifest_s_chain_outlives_the_tag_ttl() -> None:
    backend, clock = MemoryBackend(), Clock()
    backend.add("team/app", "1", b"one")
    face = V2Face(backend, ttl=5.0, chain_ttl=60.0, clock=clock)
    first = face.tags("team/app")
    asked = backend.calls["provenance"], backend.calls["manifest"]
    clock.now += 6
    assert face.tags("team/app") == first
    assert backend.calls["provenance"] == asked[0]  # the same digest: its chain is kept
    assert backend.calls["manifest"] > asked[1]  # the tag was read again
    clock.now += 60
    assert face.tags("team/app") == first
    assert backend.calls["provenance"] > asked[0]  # late provenance would show now
