"""Clear answers (issue 19): each 404 says what is missing, over real sockets.

A missing tag is not a missing repository; a server that speaks only v2 (the real
distribution, open and behind token auth) is named as such wherever a v1 registry
was expected, with the ``docker://`` reference to use; ``migrate`` into a
``docker://`` host that is no v2 registry says so exactly as ``copy`` does. Every
answer is one ``error:`` line with exit status 1, and none costs a request when
nothing failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import assert_one_line_failure, chain, netloc
from docker_registry_v1 import (
    AsyncClient,
    Client,
    NotFound,
    RepositoryNotFound,
    SearchUnavailable,
    TagNotFound,
    V2OnlyRegistry,
    inventory,
)
from docker_registry_v1.emulator import Hub, Standalone
from regv1_runner import regv1
from v2.v2registry import V2Registry, run_registry


@pytest.fixture(scope="module")
def v2_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Registry]:
    """Distribution without auth: ``GET /v2/`` answers 200."""
    with run_registry("none", tmp_path_factory.mktemp("v2-open")) as registry:
        yield registry


@pytest.fixture(scope="module")
def v2_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Registry]:
    """Distribution behind token auth: ``GET /v2/`` answers 401 with a challenge."""
    with run_registry("token", tmp_path_factory.mktemp("v2-token")) as registry:
        yield registry


@pytest.fixture(params=["open", "token"])
def v2_only(request: pytest.FixtureRequest) -> tuple[str, int]:
    """A v2-only server's ``HOST:PORT`` and what its ``/v2/`` answers."""
    registry: V2Registry = request.getfixturevalue(f"v2_{request.param}")
    return registry.host, 200 if request.param == "open" else 401


@pytest.fixture
def seeded(standalone: Standalone) -> Standalone:
    standalone.store.seed("team/app", "1.0", chain(1))
    standalone.log.clear()
    return standalone


def _paths(registry: Standalone) -> list[str]:
    return [entry.path for entry in registry.log.entries]


# ---------------------------------------------------------------- tag or repository


def test_a_missing_tag_is_told_from_a_missing_repository(seeded: Standalone) -> None:
    with Client(seeded.url) as client:
        with pytest.raises(TagNotFound) as tag:
            client.repository.get_image_id("team/app", "nope")
        assert (tag.value.repository, tag.value.tag, tag.value.code) == ("team/app", "nope", 404)
        assert "tag nope not found in repository team/app" in str(tag.value)
        assert tag.value.message == "Tag not found"  # the server's own words are kept
        # the reference registry says "Tag not found" for an unknown repository too: the
        # tag list decides, one request, on the error path only
        assert _paths(seeded) == [
            "/v1/repositories/team/app/tags/nope",
            "/v1/repositories/team/app/tags",
        ]
        seeded.log.clear()
        with pytest.raises(RepositoryNotFound) as repository:
            client.repository.get_image_id("team/none", "1.0")
        assert repository.value.repository == "team/none"
        assert "repository team/none not found" in str(repository.value)
        assert not isinstance(repository.value, TagNotFound)
        seeded.log.clear()
        with pytest.raises(RepositoryNotFound):
            client.repository.list_tags("team/none")
        # "Repository not found" is plain: nothing more is asked
        assert _paths(seeded) == ["/v1/repositories/team/none/tags"]
        seeded.log.clear()
        assert client.repository.get_image_id("team/app", "1.0") == chain(1)[0].id
        assert _paths(seeded) == ["/v1/repositories/team/app/tags/1.0"]  # success: one request


def test_old_except_clauses_still_catch_them(seeded: Standalone) -> None:
    with Client(seeded.url) as client:
        for call in (
            lambda: client.repository.get_image_id("team/app", "nope"),
            lambda: client.repository.delete_tag("team/app", "nope"),
            lambda: client.repository.list_tags("no/such"),
        ):
            with pytest.raises(NotFound):
                call()


def test_an_ambiguous_404_is_decided_by_the_tag_list(seeded: Standalone) -> None:
    """An HTML 404 (a proxy's page) says nothing: the tag list and ``_ping`` decide."""
    seeded.faults.html_error("/v1/repositories/team/app/tags/nope", 404)
    with Client(seeded.url) as client, pytest.raises(TagNotFound):
        client.repository.get_image_id("team/app", "nope")
    seeded.faults.html_error("/v1/repositories/team/none/tags", 404)
    with Client(seeded.url) as client, pytest.raises(RepositoryNotFound) as caught:
        client.repository.list_tags("team/none")
    assert not isinstance(caught.value, V2OnlyRegistry)  # its _ping answers: a v1 registry
    assert "/v2/" not in _paths(seeded)
    # a tag its repository lists, yet answered 404: not called missing
    seeded.faults.html_error("/v1/repositories/team/app/tags/1.0", 404)
    with Client(seeded.url) as client, pytest.raises(NotFound) as listed:
        client.repository.get_image_id("team/app", "1.0")
    assert type(listed.value) is NotFound


@pytest.mark.anyio
async def test_the_async_client_tells_them_apart_too(seeded: Standalone) -> None:
    async with AsyncClient(seeded.url) as client:
        with pytest.raises(TagNotFound):
            await client.repository.get_image_id("team/app", "nope")
        with pytest.raises(RepositoryNotFound):
            await client.repository.get_image_id("team/none", "nope")


