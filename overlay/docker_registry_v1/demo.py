"""`make demo`: push an image into the bundled emulator and read it back.

It goes through the generated low-level client on purpose, so the demo shows the
spec-driven layer working over a real socket without any of the facade's help.
"""

from __future__ import annotations

import hashlib
import io
import json

import httpx
from docker_registry_v1_api import Client
from docker_registry_v1_api.api.index import create_repository, update_repository_images
from docker_registry_v1_api.api.registry import (
    add_image_layer,
    add_image_metadata,
    get_image_ancestry,
    get_image_id,
    get_image_metadata,
    list_tags,
    put_image_checksum,
    set_tag,
)
from docker_registry_v1_api.api.search import search
from docker_registry_v1_api.models import ImageJson, SearchResults, TagMap, TokenRequestFlag
from docker_registry_v1_api.types import File

from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.emulator.seed import build_image_chain

NAMESPACE, REPOSITORY, TAG = "demo", "hello", "1.0"
ASK_FOR_TOKEN: TokenRequestFlag = "true"  # noqa: S105 - a request flag, not a secret


def wire_bytes(body: ImageJson) -> bytes:
    """The exact bytes httpx sends for the generated `json=` body, which the checksum covers."""
    return httpx.Request("PUT", "http://demo/", json=body.to_dict()).content


def main() -> None:
    images = build_image_chain(3, seed=1)
    with run_standalone() as registry, Client(base_url=registry.url) as client:
        print(f"emulator listening at {registry.url}")
        create_repository.sync_detailed(
            NAMESPACE, REPOSITORY, client=client, body=[], x_docker_token=ASK_FOR_TOKEN
        )
        for image in images:
            body = ImageJson.from_dict(json.loads(image.json_bytes))
            add_image_metadata.sync_detailed(image.id, client=client, body=body)
            add_image_layer.sync_detailed(
                image.id, client=client, body=File(payload=io.BytesIO(image.layer_bytes))
            )
            digest = hashlib.sha256(wire_bytes(body) + b"\n" + image.layer_bytes).hexdigest()
            done = put_image_checksum.sync_detailed(
                image.id, client=client, x_docker_checksum_payload=f"sha256:{digest}"
            )
            print(
                f"pushed {image.id[:12]}  layer {len(image.layer_bytes):>6} bytes  "
                f"checksum {'accepted' if done.status_code == 200 else done.status_code}"
            )
        tip = images[-1].id
        set_tag.sync_detailed(NAMESPACE, REPOSITORY, TAG, client=client, body=tip)
        update_repository_images.sync_detailed(
            NAMESPACE, REPOSITORY, client=client, body=[], x_docker_token=ASK_FOR_TOKEN
        )

        tags = list_tags.sync_detailed(NAMESPACE, REPOSITORY, client=client).parsed
        if isinstance(tags, TagMap):
            for name, image_id in sorted(tags.additional_properties.items()):
                print(f"tag {NAMESPACE}/{REPOSITORY}:{name} -> {image_id[:12]}")
        resolved = get_image_id.sync_detailed(NAMESPACE, REPOSITORY, TAG, client=client).parsed
        ancestry = get_image_ancestry.sync_detailed(tip, client=client).parsed
        depth = len(ancestry) if isinstance(ancestry, list) else 0
        print(f"{TAG} resolves to {str(resolved)[:12]}; ancestry has {depth} images")
        meta = get_image_metadata.sync_detailed(tip, client=client)
        print(f"tip metadata: {meta.headers['X-Docker-Size']} layer bytes, parent ", end="")
        print(f"{str(getattr(meta.parsed, 'parent', ''))[:12]}")
        found = search.sync_detailed(client=client, q=REPOSITORY).parsed
        if isinstance(found, SearchResults):
            print(f"search '{REPOSITORY}': {[result.name for result in found.results]}")


if __name__ == "__main__":
    main()
