"""A migration report's outcomes are kept compact (a copied tag as its digest's bytes)
and made again when read: they must read exactly as the tuple of `TagOutcome` they
replace, in the plan's order, a tag never recorded reading as pending."""

from __future__ import annotations

import hashlib

import pytest
from docker_registry_v1.transfer.migrate import TagOutcome, _Outcomes
from docker_registry_v1.transfer.migrate_plan import PlannedTag, TagState


def _tag(n: int) -> PlannedTag:
    image = hashlib.sha256(f"image {n}".encode()).hexdigest()
    return PlannedTag(f"src/r{n}", "1.0", image, (image,), f"dst/r{n}", "1.0", TagState.COPY)


def test_outcomes_read_as_the_tuple_they_replace() -> None:
    tags = tuple(_tag(n) for n in range(4))
    outcomes = _Outcomes(tags)
    digest = "sha256:" + hashlib.sha256(b"manifest").hexdigest()
    copied = TagOutcome(
        tags[0].source, tags[0].destination, "copied", digest=digest, image=tags[0].image_id
    )
    failed = TagOutcome(
        tags[1].source, tags[1].destination, "failed", reason="gone", image=tags[1].image_id
    )
    odd = TagOutcome(tags[2].source, tags[2].destination, "copied", digest="sha512:ab")
    for position, outcome in enumerate((copied, failed, odd)):
        outcomes.record(position, outcome)
    pending = TagOutcome(
        tags[3].source,
        tags[3].destination,
        "pending",
        reason="not attempted",
        image=tags[3].image_id,
    )
    expected = (copied, failed, odd, pending)
    assert tuple(outcomes) == expected
    assert len(outcomes) == 4
    assert outcomes[-1] == pending
    assert outcomes[1:3] == (failed, odd)
    assert list(outcomes.statuses()) == ["copied", "failed", "copied", "pending"]
    assert outcomes.settled() == [failed, odd]
    with pytest.raises(IndexError):
        outcomes[4]
