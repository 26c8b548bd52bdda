"""Switches that make the emulator imitate one particular real server.

By default a standalone emulator answers as the reference registry 0.9.1
(REF) in standalone mode and a hub as Docker's hosted index did; every other
shape a real server had sits behind an explicit switch. :data:`BEHAVIOURS`
is the one table of what each mode and switch changes (the tests and
docs/emulator.md follow it).
"""

from __future__ import annotations

from typing import Literal, cast

import attrs

Mode = Literal["standalone", "hub"]
SearchShape = Literal["reference", "hub", "paged"]
UsersApi = Literal["reference", "accounts"]

SEARCH_SHAPES: tuple[SearchShape, ...] = ("reference", "hub", "paged")
USERS_APIS: tuple[UsersApi, ...] = ("reference", "accounts")


@attrs.frozen
class Behaviour:
    """One row of :data:`BEHAVIOURS`: a switch, what it does, its value in each mode."""

    switch: str
    flag: str
    standalone: object
    hub: object
    values: str

    def default(self, mode: Mode) -> object:
        return self.standalone if mode == "standalone" else self.hub


#: What each switch changes, and what it is unless set (``None`` = follows the mode).
BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "search",
        "--search",
        "reference",
        "hub",
        "reference: only num_results, query, results (n and page ignored); "
        'hub: paged, with "page" a string as the Hub sent it; '
        "paged: paged, with an integer page as Docker's documents say",
    ),
    Behaviour(
        "users",
        "--users-api",
        "reference",
        "accounts",
        'reference: GET /v1/users/ 200 "OK", POST 201 "User Created", PUT 204, '
        "whoever asks; accounts: credentials checked, a taken name 400 "
        '"Username or email already exists", as the Hub',
    ),
    Behaviour(
        "token_prefix",
        "--token-prefix/--bare-token",
        True,
        False,
        "True: X-Docker-Token values start with 'Token ' (REF); False: bare (the Hub)",
    ),
    Behaviour(
        "tag_list_as_list",
        "--tag-list-as-list",
        False,
        False,
        'True: GET …/tags answers the Hub index hosts\' [{"layer", "name"}] list',
    ),
    Behaviour(
        "reference_ranges",
        "--reference-ranges",
        False,
        False,
        "True: layer Range answers exactly as REF (no bytes unit, open ranges one "
        "byte long, 416 for empty layers and sub-two-byte ranges)",
    ),
)


@attrs.frozen
class Compat:
    """Compatibility switches; ``None`` follows the mode (see :data:`BEHAVIOURS`).

    ``search``: ``"reference"``, ``"hub"`` or ``"paged"``.
    ``users``: ``"reference"`` (everything succeeds) or ``"accounts"`` (checked).
    ``token_prefix``: ``Token `` in front of issued ``X-Docker-Token`` values.
    ``tag_list_as_list``: the Hub's tag list instead of the map.
    ``reference_ranges``: REF's layer ``Range`` quirks instead of RFC 7233.
    """

    reference_ranges: bool = False
    tag_list_as_list: bool = False
    token_prefix: bool | None = None
    search: SearchShape | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(SEARCH_SHAPES))
    )
    users: UsersApi | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(USERS_APIS))
    )

    def resolved(self, switch: str, mode: Mode) -> object:
        """The switch's value in ``mode``: the one set, else the table's default."""
        value: object = getattr(self, switch)
        if value is not None:
            return value
        (row,) = (b for b in BEHAVIOURS if b.switch == switch)
        return row.default(mode)

    def search_shape(self, mode: Mode) -> SearchShape:
        """The search response shape in effect in ``mode``."""
        return cast(SearchShape, self.resolved("search", mode))

    def users_api(self, mode: Mode) -> UsersApi:
        """How ``/v1/users`` behaves in ``mode``: ``"reference"`` or ``"accounts"``."""
        return cast(UsersApi, self.resolved("users", mode))

    def prefixed_tokens(self, mode: Mode) -> bool:
        """Whether issued ``X-Docker-Token`` values start with ``Token `` in ``mode``."""
        return bool(self.resolved("token_prefix", mode))
