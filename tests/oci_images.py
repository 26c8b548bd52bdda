"""Images made the way v2 build tools make them (never held by a v1 registry), for the
tests that push one straight to a v2 registry or an OCI layout and expect synthesized v1
ids for it: the face's tests and the cut-over page's."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

DIRECT_CONTENT = b"pushed straight to v2\n"
"""The line the image's one file repeats."""


def direct_image() -> tuple[bytes, bytes, bytes]:
    """(config, gzip layer, OCI manifest) of a one-layer image no v1 registry ever held."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        data = DIRECT_CONTENT * 100
        info = tarfile.TarInfo("etc/direct.txt")
        info.size, info.mtime = len(data), 1_500_000_000
        archive.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    layer = gzip.compress(plain, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin"]},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()],
            },
            "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "ADD direct.txt"}],
        }
    ).encode()
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    return config, layer, one_layer_manifest(config, layer_digest, len(layer))


LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def one_layer_manifest(
    config: bytes, layer_digest: str, layer_size: int, layer_type: str = LAYER_GZIP
) -> bytes:
    """The OCI image manifest of ``config`` and one layer, as v2 build tools write it."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": [{"mediaType": layer_type, "digest": layer_digest, "size": layer_size}],
        }
    ).encode()
