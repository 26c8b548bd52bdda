from __future__ import annotations

import pytest
from docker_registry_v1.formats.archive import (
    ArchiveError,
    InvalidAncestryError,
    is_image_id,
    validate_ancestry,
)

A = "a" * 64
B = "b" * 64
C = "c" * 16


def test_valid_ancestry_is_returned_as_a_tuple() -> None:
    assert validate_ancestry([A, B, C], A) == (A, B, C)


def test_single_image_ancestry() -> None:
    assert validate_ancestry([C], C) == (C,)


@pytest.mark.parametrize(
    ("ancestry", "requested", "message"),
    [
        ([], A, "is empty"),
        ([B, A], A, "starts with"),
        ([A, B, B], A, "appears twice"),
        ([A, "B" * 64], A, "entry 1"),
        ([A, "b" * 15], A, "entry 1"),
        ([A, "g" * 64], A, "entry 1"),
        ([A, 42], A, "entry 1"),
        ([A, None], A, "entry 1"),
        ("a" * 64, A, "must be a list"),
        ({"id": A}, A, "must be a list"),
        ([A], "A" * 64, "requested image id"),
    ],
)
def test_bad_ancestry_names_the_problem(ancestry: object, requested: str, message: str) -> None:
    with pytest.raises(InvalidAncestryError, match=message) as caught:
        validate_ancestry(ancestry, requested)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ArchiveError)


def test_length_bound_defaults_to_127_and_is_configurable() -> None:
    ids = [f"{n:064x}" for n in range(1, 129)]
    assert len(validate_ancestry(ids[:127], ids[0])) == 127
    with pytest.raises(InvalidAncestryError, match="128 entries, more than 127"):
        validate_ancestry(ids, ids[0])
    with pytest.raises(InvalidAncestryError, match="more than 3"):
        validate_ancestry(ids[:4], ids[0], max_length=3)
    with pytest.raises(ValueError, match="at least 1"):
        validate_ancestry(ids[:1], ids[0], max_length=0)


def test_huge_bogus_entry_is_abbreviated_in_the_message() -> None:
    with pytest.raises(InvalidAncestryError) as caught:
        validate_ancestry([A, "x" * 100_000], A)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    ("value", "expected"),
    [(A, True), (C, True), ("a" * 63, False), ("A" * 64, False), (b"a" * 64, False), (None, False)],
)
def test_is_image_id(value: object, expected: bool) -> None:
    assert is_image_id(value) is expected
