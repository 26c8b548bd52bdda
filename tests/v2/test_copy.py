"""`transfer.copy`: a v1 image from the emulator into a real distribution 2.8, streamed."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
from pathlib import Path

import anyio
import httpx
import pytest
from docker_registry_v1 import AsyncClient, BasicAuth, Client, InvalidInput
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.oci.client import AsyncOCIClient, OCIClient
from docker_registry_v1.oci.errors import NotAV2Registry
from docker_registry_v1.transfer.copy import BlobCache, CopyResult, acopy, copy
from system_tools import require_tool
from v2registry import PASSWORD, USER, V2Registry


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def plain(layer: bytes) -> bytes:
    return gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer


@pytest.fixture(params=["v2_open", "v2_basic"])
def v2(request: pytest.FixtureRequest) -> V2Registry:
    registry: V2Registry = request.getfixturevalue(request.param)
    return registry


def dest_for(registry: V2Registry) -> OCIClient:
    auth = None if registry.credentials is None else BasicAuth(USER, PASSWORD)
    return OCIClient(registry.url, auth=auth)


def seed(
    standalone: Standalone, repo: str, number: int, *, gzipped: bool = False
) -> list[SeedImage]:
    chain = build_image_chain(4, seed=number, layer_size=200_000, gzip=gzipped)
    standalone.store.seed(repo, "1.0", chain)
    return chain


def writes(registry: V2Registry, since: int, until: int | None = None) -> list[str]:
    """Request-log lines of requests that upload or tag (POST, PATCH, PUT)."""
    methods = ("method=POST", "method=PATCH", "method=PUT")
    lines = registry.log_lines()[since:until]
    return [line for line in lines if any(method in line for method in methods)]


def run_skopeo(*args: str) -> str:
    done = subprocess.run(
        [require_tool("skopeo"), "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_copy_is_read_back_by_skopeo_and_a_second_copy_uploads_nothing(
    standalone: Standalone, v2: V2Registry, tmp_path: Path
) -> None:
    chain = seed(standalone, "acme/app", 31)
    name = f"copy/{v2.mode}/app"
    cache = BlobCache(tmp_path / "cache.sqlite")
    with Client(standalone.url) as source, dest_for(v2) as dest:
        start = len(v2.log_lines())
        first = copy(source, "acme/app", "1.0", dest, dest_repo=name, cache=cache)
        before = len(v2.log_lines())
        second = copy(source, "acme/app", "1.0", dest, dest_repo=name, cache=cache)
    assert len(first.uploaded) == len(chain)
    assert first.skipped == ()
    assert second.uploaded == ()
    assert sorted(second.skipped) == sorted(first.layers)
    assert second.bytes_transferred == 0
    assert second.digest == first.digest
    assert len(writes(v2, start, before)) >= 3 * len(chain) + 1  # sessions, bytes, commits, tag
    assert writes(v2, before) == []

    creds = [] if v2.credentials is None else ["--creds", ":".join(v2.credentials)]
    reference = f"docker://{v2.host}/{name}:1.0"
    inspected = json.loads(run_skopeo("inspect", "--tls-verify=false", *creds, reference))
    assert inspected["Digest"] == first.digest
    assert inspected["Layers"] == list(first.layers)
    layout = tmp_path / "layout"
    src_creds = [] if v2.credentials is None else ["--src-creds", ":".join(v2.credentials)]
    run_skopeo("copy", "--src-tls-verify=false", *src_creds, reference, f"oci:{layout}:1.0")
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]))
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    layers = [plain(blob(layout, d["digest"])) for d in manifest["layers"]]
    assert [sha256(layer) for layer in layers] == config["rootfs"]["diff_ids"]
    assert layers == [plain(image.layer_bytes) for image in chain]


def blob(layout: Path, digest: str) -> bytes:
    algorithm, _, hexdigest = digest.partition(":")
    return (layout / "blobs" / algorithm / hexdigest).read_bytes()


def test_gzip_v1_layers_go_up_unchanged(
    standalone: Standalone, v2_open: V2Registry, tmp_path: Path
) -> None:
    chain = seed(standalone, "acme/gz", 32, gzipped=True)
    with Client(standalone.url) as source, dest_for(v2_open) as dest:
        done = copy(source, "acme/gz", "1.0", dest, cache=tmp_path / "c.sqlite")
    assert list(done.layers) == [sha256(image.layer_bytes) for image in chain]
    assert done.repository == "acme/gz"


def test_a_destination_that_is_not_a_v2_registry(standalone: Standalone, tmp_path: Path) -> None:
    seed(standalone, "acme/v1only", 33)
    with (
        Client(standalone.url) as source,
        OCIClient(standalone.url) as dest,
        pytest.raises(NotAV2Registry, match="not an OCI/v2 registry"),
    ):
        copy(source, "acme/v1only", "1.0", dest, cache=tmp_path / "c.sqlite")


def test_the_async_copy_gives_the_same_image_and_skips_the_second_time(
    standalone: Standalone, v2_basic: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "acme/async", 34)
    cache = BlobCache(tmp_path / "cache.sqlite")
    with Client(standalone.url) as source, dest_for(v2_basic) as dest:
        synced = copy(source, "acme/async", "1.0", dest, dest_repo="copy/sync", cache=cache)

    async def main() -> tuple[CopyResult, CopyResult]:
        async with (
            AsyncClient(standalone.url) as source,
            AsyncOCIClient(v2_basic.url, auth=BasicAuth(USER, PASSWORD)) as dest,
        ):
            fresh = await acopy(
                source, "acme/async", "1.0", dest, dest_repo="copy/async", cache=tmp_path / "a.db"
            )
            again = await acopy(
                source, "acme/async", "1.0", dest, dest_repo="copy/async", cache=tmp_path / "a.db"
            )
            return fresh, again

    fresh, again = anyio.run(main)
    assert fresh.digest == synced.digest
    assert len(fresh.uploaded) == 4
    assert again.uploaded == ()
    assert again.bytes_transferred == 0


def test_a_copy_into_another_repository_mounts_the_blobs_instead_of_sending_them(
    standalone: Standalone, v2_open: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "acme/shared", 35)
    cache = BlobCache(tmp_path / "cache.sqlite")
    with Client(standalone.url) as source, dest_for(v2_open) as dest:
        first = copy(source, "acme/shared", "1.0", dest, dest_repo="mount/one", cache=cache)
        before = len(v2_open.log_lines())
        second = copy(source, "acme/shared", "1.0", dest, dest_repo="mount/two", cache=cache)
        assert dest.manifest_digest("mount/two", "1.0") == first.digest
    assert second.uploaded == ()
    assert sorted(second.mounted) == sorted(first.layers)
    assert second.bytes_transferred == 0
    lines = v2_open.log_lines()[before:]
    assert not [line for line in lines if "method=PATCH" in line]
    assert len([line for line in lines if "mount=" in line]) == len(first.layers)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"dest_repo": "Team/App"}, "name"),
        ({"dest_tag": "bad tag"}, "reference"),
        ({"level": 9}, "level"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
def test_bad_arguments_fail_before_the_wire(
    arguments: dict[str, object], field: str, tmp_path: Path
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"sent {request.url}")

    transport = httpx.MockTransport(refuse)
    with (
        Client("http://v1.test", transport=transport) as source,
        OCIClient("http://v2.test", transport=transport) as dest,
        pytest.raises(InvalidInput) as caught,
    ):
        copy(source, "acme/app", "1.0", dest, cache=tmp_path / "c.db", **arguments)  # type: ignore[arg-type]
    assert caught.value.field == field
