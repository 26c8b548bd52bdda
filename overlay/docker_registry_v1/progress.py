"""Progress reporting shared by pull, push and mirror.

Transfers report to a listener instead of printing, so the library stays silent and
the CLI (or a caller's own UI) decides how progress looks. Listeners may be called
from several threads at once when layers move concurrently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs


@attrs.frozen
class PlannedLayer:
    """One image whose layer a transfer intends to move; `size` is None when unknown."""

    image_id: str
    size: int | None


@runtime_checkable
class ProgressListener(Protocol):
    """Receives the progress of a pull, push or mirror (from several threads at once)."""

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        """Called once, before any bytes move, with every layer of the transfer."""

    def advanced(self, image_id: str, nbytes: int) -> None:
        """Called as bytes of one layer move; a restarted layer reports negative bytes."""

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        """Called when a layer is done, or was skipped because the target has it."""


class SilentProgress(ProgressListener):
    """The default listener: reports nowhere."""

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        del layers

    def advanced(self, image_id: str, nbytes: int) -> None:
        del image_id, nbytes

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        del image_id, skipped
