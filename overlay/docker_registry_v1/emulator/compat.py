"""Switches that make the emulator imitate one particular real server.

The defaults give standards-conforming answers in the shape the reference
registry 0.9.1 uses; each switch trades that for a quirk some real server had,
so clients can be tested against every variant they may meet.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Compat:
    """Compatibility switches, all off by default.

    ``reference_ranges``: layer ``Range`` handling exactly as reference registry
    0.9.1 (no ``bytes`` unit, open ranges one byte too long, 416 for empty layers
    and sub-two-byte ranges, suffix ranges ignored).
    ``tag_list_as_list``: ``GET …/tags`` answers the Hub's
    ``[{"layer": <8 hex>, "name": tag}]`` list instead of the map.
    ``token_prefix``: ``True`` puts ``Token `` in front of issued
    ``X-Docker-Token`` values, ``False`` sends them bare, ``None`` follows the
    mode (standalone prefixed as the reference server, hub bare as the Hub).
    ``search_without_paging``: the reference server's search (ignores ``n`` and
    ``page``, no paging fields).
    ``page_as_string``: the Hub's ``"page": "1"``.
    """

    reference_ranges: bool = False
    tag_list_as_list: bool = False
    token_prefix: bool | None = None
    search_without_paging: bool = False
    page_as_string: bool = False
