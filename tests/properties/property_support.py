"""Settings and strategies the property tests share.

Each file keeps its own example budget (the whole folder runs in well under 25 s on
one core). Under ``CI=true`` the runs are derandomized, so a CI failure replays the
same examples on a laptop; locally hypothesis explores new ones each run and keeps
the failures it finds in its example database.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CI = os.environ.get("CI") == "true"
#: ``REGV1_PROPERTY_SCALE=20`` runs twenty times the examples, for a longer hunt by hand.
SCALE = max(1, int(os.environ.get("REGV1_PROPERTY_SCALE") or 1))


def budget(max_examples: int) -> settings:
    """``max_examples`` examples (times `SCALE`), no per-example deadline (the machine is
    shared)."""
    return settings(
        max_examples=max_examples * SCALE,
        deadline=None,
        derandomize=CI,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


#: Text that matters to parsers: separators, dots, case, non-ASCII look-alikes, controls.
TRICKY = "aZ09_.-/:@%?#+ \t\n\x00\x1b\x7fé\u0130\u212a\u2024\uff0f"
tricky_text = st.text(alphabet=TRICKY, max_size=24) | st.text(max_size=24)

#: Numbers beyond what any parser downstream should take as they come.
huge_numbers = (
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 2**64, 1e308, -0.0, 5e-324])
    | st.integers()
)

json_scalars = (
    st.none()
    | st.booleans()
    | huge_numbers
    | st.floats(allow_nan=False, allow_infinity=False)
    | tricky_text
)

#: Any JSON value: wrong types everywhere, shallow nesting (the deep kind is raw text).
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
    max_leaves=12,
)


def nested(depth: int, kind: str) -> bytes:
    """JSON text nested ``depth`` deep: far past Python's recursion limit when asked."""
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"k":[' * depth + b"0" + b"]}" * depth


#: Raw bodies no well-behaved server sends: deep nesting, huge literals, bad encodings.
hostile_json_text = st.one_of(
    st.builds(
        nested,
        st.sampled_from([50, 990, 1_100, 5_000, 100_000]),
        st.sampled_from(["list", "object", "mixed"]),
    ),
    st.sampled_from(
        [
            b"",
            b"1" * 5_000,
            b"1e999999",
            b"-1e999999",
            b"NaN",
            b"Infinity",
            b'"\\ud800"',
            b"\xff\xfe{}",
            b"\xef\xbb\xbf{}",
            b'{"a": 1',
            b"[" * 10,
            b"null",
            b'"' + "\u202e".encode() * 10 + b'"',
        ]
    ),
    st.binary(max_size=64),
)


def json_bytes(value: Any) -> bytes:
    """``value`` as JSON text (non-ASCII kept, as servers send it)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
