"""How a layer GET answers a ``Range`` header: RFC 7233, or reference registry 0.9.1's way."""

from __future__ import annotations

import re

import attrs

_SINGLE = re.compile(r"^bytes=(\d*)-(\d*)$")


@attrs.frozen
class RangePlan:
    """What to send: ``status``, bytes ``[start, start + send)``, the announced length.

    ``content_length > send`` means the reference server's quirk of announcing
    more than it has; the connection is then closed after ``send`` bytes.
    """

    status: int
    start: int = 0
    send: int = 0
    content_length: int = 0
    content_range: str | None = None

    @property
    def short(self) -> bool:
        return self.content_length > self.send


def _full(size: int) -> RangePlan:
    return RangePlan(status=200, send=size, content_length=size)


def standard_plan(header: str | None, size: int) -> RangePlan:
    """RFC 7233: one range (first of a list is not served: several ranges mean 200),
    suffix ranges, clamped ends, 416 with ``bytes */size`` when unsatisfiable."""
    if header is None:
        return _full(size)
    match = _SINGLE.match(header.strip())
    if match is None:
        return _full(size)
    first, last = match.groups()
    if not first and not last:
        return _full(size)
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return RangePlan(status=416, content_range=f"bytes */{size}")
        start = max(0, size - suffix)
        end = size - 1
    else:
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return _full(size)
        if start >= size:
            return RangePlan(status=416, content_range=f"bytes */{size}")
        end = min(end, size - 1)
    length = end - start + 1
    return RangePlan(
        status=206,
        start=start,
        send=length,
        content_length=length,
        content_range=f"bytes {start}-{end}/{size}",
    )


def reference_plan(header: str | None, size: int) -> RangePlan:
    """Reference registry 0.9.1, quirks included (see v1-protocol.md e.1, h.3)."""
    if size == 0:
        return RangePlan(status=416)
    if header is None:
        return _full(size)
    match = _SINGLE.match(header.strip())
    if match is None or not match.group(1):
        return _full(size)
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) else size
    if end < 1 or end <= start:
        return RangePlan(status=416)
    announced = end - start + 1
    available = max(0, min(end + 1, size) - start)
    return RangePlan(
        status=206,
        start=start,
        send=available,
        content_length=announced,
        content_range=f"{start}-{end}/{size}",
    )
