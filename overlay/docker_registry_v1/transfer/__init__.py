"""Whole-image transfers: pull to a ``docker load`` archive, push a ``docker save`` archive,
mirror between registries — written once with threads (the async entry points run them in a
worker thread, see ``threaded``), layers streamed in constant memory,
payload checksums verified, downloads resumed, idempotent requests retried.
"""

from .inventory import (
    ImageRecord,
    Inventory,
    InventoryListener,
    Problem,
    ProblemKind,
    RepositoryRecord,
    SearchUnavailable,
    ainventory,
    inventory,
)
from .mirror import amirror, mirror
from .pull import apull, pull
from .push import apush, push
from .results import MirrorResult, PullResult, PushResult
from .retry import RetryPolicy
from .selection import Selection, shard_of

__all__ = [
    "ImageRecord",
    "Inventory",
    "InventoryListener",
    "MirrorResult",
    "Problem",
    "ProblemKind",
    "PullResult",
    "PushResult",
    "RepositoryRecord",
    "RetryPolicy",
    "SearchUnavailable",
    "Selection",
    "ainventory",
    "amirror",
    "apull",
    "apush",
    "inventory",
    "mirror",
    "pull",
    "push",
    "shard_of",
]
