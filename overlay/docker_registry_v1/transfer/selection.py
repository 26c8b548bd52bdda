"""Which repositories and tags a registry-wide command works on, and what they are called
at the destination.

Pure and deterministic: the same options select the same repositories and give them
the same names on every machine, which is what lets N shards of one migration
(``--shard I/N``) cover a registry exactly once without talking to each other.

- ``include``/``exclude``: regular expressions *searched* in the repository name
  (``re.search``; anchor with ``^…$`` for a whole-name match). A repository is
  selected when it matches at least one ``include`` (or there are none) and no
  ``exclude``.
- ``tags``: a regular expression a tag must match whole (``re.fullmatch``).
- Destination name: ``library`` maps an un-namespaced ``app`` to ``library/app``
  (as docker reads it); then the first ``rename`` rule whose pattern is found in the
  name replaces its first occurrence (``re.sub(count=1)``, so ``\\1`` works); then
  ``prefix`` goes in front. The destination's own rule validates the result.
- ``shard``: ``(index, count)``; a repository belongs to shard
  :func:`shard_of` ``(source name, count)``, where an un-namespaced ``app`` counts as
  ``library/app`` (the same repository, however it was listed). On the command line
  ``--shard I/N`` is 0-based (0 ≤ I < N); ``--shard auto/N`` takes I from
  ``$JOB_COMPLETION_INDEX``, which a Kubernetes Indexed Job sets for each of its pods.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping

import attrs

from ..core.errors import InvalidInput

__all__ = ["SHARD_INDEX_VARIABLE", "Selection", "parse_shard", "shard_of"]

#: Where ``--shard auto/N`` takes its index from: a Kubernetes Indexed Job sets it.
SHARD_INDEX_VARIABLE = "JOB_COMPLETION_INDEX"


def shard_of(name: str, count: int) -> int:
    """The shard (0 to ``count - 1``) of repository ``name``: the first 8 bytes of the
    SHA-256 of its UTF-8 name, modulo ``count``. Python's ``hash()`` would differ between
    processes; this is the same on every machine and in every version."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInput("shard", "the shard count must be an integer of at least 1")
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def _compile(flag: str, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise InvalidInput(flag, f"{pattern!r} is not a regular expression: {error}") from None


def _rename_rule(rule: str) -> tuple[re.Pattern[str], str]:
    pattern, sep, replacement = rule.partition("=")
    if not sep or not pattern:
        raise InvalidInput("--rename", f"{rule!r} is not REGEX=REPLACEMENT")
    compiled = _compile("--rename", pattern)
    try:
        compiled.sub(replacement, "")  # a bad group reference fails here, not mid-run
    except (re.error, IndexError) as error:
        raise InvalidInput("--rename", f"{rule!r}: bad replacement: {error}") from None
    return compiled, replacement


def parse_shard(text: str, environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``I/N`` (0-based, 0 ≤ I < N) or ``auto/N`` with I from ``$JOB_COMPLETION_INDEX``."""
    index_text, sep, count_text = text.partition("/")
    if not sep or not count_text.isdecimal() or int(count_text) < 1:
        raise InvalidInput("--shard", f"{text!r} is not I/N (0 <= I < N) or auto/N")
    count = int(count_text)
    if index_text == "auto":
        env = os.environ if environ is None else environ
        index_text = env.get(SHARD_INDEX_VARIABLE, "")
        if not index_text.isdecimal():
            raise InvalidInput(
                "--shard", f"auto/{count} needs ${SHARD_INDEX_VARIABLE} set to 0..{count - 1}"
            )
    if not index_text.isdecimal() or not int(index_text) < count:
        raise InvalidInput("--shard", f"{text!r}: the index must be 0 to {count - 1}")
    return int(index_text), count


def _check_shard(
    _: object, __: attrs.Attribute[tuple[int, int] | None], value: tuple[int, int] | None
) -> None:
    if value is None:
        return
    index, count = value
    if count < 1 or not 0 <= index < count:
        raise InvalidInput("shard", f"{index}/{count}: need 0 <= index < count")


@attrs.frozen
class Selection:
    """Repository and tag filters, destination naming and the shard (see the module doc)."""

    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    tags: re.Pattern[str] | None = None
    rename: tuple[tuple[re.Pattern[str], str], ...] = ()
    library: bool = True
    prefix: str = ""
    shard: tuple[int, int] | None = attrs.field(default=None, validator=_check_shard)

    @classmethod
    def parse(
        cls,
        *,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        tags: str | None = None,
        rename: Iterable[str] = (),
        library: bool = True,
        prefix: str = "",
        shard: str | None = None,
    ) -> Selection:
        """From the command line's strings; :class:`InvalidInput` names the flag at fault."""
        return cls(
            include=tuple(_compile("--include", p) for p in include),
            exclude=tuple(_compile("--exclude", p) for p in exclude),
            tags=None if tags is None else _compile("--tags", tags),
            rename=tuple(_rename_rule(rule) for rule in rename),
            library=library,
            prefix=prefix.strip("/"),
            shard=None if shard is None else parse_shard(shard),
        )

    def repository_selected(self, name: str) -> bool:
        """Whether ``name`` (the source's) passes include/exclude and is in this shard."""
        if self.include and not any(p.search(name) for p in self.include):
            return False
        if any(p.search(name) for p in self.exclude):
            return False
        if self.shard is None:
            return True
        canonical = name if "/" in name else f"library/{name}"  # one repository, one shard
        return shard_of(canonical, self.shard[1]) == self.shard[0]

    def tag_selected(self, tag: str) -> bool:
        """Whether ``tag`` matches ``tags`` whole (every tag does without a pattern)."""
        return self.tags is None or self.tags.fullmatch(tag) is not None

    def destination_name(self, name: str, rule: Callable[[str], object]) -> str:
        """The destination's name for source repository ``name``; ``rule`` (the
        destination's own name check) raising :class:`InvalidInput` or ``ValueError``
        becomes an :class:`InvalidInput` naming both names."""
        result = f"library/{name}" if self.library and "/" not in name else name
        for pattern, replacement in self.rename:
            if pattern.search(result):
                result = pattern.sub(replacement, result, count=1)
                break
        if self.prefix:
            result = f"{self.prefix}/{result}"
        try:
            rule(result)
        except ValueError as error:
            raise InvalidInput(
                "destination", f"{name!r} becomes {result!r}, which it refuses: {error}"
            ) from None
        return result
