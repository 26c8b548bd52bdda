"""Wire helpers shared by the emulator's tests."""

from __future__ import annotations

import httpx
from docker_registry_v1.emulator.seed import SeedImage

ALICE = ("alice", "s3cret")


def push_image(
    client: httpx.Client, image: SeedImage, headers: dict[str, str] | None = None
) -> None:
    """json → layer → checksum, asserting each step succeeds."""
    extra = headers or {}
    for path, body in (("json", image.json_bytes), ("layer", image.layer_bytes)):
        answer = client.put(f"/v1/images/{image.id}/{path}", content=body, headers=extra)
        assert answer.status_code == 200, answer.text
    answer = client.put(
        f"/v1/images/{image.id}/checksum",
        headers={**extra, "X-Docker-Checksum-Payload": image.checksum},
    )
    assert answer.status_code == 200, answer.text