@pytest.mark.parametrize(
    "command",
    [
        ["image-id", "{host}/team/app:nope"],
        ["metadata", "{host}/team/app:nope"],
        ["pull", "{host}/team/app:nope", "-o", "{tmp}/out.tar"],
        ["copy", "{host}/team/app:nope", "oci:{tmp}/layout:1"],
        ["untag", "{host}/team/app:nope"],
    ],
)
def test_commands_name_the_missing_tag_and_its_repository(
    seeded: Standalone, tmp_path: Path, command: list[str]
) -> None:
    args = [arg.format(host=netloc(seeded.url), tmp=tmp_path) for arg in command]
    result = regv1(*args)
    assert_one_line_failure(result, "tag nope not found in repository team/app")
    assert "repository team/app not found" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [["tags", "{host}/team/none"], ["image-id", "{host}/team/none:1.0"]],
)
def test_commands_name_the_missing_repository(seeded: Standalone, command: list[str]) -> None:
    args = [arg.format(host=netloc(seeded.url)) for arg in command]
    result = regv1(*args)
    assert_one_line_failure(result, "repository team/none not found, or no access to it")
    assert "tag " not in result.stderr


def test_a_hub_style_index_tells_them_apart_too(hub: Hub) -> None:
    """With index tokens the repository's 404 comes from the index's image list."""
    hub.store.seed("team/app", "1.0", chain(1))
    index = netloc(hub.index_url)
    assert_one_line_failure(
        regv1("image-id", f"{index}/team/app:nope"), "tag nope not found in repository team/app"
    )
    for args in (["image-id", f"{index}/team/none:1"], ["tags", f"{index}/team/none"]):
        assert_one_line_failure(
            regv1(*args), "/images returned 404: repository team/none not found, or no access"
        )


# ---------------------------------------------------------------- a v2-only source


@pytest.mark.parametrize(
    "command",
    [
        ["tags", "{host}/app"],
        ["image-id", "{host}/app:1"],
        ["ping", "{host}"],
        ["inventory", "{host}"],
        ["inventory", "{host}/app"],
        ["migrate", "{host}", "oci:{tmp}/layout", "--journal", "{tmp}/j.sqlite"],
        ["migrate", "{host}/app", "oci:{tmp}/layout", "--journal", "{tmp}/j.sqlite"],
    ],
)
def test_a_v2_only_source_is_named(
    v2_only: tuple[str, int], tmp_path: Path, command: list[str]
) -> None:
    host, status = v2_only
    result = regv1(*[arg.format(host=host, tmp=tmp_path) for arg in command])
    assert_one_line_failure(
        result,
        f"{host} speaks the v2 registry API only (GET /v2/ answered {status}); use docker://",
        "as a destination or skopeo for v2 sources",
    )
    assert "search disabled" not in result.stderr


def test_the_library_names_a_v2_only_registry(v2_open: V2Registry) -> None:
    with Client(v2_open.url) as client:
        with pytest.raises(V2OnlyRegistry) as caught:
            inventory(client)
        assert not isinstance(caught.value, SearchUnavailable)
        assert isinstance(caught.value, NotFound)
        assert (caught.value.registry, caught.value.v2_status) == (v2_open.host, 200)
        with pytest.raises(V2OnlyRegistry) as tags:
            client.repository.list_tags("team/app")
        assert f"use docker://{v2_open.host}/team/app as a destination" in str(tags.value)


def test_a_v1_registry_without_search_or_ping_is_not_called_v2(standalone: Standalone) -> None:
    """Only a ``/v2/`` that answers as distribution does makes a registry v2-only."""
    standalone.faults.html_error("/v1/search", 404, times=None)
    standalone.faults.html_error("/v1/_ping", 404, times=None)
    result = regv1("inventory", netloc(standalone.url))
    assert_one_line_failure(result, "search disabled", "--repos-from FILE")
    assert "v2" not in result.stderr
    assert len(standalone.log.find(path="/v2/")) == 1  # asked on the error path, once


def test_success_asks_nothing_about_v2(seeded: Standalone) -> None:
    result = regv1("tags", f"{netloc(seeded.url)}/team/app")
    assert result.exit_code == 0, result.stderr
    assert "1.0" in result.stdout
    assert not seeded.log.find(path="/v2/*")


# ---------------------------------------------------------------- a destination that is not v2


def test_migrate_into_a_non_v2_registry_says_so_as_copy_does(
    seeded: Standalone, tmp_path: Path
) -> None:
    host = netloc(seeded.url)
    copied = regv1("copy", f"{host}/team/app:1.0", f"docker://{host}/app:1")
    assert_one_line_failure(copied, "not an OCI/v2 registry: GET /v2/ answered 404")
    for extra in ([], ["--dry-run"]):
        journal = tmp_path / f"j{len(extra)}.sqlite"
        migrated = regv1("migrate", host, f"docker://{host}", "--journal", str(journal), *extra)
        assert_one_line_failure(migrated, "not an OCI/v2 registry: GET /v2/ answered 404")
        assert migrated.stderr == copied.stderr
        assert "tags/list" not in migrated.stderr


# ---------------------------------------------------------------- a v2 host without docker://


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [("{host}/app:1", "docker://{host}/app:1"), ("{host}/team/web", "docker://{host}/team/web")],
)
def test_a_v2_destination_without_docker_gets_the_suggestion(
    seeded: Standalone, v2_only: tuple[str, int], typed: str, suggested: str
) -> None:
    host, status = v2_only
    result = regv1("copy", f"{netloc(seeded.url)}/team/app:1.0", typed.format(host=host))
    assert_one_line_failure(
        result,
        f"{host} speaks the v2 registry API only (GET /v2/ answered {status})",
        f"use {suggested.format(host=host)} as a destination",
    )
