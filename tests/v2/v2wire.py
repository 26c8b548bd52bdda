"""Raw-httpx steps of the v2 protocol, for tests that must not depend on the client under test.

`open_client` authenticates the way each mode wants (Basic, or the Bearer
challenge → token endpoint round trip over HTTP); the push helpers follow
upload `Location`s exactly as given, appending ``digest`` to their query.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

import httpx
from v2registry import PASSWORD, USER, V2Registry

SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
SCHEMA2_CONFIG = "application/vnd.docker.container.image.v1+json"
SCHEMA2_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """Scheme and parameters of a 401's ``WWW-Authenticate``."""
    header = response.headers["WWW-Authenticate"]
    scheme, _, rest = header.partition(" ")
    return scheme, dict(_CHALLENGE_PARAM.findall(rest))


def fetch_token(registry: V2Registry, scopes: Iterable[str]) -> str:
    """Distribution's token flow: the registry's challenge names realm and service."""
    scheme, params = challenge(httpx.get(f"{registry.url}/v2/", verify=registry.verify))
    assert scheme == "Bearer", scheme
    answer = httpx.get(
        params["realm"],
        params=[("service", params["service"]), *(("scope", s) for s in scopes)],
        auth=(USER, PASSWORD),
        verify=registry.verify,
    )
    answer.raise_for_status()
    return str(answer.json()["token"])


def open_client(registry: V2Registry, *repositories: str) -> httpx.Client:
    """An httpx client with pull, push and delete rights on `repositories` and the catalog."""
    headers: dict[str, str] = {}
    auth: tuple[str, str] | None = None
    if registry.mode == "htpasswd":
        auth = (USER, PASSWORD)
    elif registry.mode == "token":
        scopes = [f"repository:{name}:pull,push,delete" for name in repositories]
        token = fetch_token(registry, [*scopes, "registry:catalog:*"])
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        base_url=registry.url, headers=headers, auth=auth, timeout=30, verify=registry.verify
    )


def with_digest(location: str, digest: str) -> str:
    """The upload `Location` as given, with ``digest`` added to whatever query it has."""
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def push_blob(client: httpx.Client, name: str, data: bytes) -> str:
    """POST a session, then PUT the whole blob at its Location (OCI's "POST then PUT")."""
    started = client.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    digest = sha256(data)
    done = client.put(
        with_digest(started.headers["Location"], digest),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest
    return digest


def manifest_bytes(config: bytes, layers: list[bytes], media_type: str = SCHEMA2_LAYER) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": SCHEMA2,
        "config": {"mediaType": SCHEMA2_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [
            {"mediaType": media_type, "digest": sha256(layer), "size": len(layer)}
            for layer in layers
        ],
    }
    return json.dumps(document, indent=3).encode()


def push_manifest(client: httpx.Client, name: str, tag: str, manifest: bytes) -> httpx.Response:
    return client.put(
        f"/v2/{name}/manifests/{tag}", content=manifest, headers={"Content-Type": SCHEMA2}
    )
