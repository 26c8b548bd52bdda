"""The real v2 registry fixtures work in each auth mode, checked with raw httpx and skopeo."""

from __future__ import annotations

import base64
import gzip
import io
import json
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import httpx
import ports
import pytest
import v2registry
from system_tools import require_tool
from v2registry import ISSUER, PASSWORD, SERVICE, USER, V2Registry
from v2wire import (
    challenge,
    fetch_token,
    manifest_bytes,
    open_client,
    push_blob,
    push_manifest,
    sha256,
)


def gzip_layer(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def image_config(layers: list[bytes]) -> bytes:
    diff_ids = [sha256(gzip.decompress(layer)) for layer in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "test"} for _ in layers],
    }
    return json.dumps(config).encode()


def push_image(registry: V2Registry, name: str, tag: str) -> tuple[bytes, list[bytes]]:
    layers = [gzip_layer({"etc/hello": f"{name}:{tag}\n".encode()})]
    config = image_config(layers)
    manifest = manifest_bytes(config, layers)
    with open_client(registry, name) as client:
        for blob in (config, *layers):
            push_blob(client, name, blob)
        answer = push_manifest(client, name, tag, manifest)
    assert answer.status_code == 201, answer.text
    assert answer.headers["Docker-Content-Digest"] == sha256(manifest)
    return manifest, layers


def test_base_endpoint_challenges_as_the_mode_says(v2_any: V2Registry) -> None:
    anonymous = httpx.get(f"{v2_any.url}/v2/")
    if v2_any.mode == "none":
        assert anonymous.status_code == 200
        assert anonymous.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
        return
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
    scheme, params = challenge(anonymous)
    if v2_any.mode == "htpasswd":
        assert (scheme, params) == ("Basic", {"realm": "v2-test"})
    else:
        assert v2_any.issuer is not None
        assert (scheme, params) == ("Bearer", {"realm": v2_any.issuer.url, "service": SERVICE})
    with open_client(v2_any, "probe/base") as client:
        assert client.get("/v2/").status_code == 200


def test_basic_mode_refuses_a_wrong_password(v2_basic: V2Registry) -> None:
    assert httpx.get(f"{v2_basic.url}/v2/", auth=(USER, PASSWORD + "x")).status_code == 401
    assert httpx.get(f"{v2_basic.url}/v2/", auth=(USER, PASSWORD)).status_code == 200


def test_token_issuer_signs_what_distribution_accepts(v2_token: V2Registry) -> None:
    assert v2_token.issuer is not None
    scheme, params = challenge(httpx.get(f"{v2_token.url}/v2/"))
    refused = httpx.get(params["realm"], params={"service": SERVICE}, auth=(USER, "wrong"))
    assert refused.status_code == 401

    # An anonymous token carries no access: the registry asks for the push scope.
    anonymous = httpx.get(
        params["realm"], params={"service": SERVICE, "scope": "repository:t/anon:pull,push"}
    ).json()["token"]
    denied = httpx.post(
        f"{v2_token.url}/v2/t/anon/blobs/uploads/",
        headers={"Authorization": f"Bearer {anonymous}"},
    )
    assert denied.status_code == 401
    scheme, params = challenge(denied)
    assert scheme == "Bearer"
    name, _, actions = params["scope"].rpartition(":")
    assert (name, sorted(actions.split(","))) == ("repository:t/anon", ["pull", "push"])
    assert params["error"] == "insufficient_scope"

    token = fetch_token(v2_token, ["repository:t/granted:pull,push"])
    claims = json.loads(_b64(token.split(".")[1]))
    assert claims["iss"] == ISSUER
    assert claims["aud"] == SERVICE
    assert claims["access"] == [
        {"type": "repository", "name": "t/granted", "actions": ["pull", "push"]}
    ]
    assert v2_token.issuer.requests[-1]["scope"] == ["repository:t/granted:pull,push"]
    started = httpx.post(
        f"{v2_token.url}/v2/t/granted/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert started.status_code == 202


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_short_lived_tokens_expire_when_they_say(short_tokens: V2Registry) -> None:
    token = fetch_token(short_tokens, ["repository:t/short:pull"])
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{short_tokens.url}/v2/t/short/tags/list"
    assert httpx.get(url, headers=headers).status_code == 404  # authorised; no such repository
    time.sleep(3.5)
    expired = httpx.get(url, headers=headers)
    assert expired.status_code == 401
    assert challenge(expired)[0] == "Bearer"


def test_image_upload_manifest_and_tags(v2_any: V2Registry) -> None:
    name = f"fixtures/{v2_any.mode}/app"
    manifest, layers = push_image(v2_any, name, "1.0")
    push_image(v2_any, name, "2.0")
    with open_client(v2_any, name) as client:
        tags = client.get(f"/v2/{name}/tags/list")
        assert tags.json()["name"] == name
        assert sorted(tags.json()["tags"]) == ["1.0", "2.0"]  # distribution does not sort
        head = client.head(
            f"/v2/{name}/manifests/1.0",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        assert head.headers["Docker-Content-Digest"] == sha256(manifest)
        blob = client.get(f"/v2/{name}/blobs/{sha256(layers[0])}")
        assert blob.content == layers[0]
        # A digest that does not match the bytes is refused.
        started = client.post(f"/v2/{name}/blobs/uploads/")
        wrong = client.put(
            started.headers["Location"] + "&digest=" + sha256(b"other"), content=b"bytes"
        )
        assert wrong.status_code == 400
        assert wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_request_log_names_every_completed_upload(v2_open: V2Registry) -> None:
    name = "fixtures/log/app"
    before = len(v2_open.log_lines())
    push_image(v2_open, name, "1.0")
    lines = v2_open.log_lines()[before:]
    completed = [
        line
        for line in lines
        if "http.request.method=PUT" in line
        and f'http.request.uri="/v2/{name}/blobs/uploads/' in line
        and "http.response.status=201" in line
    ]
    assert len(completed) == 2  # the config and the layer


def test_skopeo_inspects_the_pushed_image(v2_any: V2Registry) -> None:
    skopeo = require_tool("skopeo")
    name = f"fixtures/{v2_any.mode}/inspected"
    manifest, layers = push_image(v2_any, name, "latest")
    creds = [] if v2_any.credentials is None else ["--creds", ":".join(v2_any.credentials)]
    done = subprocess.run(
        [
            skopeo,
            "inspect",
            "--tls-verify=false",
            *creds,
            f"docker://{v2_any.host}/{name}:latest",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    inspected = json.loads(done.stdout)
    assert inspected["Digest"] == sha256(manifest)
    assert inspected["Layers"] == [sha256(layer) for layer in layers]
    assert inspected["Architecture"] == "amd64"


@pytest.mark.parametrize("name", ["Bad", "team/App", "a..b"])
def test_names_outside_the_grammar_match_no_route(v2_open: V2Registry, name: str) -> None:
    answer = httpx.get(f"{v2_open.url}/v2/{name}/tags/list")
    assert answer.status_code == 404
    assert answer.text.strip() == "404 page not found"


def test_a_registry_whose_port_is_taken_starts_again_on_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Another process (another xdist worker) may bind the port between the pick and the
    registry's own bind: the registry is started again on a fresh port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        picks = iter([busy, ports.unused_port()])
        monkeypatch.setattr(v2registry, "unused_port", lambda: next(picks))
        with v2registry.run_registry("none", tmp_path) as registry:
            assert registry.port != busy
            assert httpx.get(f"{registry.url}/v2/").status_code == 200
