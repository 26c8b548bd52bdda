"""The seam: the only requests the facade builds by hand.

The generated endpoint functions keep whole bodies in memory and re-serialise JSON
from models, which is wrong for four requests:

* layer download — must stream into the caller's writer;
* layer upload — must stream from the caller's reader or iterator;
* raw image JSON upload — the exact bytes must be sent (they are hashed later);
* the delete-token request — the spec declares no body for ``DELETE …/{repo}/``,
  but the seed (and registries that expect it) send ``[]``.

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
    delete_repository,
    get_image_layer,
)
from docker_registry_v1_api.models import ImageJson, TokenRequestFlag
from docker_registry_v1_api.types import File

from .names import RepositoryName
from .steps import BinaryWriter, Exchange, Tally, UploadSource

__all__ = ["delete_token_request", "layer_download", "layer_upload", "metadata_upload"]


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


def delete_token_request(name: RepositoryName) -> Exchange:
    flag: TokenRequestFlag = "true"
    request = delete_repository._get_kwargs(name.namespace, name.repository, x_docker_token=flag)
    request["content"] = b"[]"
    request["headers"]["Content-Type"] = "application/json"
    return Exchange(request)
