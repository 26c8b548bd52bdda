"""Builders for the archives and layers the archive tests feed to the code under test."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from docker_registry_v1.formats.archive import ChainImage


def layer_tar(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed layer tar holding `files`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_400_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def image_id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def v1_json(image: str, parent: str | None, step: int, **extra: Any) -> bytes:
    document: dict[str, Any] = {
        "id": image,
        "created": f"2014-10-13T21:19:{step:02d}.674353812Z",
        "container_config": {"Cmd": ["/bin/sh", "-c", f"#(nop) step {step}"]},
        "config": {"Cmd": ["bash"], "Env": ["PATH=/usr/bin"]},
        "docker_version": "1.3.0",
        **extra,
    }
    if parent:
        document["parent"] = parent
    # Indented on purpose: the exact bytes must survive, not a re-serialisation.
    return json.dumps(document, indent=1).encode() + b"\n"


def make_chain(layers: Iterable[bytes | Path], seed: str = "img") -> list[ChainImage]:
    """A consistent base-first chain, one image per layer."""
    chain: list[ChainImage] = []
    parent: str | None = None
    for step, layer in enumerate(layers):
        current = image_id(f"{seed}-{step}")
        source = layer if isinstance(layer, Path) else io.BytesIO(layer)
        chain.append(ChainImage(current, v1_json(current, parent, step), source))
        parent = current
    return chain


def sample_layers() -> list[bytes]:
    """A gzip layer, a plain tar layer and an empty (zero-byte) layer."""
    return [
        gzip.compress(layer_tar({"etc/hello": b"hello\n", "etc/os-release": b"ID=test\n"})),
        layer_tar({"usr/bin/tool": b"#!/bin/sh\necho tool\n" * 50}),
        b"",
    ]


class TarBuilder:
    """Writes an outer archive member by member, with full control over each header."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar = tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - closed by close()

    def file(self, name: str, data: bytes) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data))
        return self

    def json(self, name: str, value: object) -> TarBuilder:
        return self.file(name, json.dumps(value).encode())

    def directory(self, name: str) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        self._tar.addfile(info)
        return self

    def link(self, name: str, target: str, *, hard: bool = False) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
        info.linkname = target
        self._tar.addfile(info)
        return self

    def special(self, name: str, kind: bytes) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = kind
        self._tar.addfile(info)
        return self

    def blob(self, data: bytes) -> str:
        """Store `data` under blobs/sha256/ and return its digest."""
        digest = hashlib.sha256(data).hexdigest()
        self.file(f"blobs/sha256/{digest}", data)
        return f"sha256:{digest}"

    def close(self) -> Path:
        self._tar.close()
        return self.path


def image_config(diff_ids: list[str], *, empty_history: int = 0) -> bytes:
    """A modern image config; `empty_history` adds layer-less history entries first."""
    history: list[dict[str, Any]] = [
        {"created": "2024-01-01T00:00:00Z", "created_by": "LABEL x=y", "empty_layer": True}
        for _ in range(empty_history)
    ]
    history += [
        {"created": f"2024-01-0{n + 2}T00:00:00Z", "created_by": f"/bin/sh -c step {n}"}
        for n in range(len(diff_ids))
    ]
    config = {
        "architecture": "arm64",
        "os": "linux",
        "created": "2024-02-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    return json.dumps(config).encode()


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def oci_archive(
    path: Path,
    layers: list[bytes],
    *,
    with_manifest_json: bool,
    name: str = "docker.io/library/busybox:1.36",
    nested_index: bool = False,
) -> tuple[Path, bytes]:
    """An archive as docker >= 25 saves it (OCI layout, optionally with manifest.json)."""
    builder = TarBuilder(path)
    builder.file("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
    uncompressed = [
        gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer for layer in layers
    ]
    config = image_config([sha256_of(layer) for layer in uncompressed], empty_history=1)
    config_digest = builder.blob(config)
    layer_digests = [builder.blob(layer) for layer in layers]
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"
                if layer[:2] == b"\x1f\x8b"
                else "application/vnd.oci.image.layer.v1.tar",
                "digest": digest,
                "size": len(layer),
            }
            for layer, digest in zip(layers, layer_digests, strict=True)
        ],
    }
    manifest_bytes = json.dumps(manifest).encode()
    descriptor = {
        "mediaType": manifest["mediaType"],
        "digest": builder.blob(manifest_bytes),
        "size": len(manifest_bytes),
    }
    # An attestation-style manifest that the reader must skip.
    attestation_config = b"{}"
    attestation = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.in-toto+json",
                "digest": builder.blob(attestation_config),
                "size": len(attestation_config),
            },
            "layers": [],
        }
    ).encode()
    attestation_descriptor = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": builder.blob(attestation),
        "size": len(attestation),
    }
    annotations = {
        "io.containerd.image.name": name,
        "org.opencontainers.image.ref.name": name.rpartition(":")[2],
    }
    if nested_index:
        inner = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [descriptor, attestation_descriptor],
            }
        ).encode()
        top = [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": builder.blob(inner),
                "size": len(inner),
                "annotations": annotations,
            }
        ]
    else:
        top = [{**descriptor, "annotations": annotations}, attestation_descriptor]
    builder.json("index.json", {"schemaVersion": 2, "manifests": top})
    if with_manifest_json:
        builder.json(
            "manifest.json",
            [
                {
                    "Config": f"blobs/sha256/{config_digest.removeprefix('sha256:')}",
                    "RepoTags": ["busybox:1.36"],
                    "Layers": [f"blobs/sha256/{d.removeprefix('sha256:')}" for d in layer_digests],
                }
            ],
        )
        builder.json("repositories", {"busybox": {"1.36": image_id("unused")}})
    return builder.close(), config
