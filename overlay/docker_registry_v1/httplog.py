"""Keep secrets out of httpcore's DEBUG log.

With DEBUG logging on, httpcore logs every response's headers verbatim, and the
index's answers carry ``X-Docker-Token`` (and ``WWW-Authenticate: Token …``): a
live registry credential in any log file. This filter blanks the values of those
headers in httpcore's records before any handler sees them; nothing else changes.
"""

from __future__ import annotations

import functools
import logging
import re

_BYTES = r"""b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*\""""
_SECRET_HEADER = re.compile(
    rf"""\((b['"](?:authorization|proxy-authorization|cookie|set-cookie|x-docker-token|"""
    rf"""www-authenticate)['"]), (?:{_BYTES})\)""",
    re.IGNORECASE,
)
_LOGGERS = ("httpcore.http11", "httpcore.http2", "httpcore.proxy", "httpcore.connection")


class RedactSecretHeaders(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _SECRET_HEADER.sub(r"(\1, b'<redacted>')", message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


@functools.cache
def install() -> None:
    """Add the filter to httpcore's loggers, once: the first client created does it."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretHeaders) for f in logger.filters):
            logger.addFilter(RedactSecretHeaders())
