"""The upload session a refused mount opened (a 202) is used by the next upload into that
repository; one the registry has dropped since, or one too old to trust, costs no failure.

Unit-level: a ``MockTransport`` plays the registry, so the registry's forgetting a session
(a 404 to its URL) can be staged exactly; the real-registry cases are in
test_copy_refused_mounts.py.
"""

from __future__ import annotations

import hashlib

import httpx
import pytest
from docker_registry_v1 import RetryPolicy
from docker_registry_v1.oci import client as oci_client
from docker_registry_v1.oci.client import OCIClient

DATA = b'{"architecture":"amd64"}'
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
OTHER = "sha256:" + "ab" * 32


class Registry:
    """Answers a mount with a 202 session, and forgets sessions when told to."""

    def __init__(self, *, forget: bool) -> None:
        self.forget = forget
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        line = f"{request.method} {request.url.path}"
        self.seen.append(line + (f"?{request.url.query.decode()}" if request.url.query else ""))
        if request.method == "POST" and "mount" in request.url.params:
            return httpx.Response(202, headers={"Location": "/v2/team/app/blobs/uploads/parked"})
        if request.method == "PUT" and request.url.path.endswith("/parked"):
            if self.forget:
                return httpx.Response(404, json={"errors": [{"code": "BLOB_UPLOAD_UNKNOWN"}]})
            return httpx.Response(201, headers={"Docker-Content-Digest": DIGEST})
        if request.method == "POST":
            return httpx.Response(201, headers={"Docker-Content-Digest": DIGEST})
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(500)


def client(registry: Registry) -> OCIClient:
    return OCIClient(
        "http://registry.test",
        transport=httpx.MockTransport(registry),
        retry=RetryPolicy(attempts=1),
    )


def test_the_parked_session_takes_the_next_small_upload() -> None:
    registry = Registry(forget=False)
    with client(registry) as v2:
        assert not v2.mount_blob("team/app", OTHER, "team/base").mounted
        assert v2.upload_blob("team/app", DATA, digest=DIGEST).digest == DIGEST
    assert registry.seen[1].startswith("PUT /v2/team/app/blobs/uploads/parked?digest=sha256")
    assert len(registry.seen) == 2  # no second session, nothing left to cancel


def test_a_session_the_registry_dropped_is_replaced_by_a_new_upload() -> None:
    registry = Registry(forget=True)
    with client(registry) as v2:
        v2.mount_blob("team/app", OTHER, "team/base")
        assert v2.upload_blob("team/app", DATA, digest=DIGEST).digest == DIGEST
    assert [line.split("?")[0] for line in registry.seen[1:]] == [
        "PUT /v2/team/app/blobs/uploads/parked",
        "POST /v2/team/app/blobs/uploads/",
    ]


def test_an_old_session_is_not_used_and_is_cancelled_at_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = Registry(forget=False)
    now = [1000.0]
    monkeypatch.setattr(oci_client.time, "monotonic", lambda: now[0])
    with client(registry) as v2:
        v2.mount_blob("team/app", OTHER, "team/base")
        now[0] += oci_client.SESSION_MAX_AGE + 1
        v2.upload_blob("team/app", DATA, digest=DIGEST)
        assert registry.seen[1].startswith("POST /v2/team/app/blobs/uploads/?")
    assert registry.seen[-1] == "DELETE /v2/team/app/blobs/uploads/parked"  # left to nobody
