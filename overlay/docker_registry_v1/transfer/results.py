"""What a pull, push or mirror did."""

from __future__ import annotations

from pathlib import Path

import attrs

from ..formats.archive import WrittenLayer

__all__ = ["MirrorResult", "PullResult", "PushResult"]


@attrs.frozen
class PullResult:
    """The archive written (``path`` is None when it went to a stream), the image it
    holds and the bytes that came over the wire."""

    path: Path | None
    repository: str
    tag: str
    image_id: str
    layers: tuple[WrittenLayer, ...]
    bytes_transferred: int


@attrs.frozen
class PushResult:
    """Tags set, images uploaded and skipped (the registry had them), bytes sent."""

    repository: str
    tags: tuple[str, ...]
    pushed: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_transferred: int


@attrs.frozen
class MirrorResult:
    """Tags set on the target, images copied and skipped, bytes relayed."""

    repository: str
    tags: tuple[str, ...]
    copied: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_transferred: int
