"""Whole-image transfers: pull to a ``docker load`` archive, push a ``docker save`` archive,
mirror between registries — sync and async, layers streamed in constant memory,
payload checksums verified, downloads resumed, idempotent requests retried.
"""

from .mirror import amirror, mirror
from .pull import apull, pull
from .push import apush, push
from .results import MirrorResult, PullResult, PushResult
from .retry import RetryPolicy

__all__ = [
    "MirrorResult",
    "PullResult",
    "PushResult",
    "RetryPolicy",
    "amirror",
    "apull",
    "apush",
    "mirror",
    "pull",
    "push",
]
