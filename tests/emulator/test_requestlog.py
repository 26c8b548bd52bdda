"""The request log: what each listener saw, with credentials fingerprinted."""

from __future__ import annotations

import hashlib

import httpx
from docker_registry_v1.emulator import Standalone, fingerprint
from docker_registry_v1.emulator.requestlog import redact_authorization


def test_fingerprint() -> None:
    assert fingerprint("alice:s3cret") == hashlib.sha256(b"alice:s3cret").hexdigest()[:8]
    assert fingerprint(b"x") == fingerprint("x")


def test_redaction_forms() -> None:
    assert redact_authorization("Basic YWxpY2U6czNjcmV0") == f"Basic {fingerprint('alice:s3cret')}"
    assert redact_authorization("Token signature=x") == f"Token {fingerprint('signature=x')}"
    doubled = redact_authorization("Token Token signature=x")
    assert doubled == f"Token {fingerprint('Token signature=x')}"
    assert redact_authorization("garbage") == fingerprint("garbage")


def test_log_entries(standalone: Standalone, client: httpx.Client) -> None:
    client.put(
        "/v1/repositories/ns/r/",
        json=[],
        auth=("alice", "s3cret"),
        headers={"Cookie": "session=abc", "X-Docker-Token": "true"},
        params={"a": "1"},
    )
    client.post("/v1/users/", json={"username": "u", "password": "hunter2", "email": ""})
    put, post = standalone.log.entries
    assert (put.method, put.path, put.query, put.status, put.role) == (
        "PUT",
        "/v1/repositories/ns/r/",
        "a=1",
        200,
        "standalone",
    )
    assert put.port == int(standalone.url.rsplit(":", 1)[1])
    assert put.headers["authorization"] == f"Basic {fingerprint('alice:s3cret')}"
    assert put.headers["cookie"] == fingerprint("session=abc")
    assert put.headers["x-docker-token"] == "true"
    assert (put.body, put.body_size) == (b"[]", 2)
    assert post.body is None
    assert post.body_size > 0
    assert "hunter2" not in repr(standalone.log.entries)
    assert "s3cret" not in repr(standalone.log.entries)
    assert standalone.log.find(method="post") == [post]
    assert standalone.log.last(path="/v1/repositories/*") == put
    standalone.log.clear()
    assert standalone.log.entries == []
