"""One reported figure: its repetitions' median and spread, its baseline, ratio and target."""

from __future__ import annotations

import statistics
from typing import Any

import attrs


@attrs.frozen
class Figure:
    """A row of the report. ``ratio`` is oriented so that higher is better for the client
    (throughput over the baseline's, the baseline's time over ours), except where
    ``lower_is_better`` says the ratio is a cost (per-call time, RSS, import time)."""

    case: str
    what: str
    unit: str
    values: tuple[float, ...]
    baseline: str | None = None
    baseline_values: tuple[float, ...] = ()
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline_values) if self.baseline_values else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "what": self.what,
            "unit": self.unit,
            "reps": len(self.values),
            "median": self.median,
            "min": min(self.values),
            "max": max(self.values),
            "values": list(self.values),
            "baseline": self.baseline,
            "baseline_median": self.baseline_median,
            "baseline_values": list(self.baseline_values),
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
        }


def compare(  # noqa: PLR0917 - a row of the table, in its column order
    case: str,
    what: str,
    unit: str,
    values: list[float],
    baseline: str | None = None,
    baseline_values: list[float] | None = None,
    *,
    higher_is_better: bool = True,
    target: tuple[str, float] | None = None,
    paired: bool = False,
) -> Figure:
    """A figure with its ratio to the baseline's median and, given one, the target check.

    ``target`` is ``(text, threshold)``: with ``higher_is_better`` the ratio must be at
    least the threshold, otherwise at most. ``paired``: the i-th value and the i-th
    baseline value were measured side by side (same process, interleaved), so the ratio
    is the median of their ratios, which the machine's load drift between pairs leaves
    alone.
    """
    base = tuple(baseline_values or ())
    ratio = None
    if base and paired:
        ratio = statistics.median(ours / theirs for ours, theirs in zip(values, base, strict=True))
    elif base:
        ours, theirs = statistics.median(values), statistics.median(base)
        ratio = ours / theirs if theirs else None
    met = None
    if target is not None and ratio is not None:
        met = ratio >= target[1] if higher_is_better else ratio <= target[1]
    return Figure(
        case=case,
        what=what,
        unit=unit,
        values=tuple(values),
        baseline=baseline,
        baseline_values=base,
        ratio=ratio,
        target=None if target is None else target[0],
        met=met,
    )


def absolute(  # noqa: PLR0917 - a row of the table, in its column order
    case: str,
    what: str,
    unit: str,
    values: list[float],
    limit: float | None = None,
    target: str | None = None,
    *,
    worst: bool = False,
) -> Figure:
    """A figure checked against a fixed limit (lower is better) instead of a baseline:
    its median, or with ``worst`` every repetition."""
    checked = max(values) if worst else statistics.median(values)
    met = None if limit is None else checked <= limit
    return Figure(case, what, unit, tuple(values), target=target, met=met)
