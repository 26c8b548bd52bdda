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
- ``newer_than``: a tag is kept when its image's ``created`` (the v1 JSON's) is at or
  after this moment. ``--newer-than`` takes an age counted back from now (``2y``,
  ``6m``, ``3w``, ``30d``, ``12h``: years and months by the calendar, the day of the
  month clamped) or a date (``2024-01-01``, midnight UTC) or an RFC 3339 time.
- ``last``: per repository, only the ``last`` newest tags by ``created`` (equal times:
  the greater tag name first, so the choice is the same on every run).
- The tag rules apply in this order: ``tags``, then ``newer_than``, then ``last``
  counts among what is left. A tag whose image has no readable ``created`` (its JSON
  is broken, missing or has none) cannot be placed in time: under ``newer_than`` or
  ``last`` it is left out and *named*, never dropped silently
  (:attr:`TagChoice.undated`, which ``inventory`` and ``migrate`` print as a note).
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

import calendar
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

import attrs

from ..core.errors import InvalidInput

__all__ = [
    "SHARD_INDEX_VARIABLE",
    "Selection",
    "TagChoice",
    "parse_last",
    "parse_newer_than",
    "parse_shard",
    "shard_of",
]

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


def rename_rule(rule: str) -> tuple[re.Pattern[str], str]:
    """``REGEX=REPLACEMENT`` (one `--rename`) as a compiled pattern and its replacement."""
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


_AGE = re.compile(r"([0-9]{1,6})([ymwdh])")
_DAYS = {"w": 7, "d": 1}


def _months_back(moment: datetime, months: int) -> datetime:
    """``moment`` ``months`` calendar months earlier, the day clamped to the month's end
    (31 March less one month is 28 or 29 February): what "6m" means to a person."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    if year < 1:
        raise InvalidInput("--newer-than", "that age reaches back before the year 1")
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def parse_newer_than(text: str, now: datetime | None = None) -> datetime:
    """The moment ``--newer-than`` keeps tags from: ``now`` (UTC, the clock when
    ``None``; tests pass a fixed one) less an age ``N[ymwdh]``, or a date ``YYYY-MM-DD``
    (midnight UTC), or an RFC 3339 time (a time without an offset is UTC)."""
    value = text.strip()
    age = _AGE.fullmatch(value)
    if age is not None:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        count, unit = int(age.group(1)), age.group(2)
        if unit in "ym":
            return _months_back(moment, count * (12 if unit == "y" else 1))
        hours = count if unit == "h" else count * 24 * _DAYS[unit]
        try:
            return moment - timedelta(hours=hours)
        except OverflowError:
            raise InvalidInput("--newer-than", f"{text!r} reaches back too far") from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "--newer-than",
            f"{text!r} is not an age (2y, 6m, 3w, 30d, 12h) or a date "
            "(2024-01-01, 2024-01-01T12:00:00Z)",
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_last(value: int | str) -> int:
    """``--last N``: at least 1 (``--last 0`` would select nothing, surely a mistake)."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdecimal() or int(text) < 1:
        raise InvalidInput("--last", f"{value!r} is not a whole number of at least 1")
    return int(text)


def _created(text: str | None) -> datetime | None:
    """A v1 ``created`` as an aware UTC time; ``None`` when absent or unreadable. Docker
    wrote nine fractional digits, which :meth:`datetime.fromisoformat` refuses past six."""
    if not text:
        return None
    trimmed = re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", text.strip())
    try:
        moment = datetime.fromisoformat(trimmed)
    except ValueError:
        return None
    if moment.year < 2:  # docker's zero time: "0001-01-01T00:00:00Z" means "unknown"
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@attrs.frozen
class TagChoice:
    """What the age and count rules kept of one repository's tags, and the tags they
    could not judge (``undated``: no readable ``created``), sorted by name."""

    tags: dict[str, str]
    undated: tuple[str, ...] = ()


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
    newer_than: datetime | None = None
    last: int | None = None

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
        newer_than: str | None = None,
        last: int | str | None = None,
        now: datetime | None = None,
    ) -> Selection:
        """From the command line's strings; :class:`InvalidInput` names the flag at fault.
        ``now`` is the clock an age counts back from (tests fix it)."""
        return cls(
            include=tuple(_compile("--include", p) for p in include),
            exclude=tuple(_compile("--exclude", p) for p in exclude),
            tags=None if tags is None else _compile("--tags", tags),
            rename=tuple(rename_rule(rule) for rule in rename),
            library=library,
            prefix=prefix.strip("/"),
            shard=None if shard is None else parse_shard(shard),
            newer_than=None if newer_than is None else parse_newer_than(newer_than, now),
            last=None if last is None else parse_last(last),
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

    @property
    def by_time(self) -> bool:
        """Whether tags are chosen by their images' ``created`` (``newer_than``, ``last``)."""
        return self.newer_than is not None or self.last is not None

    @property
    def filters_tags(self) -> bool:
        """Whether some tags may be left out: then which images *no* tag reaches cannot
        be told from the chosen ones."""
        return self.tags is not None or self.by_time

    def choose_tags(
        self, tags: Mapping[str, str], created: Callable[[str], str | None]
    ) -> TagChoice:
        """Of one repository's ``tags`` (tag → image id, already through ``tags``), those
        ``newer_than`` and ``last`` keep; ``created`` gives an image's v1 ``created``.
        Decided from what the inventory read: no request."""
        if not self.by_time:
            return TagChoice(dict(tags))
        dated: list[tuple[datetime, str]] = []
        undated: list[str] = []
        for tag, image_id in tags.items():
            moment = _created(created(image_id))
            if moment is None:
                undated.append(tag)
            elif self.newer_than is None or moment >= self.newer_than:
                dated.append((moment, tag))
        dated.sort(reverse=True)  # newest first; equal times: the greater name first
        kept = dated if self.last is None else dated[: self.last]
        return TagChoice({tag: tags[tag] for _, tag in kept}, tuple(sorted(undated)))

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
