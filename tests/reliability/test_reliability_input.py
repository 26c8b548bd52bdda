"""Bad input is caught before the wire with a typed ``InvalidInput`` naming the field.

The property tests drive the facade with generated text against a live emulator
and hold it to an independent statement of the rules: either the call raises
``InvalidInput`` and the emulator saw nothing, or the value is valid by the rules
and the request path (or header) the emulator logged is exactly the expected one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from docker_registry_v1 import BasicAuth, Client, InvalidInput, RegistryError, TokenAuth
from docker_registry_v1.emulator import Standalone, run_standalone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import IMAGE_ID, settled

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# The rules, stated independently of overlay/docker_registry_v1/core/names.py.
_PART = re.compile(r"[A-Za-z0-9_.-]{1,255}")
_ID = re.compile(r"[0-9a-f]{16}|[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HEADER = re.compile(r"[\t\x20-\x7e]*")

# Characters that matter for the rules, plus some that must never get through.
_TRICKY = "aZ09_.-/:%?#@ \t\r\n\x00\x7fé\u0130\u212a"
tricky_text = st.text(alphabet=_TRICKY, max_size=12) | st.text(max_size=12)


def expected_repository(name: str) -> tuple[str, str] | None:
    parts = name.split("/")
    if len(parts) == 1:
        if re.fullmatch(r"[0-9a-f]{64}", name):
            return None
        parts = ["library", name]
    if len(parts) != 2 or ":" in parts[0]:
        return None
    if any(p in {".", ".."} or not _PART.fullmatch(p) for p in parts):
        return None
    return parts[0], parts[1]


@pytest.fixture(scope="module")
def registry() -> Iterator[Standalone]:
    with run_standalone() as reg:
        yield reg


@pytest.fixture(scope="module")
def client(registry: Standalone) -> Iterator[Client]:
    with Client(registry.url) as c:
        yield c


def _outcome(registry: Standalone, call: object) -> tuple[bool, list[object]]:
    """Run ``call``; say whether it was refused as input, and what reached the emulator."""
    before = len(settled(registry, 0.0))
    try:
        call()  # type: ignore[operator]
    except InvalidInput:
        return False, registry.log.entries[before:]
    except RegistryError:
        pass
    return True, settled(registry)[before:]


@PROPERTY
@given(name=tricky_text)
def test_repository_names(registry: Standalone, client: Client, name: str) -> None:
    sent, seen = _outcome(registry, lambda: client.repository.list_tags(name))
    expected = expected_repository(name)
    if not sent:
        assert expected is None, f"valid name {name!r} was refused"
        assert seen == []
        return
    assert expected is not None, f"invalid name {name!r} reached the wire"
    assert [e.path for e in seen] == [f"/v1/repositories/{expected[0]}/{expected[1]}/tags"]


@PROPERTY
@given(image_id=tricky_text | st.text(alphabet="0123456789abcdefABCDEF", min_size=15, max_size=65))
def test_image_ids(registry: Standalone, client: Client, image_id: str) -> None:
    sent, seen = _outcome(registry, lambda: client.image.get_ancestry(image_id))
    if not sent:
        assert not _ID.fullmatch(image_id)
        assert seen == []
        return
    assert _ID.fullmatch(image_id)
    assert [e.path for e in seen] == [f"/v1/images/{image_id}/ancestry"]


@PROPERTY
@given(tag=tricky_text | st.text(alphabet="a.-_", min_size=120, max_size=135))
def test_tags(registry: Standalone, client: Client, tag: str) -> None:
    sent, seen = _outcome(registry, lambda: client.repository.get_image_id("ns/repo", tag))
    if not sent:
        assert not _TAG.fullmatch(tag)
        assert seen == []
        return
    assert _TAG.fullmatch(tag)
    # the 404 (ns/repo does not exist) is explained by the repository's tag list, once
    paths = [e.path for e in seen]
    assert paths == [f"/v1/repositories/ns/repo/tags/{tag}", "/v1/repositories/ns/repo/tags"]


def valid_header_value(text: str) -> bool:
    """Visible ASCII with inner spaces or tabs only: what HTTP/1.1 lets through unchanged."""
    return bool(_HEADER.fullmatch(text)) and text == text.strip(" \t")


@PROPERTY
@given(value=tricky_text)
def test_header_values(registry: Standalone, client: Client, value: str) -> None:
    checksum = "sha256:" + value
    sent, seen = _outcome(registry, lambda: client.image.put_checksum(IMAGE_ID, checksum))
    valid = valid_header_value(checksum) and value != ""
    if not sent:
        assert not valid, f"valid header value {checksum!r} was refused"
        assert seen == []
        return
    assert valid, f"invalid header value {checksum!r} reached the wire"
    assert [e.headers["x-docker-checksum-payload"] for e in seen] == [checksum]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.repository.list_tags("ns/../etc"), "repository"),
        (lambda c: c.repository.list_tags("ns/a/b"), "repository"),
        (lambda c: c.repository.list_tags("/repo"), "repository"),
        (lambda c: c.repository.list_tags("ns/"), "repository"),
        (lambda c: c.repository.list_tags(".."), "repository"),
        (lambda c: c.repository.list_tags("ns/" + "r" * 256), "repository"),
        (lambda c: c.repository.list_tags("evil.example:5000/ns/r"), "repository"),
        (lambda c: c.repository.list_tags(IMAGE_ID), "repository"),
        (lambda c: c.repository.set_tag("ns/r", IMAGE_ID, "../x"), "tag"),
        (lambda c: c.repository.set_tag("ns/r", IMAGE_ID, "-lead"), "tag"),
        (lambda c: c.repository.set_tag("ns/r", IMAGE_ID, "t" * 129), "tag"),
        (lambda c: c.repository.set_tag("ns/r", IMAGE_ID.upper(), "t"), "image_id"),
        (lambda c: c.image.get_metadata("a" * 15), "image_id"),
        (lambda c: c.image.get_metadata("../" + "a" * 61), "image_id"),
        (lambda c: c.image.put_checksum(IMAGE_ID, "sha256:x\r\nX-Evil: 1"), "checksum"),
        (lambda c: c.image.put_checksum(IMAGE_ID, "sha256:\x00"), "checksum"),
        (lambda c: c.image.put_checksum(IMAGE_ID, "sha256:caf\u00e9"), "checksum"),
        (lambda c: c.repository.update_images("ns/r", ["../" + "a" * 61]), "images"),
        (lambda c: c.search.query("x", num=10**9), "num"),
        (lambda c: c.search.query("x", page=10**12), "page"),
        (lambda c: c.search.query("x", num=0), "num"),
        (lambda c: c.users.update("bob/../admin", email="e@x"), "username"),
        (lambda c: c.users.create("bob", "pw\r\nX: y", "e@x"), "password"),
    ],
)
def test_typed_error_names_the_field_and_nothing_is_sent(
    registry: Standalone, client: Client, call: object, field: str
) -> None:
    before = len(settled(registry, 0.0))
    with pytest.raises(InvalidInput) as caught:
        call(client)  # type: ignore[operator]
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert registry.log.entries[before:] == []


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: BasicAuth("al\nice", "pw"), "username"),
        (lambda: BasicAuth("alice:x", "pw"), "username"),
        (lambda: BasicAuth("alice", "p\rw"), "password"),
        (lambda: BasicAuth("alice", "pw", host="evil.example/path"), None),
        (lambda: TokenAuth("host:5000", "tok\r\nX-Evil: 1"), "token"),
        (lambda: TokenAuth("host:5000", "tok\u00e9"), "token"),
        (lambda: Client("http://user:pw@127.0.0.1:1/v1/"), "base_url"),
        (lambda: Client("ftp://127.0.0.1/v1/"), "base_url"),
        (lambda: Client("http://127.0.0.1:1/", headers={"X-A": "b\nc"}), None),
        (lambda: Client("http://127.0.0.1:1/", headers={"X A": "b"}), "headers"),
        (lambda: Client("http://127.0.0.1:1/", headers={"Host": "evil.example"}), "headers"),
    ],
)
def test_credentials_and_client_options_are_checked_when_built(build: object, field: str) -> None:
    with pytest.raises(ValueError, match=field) as caught:
        build()  # type: ignore[operator]
    if field is not None and isinstance(caught.value, InvalidInput):
        assert caught.value.field.startswith(field)


def test_non_ascii_password_is_fine_for_basic(registry: Standalone, client: Client) -> None:
    """Basic credentials are base64-encoded, so only line breaks and NUL are refused there."""
    client.ping(auth=BasicAuth("alice", "pässwörd"))
    assert settled(registry)[-1].authorization.startswith("Basic ")
