"""Where :class:`RetryPolicy` used to live; it is now ``docker_registry_v1.retry``.

Both clients retry single requests with it inside their send path, so the transfers
only keep loops over steps of several requests (a layer resumed with ``Range``, a
relayed upload started over); this name stays importable for existing callers.
"""

from __future__ import annotations

from ..retry import RetryPolicy, retryable

__all__ = ["RetryPolicy", "retryable"]
