"""Upload order: the tags holding the images most tags share go first, so a run stopped
half-way has already put up the layers the most other tags will mount from."""

from __future__ import annotations

from docker_registry_v1.transfer.migrate import _most_shared_first
from docker_registry_v1.transfer.migrate_plan import PlannedTag, TagState


def tag(repo: str, name: str, *chain: str) -> PlannedTag:
    return PlannedTag(repo, name, chain[-1], chain, repo, name, TagState.COPY)


def test_the_tags_on_the_most_shared_base_go_first_and_repositories_follow_them() -> None:
    lonely = tag("a/lonely", "v1", "solo-base", "solo-top")
    small = [tag(f"b/small{n}", "v1", "small-base", f"small-{n}") for n in range(2)]
    big = [tag(f"c/big{n}", "v1", "big-base", "big-mid", f"big-{n}") for n in range(4)]
    order = _most_shared_first((lonely, *small, *big))
    assert order[:4] == big  # the base four tags share, in the plan's order among equals
    assert order[4:6] == small
    assert order[6] == lonely


def test_among_equal_bases_the_one_sharing_more_of_its_chain_goes_first() -> None:
    deep = [tag(f"d/deep{n}", "v1", "base", "mid", f"deep-{n}") for n in range(2)]
    shallow = [tag(f"s/shallow{n}", "v1", "base", f"shallow-{n}") for n in range(2)]
    order = _most_shared_first((*shallow, *deep))
    assert order == [*deep, *shallow]
