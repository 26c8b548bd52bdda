"""Edge cases of the v2 auth flow over httpx.MockTransport, and its challenge parser fuzzed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Callable

import httpx
import pytest
from docker_registry_v1.core.errors import InvalidInput, InvalidResponse, Unauthorized
from docker_registry_v1.oci.auth import (
    SCOPES,
    AuthChallengeError,
    Challenge,
    RegistryAuth,
    needs,
    parse_challenges,
    repository_scope,
)
from hypothesis import given, settings
from hypothesis import strategies as st

Handler = Callable[[httpx.Request], httpx.Response]
REGISTRY = "https://registry.test"


class FakeRegistry:
    """A registry that wants a Bearer token from `realm`; the realm hands out numbered tokens."""

    def __init__(self, realm: str = "https://auth.test/token", expires_in: object = 300) -> None:
        self.realm = realm
        self.expires_in = expires_in
        self.sent: list[httpx.Request] = []
        self.issued = 0
        self.refuse: set[str] = set()

    def challenge(self, scope: str, error: str | None = None) -> str:
        text = f'Bearer realm="{self.realm}",service="registry.test",scope="{scope}"'
        return text + (f',error="{error}"' if error else "")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        if request.url.host != "registry.test":
            self.issued += 1
            return httpx.Response(
                200, json={"token": f"t{self.issued}", "expires_in": self.expires_in}
            )
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and header[7:] not in self.refuse:
            return httpx.Response(200, json={})
        error = "invalid_token" if header else None
        headers = {"WWW-Authenticate": self.challenge("repository:app:pull", error)}
        return httpx.Response(401, headers=headers, json={"errors": [{"code": "UNAUTHORIZED"}]})


def client(handler: Handler, auth: httpx.Auth) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), auth=auth)


def realm_requests(fake: FakeRegistry) -> list[httpx.Request]:
    return [request for request in fake.sent if request.url.host != "registry.test"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_request_carries_service_scopes_and_the_login() -> None:
    fake = FakeRegistry()
    auth = RegistryAuth(REGISTRY, username="u", password="p")
    with client(fake, auth) as http:
        assert http.get(f"{REGISTRY}/v2/app/manifests/1").status_code == 200
    (ask,) = realm_requests(fake)
    assert ask.url.params.multi_items() == [
        ("service", "registry.test"),
        ("scope", "repository:app:pull"),
        ("account", "u"),
    ]
    assert ask.headers["Authorization"] == "Basic dTpw"
    assert fake.sent[-1].headers["Authorization"] == "Bearer t1"


def test_tokens_are_cached_by_scope_set_and_renewed_before_expiry() -> None:
    fake = FakeRegistry(expires_in=100)
    clock = Clock()
    auth = RegistryAuth(REGISTRY, clock=clock)
    pull, push = (
        needs(repository_scope("app", "pull")),
        needs(repository_scope("app", "push", "pull")),
    )
    with client(fake, auth) as http:
        http.get(f"{REGISTRY}/v2/")  # learns the challenge (and gets the pull token)
        issued = 0
        for extensions in (pull, pull, push, push, needs("repository:app:pull,push")):
            assert (
                http.get(f"{REGISTRY}/v2/app/tags/list", extensions=extensions).status_code == 200
            )
        assert fake.issued - issued == 2
        clock.now += 96  # inside the renewal margin of a 100-second token
        http.get(f"{REGISTRY}/v2/app/tags/list", extensions=pull)
        assert fake.issued - issued == 3


def test_expires_in_defaults_to_sixty_seconds() -> None:
    fake = FakeRegistry(expires_in="soon")
    clock = Clock()
    auth = RegistryAuth(REGISTRY, clock=clock)
    with client(fake, auth) as http:
        http.get(f"{REGISTRY}/v2/app/tags/list")
        clock.now += 50
        http.get(f"{REGISTRY}/v2/app/tags/list")
        assert fake.issued == 1
        clock.now += 10
        http.get(f"{REGISTRY}/v2/app/tags/list")
        assert fake.issued == 2


@pytest.mark.parametrize(
    ("issued_ago", "usable_for"),
    [(50, 10), (-3600, 60), (3600, 0)],
    ids=["issued-late", "issuer-clock-ahead", "already-expired"],
)
def test_issued_at_shortens_the_lifetime_but_never_lengthens_it(
    issued_ago: int, usable_for: int
) -> None:
    issued_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=issued_ago)
    issued = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal issued
        if request.url.host == "auth.test":
            issued += 1
            answer = {"token": "t", "expires_in": 60, "issued_at": issued_at.isoformat()}
            return httpx.Response(200, json=answer)
        if request.headers.get("Authorization") == "Bearer t":
            return httpx.Response(200)
        challenge = 'Bearer realm="https://auth.test/t",scope="repository:app:pull"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    clock = Clock()
    with client(handler, RegistryAuth(REGISTRY, clock=clock)) as http:
        http.get(f"{REGISTRY}/v2/app/tags/list")
        clock.now += max(usable_for * 0.85, 0)  # inside the lifetime, outside the margin
        http.get(f"{REGISTRY}/v2/app/tags/list")
        assert issued == (1 if usable_for else 2)
        clock.now += usable_for * 0.15 + 0.01
        http.get(f"{REGISTRY}/v2/app/tags/list")
        assert issued == (2 if usable_for else 3)


def test_a_refused_token_is_replaced_once_then_the_401_is_returned() -> None:
    fake = FakeRegistry()
    fake.refuse = {"t1", "t2", "t3"}
    with client(fake, RegistryAuth(REGISTRY)) as http:
        answer = http.get(f"{REGISTRY}/v2/app/tags/list")
        assert answer.status_code == 401
        assert fake.issued == 1
        fake.refuse = {"t1", "t2"}
        assert http.get(f"{REGISTRY}/v2/app/tags/list").status_code == 401
        assert fake.issued == 2  # the cached t1 refused → one new token, also refused
        assert http.get(f"{REGISTRY}/v2/app/tags/list").status_code == 200
        assert fake.issued == 3


def test_insufficient_scope_with_nothing_new_to_ask_is_not_retried() -> None:
    issued: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            issued.append(request.url.params["scope"])
            return httpx.Response(200, json={"access_token": "weak", "token": "ignored"})
        challenge = 'Bearer realm="https://auth.test/t",scope="repository:app:push"'
        if "Authorization" in request.headers:
            assert request.headers["Authorization"] == "Bearer weak"
            challenge += ',error="insufficient_scope"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    with client(handler, RegistryAuth(REGISTRY)) as http:
        assert http.post(f"{REGISTRY}/v2/app/blobs/uploads/").status_code == 401
        assert http.post(f"{REGISTRY}/v2/app/blobs/uploads/").status_code == 401
    assert issued == ["repository:app:push"]  # the second POST used the cached token, once


@pytest.mark.parametrize(
    ("realm", "registry", "message"),
    [
        ("http://auth.test/token", "https://registry.test", "plain-http token realm"),
        ("ftp://auth.test/token", "https://registry.test", "not an http(s) URL"),
        ("https://user:pw@auth.test/token", "https://registry.test", "not an http(s) URL"),
        ("", "https://registry.test", "names no realm"),
    ],
)
def test_unsafe_realms_are_refused_before_credentials_are_sent(
    realm: str, registry: str, message: str
) -> None:
    fake = FakeRegistry(realm=realm)
    auth = RegistryAuth(registry, username="u", password="p")
    with client(fake, auth) as http, pytest.raises(AuthChallengeError, match=re.escape(message)):
        http.get(f"{registry}/v2/app/tags/list")
    assert realm_requests(fake) == []
    assert all("Authorization" not in request.headers for request in fake.sent)


def test_an_http_registry_may_name_an_http_realm_on_another_host() -> None:
    fake = FakeRegistry(realm="http://auth.test/token")
    with client(fake, RegistryAuth("http://registry.test", username="u", password="p")) as http:
        assert http.get("http://registry.test/v2/app/tags/list").status_code == 200
    assert realm_requests(fake)[0].headers["Authorization"] == "Basic dTpw"


def test_other_hosts_never_see_credentials_nor_tokens_nor_have_challenges_honoured() -> None:
    fake = FakeRegistry()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "storage.test":
            seen.append(request)
            challenge = 'Bearer realm="https://evil.test/t"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return fake(request)

    auth = RegistryAuth(REGISTRY, username="u", password="p")
    with client(handler, auth) as http:
        assert http.get(f"{REGISTRY}/v2/app/tags/list").status_code == 200
        assert http.get("https://storage.test/v2/app/blobs/x").status_code == 401
    assert [request.url.host for request in seen] == ["storage.test"]
    assert "Authorization" not in seen[0].headers
    assert all(request.url.host != "evil.test" for request in fake.sent)


def test_a_redirect_targets_challenge_is_not_followed() -> None:
    realms: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "registry.test":
            return httpx.Response(307, headers={"Location": "https://cdn.test/blob"})
        if request.url.host == "cdn.test":
            assert "Authorization" not in request.headers
            challenge = 'Bearer realm="https://evil.test/t"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        realms.append(str(request.url))
        return httpx.Response(200, json={"token": "x"})

    auth = RegistryAuth(REGISTRY, username="u", password="p")
    with httpx.Client(
        transport=httpx.MockTransport(handler), auth=auth, follow_redirects=True
    ) as http:
        assert http.get(f"{REGISTRY}/v2/app/blobs/sha256:00").status_code == 401
    assert realms == []


def test_a_basic_challenge_gets_basic_only_when_credentials_were_given() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") == "Basic dTpw":
            return httpx.Response(200)
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    with client(handler, RegistryAuth(REGISTRY)) as http:
        assert http.get(f"{REGISTRY}/v2/").status_code == 401
    with client(handler, RegistryAuth(REGISTRY, username="u", password="p")) as http:
        assert http.get(f"{REGISTRY}/v2/").status_code == 200


def test_an_authorization_header_already_set_is_left_alone() -> None:
    fake = FakeRegistry()
    with client(fake, RegistryAuth(REGISTRY, username="u", password="p")) as http:
        answer = http.get(f"{REGISTRY}/v2/", headers={"Authorization": "Bearer mine"})
    assert answer.status_code == 200
    assert [request.headers["Authorization"] for request in fake.sent] == ["Bearer mine"]


def test_a_request_sent_again_gets_a_fresh_token_not_its_stale_one() -> None:
    fake = FakeRegistry(expires_in=60)
    clock = Clock()
    with client(fake, RegistryAuth(REGISTRY, clock=clock)) as http:
        request = http.build_request("GET", f"{REGISTRY}/v2/app/tags/list")
        assert http.send(request).status_code == 200
        clock.now += 61
        assert http.send(request).status_code == 200
    assert fake.sent[-1].headers["Authorization"] == "Bearer t2"


def test_a_streamed_body_is_preceded_by_a_ping_and_sent_once() -> None:
    fake = FakeRegistry()
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            bodies.append(request.read())
        return fake(request)

    with client(handler, RegistryAuth(REGISTRY)) as http:
        answer = http.put(
            f"{REGISTRY}/v2/app/blobs/uploads/1",
            content=iter([b"a", b"b"]),
            extensions=needs(repository_scope("app", "pull", "push")),
        )
    assert answer.status_code == 200
    assert [(request.method, request.url.path) for request in fake.sent] == [
        ("GET", "/v2/"),
        ("GET", "/token"),
        ("PUT", "/v2/app/blobs/uploads/1"),
    ]
    assert bodies == [b"ab"]


def test_the_token_endpoints_refusal_is_a_typed_error_without_secrets() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return httpx.Response(401, json={"details": "bad login"})
        challenge = 'Bearer realm="https://auth.test/t",service="s"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    auth = RegistryAuth(REGISTRY, username="u", password="s3cret")
    with client(handler, auth) as http, pytest.raises(Unauthorized) as caught:
        http.get(f"{REGISTRY}/v2/")
    assert "auth.test" in str(caught.value)
    assert "s3cret" not in str(caught.value) + repr(caught.value.headers)


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", json.dumps({"token": ""}).encode(), b'{"token": "a\\nb"}']
)
def test_an_unusable_token_answer_is_a_typed_error(body: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return httpx.Response(200, content=body)
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.test/t"'}
        )

    auth = RegistryAuth(REGISTRY)
    with client(handler, auth) as http, pytest.raises(InvalidResponse, match=r"no (JSON|usable)"):
        http.get(f"{REGISTRY}/v2/")


def test_secrets_stay_out_of_the_repr() -> None:
    fake = FakeRegistry()
    auth = RegistryAuth(REGISTRY, username="u", password="s3cret")
    with client(fake, auth) as http:
        http.get(f"{REGISTRY}/v2/app/tags/list")
    assert "s3cret" not in repr(auth)
    assert "t1" not in repr(auth)
    assert "u" in repr(auth)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"username": "u"}, "credentials"),
        ({"username": "a:b", "password": "p"}, "username"),
        ({"username": "u", "password": "p\r\n"}, "password"),
    ],
)
def test_bad_credentials_are_refused_at_construction(options: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        RegistryAuth(REGISTRY, **options)
    assert caught.value.field == field


def test_bad_scopes_are_refused_before_the_wire() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    with client(handler, RegistryAuth(REGISTRY)) as http:
        with pytest.raises(InvalidInput):
            http.get(f"{REGISTRY}/v2/", extensions={SCOPES: "a b"})
        with pytest.raises(InvalidInput):
            http.get(f"{REGISTRY}/v2/", extensions=needs("repository:a:pull pull"))
    with pytest.raises(InvalidInput):
        repository_scope("a:b", "pull")
    with pytest.raises(InvalidInput):
        repository_scope("a", "PULL")
    assert sent == []


def test_the_async_flow_fetches_and_caches_tokens() -> None:
    fake = FakeRegistry()

    async def main() -> list[int]:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(fake), auth=RegistryAuth(REGISTRY)
        ) as http:
            first = await http.get(f"{REGISTRY}/v2/app/tags/list")
            second = await http.get(f"{REGISTRY}/v2/app/tags/list")
            return [first.status_code, second.status_code]

    assert asyncio.run(main()) == [200, 200]
    assert fake.issued == 1


# ---- the challenge parser ----


def test_several_challenges_quoted_commas_escapes_and_case() -> None:
    header = (
        'Basic realm="a, b", BEARER realm="https://x/t?a=1,b=2", service=svc,'
        ' scope="repository:a:pull,push repository:b:pull", error="say \\"no\\""'
    )
    assert parse_challenges([header, "Negotiate abc=="]) == [
        Challenge("basic", {"realm": "a, b"}),
        Challenge(
            "bearer",
            {
                "realm": "https://x/t?a=1,b=2",
                "service": "svc",
                "scope": "repository:a:pull,push repository:b:pull",
                "error": 'say "no"',
            },
        ),
        Challenge("negotiate", token68="abc=="),
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('realm="orphan", Bearer realm="r"', [Challenge("bearer", {"realm": "r"})]),
        ('Bearer realm="unterminated', [Challenge("bearer")]),
        ('Bearer realm="r" service="s"', [Challenge("bearer", {"realm": "r", "service": "s"})]),
        ('Bearer @@@, realm="r"', [Challenge("bearer", {"realm": "r"})]),
        ("", []),
        (" , ,", []),
        ('Bearer realm="r", realm="second"', [Challenge("bearer", {"realm": "r"})]),
    ],
)
def test_malformed_headers_are_read_leniently(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges([header]) == expected


FUZZ = settings(max_examples=300, deadline=None, derandomize=True)
"""Reproducible runs; no per-example deadline on a machine shared by many jobs."""
_TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=_TCHAR, min_size=1, max_size=12)
values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("\t"),
    max_size=30,
)
params = st.dictionaries(tokens.map(str.lower), values, max_size=4)


def render(scheme: str, parameters: dict[str, str], spacing: str) -> str:
    def quote(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    items = f",{spacing}".join(
        f"{name}{spacing}={spacing}{quote(v)}" for name, v in parameters.items()
    )
    return f"{scheme} {items}" if items else scheme


@FUZZ
@given(
    st.lists(st.tuples(tokens, params), max_size=4),
    st.sampled_from(["", " ", "\t", "  "]),
    st.sampled_from([",", ", ", " , ,  "]),
)
def test_rendered_challenges_parse_back(
    challenges: list[tuple[str, dict[str, str]]], spacing: str, separator: str
) -> None:
    header = separator.join(
        render(scheme, parameters, spacing) for scheme, parameters in challenges
    )
    assert parse_challenges([header]) == [
        Challenge(scheme.lower(), parameters) for scheme, parameters in challenges
    ]


@FUZZ
@given(st.text(max_size=200))
def test_any_text_parses_without_raising(text: str) -> None:
    for challenge in parse_challenges([text]):
        assert challenge.scheme == challenge.scheme.lower()
        assert all(name == name.lower() for name in challenge.params)


@FUZZ
@given(st.lists(st.text(alphabet='ab=", \\\tBearer', max_size=40), max_size=3))
def test_headers_parse_independently(headers: list[str]) -> None:
    assert parse_challenges(headers) == [c for h in headers for c in parse_challenges([h])]
