"""Refused cross-repository mounts fall back to uploads and are remembered.

Against a real distribution: in token mode whose issuer will not grant pull on the
repository a mount would borrow from (distribution answers 401 with a challenge
for the ``from`` scope), and behind a transport that answers mount POSTs itself
with 403, or with a real upload session (202) opened without the mount. The async copy
runs the same code in a worker thread, so it is checked against the token registry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import anyio
import httpx
import pytest
from docker_registry_v1 import AsyncClient, BasicAuth, Client
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1.oci.client import AsyncOCIClient, OCIClient
from docker_registry_v1.transfer.copy import BlobCache, CopyResult, acopy, copy
from mountproxy import MountRefusingTransport
from test_copy import run_skopeo
from v2registry import PASSWORD, USER, V2Registry

_MOUNT_URI = re.compile(
    r'http\.request\.uri="/v2/[^"?]+/blobs/uploads/\?mount=[^"&]+&from=(?P<source>[^"&]+)"'
)


def seed(standalone: Standalone, repo: str, number: int) -> None:
    standalone.store.seed(repo, "1.0", build_image_chain(3, seed=number, layer_size=120_000))


def log_size(registry: V2Registry) -> int:
    return len(registry.log_path.read_text(errors="replace").splitlines())


def mounts(registry: V2Registry, since: int, until: int | None = None) -> list[tuple[str, int]]:
    """(``from`` repository, answer) of each mount request in distribution's log lines
    ``since:until``. A request its token did not cover is logged only as the warning
    ``error authorizing context: insufficient scope`` (it answered 401)."""
    lines = registry.log_path.read_text(errors="replace").splitlines()[since:until]
    found: dict[str, tuple[str, int]] = {}
    for line in lines:
        uri = _MOUNT_URI.search(line)
        request = re.search(r"http\.request\.id=(\S+)", line)
        if uri is None or request is None:
            continue
        if "insufficient scope" in line:
            found[request.group(1)] = (unquote(uri.group("source")), 401)
        elif "response completed" in line:
            status = re.search(r"http\.response\.status=(\d+)", line)
            assert status is not None, line
            found[request.group(1)] = (unquote(uri.group("source")), int(status.group(1)))
    return list(found.values())


def inspect(registry: V2Registry, name: str) -> dict[str, object]:
    creds = [] if registry.credentials is None else ["--creds", f"{USER}:{PASSWORD}"]
    found: dict[str, object] = json.loads(
        run_skopeo("inspect", "--tls-verify=false", *creds, f"docker://{registry.host}/{name}")
    )
    return found


@pytest.fixture
def pull_rules(v2_token: V2Registry) -> Iterator[dict[str, set[str]]]:
    """The session token registry's issuer rules, emptied again after the test."""
    assert v2_token.issuer is not None
    yield v2_token.issuer.rules
    v2_token.issuer.rules.clear()


def test_a_mount_the_token_does_not_cover_falls_back_to_an_upload_and_is_not_asked_again(
    standalone: Standalone, v2_token: V2Registry, pull_rules: dict[str, set[str]], tmp_path: Path
) -> None:
    seed(standalone, "acme/nopull", 71)
    cache = BlobCache(tmp_path / "cache.sqlite")
    with (
        Client(standalone.url) as source,
        OCIClient(v2_token.url, auth=BasicAuth(USER, PASSWORD)) as dest,
    ):
        first = copy(
            source,
            "acme/nopull",
            "1.0",
            dest,
            dest_repo="refuse/one",
            cache=cache,
            provenance=False,
        )
        pull_rules["refuse/one"] = {"push"}  # nobody may read refuse/one from now on
        before = log_size(v2_token)
        second = copy(
            source,
            "acme/nopull",
            "1.0",
            dest,
            dest_repo="refuse/two",
            cache=cache,
            provenance=False,
        )
        middle = log_size(v2_token)
        third = copy(
            source,
            "acme/nopull",
            "1.0",
            dest,
            dest_repo="refuse/three",
            cache=cache,
            provenance=False,
        )
    layers = sorted(first.layers)
    # The second copy asked refuse/one once per layer, was refused (401), and uploaded.
    assert mounts(v2_token, before, middle) == [("refuse/one", 401)] * len(layers)
    assert sorted(second.uploaded) == layers
    assert second.mounted == ()
    lines = v2_token.log_path.read_text().splitlines()[before:middle]
    patches = [line for line in lines if "response completed" in line and "method=PATCH" in line]
    assert len(patches) == len(layers)
    for digest in layers:
        assert cache.refused_sources(digest, dest.base_url, "refuse/two") == {"refuse/one"}
    # The third copy never asks refuse/one again: it mounts from refuse/two.
    assert mounts(v2_token, middle) == [("refuse/two", 201)] * len(layers)
    assert sorted(third.mounted) == layers
    assert third.uploaded == ()
    for name, result in (("refuse/two", second), ("refuse/three", third)):
        inspected = inspect(v2_token, f"{name}:1.0")
        assert inspected["Digest"] == result.digest
        assert inspected["Layers"] == list(first.layers)


