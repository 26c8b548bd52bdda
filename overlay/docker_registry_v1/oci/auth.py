"""Authentication against v2/OCI registries: anonymous, Basic and distribution's Bearer tokens.

One `RegistryAuth` per registry does what docker's client does: it learns how the
registry wants to be addressed from its 401 challenges, answers a Basic challenge
with Basic (only when credentials were given) and a Bearer challenge with a token
from the realm the registry names, cached per scope set until shortly before it
expires.

The token request is yielded from the auth flow (as httpx's DigestAuth yields its
second request), so it goes through the same client: same transport, TLS
settings and timeouts, sync or async alike.

Where credentials go (docker's behaviour, kept on purpose): the registry's
credentials are sent to the registry host and to the token realm *that registry*
names, whatever its host, because the registry delegates its login to that realm
(Docker Hub's realm is another host). Guards: challenges are honoured only from
the registry itself (never from a redirect target or an upload ``Location`` on
another host); a realm must be https unless the registry itself is plain http,
so an https registry can never downgrade its credentials to http. Requests to
any other host pass through untouched, and tokens go to the registry host only.

A request whose body is a stream cannot be sent twice; for those the flow asks
``GET /v2/`` first when it does not know the registry's challenge yet, and a
token is fetched before the body goes out. Callers say which scopes a request
needs with the `SCOPES` request extension (`needs`): a cross-repository mount
needs ``repository:<from>:pull`` besides the target's ``pull,push``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterable
from typing import Any

import attrs
import httpx

from ..core.errors import (
    DockerRegistryError,
    InvalidInput,
    error_from_response,
    invalid_response,
    safe_url,
)
from ..core.http import aread_capped, read_capped
from ..core.names import check_header_value, check_single_line

SCOPES = "docker_registry_v1.oci.scopes"
"""Request extension key: the token scopes the request needs (an iterable of strings)."""
DEFAULT_EXPIRES_IN = 60
"""Seconds a token lives when the token endpoint does not say (distribution's token spec)."""

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM = re.compile(rf"({_TCHARS})[ \t]*=[ \t]*({_TCHARS}|{_QUOTED})")
_SCHEME = re.compile(rf"({_TCHARS})(?=[ \t,]|$)")
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*(?=[ \t]*(?:,|$))")
_ESCAPE = re.compile(r"\\(.)")
_ACTIONS = re.compile(r"[a-z*]+(?:,[a-z*]+)*")
_SET_HERE = "docker_registry_v1.oci.authorised-by-flow"
TOKEN_LIMIT = 1024 * 1024
"""Default cap on a token answer: a JWT is a few KiB (``BodyLimits.token`` on the client)."""
"""Marks a request whose ``Authorization`` the flow set, so a resend gets a fresh one."""
_REPOSITORY_PATH = re.compile(r"/v2/(.+)/(?:blobs|manifests|tags)/")


class AuthChallengeError(DockerRegistryError):
    """The registry asked for a kind of authentication that cannot be answered safely."""


@attrs.frozen
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header; scheme and parameter names lowercased."""

    scheme: str
    params: dict[str, str] = attrs.field(factory=dict)
    token68: str | None = None


def _skip_element(text: str, pos: int) -> int:
    """Past the next comma outside a quoted string: what a malformed element is dropped to."""
    quoted = False
    while pos < len(text):
        char = text[pos]
        if quoted and char == "\\":
            pos += 1
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            return pos + 1
        pos += 1
    return pos


def _parse_header(text: str) -> list[Challenge]:
    challenges: list[Challenge] = []
    current: Challenge | None = None
    fresh = False
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t,":
            fresh = fresh and text[pos] != ","  # a token68 follows its scheme after spaces only
            pos += 1
        if pos >= len(text):
            return challenges
        param = _PARAM.match(text, pos)
        if param and current is not None:
            value = param.group(2)
            if value.startswith('"'):
                value = _ESCAPE.sub(r"\1", value[1:-1])
            current.params.setdefault(param.group(1).lower(), value)
            pos, fresh = param.end(), False
            continue
        token68 = _TOKEN68.match(text, pos) if fresh and not param else None
        if token68 and current is not None:
            challenges[-1] = current = attrs.evolve(current, token68=token68.group(0))
            pos, fresh = token68.end(), False
            continue
        scheme = _SCHEME.match(text, pos)
        if scheme:
            current = Challenge(scheme.group(1).lower())
            challenges.append(current)
            pos, fresh = scheme.end(), True
            continue
        pos, fresh = _skip_element(text, pos), False


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in the given ``WWW-Authenticate`` header values (RFC 9110 §11.6.1).

    Lenient as browsers are: an element that does not parse is skipped up to the
    next comma, and a missing comma between parameters is tolerated. Never raises.
    """
    return [challenge for value in values for challenge in _parse_header(value)]


def _normalise_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """One entry per resource with its actions merged and sorted: the token cache's key."""
    merged: dict[tuple[str, str], set[str]] = {}
    opaque: set[str] = set()
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if not kind or not name or not _ACTIONS.fullmatch(actions):
            opaque.add(scope)
            continue
        merged.setdefault((kind, name), set()).update(actions.split(","))
    rendered = {f"{kind}:{name}:{','.join(sorted(acts))}" for (kind, name), acts in merged.items()}
    return tuple(sorted(rendered | opaque))


def repository_scope(name: str, *actions: str) -> str:
    """``repository:<name>:<actions>``; raises `InvalidInput` for an unusable name or action."""
    check_header_value("repository", name)
    if ":" in name or " " in name:
        raise InvalidInput("repository", f"{name!r} cannot be named in a token scope")
    if not actions or not _ACTIONS.fullmatch(",".join(actions)):
        raise InvalidInput("actions", f"{actions!r} are not token actions (pull, push, delete, *)")
    return f"repository:{name}:{','.join(actions)}"


def needs(*scopes: str) -> dict[str, Any]:
    """Request extensions saying which scopes the request needs, for ``extensions=``."""
    return {SCOPES: tuple(scopes)}


def _request_scopes(request: httpx.Request) -> tuple[str, ...] | None:
    given = request.extensions.get(SCOPES)
    if given is None:
        return None
    if isinstance(given, str) or not all(isinstance(scope, str) for scope in given):
        raise InvalidInput("scopes", "must be an iterable of scope strings")
    for scope in given:
        if not scope or any(ch.isspace() for ch in scope) or not scope.isprintable():
            raise InvalidInput("scopes", f"{scope!r} is not a token scope")
    return _normalise_scopes(given)


def _action_kind(method: str) -> str:
    """Which access distribution asks for, by method (its ``appendAccessRecords``)."""
    if method in ("GET", "HEAD"):
        return "pull"
    return "delete" if method == "DELETE" else "push"


def _replayable(request: httpx.Request) -> bool:
    return isinstance(request.stream, httpx.ByteStream)


@attrs.define
class _Token:
    value: str = attrs.field(repr=False)
    refresh_at: float


def _lifetime(answer: dict[str, Any], now: dt.datetime) -> float:
    """Seconds the token may still be used, never more than ``expires_in`` from now.

    ``issued_at`` (when given) shortens it by the time since issue, so a token
    handed out late is not trusted past its end; an issuer clock ahead of ours
    cannot lengthen it.
    """
    expires_in = answer.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN
    issued_at = answer.get("issued_at")
    elapsed = 0.0
    if isinstance(issued_at, str):
        try:
            issued = dt.datetime.fromisoformat(issued_at)
        except ValueError:
            issued = None
        if issued is not None and issued.tzinfo is not None:
            elapsed = max(0.0, (now - issued).total_seconds())
    return max(0.0, float(expires_in) - elapsed)


def _refresh_margin(lifetime: float) -> float:
    """Renew a little early, so a token does not expire while its request is in flight."""
    return min(5.0, lifetime / 10)


_Send = tuple[httpx.Request, bool]
"""A request the flow wants sent, and whether it needs that response's body."""


def _check_username(_: object, __: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None:
        check_single_line("username", value)
        if ":" in value:
            raise InvalidInput("username", "must not contain ':' (HTTP Basic cannot carry it)")


def _check_password(_: object, __: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None:
        check_single_line("password", value)


def _origin(text: str) -> httpx.URL:
    url = httpx.URL(text if "://" in text else f"https://{text}")
    if url.scheme not in ("http", "https") or not url.host or url.userinfo:
        raise InvalidInput("registry", f"{text!r} is not [http(s)://]host[:port]")
    return url


@attrs.define(eq=False)
class RegistryAuth(httpx.Auth):
    """Auth flow for one v2/OCI registry (``[scheme://]host[:port]``), anonymous or with a login.

    Raises `InvalidInput` at construction for bad credentials or registry, and
    from a request for malformed `SCOPES`. While sending, raises
    `AuthChallengeError` for a challenge that cannot be answered safely and the
    typed `RegistryError` of the token endpoint's answer when it refuses. A 401
    it cannot do anything about is returned as the response.
    """

    registry: str
    username: str | None = attrs.field(default=None, kw_only=True, validator=_check_username)
    password: str | None = attrs.field(
        default=None, kw_only=True, repr=False, validator=_check_password
    )
    clock: Callable[[], float] = attrs.field(default=time.monotonic, kw_only=True, repr=False)
    body_limit: int = attrs.field(
        default=TOKEN_LIMIT, kw_only=True, validator=attrs.validators.ge(1), repr=False
    )
    """Bytes of a token endpoint's answer read before it is refused (:class:`BodyTooLarge`)."""
    _origin: httpx.URL = attrs.field(init=False, repr=False)
    _challenge: Challenge | None = attrs.field(init=False, default=None, repr=False)
    _open: bool = attrs.field(init=False, default=False, repr=False)
    _tokens: dict[tuple[str, ...], _Token] = attrs.field(init=False, factory=dict, repr=False)
    _learned: dict[tuple[str, str], tuple[str, ...]] = attrs.field(
        init=False, factory=dict, repr=False
    )
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise InvalidInput("credentials", "give both username and password, or neither")
        self._origin = _origin(self.registry)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._flow(request)
        step = next(flow)
        while True:
            response = yield step[0]
            if step[1]:
                read_capped(response, self.body_limit, "body_limits.token")
            try:
                step = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._flow(request)
        step = next(flow)
        while True:
            response = yield step[0]
            if step[1]:
                await aread_capped(response, self.body_limit, "body_limits.token")
            try:
                step = flow.send(response)
            except StopIteration:
                return

    def _ours(self, url: httpx.URL) -> bool:
        origin = self._origin
        same_scheme = "://" not in self.registry or url.scheme == origin.scheme
        return same_scheme and url.host == origin.host and url.port == origin.port

    def _basic(self) -> str | None:
        if self.username is None or self.password is None:
            return None
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _cached(self, scopes: tuple[str, ...]) -> str | None:
        with self._lock:
            token = self._tokens.get(scopes)
            if token is None or self.clock() >= token.refresh_at:
                return None
            return token.value

    def _forget(self, scopes: tuple[str, ...]) -> None:
        with self._lock:
            self._tokens.pop(scopes, None)

    def _store(self, scopes: tuple[str, ...], value: str, lifetime: float) -> None:
        now = self.clock()
        with self._lock:
            for key in [key for key, token in self._tokens.items() if now >= token.refresh_at]:
                del self._tokens[key]
            self._tokens[scopes] = _Token(value, now + lifetime - _refresh_margin(lifetime))

    def _side_request(
        self, original: httpx.Request, url: httpx.URL, **kwargs: Any
    ) -> httpx.Request:
        """A request of the flow's own, with the original's timeouts and User-Agent."""
        extensions = (
            {"timeout": original.extensions["timeout"]} if "timeout" in original.extensions else {}
        )
        headers: dict[str, str] = kwargs.pop("headers", {})
        if "User-Agent" in original.headers:
            headers["User-Agent"] = original.headers["User-Agent"]
        return httpx.Request("GET", url, headers=headers, extensions=extensions, **kwargs)

    def _learn(self, response: httpx.Response) -> Challenge | None:
        """The challenge to answer, if the response is the registry's own 401 carrying one."""
        if response.status_code != 401 or not self._ours(response.request.url):
            return None
        offered = parse_challenges(response.headers.get_list("WWW-Authenticate"))
        chosen = next((c for c in offered if c.scheme == "bearer"), None)
        chosen = chosen or next((c for c in offered if c.scheme == "basic"), None)
        if chosen is not None:
            self._challenge = attrs.evolve(
                chosen, params={k: v for k, v in chosen.params.items() if k in ("realm", "service")}
            )
        return chosen

    def _realm(self, challenge: Challenge, registry_url: httpx.URL) -> httpx.URL:
        realm_text = challenge.params.get("realm")
        if not realm_text:
            raise AuthChallengeError("the registry's Bearer challenge names no realm")
        try:
            realm = httpx.URL(realm_text)
        except httpx.InvalidURL as exc:
            raise AuthChallengeError(f"the registry's token realm is not a URL: {exc}") from exc
        if realm.scheme not in ("http", "https") or not realm.host or realm.userinfo:
            raise AuthChallengeError(
                f"the registry's token realm {safe_url(realm)!r} is not an http(s) URL"
            )
        if realm.scheme == "http" and registry_url.scheme != "http":
            raise AuthChallengeError(
                f"the https registry names the plain-http token realm {safe_url(realm)!r}:"
                " refusing to send credentials or trust a token over http"
            )
        return realm

    def _fetch(
        self, request: httpx.Request, challenge: Challenge, scopes: tuple[str, ...]
    ) -> Generator[_Send, httpx.Response, str]:
        realm = self._realm(challenge, request.url)
        params: list[tuple[str, str]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        params.extend(("scope", scope) for scope in scopes)
        headers: dict[str, str] = {}
        basic = self._basic()
        if basic is not None:
            assert self.username is not None
            params.append(("account", self.username))
            headers["Authorization"] = basic
        ask = self._side_request(request, realm, params=params, headers=headers)
        answer = yield ask, True
        if answer.status_code != 200:
            raise error_from_response(answer, answer.content)
        try:
            document = json.loads(answer.content)
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):
            raise invalid_response(answer, "the token endpoint answered no JSON object")
        token = document.get("access_token") or document.get("token")
        try:
            value = check_header_value("token", token)
            if not value:
                raise InvalidInput("token", "is empty")
        except InvalidInput:
            raise invalid_response(answer, "the token endpoint answered no usable token") from None
        self._store(scopes, value, _lifetime(document, dt.datetime.now(dt.UTC)))
        return value

    def _authorise(self, request: httpx.Request, value: str) -> None:
        request.headers["Authorization"] = value
        request.extensions = {**request.extensions, _SET_HERE: True}

    def _flow(self, request: httpx.Request) -> Generator[_Send, httpx.Response, None]:
        if request.extensions.get(_SET_HERE):  # the same request sent again: renew what we set
            del request.headers["Authorization"]
        if not self._ours(request.url) or "Authorization" in request.headers:
            yield request, False
            return
        explicit = _request_scopes(request)
        match = _REPOSITORY_PATH.match(request.url.path)
        learned_key = (_action_kind(request.method), match.group(1) if match else request.url.path)
        scopes = explicit if explicit is not None else self._learned.get(learned_key)
        if self._challenge is None and not self._open and not _replayable(request):
            ping = yield (
                self._side_request(request, request.url.copy_with(path="/v2/", query=None)),
                False,
            )
            if ping.status_code == 401:
                self._learn(ping)
            elif ping.is_success:
                self._open = True
        token: str | None = None
        challenge = self._challenge
        if challenge is not None and challenge.scheme == "basic":
            basic = self._basic()
            if basic is not None:
                self._authorise(request, basic)
        elif challenge is not None and scopes is not None:
            token = self._cached(scopes) or (yield from self._fetch(request, challenge, scopes))
            self._authorise(request, f"Bearer {token}")
        response = yield request, False
        challenge = self._learn(response)
        if challenge is None or not _replayable(request):
            return
        if challenge.scheme == "basic":
            basic = self._basic()
            if basic is not None and request.headers.get("Authorization") != basic:
                self._authorise(request, basic)
                yield request, False
            return
        asked = tuple(challenge.params.get("scope", "").split())
        wanted = _normalise_scopes((*(scopes or ()), *asked))
        if token is not None and wanted == scopes:
            if challenge.params.get("error") == "insufficient_scope":
                return
            self._forget(scopes)
        if explicit is None:
            self._learned[learned_key] = wanted
        token = yield from self._fetch(request, challenge, wanted)
        self._authorise(request, f"Bearer {token}")
        yield request, False
