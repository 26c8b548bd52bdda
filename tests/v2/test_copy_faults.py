"""`transfer.copy` under faults: a source that drops mid-layer, destination 5xx bursts, a
manifest the registry rejects, and a re-run after a crash (real distribution 2.8)."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import httpx
import pytest
from docker_registry_v1 import Client, RetryPolicy
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.oci.client import OCIClient
from docker_registry_v1.oci.errors import ManifestBlobUnknown, NameUnknown
from docker_registry_v1.transfer.copy import BlobCache, copy
from v2registry import V2Registry

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, jitter=0)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def seed(standalone: Standalone, repo: str, number: int) -> list[SeedImage]:
    chain = build_image_chain(4, seed=number, layer_size=300_000)
    standalone.store.seed(repo, "1.0", chain)
    return chain


class Burst(httpx.BaseTransport):
    """The real transport to the registry, except that the first `times` requests
    matching `method` and `fragment` get a 503 with the spec's error body."""

    def __init__(self, method: str, fragment: str, times: int) -> None:
        self._real = httpx.HTTPTransport()
        self._method, self._fragment, self.left = method, fragment, times
        self.injected = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            hit = (
                request.method == self._method
                and self._fragment in request.url.path
                and self.left > 0
            )
            if hit:
                self.left -= 1
                self.injected += 1
        if hit:
            request.read()
            return httpx.Response(
                503, json={"errors": [{"code": "UNAVAILABLE", "message": "burst"}]}
            )
        return self._real.handle_request(request)

    def close(self) -> None:
        self._real.close()


def test_the_source_dropping_mid_layer_resumes(
    standalone: Standalone, v2_open: V2Registry, tmp_path: Path
) -> None:
    chain = seed(standalone, "faults/drop", 51)
    rule = standalone.faults.drop_after("/v1/images/*/layer", 100_000, times=2)
    with Client(standalone.url) as source, OCIClient(v2_open.url, retry=FAST) as dest:
        done = copy(source, "faults/drop", "1.0", dest, retry=FAST, cache=tmp_path / "c.sqlite")
        assert rule.hits == 2
        # A clean copy elsewhere gives the same blobs: the resumed reads lost no byte.
        clean = copy(
            source, "faults/drop", "1.0", dest, dest_repo="faults/clean", cache=tmp_path / "d.db"
        )
    assert len(done.uploaded) == len(chain)
    assert clean.layers == done.layers
    assert clean.digest == done.digest


def test_a_source_restarting_from_zero_restarts_the_upload_cleanly(
    standalone: Standalone, v2_open: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "faults/restart", 55)
    standalone.faults.drop_after("/v1/images/*/layer", 120_000, times=1)
    ignored = standalone.faults.ignore_range("/v1/images/*/layer", times=None)
    with Client(standalone.url) as source, OCIClient(v2_open.url, retry=FAST) as dest:
        done = copy(
            source,
            "faults/restart",
            "1.0",
            dest,
            retry=FAST,
            concurrency=1,
            cache=tmp_path / "c.db",
        )
        clean = copy(
            source,
            "faults/restart",
            "1.0",
            dest,
            dest_repo="faults/clean2",
            cache=tmp_path / "d.db",
        )
    assert ignored.hits > len(done.layers)  # the resume was answered from byte 0
    assert clean.layers == done.layers


@pytest.mark.parametrize(
    ("method", "fragment"),
    [
        ("HEAD", "/blobs/"),
        ("POST", "/blobs/uploads/"),
        ("PATCH", "/blobs/uploads/"),
        ("PUT", "/manifests/"),
    ],
)
def test_destination_5xx_bursts_are_retried(
    standalone: Standalone, v2_open: V2Registry, tmp_path: Path, method: str, fragment: str
) -> None:
    seed(standalone, f"faults/burst{method.lower()}", 52)
    transport = Burst(method, fragment, times=2)
    name = f"faults/burst{method.lower()}"
    with (
        Client(standalone.url) as source,
        OCIClient(v2_open.url, retry=FAST, transport=transport) as dest,
    ):
        done = copy(source, name, "1.0", dest, retry=FAST, cache=tmp_path / "c.sqlite")
        assert dest.manifest_digest(name, "1.0") == done.digest
    assert transport.injected == 2


class UnknownConfig(httpx.BaseTransport):
    """The real transport, but the manifest PUT names a config blob nobody uploaded,
    so distribution itself rejects it."""

    def __init__(self) -> None:
        self._real = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and "/manifests/" in request.url.path:
            manifest = json.loads(request.read())
            manifest["config"]["digest"] = sha256(b"never uploaded")
            request = httpx.Request(
                "PUT",
                request.url,
                headers={"Content-Type": request.headers["Content-Type"]},
                content=json.dumps(manifest).encode(),
            )
        return self._real.handle_request(request)


def test_a_rejected_manifest_is_a_typed_error_and_nothing_is_tagged(
    standalone: Standalone, v2_open: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "faults/reject", 53)
    with (
        Client(standalone.url) as source,
        OCIClient(v2_open.url, transport=UnknownConfig()) as dest,
        pytest.raises(ManifestBlobUnknown, match=r"manifest faults/reject:1\.0") as caught,
    ):
        copy(source, "faults/reject", "1.0", dest, cache=tmp_path / "c.sqlite")
    assert caught.value.error_code == "MANIFEST_BLOB_UNKNOWN"
    with OCIClient(v2_open.url) as dest:
        assert dest.manifest_digest("faults/reject", "1.0") is None


def test_a_re_run_after_a_crash_sends_only_what_is_missing(
    standalone: Standalone, v2_open: V2Registry, tmp_path: Path
) -> None:
    chain = seed(standalone, "faults/crash", 54)
    # The top layer's GET fails for good: the copy dies after the others went up.
    top = chain[-1].id
    rule = standalone.faults.error(f"/v1/images/{top}/layer", 500, times=None)
    cache = BlobCache(tmp_path / "c.sqlite")
    with Client(standalone.url) as source, OCIClient(v2_open.url, retry=FAST) as dest:
        with pytest.raises(Exception, match="500"):
            copy(source, "faults/crash", "1.0", dest, retry=FAST, concurrency=1, cache=cache)
        with pytest.raises(NameUnknown):
            list(dest.tags("faults/crash"))  # nothing was tagged
        standalone.faults.clear()
        assert rule.hits > 0
        again = copy(source, "faults/crash", "1.0", dest, retry=FAST, cache=cache)
    assert len(again.uploaded) == 1
    assert len(again.skipped) == len(chain) - 1
    assert again.layers[-1] == again.uploaded[0]
