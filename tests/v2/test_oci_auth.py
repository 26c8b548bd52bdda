"""The v2 auth flows against distribution's real registry, in each auth mode, sync and async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from docker_registry_v1.oci.auth import RegistryAuth, needs, repository_scope
from v2registry import PASSWORD, USER, V2Registry
from v2wire import fetch_token, push_blob, sha256, with_digest


def login(registry: V2Registry, clock: Callable[[], float] = time.monotonic) -> RegistryAuth:
    return RegistryAuth(registry.url, username=USER, password=PASSWORD, clock=clock)


def client(registry: V2Registry, auth: httpx.Auth) -> httpx.Client:
    return httpx.Client(base_url=registry.url, auth=auth, timeout=30)


def token_requests(registry: V2Registry) -> int:
    assert registry.issuer is not None
    return len(registry.issuer.requests)


@pytest.mark.parametrize("mode", ["v2_basic", "v2_token"])
def test_a_blob_pushed_and_pulled_through_the_flow(
    mode: str, request: pytest.FixtureRequest
) -> None:
    registry: V2Registry = request.getfixturevalue(mode)
    data = b"layer bytes for " + mode.encode()
    with client(registry, login(registry)) as http:
        digest = push_blob(http, f"auth/{mode}", data)
        pulled = http.get(f"/v2/auth/{mode}/blobs/{digest}")
    assert pulled.status_code == 200
    assert pulled.content == data


def test_basic_mode_answers_the_basic_challenge_and_then_sends_basic_first(
    v2_basic: V2Registry,
) -> None:
    seen: list[tuple[str, int]] = []

    def record(response: httpx.Response) -> None:
        seen.append((response.request.headers.get("Authorization", "")[:6], response.status_code))

    with httpx.Client(
        base_url=v2_basic.url, auth=login(v2_basic), event_hooks={"response": [record]}
    ) as http:
        assert http.get("/v2/").status_code == 200
        assert http.get("/v2/_catalog").status_code == 200
    assert seen == [("", 401), ("Basic ", 200), ("Basic ", 200)]


def test_wrong_basic_credentials_get_the_registrys_401(v2_basic: V2Registry) -> None:
    auth = RegistryAuth(v2_basic.url, username=USER, password="wrong")
    with client(v2_basic, auth) as http:
        answer = http.get("/v2/")
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_a_streamed_upload_gets_its_token_before_the_body_goes_out(v2_token: V2Registry) -> None:
    data = b"streamed " * 5000
    name = "auth/streamed"
    scopes = needs(repository_scope(name, "pull", "push"))

    def body() -> Iterator[bytes]:
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    with client(v2_token, login(v2_token)) as http:
        started = http.post(f"/v2/{name}/blobs/uploads/", extensions=scopes)
        assert started.status_code == 202, started.text
        done = http.put(
            with_digest(started.headers["Location"], sha256(data)),
            content=body(),
            headers={"Content-Type": "application/octet-stream"},
            extensions=scopes,
        )
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == sha256(data)


def test_tokens_are_cached_per_scope_set(v2_token: V2Registry) -> None:
    before = token_requests(v2_token)
    with client(v2_token, login(v2_token)) as http:
        digest = push_blob(http, "auth/cached", b"cached")
        for _ in range(3):
            assert http.head(f"/v2/auth/cached/blobs/{digest}").status_code == 200
        pushes = token_requests(v2_token) - before
        assert http.get("/v2/auth/cached/tags/list").status_code in (200, 404)
    assert pushes == 2  # one token for pull,push (POST and PUT), one for pull (the HEADs)
    assert token_requests(v2_token) - before == 2
    assert v2_token.issuer is not None
    assert v2_token.issuer.requests[-1]["scope"] == ["repository:auth/cached:pull"]
    assert v2_token.issuer.requests[-1]["account"] == [USER]


def test_anonymous_push_is_denied_with_the_registrys_error(v2_token: V2Registry) -> None:
    with client(v2_token, RegistryAuth(v2_token.url)) as http:
        answer = http.post("/v2/auth/anonymous/blobs/uploads/")
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]
    assert v2_token.issuer is not None
    assert "account" not in v2_token.issuer.requests[-1]


def test_mount_scope_widening_allows_the_mount_the_narrow_scope_refuses(
    v2_token: V2Registry,
) -> None:
    with client(v2_token, login(v2_token)) as http:
        digest = push_blob(http, "auth/mount-source", b"shared base layer")
    mount = f"/v2/auth/mount-target/blobs/uploads/?mount={digest}&from=auth/mount-source"
    narrow = fetch_token(v2_token, [repository_scope("auth/mount-target", "pull", "push")])
    refused = httpx.post(v2_token.url + mount, headers={"Authorization": f"Bearer {narrow}"})
    assert refused.status_code == 401
    scopes = needs(
        repository_scope("auth/mount-target", "pull", "push"),
        repository_scope("auth/mount-source", "pull"),
    )
    with client(v2_token, login(v2_token)) as http:
        assert http.get("/v2/").status_code == 200  # learns the challenge, with a scope-less token
        before = token_requests(v2_token)
        mounted = http.post(mount, extensions=scopes)
    assert mounted.status_code == 201, mounted.text
    assert token_requests(v2_token) - before == 1
    assert v2_token.issuer is not None
    assert v2_token.issuer.requests[-1]["scope"] == [
        "repository:auth/mount-source:pull",
        "repository:auth/mount-target:pull,push",
    ]


def test_an_expired_token_is_refreshed_before_the_next_request(short_tokens: V2Registry) -> None:
    with client(short_tokens, login(short_tokens)) as http:
        digest = push_blob(http, "auth/expiry", b"short lived")
        assert http.head(f"/v2/auth/expiry/blobs/{digest}").status_code == 200
        before = token_requests(short_tokens)
        time.sleep(2.2)  # past the 2-second token lifetime
        assert http.head(f"/v2/auth/expiry/blobs/{digest}").status_code == 200
    assert token_requests(short_tokens) - before == 1


def test_a_token_the_registry_calls_expired_is_replaced_once(short_tokens: V2Registry) -> None:
    """A client clock that lags makes the flow trust a token the registry already refuses."""
    frozen = time.monotonic()
    statuses: list[int] = []
    with httpx.Client(
        base_url=short_tokens.url,
        auth=login(short_tokens, clock=lambda: frozen),
        event_hooks={"response": [lambda response: statuses.append(response.status_code)]},
        timeout=30,
    ) as http:
        digest = push_blob(http, "auth/refused", b"refused token")
        assert http.head(f"/v2/auth/refused/blobs/{digest}").status_code == 200
        before = token_requests(short_tokens)
        statuses.clear()
        time.sleep(2.2)
        assert http.head(f"/v2/auth/refused/blobs/{digest}").status_code == 200
    assert token_requests(short_tokens) - before == 1
    assert statuses == [401, 200, 200]  # refused, the new token, the retried HEAD


def test_the_async_flow_pushes_and_pulls_concurrently(v2_token: V2Registry) -> None:
    async def push_and_pull(http: httpx.AsyncClient, index: int) -> bytes:
        name = f"auth/async-{index}"
        data = f"async layer {index}".encode()
        started = await http.post(f"/v2/{name}/blobs/uploads/")
        assert started.status_code == 202, started.text
        done = await http.put(with_digest(started.headers["Location"], sha256(data)), content=data)
        assert done.status_code == 201, done.text
        return (await http.get(f"/v2/{name}/blobs/{sha256(data)}")).content

    async def main() -> list[bytes]:
        async with httpx.AsyncClient(
            base_url=v2_token.url, auth=login(v2_token), timeout=30
        ) as http:
            return await asyncio.gather(*(push_and_pull(http, index) for index in range(3)))

    assert asyncio.run(main()) == [f"async layer {index}".encode() for index in range(3)]
