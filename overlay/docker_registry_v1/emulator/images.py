"""Registry image routes: the upload state machine (json, layer, checksum) and image reads."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator

import anyio.to_thread
import pydantic
from docker_registry_v1_models import ImageJson
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from .blobs import Blob, blob_body
from .context import IMAGE_ID, UNDECODABLE, EmulatorState, Grant, Guard, json_body
from .faults import ConnectionAbort
from .layerfiles import LayerFormatError, list_layer
from .ranges import RangePlan, reference_plan, standard_plan
from .responses import (
    OCTETS,
    cache_headers,
    dumps,
    error,
    html_page,
    json_response,
    not_modified,
    raw_json_response,
)
from .storage import call
from .store import Outcome, StoredImage

TRUE = True
CHECKSUM_HEADER_MISSING = (
    "X-Docker-Checksum-Payload not set.  If you are using the Docker daemon, "
    "you should upgrade to version 0.10 or later"
)


def _listing(blob: Blob) -> bytes:
    if blob.size == 0:
        return dumps([])
    with blob.open() as stream:
        return dumps(list_layer(stream))


async def _short_stream(blob: Blob, plan: RangePlan) -> AsyncIterator[bytes]:
    """The bytes that exist, then a cut connection (the length announced was larger)."""
    body = blob_body(blob, plan.start, plan.send)
    chunks = iterate_in_threadpool(body) if isinstance(body, Iterator) else body
    async for chunk in chunks:
        yield chunk
    raise ConnectionAbort("reference server range quirk: body shorter than Content-Length")


class ImageRoutes:
    def __init__(self, state: EmulatorState, guard: Guard) -> None:
        self.state = state
        self.store = state.store
        self.storage = state.storage
        self.guard = guard

    async def _checked(self, request: Request) -> tuple[str, Response | Grant | None]:
        image_id = str(request.path_params["image_id"])
        if not IMAGE_ID.match(image_id):
            return image_id, error("Invalid image ID", 404)
        return image_id, await self.guard.registry(request, image_id=image_id)

    async def _readable(self, request: Request) -> tuple[StoredImage | None, Response | None]:
        """Checks every image read shares, in the reference server's order."""
        image_id, denied = await self._checked(request)
        if isinstance(denied, Response):
            return None, denied
        record = await call(self.storage, self.storage.image, image_id)
        if record is not None and not record.complete:
            return None, error("Image is being uploaded, retry later")
        if "if-modified-since" in request.headers:
            return None, not_modified()
        if record is None:
            return None, error("Image not found", 404)
        return record, None

    async def get_json(self, request: Request) -> Response:
        record, answer = await self._readable(request)
        if record is None:
            assert answer is not None
            return answer
        if record.missing_json:
            return error("Image not found", 404)
        headers = {}
        if record.layer_size is not None:
            headers["X-Docker-Size"] = str(record.layer_size)
        if record.checksum is not None:
            headers["X-Docker-Checksum-Payload"] = record.checksum
        return raw_json_response(record.json_bytes, headers, cacheable=True)

    async def put_json(self, request: Request) -> Response:
        image_id, denied = await self._checked(request)
        if isinstance(denied, Response):
            return denied
        raw, data = await json_body(request)
        if data is UNDECODABLE or not isinstance(data, dict) or not data:
            return error("Invalid JSON")
        if "id" not in data:
            return error("Missing key `id' in JSON")
        if data["id"] != image_id:
            return error("JSON data contains invalid id")
        try:
            parent = ImageJson.model_validate(data).parent
        except pydantic.ValidationError:
            return error("Invalid JSON")
        if isinstance(denied, Grant):
            if image_id not in denied.images:
                return error("This image does not belong to the repository")
            known_parent = bool(parent) and self.store.image(parent or "") is not None
            if known_parent and not await self.guard.parent_access(denied, parent or ""):
                return error("Image depends on an unauthorized parent")
        outcome = self.store.put_image_json(image_id, raw, parent or None)
        if outcome is Outcome.PARENT_MISSING:
            return error("Image depends on a non existing parent")
        if outcome is Outcome.COMPLETE:
            return error("Image already exists", 409)
        return json_response(TRUE)

    async def get_layer(self, request: Request) -> Response:
        record, answer = await self._readable(request)
        if record is None:
            assert answer is not None
            return answer
        blob = await call(self.storage, self.storage.layer, record.ancestry[0])
        if blob is None:
            return error("Image not found", 404)
        planner = reference_plan if self.state.compat.reference_ranges else standard_plan
        plan = planner(request.headers.get("range"), blob.size)
        headers = {"Content-Length": str(plan.content_length)}
        if plan.content_range is not None:
            headers["Content-Range"] = plan.content_range
        if plan.status == 416:
            return Response(None, 416, headers, media_type=OCTETS)
        headers.update(cache_headers())
        headers["Accept-Ranges"] = "bytes"
        if request.method == "HEAD" or (plan.send == 0 and not plan.short):
            return Response(None, plan.status, headers, media_type=OCTETS)
        body = _short_stream(blob, plan) if plan.short else blob_body(blob, plan.start, plan.send)
        return StreamingResponse(body, plan.status, headers, media_type=OCTETS)

    async def put_layer(self, request: Request) -> Response:
        image_id, denied = await self._checked(request)
        if isinstance(denied, Response):
            return denied
        outcome, writer, json_bytes = self.store.layer_writer(image_id)
        if outcome is Outcome.NOT_FOUND:
            return error("Image not found", 404)
        if writer is None:
            return error("Image already exists", 409)
        payload = hashlib.sha256(json_bytes + b"\n")
        try:
            async for chunk in request.stream():
                writer.write(chunk)
                payload.update(chunk)
        except ClientDisconnect:
            writer.discard()
            return error("Client disconnected during the layer upload")
        except BaseException:
            writer.discard()
            raise
        outcome = self.store.finish_layer(image_id, writer, "sha256:" + payload.hexdigest())
        if outcome is Outcome.COMPLETE:
            return error("Image already exists", 409)
        if outcome is Outcome.NOT_FOUND:
            return error("Image not found", 404)
        return json_response(TRUE)

    async def put_checksum(self, request: Request) -> Response:
        image_id, denied = await self._checked(request)
        if isinstance(denied, Response):
            return denied
        value = request.headers.get("x-docker-checksum-payload")
        if value is None:
            return error(CHECKSUM_HEADER_MISSING, 412)
        if not value.strip():
            return error("Missing Image's checksum")
        outcome = self.store.put_checksum(image_id, value.strip())
        if outcome is Outcome.NOT_FOUND:
            return error("Image not found", 404)
        if outcome is Outcome.COMPLETE:
            return error("Cannot set this image checksum", 409)
        if outcome is Outcome.NO_LAYER:
            return html_page(500)
        if outcome is Outcome.MISMATCH:
            return error("Checksum mismatch")
        return json_response(TRUE)

    async def get_ancestry(self, request: Request) -> Response:
        record, answer = await self._readable(request)
        if record is None:
            assert answer is not None
            return answer
        if record.missing_ancestry:
            return error("Image not found", 404)
        return json_response(record.ancestry, cacheable=True)

    async def get_files(self, request: Request) -> Response:
        record, answer = await self._readable(request)
        if record is None:
            assert answer is not None
            return answer
        image_id = record.ancestry[0]
        listing = await call(self.storage, self.storage.cached_files, image_id)
        if listing is None:
            blob = await call(self.storage, self.storage.layer, image_id)
            if blob is None:
                return error("Image not found", 404)
            try:
                listing = await anyio.to_thread.run_sync(_listing, blob)
            except LayerFormatError:
                return error("Layer format not supported")
            await call(self.storage, self.storage.cache_files, image_id, listing)
        return raw_json_response(listing, cacheable=True)

    async def get_diff(self, request: Request) -> Response:
        record, answer = await self._readable(request)
        if record is None:
            assert answer is not None
            return answer
        return error("Diff queue is disabled")
