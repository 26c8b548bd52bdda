"""The seam: the only requests the facade builds by hand.

The generated endpoint functions keep whole bodies in memory and re-serialise JSON
from models, which is wrong for four requests:

* layer download — must stream into the caller's writer, or hand the response over
  before its body is read (with an optional ``Range``) for resumable transfers;
* layer upload — must stream from the caller's reader or iterator;
* raw image JSON upload — the exact bytes must be sent (they are hashed later);
* raw image JSON download — the exact bytes are what the payload checksum covers, and
  the generated model parse would be thrown away (it cost a third of each call).

Each builder starts from the generated module's ``_get_kwargs`` — so method, path,
percent-encoding and headers still come from the spec — and only swaps the body or
adds a header (`Range`, `Accept-Encoding: identity`).
The runners send the result with the same pooled httpx client, auth and hooks as
every other call. Keep this module the single place where that happens.
"""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any

from docker_registry_v1_api.api.registry import (
    add_image_layer,
    add_image_metadata,
    get_image_layer,
    get_image_metadata,
)
from docker_registry_v1_api.models import ImageJson
from docker_registry_v1_api.types import UNSET, File

from .errors import InvalidInput
from .names import check_image_id
from .steps import BinaryWriter, Exchange, Tally, UploadSource

__all__ = [
    "layer_download",
    "layer_stream",
    "layer_upload",
    "metadata_download",
    "metadata_upload",
]

_RANGE = re.compile(r"bytes=[0-9]+-[0-9]*")


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


def layer_stream(image_id: str, range_: str | None) -> dict[str, Any]:
    """A layer GET whose response the caller reads itself, resuming with ``range_``.

    ``Accept-Encoding: identity`` keeps proxies from compressing the stream: offsets in
    ``Content-Range`` and the payload checksum both refer to the stored bytes.
    """
    if range_ is not None and not _RANGE.fullmatch(range_):
        raise InvalidInput("range_", f"{range_!r} is not a single bytes=START-[END] range")
    request = get_image_layer._get_kwargs(
        image_id=check_image_id(image_id), range_=UNSET if range_ is None else range_
    )
    request["headers"]["Accept-Encoding"] = "identity"
    return request
