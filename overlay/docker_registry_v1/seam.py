"""The seam: the only requests the facade builds by hand.

The generated endpoint functions keep whole bodies in memory and re-serialise JSON
from models, which is wrong for four requests:

* layer download — must stream into the caller's writer;
* layer upload — must stream from the caller's reader or iterator;
* raw image JSON upload — the exact bytes must be sent (they are hashed later);
* raw image JSON download — the exact bytes are what the payload checksum covers, and
  the generated model parse would be thrown away (it cost a third of each call).

Each builder starts from the generated module's ``_get_kwargs`` — so method, path,
percent-encoding and headers still come from the spec — and only swaps the body.
The runners send the result with the same pooled httpx client, auth and hooks as
every other call. Keep this module the single place where that happens.
"""

from __future__ import annotations

import hashlib
import io

from docker_registry_v1_api.api.registry import (
    add_image_layer,
    add_image_metadata,
    get_image_layer,
    get_image_metadata,
)
from docker_registry_v1_api.models import ImageJson
from docker_registry_v1_api.types import File

from .steps import BinaryWriter, Exchange, Tally, UploadSource

__all__ = ["layer_download", "layer_upload", "metadata_download", "metadata_upload"]


def layer_download(image_id: str, writer: BinaryWriter) -> Exchange:
    return Exchange(get_image_layer._get_kwargs(image_id=image_id), download=writer)


def layer_upload(image_id: str, source: UploadSource, json_prefix: bytes | None) -> Exchange:
    """Stream ``source``; with ``json_prefix`` also hash ``json + b"\\n" + layer``."""
    request = add_image_layer._get_kwargs(image_id=image_id, body=File(payload=io.BytesIO()))
    del request["content"]
    hasher = None
    if json_prefix is not None:
        hasher = hashlib.sha256(json_prefix + b"\n")
    return Exchange(request, upload=source, tally=Tally(hasher=hasher))


def metadata_upload(image_id: str, json_bytes: bytes) -> Exchange:
    request = add_image_metadata._get_kwargs(image_id=image_id, body=ImageJson(id=image_id))
    del request["json"]
    request["content"] = json_bytes
    return Exchange(request)


def metadata_download(image_id: str) -> Exchange:
    return Exchange(get_image_metadata._get_kwargs(image_id=image_id))
