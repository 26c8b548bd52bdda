"""The ancestry checks a pull runs before downloading anything.

A registry's ancestry answer decides which layers get fetched and stacked, so a
malformed one (duplicates, foreign ids, absurd depth) is rejected up front, as
systemd's `machinectl pull-dkr` did.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...core.names import is_image_id
from .errors import InvalidAncestryError

DEFAULT_MAX_ANCESTRY = 127
"""Deepest chain accepted by default; docker's own layer limit and systemd's bound."""

__all__ = ["DEFAULT_MAX_ANCESTRY", "is_image_id", "validate_ancestry"]


def validate_ancestry(
    ancestry: Sequence[object],
    requested_id: str,
    *,
    max_length: int = DEFAULT_MAX_ANCESTRY,
) -> tuple[str, ...]:
    """Check a tip-first ancestry list for `requested_id` and return it as strings.

    Raises `InvalidAncestryError` naming the first problem found.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    if not is_image_id(requested_id):
        raise InvalidAncestryError(
            f"requested image id {_shown(requested_id)} is not 16 or 64 lowercase hex"
        )
    if isinstance(ancestry, str | bytes) or not isinstance(ancestry, Sequence):
        raise InvalidAncestryError(
            f"ancestry of {requested_id} must be a list of ids, got {type(ancestry).__name__}"
        )
    if not ancestry:
        raise InvalidAncestryError(f"ancestry of {requested_id} is empty")
    if len(ancestry) > max_length:
        raise InvalidAncestryError(
            f"ancestry of {requested_id} has {len(ancestry)} entries, more than {max_length}"
        )
    ids: list[str] = []
    for position, entry in enumerate(ancestry):
        if not is_image_id(entry):
            raise InvalidAncestryError(
                f"ancestry of {requested_id}: entry {position} ({_shown(entry)}) "
                "is not 16 or 64 lowercase hex"
            )
        if entry in ids:
            raise InvalidAncestryError(
                f"ancestry of {requested_id}: entry {position} ({entry}) appears twice"
            )
        ids.append(entry)
    if ancestry[0] != requested_id:
        raise InvalidAncestryError(
            f"ancestry of {requested_id} starts with {ancestry[0]} instead of the requested id"
        )
    return tuple(ids)


def _shown(value: object) -> str:
    """Quote untrusted input for a message without letting it flood the message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
