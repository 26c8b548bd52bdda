"""Name parsing: random strings give a parsed value or the parser's typed error.

For each parser of names a user or a server supplies (v1 repository names, the CLI's
image references and transports, OCI layout ref names, archive ``name:tag``s), any
string either parses into a value whose string form parses back to the same value, or
raises the typed error (`InvalidInput` and its `InvalidReference`), nothing else. And
docker's rule for the registry host holds: the first path component is a host only
when it has a ``.`` or ``:`` or is ``localhost``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from docker_registry_v1 import InvalidInput, RepositoryName
from docker_registry_v1.cli.reference import ImageReference, InvalidReference
from docker_registry_v1.cli.transports import (
    DOCKER_HUB,
    ArchiveLocation,
    DockerLocation,
    OCILocation,
    V1Location,
    parse_location,
    parse_registry,
)
from docker_registry_v1.formats.archive.names import RepoTag, parse_repo_tag
from docker_registry_v1.formats.layout import check_ref, parse_layout_reference
from docker_registry_v1.oci.client import check_name, check_reference
from hypothesis import example, given
from hypothesis import strategies as st
from property_support import budget, tricky_text

T = TypeVar("T")

_HOSTS = [
    "reg.example",
    "reg.example:5000",
    "localhost",
    "localhost:5000",
    "127.0.0.1:80",
    "[::1]:5000",
    "Reg.Example",
]
_PIECES = [
    "a",
    "ns",
    "team",
    "app",
    "library",
    "..",
    ".",
    "",
    "x:1",
    "1.0",
    "@",
    "sha256",
    "a" * 64,
    "A",
    "-x",
]
#: Strings made of the parts of real references, then arbitrary text.
references = (
    st.builds(
        lambda prefix, parts, suffix: prefix + "/".join(parts) + suffix,
        st.sampled_from(
            [
                "",
                "",
                "http://",
                "https://",
                "v1://",
                "docker://",
                "oci:",
                "docker-archive:",
                "HTTP://",
            ]
        ),
        st.lists(st.sampled_from(_HOSTS + _PIECES) | tricky_text, min_size=1, max_size=4),
        st.sampled_from(
            ["", ":latest", ":1.0", "@" + "ab" * 6, "@sha256:" + "0" * 64, ":", "@", ":a:b"]
        ),
    )
    | tricky_text
)


def outcome(parse: Callable[[str], T], text: str) -> T | InvalidInput:
    """The parsed value or the typed error; any other exception fails the property."""
    try:
        return parse(text)
    except InvalidInput as exc:
        return exc


def has_host(first: str) -> bool:
    """docker's rule, restated."""
    return "." in first or ":" in first or first == "localhost"


@budget(400)
@given(references)
@example("v1://app/ns/repo")  # a host without a dot, named by its scheme
@example("http://registry/app:1.0")
def test_image_references(text: str) -> None:
    parsed = outcome(ImageReference.parse, text)
    if isinstance(parsed, InvalidInput):
        assert isinstance(parsed, InvalidReference)
        return
    assert ImageReference.parse(str(parsed)) == parsed, str(parsed)
    lowered = text.lower()
    if lowered.startswith(("http://", "https://", "v1://")):
        assert parsed.host is not None
        return
    first, sep, _rest = text.partition("@")[0].partition("/")
    assert (parsed.host is not None) == bool(sep and has_host(first))
    if parsed.host is None:
        assert str(RepositoryName.parse(parsed.repo)) == parsed.repo


@budget(300)
@given(tricky_text)
def test_repository_names(text: str) -> None:
    parsed = outcome(RepositoryName.parse, text)
    if isinstance(parsed, InvalidInput):
        assert parsed.field == "repository"
        return
    assert RepositoryName.parse(str(parsed)) == parsed


def _spelled(location: object) -> str:
    """The location as a user would type it again."""
    text = str(location)
    return f"docker://{text}" if isinstance(location, DockerLocation) else text


@budget(400)
@given(references)
@example("docker://app")
@example("docker://localhost/app:1")
@example("docker://reg.example:5000/a/b@sha256:" + "0" * 64)
def test_transport_locations(text: str) -> None:
    parsed = outcome(lambda t: parse_location(t, "source"), text)
    if isinstance(parsed, InvalidInput):
        assert isinstance(parsed, InvalidReference)
        assert parsed.field in {"source", "reference"}  # a v1 reference's own field
        return
    assert parse_location(_spelled(parsed), "source") == parsed, _spelled(parsed)
    if isinstance(parsed, DockerLocation):
        first, sep, _rest = text.removeprefix("docker://").partition("@")[0].partition("/")
        if sep and has_host(first):
            assert parsed.host != DOCKER_HUB or first.lower().startswith(DOCKER_HUB)
        else:
            assert (parsed.host, parsed.port) == (DOCKER_HUB, None)
            assert "/" in parsed.repository
    elif isinstance(parsed, OCILocation):
        assert text.startswith("oci:")
    elif isinstance(parsed, ArchiveLocation):
        assert text.startswith("docker-archive:")
    else:
        assert isinstance(parsed, V1Location)
        assert ImageReference.parse(text) == parsed.reference


@budget(300)
@given(references)
def test_registry_locations(text: str) -> None:
    parsed = outcome(lambda t: parse_registry(t, "destination"), text)
    if isinstance(parsed, InvalidInput):
        assert isinstance(parsed, InvalidReference)
        return
    assert parsed.transport in {"v1", "docker", "oci"}
    if parsed.transport == "docker":
        first = text.removeprefix("docker://").rstrip("/").partition("/")[0]
        assert (parsed.host == DOCKER_HUB and parsed.port is None) or has_host(first)
        if not has_host(first):
            assert parsed.host == DOCKER_HUB
    elif parsed.transport == "oci":
        assert parsed.directory
        assert ":" not in parsed.directory


_refs = st.from_regex(r"[A-Za-z0-9._:@+/-]{1,20}", fullmatch=True) | tricky_text


@budget(300)
@given(directory=tricky_text, ref=_refs)
def test_oci_layout_references(directory: str, ref: str) -> None:
    text = f"oci:{directory}:{ref}"
    parsed = outcome(parse_layout_reference, text)
    if isinstance(parsed, InvalidInput):
        assert parsed.field in {"destination", "tag"}
        return
    path, parsed_ref = parsed
    again = parse_layout_reference(f"oci:{path}" + (f":{parsed_ref}" if parsed_ref else ""))
    assert again == parsed
    if parsed_ref is not None:
        assert check_ref(parsed_ref) == parsed_ref


@budget(300)
@given(_refs)
def test_oci_registry_names_and_references(text: str) -> None:
    for check in (check_name, check_reference, check_ref):
        checked = outcome(check, text)
        assert isinstance(checked, InvalidInput) or checked == text


@budget(300)
@given(references)
@example("docker.io/library/busybox:1")
@example("localhost:5000/a:b")
def test_archive_repo_tags(text: str) -> None:
    parsed = parse_repo_tag(text)
    if parsed is None:
        return
    assert isinstance(parsed, RepoTag)
    assert parse_repo_tag(str(parsed)) == parsed