@pytest.mark.parametrize("answer", [403, 202])
def test_a_refused_mount_uploads_into_the_same_repository_and_a_rerun_does_not_ask_again(
    standalone: Standalone, v2_open: V2Registry, tmp_path: Path, answer: int
) -> None:
    repo, one, two = f"acme/proxied{answer}", f"proxy{answer}/one", f"proxy{answer}/two"
    seed(standalone, repo, answer)
    cache = BlobCache(tmp_path / "cache.sqlite")
    transport = MountRefusingTransport(answer)
    with Client(standalone.url) as source, OCIClient(v2_open.url, transport=transport) as dest:
        first = copy(source, repo, "1.0", dest, dest_repo=one, cache=cache, provenance=False)
        second = copy(source, repo, "1.0", dest, dest_repo=two, cache=cache, provenance=False)
    layers = sorted(first.layers)
    mounts = transport.requests("POST", "mount=")
    assert len(mounts) == len(layers)
    assert all(f"from=proxy{answer}%2Fone" in url for url in mounts)
    assert sorted(second.uploaded) == layers
    assert second.mounted == ()
    into_two = transport.requests("POST", f"/v2/{two}/blobs/uploads/")
    plain_posts = [url for url in into_two if "mount=" not in url]
    # 403: every layer and the config POST a session; 202: the mount's session is used.
    assert len(plain_posts) == (len(layers) + 1 if answer == 403 else 1)
    assert len(transport.requests("PATCH", f"/v2/{two}/")) == len(layers)
    assert transport.requests("DELETE", f"/v2/{two}/blobs/uploads/") == []
    assert inspect(v2_open, f"{two}:1.0")["Digest"] == second.digest

    # The blobs vanish from proxy/two (garbage collection, a cleanup): the rerun
    # uploads them again without asking proxy/one, which refused them.
    with httpx.Client(base_url=v2_open.url) as http:
        for digest in layers:
            assert http.delete(f"/v2/{two}/blobs/{digest}").status_code == 202
    before = len(transport.seen)
    with Client(standalone.url) as source, OCIClient(v2_open.url, transport=transport) as dest:
        again = copy(source, repo, "1.0", dest, dest_repo=two, cache=cache, provenance=False)
    rerun = [url for method, url in transport.seen[before:] if method == "POST"]
    assert not [url for url in rerun if "mount=" in url]
    assert sorted(again.uploaded) == layers
    assert inspect(v2_open, f"{two}:1.0")["Digest"] == second.digest


def test_the_async_copy_falls_back_to_an_upload_when_the_token_does_not_cover_a_mount(
    standalone: Standalone, v2_token: V2Registry, pull_rules: dict[str, set[str]], tmp_path: Path
) -> None:
    """``acopy`` runs the sync copy on twins of its clients: the twin of the destination
    shares its login and token cache, and the refusal lands in the same blob cache."""
    seed(standalone, "acme/asyncnopull", 74)
    cache = tmp_path / "cache.sqlite"

    def copy_into(dest_repo: str) -> tuple[CopyResult, str]:
        async def main() -> tuple[CopyResult, str]:
            async with (
                AsyncClient(standalone.url) as source,
                AsyncOCIClient(v2_token.url, auth=BasicAuth(USER, PASSWORD)) as dest,
            ):
                copied = await acopy(
                    source, "acme/asyncnopull", "1.0", dest, dest_repo=dest_repo, cache=cache
                )
                # the copy's twin shared the login's token cache: the async client's own
                # HEAD of the manifest (pull scope, as the copy's last check) asks for none
                assert v2_token.issuer is not None
                issued = len(v2_token.issuer.requests)
                assert await dest.manifest_digest(dest_repo, "1.0") == copied.digest
                assert len(v2_token.issuer.requests) == issued
                return copied, dest.base_url

        return anyio.run(main)

    first, _ = copy_into("arefuse/one")
    pull_rules["arefuse/one"] = {"push"}  # nobody may read arefuse/one from now on
    before = log_size(v2_token)
    second, registry = copy_into("arefuse/two")
    layers = sorted(first.layers)
    assert sorted(first.uploaded) == layers
    assert mounts(v2_token, before) == [("arefuse/one", 401)] * len(layers)
    assert sorted(second.uploaded) == layers
    assert second.mounted == ()
    known = BlobCache(cache)
    try:
        for digest in layers:
            assert known.refused_sources(digest, registry, "arefuse/two") == {"arefuse/one"}
    finally:
        known.close()
    assert inspect(v2_token, "arefuse/two:1.0")["Digest"] == second.digest
