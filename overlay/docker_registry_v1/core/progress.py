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


@runtime_checkable
class AssemblyListener(Protocol):
    """What a :class:`ProgressListener` may add to see a pull's last phase.

    After the last layer arrives a pull still reads every layer once more to
    write the archive (diff_ids, decompression, the copy into the tar), which
    takes a while for big images. A pull calls these methods only on listeners
    that have them, so listeners written before they existed keep working.
    """

    def assembling(self, total: int) -> None:
        """Called once, after the last layer, with the bytes the archive's writer will read."""

    def assembled(self, nbytes: int) -> None:
        """Called as the writer reads those bytes."""


class SilentProgress(ProgressListener, AssemblyListener):
    """The default listener: reports nowhere."""

    def planned(self, layers: Sequence[PlannedLayer]) -> None:
        del layers

    def advanced(self, image_id: str, nbytes: int) -> None:
        del image_id, nbytes

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        del image_id, skipped

    def assembling(self, total: int) -> None:
        del total

    def assembled(self, nbytes: int) -> None:
        del nbytes
