"""Image reference parsing: docker's host rule, library default, tags, scheme choice."""

from __future__ import annotations

import pytest
from docker_registry_v1.cli.reference import (
    ImageReference,
    InvalidReference,
    is_image_id,
    registry_url,
)
from docker_registry_v1.core.errors import InvalidInput

ID64 = "a" * 64


@pytest.mark.parametrize(
    ("text", "host", "port", "repo", "tag", "url"),
    [
        ("ubuntu", None, None, "library/ubuntu", None, None),
        ("ubuntu:14.04", None, None, "library/ubuntu", "14.04", None),
        ("team/app", None, None, "team/app", None, None),
        ("team/app:1.0", None, None, "team/app", "1.0", None),
        (
            "127.0.0.1:5000/team/app:1.0",
            "127.0.0.1",
            5000,
            "team/app",
            "1.0",
            "http://127.0.0.1:5000",
        ),
        ("127.0.0.1:5000/app", "127.0.0.1", 5000, "library/app", None, "http://127.0.0.1:5000"),
        ("localhost/app", "localhost", None, "library/app", None, "http://localhost"),
        ("localhost:5000/ns/app:v2", "localhost", 5000, "ns/app", "v2", "http://localhost:5000"),
        ("[::1]:5000/ns/app:1", "::1", 5000, "ns/app", "1", "http://[::1]:5000"),
        (
            "registry.example.com/ns/app",
            "registry.example.com",
            None,
            "ns/app",
            None,
            "https://registry.example.com",
        ),
        (
            "Registry.Example.com:8443/app",
            "registry.example.com",
            8443,
            "library/app",
            None,
            "https://registry.example.com:8443",
        ),
        ("10.1.2.3:5000/ns/app", "10.1.2.3", 5000, "ns/app", None, "https://10.1.2.3:5000"),
        ("127.0.0.2:80/ns/app", "127.0.0.2", 80, "ns/app", None, "http://127.0.0.2:80"),
        # no '.' / ':' and not localhost: a namespace, as docker reads it
        ("myhost/app", None, None, "myhost/app", None, None),
        # a lone host-looking name is a repository with a tag
        ("localhost:5000", None, None, "library/localhost", "5000", None),
    ],
)
def test_parse(
    text: str, host: str | None, port: int | None, repo: str, tag: str | None, url: str | None
) -> None:
    ref = ImageReference.parse(text)
    assert (ref.host, ref.port, ref.repo, ref.tag) == (host, port, repo, tag)
    assert ref.registry_url() == url


def test_plain_http_and_default_tag() -> None:
    ref = ImageReference.parse("registry.example.com/ns/app")
    assert ref.registry_url(plain_http=True) == "http://registry.example.com"
    assert ref.with_tag() == "latest"
    assert str(ImageReference.parse("[::1]:5000/ns/app:1")) == "[::1]:5000/ns/app:1"
    assert str(ImageReference.parse("app")) == "library/app"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        (" app", "spaces"),
        ("a/b/c", "'name' or 'namespace/name'"),
        ("../app", "HOST[:PORT]"),
        ("ns/..", "not allowed"),
        ("ns/", "empty"),
        ("app:", "tag"),
        ("app:-bad", "tag"),
        ("app@sha256:abcd", "only v2 registries"),
        ("app@SHA256:abcd", "only v2 registries"),
        ("app@abcdef12345", "12 to 64"),
        ("app@" + "a" * 65, "12 to 64"),
        ("app@ABCDEF123456", "12 to 64"),
        ("app:1.0@abcdef123456", "not both"),
        ("app@", "12 to 64"),
        ("host:99999/app", "HOST[:PORT]"),
        ("host:port/app", "HOST[:PORT]"),
        ("127.0.0.1:5000/", "empty"),
        ("ns/ap p", "may only contain"),
        (ID64, "image id"),
    ],
)
def test_bad_references(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReference) as info:
        ImageReference.parse(text)
    assert isinstance(info.value, InvalidInput)
    assert fragment in str(info.value)


def test_image_ids() -> None:
    assert is_image_id(ID64)
    assert is_image_id("0123456789abcdef")
    assert not is_image_id("ubuntu")
    assert not is_image_id("A" * 64)


@pytest.mark.parametrize(
    ("value", "plain", "expected"),
    [
        (None, False, "https://index.docker.io/v1/"),
        ("127.0.0.1:5000", False, "http://127.0.0.1:5000"),
        ("[::1]:5000", False, "http://[::1]:5000"),
        ("registry.example.com", False, "https://registry.example.com"),
        ("registry.example.com", True, "http://registry.example.com"),
        ("https://127.0.0.1:5000/v1/", False, "https://127.0.0.1:5000/v1/"),
    ],
)
def test_registry_url(value: str | None, plain: bool, expected: str) -> None:
    assert registry_url(value, plain_http=plain) == expected


@pytest.mark.parametrize(
    "value", ["ftp://host", "http://user:pw@host/", "not a host", "http:///v1/"]
)
def test_bad_registry_url(value: str) -> None:
    with pytest.raises(InvalidReference) as info:
        registry_url(value)
    assert "pw" not in str(info.value)
