"""Where :class:`RetryPolicy` used to live (now ``docker_registry_v1.core.retry``), and how the
transfers share one policy with the clients they drive.

Both clients retry each single request inside their send path, so a transfer no longer
wraps a facade call in a retry loop of its own (four transfer attempts of four client
attempts each would be sixteen requests). A transfer given ``retry=`` sends through a
``with_options`` copy of its client that carries that policy; without one it takes the
client's. The loops the transfers keep are those over a step of several requests (a
layer resumed with ``Range``, a relayed or pipelined upload started over): they run
their requests on a copy whose own retry is off (:func:`unretried`) and count their
failures against the same policy object, through its :meth:`RetryPolicy.delay`.
"""

from __future__ import annotations

from typing import TypeVar

import attrs

from ..core.retry import RetryPolicy, retryable, scoped, unretried

__all__ = [
    "RetryPolicy",
    "retryable",
    "scoped",
    "scoped_side",
    "unretried",
]


D = TypeVar("D")


def scoped_side(target: D, retry: RetryPolicy | None) -> D:
    """A migration's destination side (``RegistrySide``, ``V1Side``: anything with a
    ``client`` field) sending with ``retry`` when given; a layout is returned as it is."""
    client = getattr(target, "client", None)
    if retry is None or client is None or not attrs.has(type(target)):
        return target
    return attrs.evolve(target, client=scoped(client, retry))  # type: ignore[misc]
