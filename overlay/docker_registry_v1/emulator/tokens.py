"""Registry tokens as the index issues them and the registry checks them.

Grammar: ``signature=<sig>,repository="<ns>/<repo>",access=<read|write|delete>``.
Only tokens this emulator issued are valid; parsing is as lenient as the
reference server's (``key=value`` pairs, quotes optional).
"""

from __future__ import annotations

import re
import secrets
import string
import threading

import attrs

ACCESS_FOR_METHOD = {
    "GET": "read",
    "HEAD": "read",
    "PUT": "write",
    "POST": "write",
    "DELETE": "delete",
}

_FIELD = re.compile(r'(\w+)="?([^,"]*)"?')
_ALPHABET = string.ascii_uppercase + string.digits


@attrs.frozen(repr=False)
class Token:
    signature: str
    repository: str
    access: str

    @property
    def value(self) -> str:
        """The bare token text (no ``Token `` prefix)."""
        return f'signature={self.signature},repository="{self.repository}",access={self.access}'

    def __repr__(self) -> str:
        return f"Token(repository={self.repository!r}, access={self.access!r})"


def parse_token(authorization: str) -> dict[str, str] | None:
    """The fields of an ``Authorization: Token …`` value, as REF parses them (unverified)."""
    scheme, _, rest = authorization.partition(" ")
    if scheme.lower() != "token" or not rest:
        return None
    return dict(_FIELD.findall(rest))


class TokenIssuer:
    """Issues tokens and remembers them, so the registry can tell real ones from forgeries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}

    def issue(self, repository: str, access: str, *, short: bool) -> Token:
        """``short``: 16 chars of ``[A-Z0-9]`` as the reference server; else a long random one."""
        signature = (
            "".join(secrets.choice(_ALPHABET) for _ in range(16))
            if short
            else secrets.token_hex(20)
        )
        token = Token(signature=signature, repository=repository, access=access)
        with self._lock:
            self._tokens[signature] = token
        return token

    def lookup(self, authorization: str) -> Token | None:
        """The issued token an ``Authorization: Token …`` value carries, if any.

        Several comma-joined tokens (as docker sends them) are accepted; the
        first issued signature wins.
        """
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != "token" or not rest:
            return None
        with self._lock:
            for key, val in _FIELD.findall(rest):
                if key == "signature" and val in self._tokens:
                    return self._tokens[val]
        return None
