"""An archive's layers checked against its config's ``rootfs.diff_ids`` before any is sent.

A registry keys a layer by what the archive *says* it is; a push that sends bytes whose
uncompressed sha256 is not the config's diff_id publishes an image whose config lies
about its content. So every layer of a chain with a config is expanded and hashed
first, in one pass of its own: a push may not send a byte before the check, and an
uncompressed archive member is read in place (never spooled), so the bytes are read
twice from local disk. That second read is cheap next to the upload it guards (a
bench figure is in the changelog).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .compression import ExpansionLimits, expand
from .errors import DiffIdMismatchError
from .imageconfig import load_object
from .reader import ImageChain

__all__ = ["check_diff_ids", "diff_ids"]


def diff_ids(config: bytes | None) -> list[str] | None:
    """The config's ``rootfs.diff_ids``; ``None`` without a config or a usable list."""
    if config is None:
        return None
    rootfs: Any = load_object(config, "image config").get("rootfs")
    found = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(found, list) or not all(isinstance(one, str) for one in found):
        return None
    return found


def check_diff_ids(
    chains: Iterable[ImageChain],
    where: str,
    *,
    limits: ExpansionLimits | None = None,
) -> int:
    """Hash every layer of ``chains`` that has a config (each v1 image once) and compare
    it with its diff_id; :class:`DiffIdMismatchError` naming the first layer that
    differs. Returns the number of layers checked. Bombs and damaged layers raise what
    :func:`expand` raises."""
    checked: set[str] = set()
    for chain in chains:
        expected = diff_ids(chain.config)
        if expected is None or len(expected) != len(chain.images) or not chain.images:
            continue
        for position, (image, diff_id) in enumerate(zip(chain.images, expected, strict=True)):
            if image.image_id in checked:
                continue
            what = f"{where}: layer {position + 1} (image {image.image_id[:12]})"
            with image.open_layer() as stream:
                found = expand(
                    stream, lambda _: None, limits=limits or ExpansionLimits(), where=what
                )
            actual = f"sha256:{found.sha256}"
            if actual != diff_id:
                raise DiffIdMismatchError(
                    f"{what}: its uncompressed bytes hash to {actual}, the image config's "
                    f"diff_id is {diff_id}; nothing was sent"
                )
            checked.add(image.image_id)
    return len(checked)
