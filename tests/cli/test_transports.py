"""skopeo's transport names as copy, migrate and mirror read them (docker's host rule)."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_registry_v1.cli.reference import InvalidReference
from docker_registry_v1.cli.transports import (
    ArchiveLocation,
    DockerLocation,
    OCILocation,
    RegistryLocation,
    V1Location,
    parse_location,
    parse_registry,
)


@pytest.mark.parametrize(
    ("text", "expected", "api_host"),
    [
        (
            "docker://team/app",
            DockerLocation("docker.io", None, "team/app"),
            "registry-1.docker.io",
        ),
        (
            "docker://busybox:1.36",
            DockerLocation("docker.io", None, "library/busybox", "1.36"),
            "registry-1.docker.io",
        ),
        ("docker://localhost/app", DockerLocation("localhost", None, "app"), "localhost"),
        (
            "docker://registry.example.com/team/app:1.0",
            DockerLocation("registry.example.com", None, "team/app", "1.0"),
            "registry.example.com",
        ),
        ("docker://127.0.0.1:5000/a/b/c", DockerLocation("127.0.0.1", 5000, "a/b/c"), "127.0.0.1"),
        (
            "docker://host.example:5000/app@sha256:" + "a" * 64,
            DockerLocation("host.example", 5000, "app", None, "sha256:" + "a" * 64),
            "host.example",
        ),
    ],
)
def test_docker_references_follow_dockers_host_rule(
    text: str, expected: DockerLocation, api_host: str
) -> None:
    found = parse_location(text, "destination")
    assert found == expected
    assert isinstance(found, DockerLocation)
    assert found.api_host == api_host


def test_the_other_transports() -> None:
    assert parse_location("oci:/srv/layout:team/app:1.0", "d") == OCILocation(
        "/srv/layout", "team/app:1.0"
    )
    assert parse_location("oci:layout", "d") == OCILocation("layout", None)
    assert parse_location("docker-archive:/tmp/a.tar:team/app:1.0", "d") == ArchiveLocation(
        Path("/tmp/a.tar"), "team/app:1.0"
    )
    v1 = parse_location("v1://old.example.com/team/app:1.0", "s")
    assert isinstance(v1, V1Location)
    assert (v1.reference.host, v1.reference.repo, v1.reference.tag, v1.reference.scheme) == (
        "old.example.com",
        "team/app",
        "1.0",
        None,
    )
    plain = parse_location("http://10.0.0.5:5000/app", "s")
    assert isinstance(plain, V1Location)
    assert plain.reference.registry_url() == "http://10.0.0.5:5000"
    assert plain.reference.repo == "library/app"
    bare = parse_location("team/app", "s")
    assert isinstance(bare, V1Location)
    assert bare.reference.host is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("docker://", "expected docker://"),
        ("docker://team/app:", "empty tag"),
        ("docker://host.example/app:1@sha256:" + "a" * 64, "not both"),
        ("dir:/tmp/x", "dir: transport is not supported"),
        ("http://host-only", "expected http://HOST[:PORT]/REPO"),
        ("oci:", "names no directory"),
    ],
)
def test_bad_locations(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReference, match=None) as info:
        parse_location(text, "destination")
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("legacy.example.com:5000", RegistryLocation("v1", "legacy.example.com", 5000)),
        (
            "http://127.0.0.1:5000/team/app",
            RegistryLocation("v1", "127.0.0.1", 5000, "http", "team/app"),
        ),
        (
            "https://legacy.example.com/",
            RegistryLocation("v1", "legacy.example.com", None, "https"),
        ),
        ("v1://legacy.example.com/team", RegistryLocation("v1", "legacy.example.com", path="team")),
        (
            "docker://registry.example.com/legacy",
            RegistryLocation("docker", "registry.example.com", path="legacy"),
        ),
        ("docker://team", RegistryLocation("docker", "docker.io", path="team")),
        ("oci:/srv/layout", RegistryLocation("oci", directory="/srv/layout")),
    ],
)
def test_registry_locations(text: str, expected: RegistryLocation) -> None:
    assert parse_registry(text, "source") == expected
