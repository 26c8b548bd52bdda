"""Selection, naming and sharding: pure functions, checked hard (no registry needed)."""

from __future__ import annotations

import hashlib
import re

import pytest
from docker_registry_v1 import InvalidInput, RepositoryName, Selection, shard_of
from docker_registry_v1.oci.client import check_name
from docker_registry_v1.transfer.selection import parse_shard

#: shard_of(name, 7) for "a/b", "library/ubuntu", "team0/app-000", fixed for good.
PINNED = [6, 1, 6]
NAMES = [f"team{n % 4}/app-{n:03d}" for n in range(37)] + [f"library/base{n}" for n in range(5)]


def v1_rule(name: str) -> None:
    RepositoryName.parse(name)


def test_include_searches_and_exclude_wins() -> None:
    selection = Selection.parse(include=["^team1/", "base"], exclude=["app-00[0-5]$"])
    chosen = [name for name in NAMES if selection.repository_selected(name)]
    assert chosen == [
        name
        for name in NAMES
        if (name.startswith("team1/") or "base" in name) and not re.search("app-00[0-5]$", name)
    ]
    assert "team1/app-009" in chosen
    assert "team1/app-005" not in chosen
    assert "library/base3" in chosen


def test_no_filters_select_everything() -> None:
    selection = Selection()
    assert all(selection.repository_selected(name) for name in NAMES)
    assert selection.tag_selected("anything")


def test_tags_must_match_whole() -> None:
    selection = Selection.parse(tags=r"1\.\d+")
    assert selection.tag_selected("1.2")
    assert selection.tag_selected("1.10")
    assert not selection.tag_selected("1.2-rc1")
    assert not selection.tag_selected("v1.2")
    assert not selection.tag_selected("latest")


@pytest.mark.parametrize(
    ("flag", "kwargs"),
    [
        ("--include", {"include": ["("]}),
        ("--exclude", {"exclude": ["[a-"]}),
        ("--tags", {"tags": "*x"}),
        ("--rename", {"rename": ["(a"]}),
        ("--rename", {"rename": ["=x"]}),
        ("--rename", {"rename": ["no-equals-sign"]}),
        ("--rename", {"rename": ["(a)=\\2"]}),
        ("--shard", {"shard": "3/3"}),
        ("--shard", {"shard": "-1/3"}),
        ("--shard", {"shard": "1/0"}),
        ("--shard", {"shard": "1"}),
        ("--shard", {"shard": "a/b"}),
    ],
)
def test_bad_option_names_its_flag(flag: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as caught:
        Selection.parse(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == flag


def test_library_mapping_rename_and_prefix() -> None:
    selection = Selection.parse(
        rename=[r"^team(\d)/=group\1/", "^library/=official/"], prefix="mirror/"
    )
    assert selection.destination_name("team2/app", check_name) == "mirror/group2/app"
    # un-namespaced names are library/ first, then the first matching rule applies
    assert selection.destination_name("app", check_name) == "mirror/official/app"
    assert selection.destination_name("other/app", check_name) == "mirror/other/app"
    # a v1 destination refuses the third path segment the prefix added
    with pytest.raises(InvalidInput, match="'mirror/other/app'"):
        selection.destination_name("other/app", v1_rule)


def test_first_matching_rule_only_and_once() -> None:
    selection = Selection.parse(rename=["a=b", "b=c"], library=False)
    assert selection.destination_name("ns/aaa", lambda _: None) == "ns/baa"
    assert selection.destination_name("ns/bbb", lambda _: None) == "ns/cbb"
    assert selection.destination_name("xyz", lambda _: None) == "xyz"  # no library/ mapping


def test_destination_rule_refusal_names_both() -> None:
    selection = Selection.parse(rename=["^team0/app=Team0/App"])
    with pytest.raises(InvalidInput) as caught:
        selection.destination_name("team0/app", check_name)
    message = str(caught.value)
    assert "'team0/app'" in message
    assert "'Team0/App'" in message
    assert selection.destination_name("team0/app", v1_rule) == "Team0/App"


def test_shard_of_is_in_range() -> None:
    assert shard_of("a/b", 1) == 0
    assert {shard_of(name, 3) for name in NAMES} == {0, 1, 2}
    with pytest.raises(InvalidInput):
        shard_of("a/b", 0)


def test_shard_values_are_pinned() -> None:
    """The mapping must never change between releases (N machines may run different ones),
    nor between processes, which Python's ``hash()`` would."""
    assert [shard_of(name, 7) for name in ("a/b", "library/ubuntu", "team0/app-000")] == PINNED
    for name in NAMES:
        expected = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 7
        assert shard_of(name, 7) == expected


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_shards_partition_the_names(count: int) -> None:
    shards = [
        {
            name
            for name in NAMES
            if Selection.parse(shard=f"{index}/{count}").repository_selected(name)
        }
        for index in range(count)
    ]
    assert set().union(*shards) == set(NAMES)
    assert sum(len(shard) for shard in shards) == len(NAMES)  # disjoint


def test_an_unnamespaced_name_shards_as_its_library_name() -> None:
    for count in (2, 3, 5):
        for index in range(count):
            selection = Selection.parse(shard=f"{index}/{count}")
            for n in range(20):
                assert selection.repository_selected(f"app{n}") == (
                    selection.repository_selected(f"library/app{n}")
                )


def test_shards_compose_with_filters() -> None:
    include = ["^team"]
    whole = {n for n in NAMES if Selection.parse(include=include).repository_selected(n)}
    parts = [
        {
            n
            for n in NAMES
            if Selection.parse(include=include, shard=f"{i}/3").repository_selected(n)
        }
        for i in range(3)
    ]
    assert set().union(*parts) == whole
    assert sum(map(len, parts)) == len(whole)


def test_shard_auto_reads_job_completion_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    assert Selection.parse(shard="auto/4").shard == (2, 4)
    assert parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "0"}) == (0, 4)
    for environ in ({}, {"JOB_COMPLETION_INDEX": "4"}, {"JOB_COMPLETION_INDEX": "x"}):
        with pytest.raises(InvalidInput) as caught:
            parse_shard("auto/4", environ)
        assert "JOB_COMPLETION_INDEX" in str(caught.value) or "0 to 3" in str(caught.value)


def test_constructed_selection_checks_its_shard() -> None:
    with pytest.raises(InvalidInput):
        Selection(shard=(2, 2))
