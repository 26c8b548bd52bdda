"""Clients other than regv1 for the https registry tests: skopeo and raw reads of answers.

They are how the tests check what regv1 did without trusting regv1: skopeo verifies
TLS its own way (Go's), and `catalog`/`tag_list`/`manifest_digest` ask the registry
itself over the `v2wire` client.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from docker_registry_v1.formats.provenance import is_fallback_tag
from system_tools import require_tool
from v2registry import V2Registry
from v2wire import SCHEMA2, open_client

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

SKOPEO_TIMEOUT = 180
"""Seconds one skopeo run may take on a loaded 2-core machine."""


def _isolated_environment(home: Path) -> dict[str, str]:
    """The environment minus logins the user has stored: a test names its credentials itself."""
    hidden = {"DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "HOME"}
    environment = {k: v for k, v in os.environ.items() if k not in hidden}
    home.mkdir(parents=True, exist_ok=True)
    environment["HOME"] = str(home)
    environment["REGISTRY_AUTH_FILE"] = str(home / "auth.json")
    return environment


def skopeo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``skopeo --insecure-policy ARGS`` with ``home`` as its home (no stored logins)."""
    binary = require_tool("skopeo")
    return subprocess.run(
        [binary, "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=SKOPEO_TIMEOUT,
        check=False,
        env=_isolated_environment(home),
    )


def skopeo_inspect(home: Path, reference: str, *args: str) -> dict[str, Any]:
    """``skopeo inspect`` that must succeed; its JSON."""
    done = skopeo(home, "inspect", *args, reference)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def docker_archive(path: Path, reference: str, payload: bytes) -> str:
    """Write a one-layer ``docker save`` archive for ``reference``; return its layer's diff id."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("etc/payload")
        info.size, info.mtime, info.mode = len(payload), 1425204000, 0o644
        tar.addfile(info, io.BytesIO(payload))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "tls_clients.docker_archive"}],
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [reference], "Layers": ["layer/layer.tar"]}]
    ).encode()
    with tarfile.open(path, mode="w") as archive:
        for name, data in (
            ("layer/layer.tar", layer_bytes),
            (config_name, config),
            ("manifest.json", manifest),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1425204000, 0o644
            archive.addfile(info, io.BytesIO(data))
    return diff_id


def catalog(registry: V2Registry) -> list[str]:
    """The registry's own ``_catalog`` answer (authenticated the way its mode wants)."""
    with open_client(registry) as client:
        answer = client.get("/v2/_catalog", params={"n": 1000})
    assert answer.status_code == 200, answer.text
    names: list[str] = answer.json()["repositories"]
    return names


def tag_list(registry: V2Registry, repository: str) -> list[str]:
    """The registry's own ``tags/list`` answer for ``repository``, sorted, without the
    ``sha256-<hex>`` tags of the v1 provenance's referrers fallback."""
    with open_client(registry, repository) as client:
        answer = client.get(f"/v2/{repository}/tags/list")
    assert answer.status_code == 200, answer.text
    return sorted(tag for tag in answer.json()["tags"] or [] if not is_fallback_tag(tag))


def manifest_digest(registry: V2Registry, repository: str, tag: str) -> str:
    """``Docker-Content-Digest`` of the tag's manifest, as the registry itself answers it."""
    accept = ", ".join((SCHEMA2, OCI_MANIFEST))
    with open_client(registry, repository) as client:
        answer = client.head(f"/v2/{repository}/manifests/{tag}", headers={"Accept": accept})
    assert answer.status_code == 200, answer.status_code
    return str(answer.headers["Docker-Content-Digest"])
