"""What a v1 registry holds: every repository, tag and image, with sizes and sharing.

An audit before a migration needs the whole picture at the price of metadata
requests only: no layer byte is read. Repositories come from the caller or from
search (``q=""``, every page; a registry without search says so with
:class:`SearchUnavailable`). Each repository costs its tag list and its index
image list; each distinct tagged image one ancestry, unless an earlier ancestry
already contained it (an ancestry is the whole chain); each distinct image one
JSON request (its size comes from ``X-Docker-Size``). Repositories are read a
``concurrency`` at a time and the work they share is claimed by whichever gets
there first, so a base chain used by every repository is asked for once.

Untagged images are those a repository's index image list names that none of
*its own* tags reach; they are listed per repository and kept in
:attr:`Inventory.images` (with ``repositories == ()``), but not in the totals,
which describe what the tags need. With a tag rule (``Selection.tags``, ``newer_than``
or ``last``) they are not looked for: which images no tag reaches cannot be told from
some of the tags.
The age and count rules (``Selection.newer_than``, ``Selection.last``) are decided
after the reading, from the ``created`` of each tag's image JSON already read: the
tags they leave out are not in the result (nor their images or problems), and the
tags they cannot judge are named in :attr:`Inventory.undated`.

A registry that has run for years holds broken things: uploads that never finished,
lost JSON or ancestry files, tags naming removed images, names this client cannot
use. None of them stops the inventory: each becomes a :class:`Problem` in
:attr:`Inventory.problems`, charged to every ``(repository, tag)`` that needs the
broken image (a broken image no tag reaches is listed with ``tag=None`` and blocks
nothing). Working out which of these states an image is in costs at most one more
request per broken image (its own ancestry when its JSON is missing). What stops the
inventory is what stops every request: a transport failure (the registry is not
reachable) or a refused login (401/403).

A migration reads the registry through the same code with two differences
(``journal`` and ``every_ancestry=False``): a tagged image's JSON is asked for first,
and its ancestry only when its parent's chain is not known yet (a tag on a known base
costs one request, not two); and every image whose JSON and chain were read whole is
kept in the journal (`Journal.source_images_read`), so the run takes each JSON from
there (each is read from the source once per run) and a rerun asks for none of a tag
whose image the journal already holds down to its base (a rerun with nothing new
costs the tag lists). ``regv1 inventory``, an audit, asks for every tip's ancestry: a
lost ancestry file breaks ``docker pull`` from the old registry even when the chain
can be walked by the JSONs' ``parent``.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar, runtime_checkable

import attrs

from ..core.errors import (
    DockerRegistryError,
    Forbidden,
    InvalidInput,
    InvalidResponse,
    NotFound,
    RegistryError,
    Unauthorized,
    UploadInProgress,
    V2OnlyRegistry,
)
from ..core.models import ImageMetadata, RawMetadata, SearchResults, TagMap
from ..core.names import RepositoryName
from ..engine.access import _own_host  # the read-token rule of every transfer, counted here
from ..engine.bounded import run_threads
from ..engine.sources import registry_origin
from ..formats.archive import validate_ancestry
from ..v1.auth import Authenticator
from ..v1.services import next_page
from .phases import Phase, PhaseListener
from .retry import RetryPolicy
from .selection import Selection
from .threaded import run_in_worker

if TYPE_CHECKING:  # the client module imports this package for Client.pull/push
    from ..engine.journal import Journal
    from ..v1.client import AsyncClient, Client

__all__ = [
    "ImageRecord",
    "Inventory",
    "InventoryListener",
    "Problem",
    "ProblemKind",
    "RepositoryRecord",
    "SearchUnavailable",
    "ainventory",
    "inventory",
]

T = TypeVar("T")
P = ParamSpec("P")
C = TypeVar("C", "Client", "AsyncClient")

#: The largest page the search API allows: the fewest requests for a big registry.
SEARCH_PAGE_SIZE = 100
_METHOD_NOT_ALLOWED = 405
_NOT_IMPLEMENTED = 501


class SearchUnavailable(DockerRegistryError):  # noqa: N818 - reads as a state, like NotFound
    """The registry answers no search (the reference registry without a search backend),
    so its repositories cannot be listed: they have to be named."""

    def __init__(self, registry: str, error: RegistryError) -> None:
        self.registry = registry
        self.code = error.code
        super().__init__(
            f"{registry} has search disabled (GET /v1/search answered {error.code}), so its "
            "repositories cannot be listed; name them instead "
            "(repositories=[...], or regv1 inventory --repos-from FILE)"
        )


@runtime_checkable
class InventoryListener(Protocol):
    """Told how far an inventory is (from worker threads, also when run by :func:`ainventory`)."""

    def progressed(self, done: int, total: int, requests: int) -> None:
        """Called once the repositories are known (``done == 0``) and after each one is read;
        ``requests`` is the number of HTTP requests made so far."""


class ProblemKind(enum.Enum):
    """What is wrong, in the words a report uses (the value is what every output format
    prints). Image kinds name what the registry answers for the image itself; a tag
    whose own image is gone is ``DANGLING_TAG``, one whose ancestor is gone
    ``BROKEN_PARENT``."""

    #: ``400 Image is being uploaded, retry later``: a push that died, forever unfinished.
    IN_PROGRESS = "in-progress"
    #: The image's JSON answers 404 while its ancestry is there.
    MISSING_JSON = "missing-json"
    #: The image's ancestry answers 404 while its JSON is there.
    MISSING_ANCESTRY = "missing-ancestry"
    #: The image's JSON is not a JSON object describing an image.
    CORRUPT_JSON = "corrupt-json"
    #: The ancestry is not a list of ids starting with the image's own.
    CORRUPT_ANCESTRY = "corrupt-ancestry"
    #: A tag names an image the registry does not have (neither JSON nor ancestry).
    DANGLING_TAG = "dangling-tag"
    #: An ancestor of the tag's image is gone (neither JSON nor ancestry).
    BROKEN_PARENT = "broken-parent"
    #: An untagged image the repository's index list names, which the registry does not have.
    MISSING_IMAGE = "missing-image"
    #: Any other answer that outlasted the retries (a 5xx, an odd 4xx).
    UNREADABLE = "unreadable"
    #: The repository's tag list (or one of its tags) answers an error.
    TAG_LIST_ERROR = "tag-list-error"
    #: The repository's tag list answers 404: it is listed (or named) but not there.
    MISSING_REPOSITORY = "missing-repository"
    #: The search listing holds a name this client cannot use as a repository.
    INVALID_NAME = "invalid-name"


@attrs.frozen
class Problem:
    """One broken thing the inventory found, charged to what it breaks.

    ``tag`` is ``None`` for a problem of the whole repository (its tag list, its name)
    and for a broken image no tag reaches; ``image`` is the image at fault (for
    ``BROKEN_PARENT`` the missing ancestor, not the tag's own image), ``None`` when no
    image is involved. ``message`` says what the registry answered; it quotes the
    server, so print it through an escaping function.
    """

    repository: str
    tag: str | None
    image: str | None
    kind: ProblemKind
    message: str


def _sorted_tags(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(sorted(value.items())))


def _sorted_images(value: Mapping[str, ImageRecord]) -> Mapping[str, ImageRecord]:
    return MappingProxyType(dict(sorted(value.items())))


@attrs.frozen
class ImageRecord:
    """One image: its place in its chain, its size and who uses it.

    ``size`` is ``X-Docker-Size``, else the JSON's ``Size``, else ``None``;
    ``repositories`` are those with a tag whose chain contains the image and ``tags``
    the number of such ``(repository, tag)`` pairs (both empty for an untagged image).
    """

    id: str
    parent: str | None
    created: str | None
    size: int | None
    repositories: tuple[str, ...]
    tags: int


@attrs.frozen
class RepositoryRecord:
    """One repository under the name the registry (or the caller) gave it.

    ``tags`` maps tag to image id, sorted by tag; ``untagged`` are the ids of its index
    image list that none of its tags reach.
    """

    name: str
    tags: Mapping[str, str] = attrs.field(converter=_sorted_tags)
    untagged: tuple[str, ...] = ()


@attrs.frozen
class Inventory:
    """Everything one registry holds, what is broken in it (``problems``), and what
    reading it cost (``requests``, ``seconds``).

    A repository whose tags could not be listed, or whose name is invalid, is not in
    ``repositories`` (its problem says why); a tag with a broken image is, with its
    images as far as they could be read.

    ``requests`` counts every attempt sent, retries included, as the client's send
    path makes them: the client's one ``_ping`` too when this inventory made it.
    """

    registry: str
    repositories: tuple[RepositoryRecord, ...]
    images: Mapping[str, ImageRecord] = attrs.field(converter=_sorted_images)
    search_available: bool
    requests: int
    seconds: float
    problems: tuple[Problem, ...] = ()
    """Every broken thing found, sorted by repository then tag (repository-wide first)."""
    broken: Mapping[str, str] = attrs.field(factory=dict, converter=_sorted_tags)
    """Image id → why it could not be read (every image behind a problem): what a
    migration plan charges to the tags whose chain holds it."""
    undated: tuple[tuple[str, str], ...] = ()
    """``(repository, tag)`` pairs left out by ``--newer-than``/``--last`` because their
    image has no readable ``created``: named so that nothing is dropped silently."""

    def chain(self, image_id: str) -> tuple[str, ...]:
        """``image_id`` and its ancestors, base first: the order layers are applied in
        (the reverse of a v1 ancestry). Stops at a parent the inventory does not hold."""
        if image_id not in self.images:
            raise KeyError(image_id)
        chain: list[str] = []
        current: str | None = image_id
        while current is not None and current in self.images and current not in chain:
            chain.append(current)
            current = self.images[current].parent
        return tuple(reversed(chain))

    def problems_of(self, repository: str, tag: str | None = None) -> tuple[Problem, ...]:
        """The problems of ``repository`` (with ``tag``: of that tag only)."""
        return tuple(
            p for p in self.problems if p.repository == repository and (tag is None or p.tag == tag)
        )

    @property
    def repository_count(self) -> int:
        """Repositories read (after any selection)."""
        return len(self.repositories)

    @property
    def tag_count(self) -> int:
        """``(repository, tag)`` pairs: an alias of another tag counts too."""
        return sum(len(repository.tags) for repository in self.repositories)

    @property
    def image_count(self) -> int:
        """Distinct images some tag needs (untagged ones are not counted)."""
        return sum(1 for image in self.images.values() if image.tags)

    @property
    def untagged_count(self) -> int:
        """Distinct images that index image lists name but no tag of their repository reaches."""
        return len({i for repository in self.repositories for i in repository.untagged})

    @property
    def unique_bytes(self) -> int:
        """The bytes of every image some tag needs, each counted once (unknown sizes as 0)."""
        return sum(image.size or 0 for image in self.images.values() if image.tags)

    @property
    def tagged_bytes(self) -> int:
        """The bytes of every tag's whole chain, summed over tags: what copying tag by tag
        moves, so ``tagged_bytes - unique_bytes`` is what sharing saves."""
        return sum((image.size or 0) * image.tags for image in self.images.values())


@attrs.define
class _Repository:
    name: str
    tags: dict[str, str] = attrs.field(factory=dict)
    listed: list[str] = attrs.field(factory=list)
    #: Why its tags could not be listed: the repository is then left out of the result.
    unlisted: Problem | None = None
    problems: list[Problem] = attrs.field(factory=list)


@attrs.frozen
class _Seen:
    """What the inventory keeps in memory of an image JSON it read: the few fields its
    records need (the bytes go to the journal, or nowhere), so memory does not grow with
    the JSONs' size."""

    parent: str | None
    created: str | None
    size: int | None

    @classmethod
    def of(cls, raw: RawMetadata) -> _Seen:
        """Read ``raw`` (a JSON that is no image's keeps its header's size alone)."""
        try:
            parsed: ImageMetadata | None = raw.parse()
        except (ValueError, TypeError):
            parsed = None  # the ancestry still places it; size may come from the header
        if parsed is None:
            return cls(None, None, raw.size)
        size = raw.size if raw.size is not None else parsed.size
        return cls(parsed.parent, parsed.created, size)


@attrs.define
class _Collection:
    """What the repository jobs learned, and which shared requests are someone's to make.

    A chain or an image JSON is claimed before it is asked for, so among jobs running
    at once each is asked for once. Claims and results go through ``lock``.
    """

    chains: dict[str, tuple[str, ...]] = attrs.field(factory=dict)  # tip first, as v1 sends
    metadata: dict[str, _Seen | None] = attrs.field(factory=dict)
    chain_claims: set[str] = attrs.field(factory=set)
    json_claims: set[str] = attrs.field(factory=set)
    #: Image → ``None`` when its own ancestry was served, else what asking for it raised.
    ancestries: dict[str, Exception | None] = attrs.field(factory=dict)
    #: Image → what asking for its JSON raised.
    json_errors: dict[str, Exception] = attrs.field(factory=dict)
    #: Image → why its JSON, served, is not an image's JSON.
    corrupt: dict[str, str] = attrs.field(factory=dict)
    #: Image → its JSON's parent, for images placed by their JSON rather than an ancestry
    #: (their chain is the parent's, resolved once every request is answered).
    links: dict[str, str] = attrs.field(factory=dict)
    #: ``(id, parent, json)`` read since the journal was last written (see `kept`).
    pending: list[tuple[str, str | None, RawMetadata]] = attrs.field(factory=list)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def claim_chain(self, tip: str) -> bool:
        with self.lock:
            if tip in self.chains or tip in self.chain_claims:
                return False
            self.chain_claims.add(tip)
            return True

    def add_ancestry(self, tip: str, ancestry: Sequence[object]) -> list[str]:
        """Record the chain of ``tip`` and of each of its ancestors; the JSONs this job
        must fetch are those of the images nobody claimed yet."""
        ids = validate_ancestry(ancestry, tip)
        with self.lock:
            for position, image_id in enumerate(ids):
                self.chains.setdefault(image_id, ids[position:])
        return self.claim_json(ids)

    def adopt(self, chain: tuple[str, ...], metadata: Sequence[RawMetadata]) -> None:
        """A chain (tip first) the journal holds whole, with each image's JSON."""
        seen = [_Seen.of(raw) for raw in metadata]
        with self.lock:
            for position, image_id in enumerate(chain):
                self.chains.setdefault(image_id, chain[position:])
                self.json_claims.add(image_id)
                self.metadata.setdefault(image_id, seen[position])

    def link(self, image_id: str, parent: str | None) -> None:
        """Place ``image_id`` by its JSON's ``parent`` (a base image when ``None``)."""
        with self.lock:
            if parent is None:
                self.chains.setdefault(image_id, (image_id,))
            else:
                self.links[image_id] = parent

    def resolve_links(self) -> None:
        """Give each image placed by its parent the parent's chain (itself first); a
        parent whose chain is unknown ends it there (its fault says why), and a loop of
        parents ends at the first image seen twice."""
        for image_id in list(self.links):
            path: list[str] = []
            current: str | None = image_id
            while current is not None and current not in self.chains and current not in path:
                path.append(current)
                current = self.links.get(current)
            tail = self.chains.get(current, ()) if current is not None else ()
            if current is not None and not tail and current not in path:
                tail = (current,)
            for position in range(len(path) - 1, -1, -1):
                tail = (path[position], *tail)
                self.chains[path[position]] = tail

    def claim_json(self, ids: Iterable[str]) -> list[str]:
        with self.lock:
            mine = [i for i in dict.fromkeys(ids) if i not in self.json_claims]
            self.json_claims.update(mine)
        return mine

    def add_metadata(self, image_id: str, metadata: RawMetadata | None, *, keep: bool) -> None:
        """Record what the image's JSON says; ``keep``: hold a JSON that reads as an
        image's for the journal (`kept`)."""
        seen = None if metadata is None else _Seen.of(metadata)
        with self.lock:
            self.metadata[image_id] = seen
            if keep and metadata is not None and image_id not in self.corrupt:
                self.pending.append((image_id, seen.parent if seen else None, metadata))

    def kept(self) -> list[tuple[str, str | None, RawMetadata]]:
        """The JSONs read since the last call, for the journal: each with the parent its
        JSON names, so a chain is taken from the journal only when every image down to
        a base was read whole (`Journal.source_chain`); anything broken is never kept
        and is asked for again next time."""
        with self.lock:
            pending, self.pending = self.pending, []
        return pending

    def ancestry_answered(self, image_id: str, error: Exception | None) -> None:
        with self.lock:
            self.ancestries[image_id] = error

    def ancestry_known(self, image_id: str) -> bool:
        with self.lock:
            return image_id in self.ancestries

    def json_failed(self, image_id: str, error: Exception) -> None:
        with self.lock:
            self.json_errors[image_id] = error

    def json_corrupt(self, image_id: str, why: str) -> None:
        with self.lock:
            self.corrupt[image_id] = why

    def fault(self, image_id: str) -> tuple[ProblemKind, str] | None:
        """What is wrong with ``image_id`` (once every request is answered), if anything."""
        ancestry = self.ancestries.get(image_id)
        json_error = self.json_errors.get(image_id)
        errors = [e for e in (json_error, ancestry) if e is not None]
        corrupt = self.corrupt.get(image_id)
        if not errors and corrupt is None:
            return None
        stuck = next((e for e in errors if isinstance(e, UploadInProgress)), None)
        if stuck is not None:
            return ProblemKind.IN_PROGRESS, _text(stuck)
        if isinstance(json_error, NotFound):
            if isinstance(ancestry, NotFound):
                return ProblemKind.MISSING_IMAGE, f"image {image_id} is gone: {_text(json_error)}"
            return (
                ProblemKind.MISSING_JSON,
                f"the JSON of {image_id} is missing: {_text(json_error)}",
            )
        if isinstance(ancestry, NotFound):
            return ProblemKind.MISSING_ANCESTRY, (
                f"the ancestry of {image_id} is missing: {_text(ancestry)}"
            )
        if isinstance(ancestry, ValueError | InvalidResponse):
            return ProblemKind.CORRUPT_ANCESTRY, f"the ancestry of {image_id}: {_text(ancestry)}"
        if corrupt is not None or isinstance(json_error, InvalidResponse):
            why = corrupt if corrupt is not None else _text(errors[0])
            return ProblemKind.CORRUPT_JSON, f"the JSON of {image_id} is not valid: {why}"
        return ProblemKind.UNREADABLE, _text(errors[0])


class _Counter:
    """Every request of one inventory, each attempt counted: the client's send path
    retries (with the inventory's policy) and tells the counter of each attempt."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self.count += 1

    def counting(self, client: C, retry: RetryPolicy | None) -> C:
        """The client the inventory sends with: ``retry`` when given, each attempt counted."""
        counted = client.with_options(retry=client.retry if retry is None else retry)
        counted._on_attempt = self.tick
        return counted


@attrs.define
class _Survey:
    """One inventory in progress: the settings, the counter and what was learned."""

    registry: str
    named: list[str] | None
    concurrency: int
    page_size: int
    requests: _Counter
    listener: InventoryListener | None
    selection: Selection
    #: The ``"inventory"`` phase: repositories read of those listed, images read, requests.
    phase: Phase = attrs.field(factory=lambda: Phase(None, "inventory"))
    started: float = attrs.field(factory=time.monotonic)
    collection: _Collection = attrs.field(factory=_Collection)
    repositories: list[_Repository] = attrs.field(factory=list)
    #: Names in the search listing this client cannot use.
    invalid: list[Problem] = attrs.field(factory=list)
    done: int = 0
    #: Where image JSONs and chains are kept between reads (a migration's journal).
    journal: Journal | None = None
    #: Ask every tagged image's ancestry (an audit), not only where a chain is unknown.
    every_ancestry: bool = True
    #: The name the journal keeps this registry's facts under.
    origin: str = ""
    #: Look for untagged images (each repository's index image list).
    untagged: bool = True

    @classmethod
    def create(
        cls,
        *,
        registry: str,
        repositories: Iterable[str] | None,
        concurrency: int,
        progress: InventoryListener | None,
        page_size: int,
        selection: Selection | None,
    ) -> _Survey:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidInput("concurrency", "expected an integer of at least 1")
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise InvalidInput("page_size", "expected an integer from 1 to 100")
        if not 1 <= page_size <= SEARCH_PAGE_SIZE:
            raise InvalidInput("page_size", "expected an integer from 1 to 100")
        return cls(
            registry=registry,
            named=None if repositories is None else _named(repositories),
            concurrency=concurrency,
            page_size=page_size,
            requests=_Counter(),
            listener=progress,
            selection=selection or Selection(),
        )

    def listed(self, names: Iterable[str]) -> None:
        """Keep the selected names, once each; a name that is not a repository name (the
        search listing's: the caller's were checked up front) is a problem, not an end."""
        seen: dict[str, str] = {}
        for name in names:
            if not self.selection.repository_selected(name):
                continue
            try:
                key = str(RepositoryName.parse(name))
            except InvalidInput as error:
                self.invalid.append(
                    Problem(name, None, None, ProblemKind.INVALID_NAME, _text(error))
                )
                continue
            seen.setdefault(key, name)
        self.repositories = [_Repository(name) for name in sorted(seen.values())]
        self.phase.set_total(len(self.repositories))
        self.report()

    def report(self) -> None:
        if self.listener is not None:
            self.listener.progressed(self.done, len(self.repositories), self.requests.count)

    def chosen(self, tags: Mapping[str, str]) -> dict[str, str]:
        return {tag: i for tag, i in tags.items() if self.selection.tag_selected(tag)}

    @property
    def untagged_wanted(self) -> bool:
        """Untagged means "no tag reaches it": with a tag filter that cannot be known from
        the chosen tags, so the index image lists are not read at all (nor when the
        caller does not look for untagged images)."""
        return self.untagged and not self.selection.filters_tags

    def finished_one(self, images: int = 0) -> None:
        """One repository read, which asked for ``images`` image JSONs."""
        self.keep()
        with self.collection.lock:
            self.done += 1
        self.phase.advance(1, images=images)
        self.report()

    def keep(self) -> None:
        """Write the JSONs read so far to the journal: one transaction per repository."""
        if self.journal is not None:
            kept = self.collection.kept()
            if kept:
                self.journal.source_images_read(self.origin, kept)

    def result(self) -> Inventory:
        self.collection.resolve_links()
        self.keep()
        return _assemble(self)


def _named(repositories: Iterable[str]) -> list[str]:
    if isinstance(repositories, str):
        raise InvalidInput("repositories", "expected an iterable of names, not one string")
    names = list(repositories)
    for name in names:
        RepositoryName.parse(name)
    return names


def _text(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


#: Answers that stop the whole inventory: a refused login cannot read anything else either.
#: Answers that end the whole inventory: a refused login, or a source that is not a v1
#: registry at all (every repository would fail the same way).
_REFUSED = (Unauthorized, Forbidden, V2OnlyRegistry)


def _search_missing(error: RegistryError) -> bool:
    return isinstance(error, NotFound) or error.code in {_METHOD_NOT_ALLOWED, _NOT_IMPLEMENTED}


def _index_missing(error: RegistryError) -> bool:
    """A registry without index image lists (404/405), or one that answers them oddly."""
    return isinstance(error, NotFound | InvalidResponse) or error.code == _METHOD_NOT_ALLOWED


def _later_pages(first: SearchResults) -> list[int]:
    following = next_page(first, 1)
    if following is None or first.num_pages is None:
        return []
    return list(range(following, first.num_pages + 1))


def _names(pages: Iterable[SearchResults]) -> list[str]:
    return [result.name for page in pages for result in page.results]


def _tips(tags: Mapping[str, str]) -> list[str]:
    """The distinct tagged images, newest-looking tag first (``latest``, then the others
    in descending order): older tags are usually ancestors of newer ones, and an ancestry
    asked for first makes theirs known without a request."""
    newest_first = sorted(tags, key=lambda tag: (tag == "latest", tag), reverse=True)
    return list(dict.fromkeys(tags[tag] for tag in newest_first))


def _reachable(repository: _Repository, chains: Mapping[str, tuple[str, ...]]) -> set[str]:
    return {i for tip in set(repository.tags.values()) for i in chains.get(tip, (tip,))}


def _image_record(
    image_id: str,
    chain: tuple[str, ...] | None,
    seen: _Seen | None,
    users: list[str],
    tags: int,
) -> ImageRecord:
    if chain is not None:
        parent = chain[1] if len(chain) > 1 else None
    else:
        parent = seen.parent if seen is not None else None
    return ImageRecord(
        id=image_id,
        parent=parent,
        created=seen.created if seen is not None else None,
        size=seen.size if seen is not None else None,
        repositories=tuple(sorted(set(users))),
        tags=tags,
    )


def _tag_problem(
    found: _Collection, repository: str, tag: str, chain: tuple[str, ...]
) -> Problem | None:
    """The first broken image of ``tag``'s chain (its own image first), charged to it."""
    for position, image_id in enumerate(chain):
        fault = found.fault(image_id)
        if fault is None:
            continue
        kind, message = fault
        if kind is ProblemKind.MISSING_IMAGE:
            kind = ProblemKind.DANGLING_TAG if position == 0 else ProblemKind.BROKEN_PARENT
        if position:
            message = f"{message} (an ancestor of {chain[0]})"
        return Problem(repository, tag, image_id, kind, message)
    return None


def _problems(run: _Survey) -> tuple[tuple[Problem, ...], dict[str, str]]:
    """Every problem, and the message of every broken image."""
    found = run.collection
    problems = list(run.invalid)
    for repository in run.repositories:
        if repository.unlisted is not None:
            problems.append(repository.unlisted)
            continue
        problems += repository.problems
        for tag, tip in repository.tags.items():
            problem = _tag_problem(found, repository.name, tag, found.chains.get(tip, (tip,)))
            if problem is not None:
                problems.append(problem)
        reachable = _reachable(repository, found.chains)
        for image_id in dict.fromkeys(repository.listed):
            fault = None if image_id in reachable else found.fault(image_id)
            if fault is not None:
                problems.append(Problem(repository.name, None, image_id, *fault))
    images = set(found.ancestries) | set(found.json_errors) | set(found.corrupt)
    broken = {i: fault[1] for i in images if (fault := found.fault(i)) is not None}
    problems.sort(key=lambda p: (p.repository, p.tag is not None, p.tag or "", p.image or ""))
    return tuple(problems), broken


def _created_of(found: _Collection, image_id: str) -> str | None:
    seen = found.metadata.get(image_id)
    return None if seen is None else seen.created


def _choose_by_time(run: _Survey) -> tuple[tuple[str, str], ...]:
    """Apply ``--newer-than``/``--last`` to each repository's tags (already through
    ``--tags``); the tags that could not be judged, by repository."""
    undated: list[tuple[str, str]] = []
    if not run.selection.by_time:
        return ()
    for repository in run.repositories:
        if repository.unlisted is not None:
            continue
        choice = run.selection.choose_tags(
            repository.tags, lambda i: _created_of(run.collection, i)
        )
        repository.tags = choice.tags
        undated += ((repository.name, tag) for tag in choice.undated)
    return tuple(undated)


def _assemble(run: _Survey) -> Inventory:
    chains = run.collection.chains
    undated = _choose_by_time(run)
    users: dict[str, list[str]] = {}
    tag_counts: dict[str, int] = {}
    records: list[RepositoryRecord] = []
    problems, broken = _problems(run)
    for repository in run.repositories:
        if repository.unlisted is not None:
            continue
        for tip in repository.tags.values():
            for image_id in chains.get(tip, (tip,)):
                users.setdefault(image_id, []).append(repository.name)
                tag_counts[image_id] = tag_counts.get(image_id, 0) + 1
        reachable = _reachable(repository, chains)
        untagged = tuple(i for i in dict.fromkeys(repository.listed) if i not in reachable)
        records.append(RepositoryRecord(repository.name, repository.tags, untagged))
        for image_id in untagged:
            users.setdefault(image_id, [])
    images = {
        image_id: _image_record(
            image_id,
            chains.get(image_id),
            run.collection.metadata.get(image_id),
            names,
            tag_counts.get(image_id, 0),
        )
        for image_id, names in users.items()
    }
    return Inventory(
        registry=run.registry,
        repositories=tuple(records),
        images=images,
        search_available=run.named is None,
        requests=run.requests.count,
        seconds=time.monotonic() - run.started,
        problems=problems,
        broken=broken,
        undated=undated,
    )


def _search(client: Client, run: _Survey) -> list[str]:
    def page(number: int) -> SearchResults:
        return client.search.query("", number, run.page_size)

    try:
        first = page(1)
    except RegistryError as error:
        if _search_missing(error) and not isinstance(error, V2OnlyRegistry):
            raise SearchUnavailable(run.registry, error) from error
        raise
    jobs = [lambda number=number: page(number) for number in _later_pages(first)]
    return _names([first, *run_threads(jobs, run.concurrency, threading.Event())])


def _reader(client: Client, run: _Survey, repo: str, tokens: bool) -> Authenticator | None:
    if not tokens:
        return None
    try:
        return _own_host(client, client.hub.get_read_token_with_auth(repo))
    except (NotFound, InvalidResponse):
        return None


def _tags(client: Client, run: _Survey, repo: str, reader: Authenticator | None) -> dict[str, str]:
    available: TagMap = client.repository.list_tags(repo, auth=reader)
    if not available.short_ids:
        return dict(available)
    return {tag: client.repository.get_image_id(repo, tag, auth=reader) for tag in available}


def _listed(client: Client, repository: _Repository) -> list[str]:
    """The index image list; one that errors costs only the untagged images (a problem)."""
    try:
        return [image.id for image in client.repository.list_images(repository.name)]
    except _REFUSED:
        raise
    except RegistryError as error:
        if not _index_missing(error):
            why = f"its index image list (untagged images) cannot be read: {_text(error)}"
            repository.problems.append(
                Problem(repository.name, None, None, ProblemKind.UNREADABLE, why)
            )
        return []


def _chain(client: Client, found: _Collection, tip: str, reader: Authenticator | None) -> list[str]:
    """Ask for ``tip``'s ancestry; the JSONs this job must fetch. An ancestry that cannot
    be read is recorded against ``tip``, whose JSON is then asked for to tell a lost
    ancestry from a lost image."""
    try:
        mine = found.add_ancestry(tip, client.image.get_ancestry(tip, auth=reader))
    except _REFUSED:
        raise
    except (RegistryError, ValueError) as error:  # ValueError: an ancestry of the wrong shape
        found.ancestry_answered(tip, error)
        return found.claim_json([tip])
    found.ancestry_answered(tip, None)
    return mine


def _walk(
    client: Client,
    run: _Survey,
    tip: str,
    reader: Authenticator | None,
) -> list[str]:
    """Place ``tip`` at the price a migration needs: the journal's chain when it holds
    one whole, else ``tip``'s JSON (read here), then its parent's ancestry only when no
    job knows or is reading that chain. Returns the JSONs this job must still fetch. A
    JSON that cannot be read or parsed falls back to ``tip``'s own ancestry, as an
    audit asks for it."""
    found = run.collection
    if run.journal is not None and _adopted(run, tip):
        return []
    if not found.claim_json([tip]):
        return []  # another job's ancestry holds it (its chain is recorded first)
    raw = _metadata(client, found, tip, reader)
    found.add_metadata(tip, raw, keep=run.journal is not None)
    seen = found.metadata.get(tip)
    if seen is None or tip in found.corrupt:
        return [i for i in _chain(client, found, tip, reader) if i != tip]
    parent = seen.parent
    found.link(tip, parent)
    if parent is None:
        return []
    if run.journal is not None and _adopted(run, parent):
        return []
    if not found.claim_chain(parent):
        return []
    return _chain(client, found, parent, reader)


def _adopted(run: _Survey, image_id: str) -> bool:
    """Take ``image_id``'s chain and JSONs from the journal, when it holds them whole."""
    journal = run.journal
    assert journal is not None
    chain = journal.source_chain(run.origin, image_id)
    if chain is None:
        return False
    metadata = [journal.source_image(run.origin, i) for i in chain]
    if any(raw is None for raw in metadata):
        return False
    run.collection.adopt(chain, [raw for raw in metadata if raw is not None])
    return True


def _metadata(
    client: Client, found: _Collection, image_id: str, reader: Authenticator | None
) -> RawMetadata | None:
    """The image's JSON, or ``None`` (its error recorded). A missing JSON is either a lost
    file or a lost image: the image's own ancestry, asked for once, tells which."""
    try:
        raw = client.image.get_metadata_raw(image_id, auth=reader)
    except _REFUSED:
        raise
    except RegistryError as error:
        found.json_failed(image_id, error)
        if isinstance(error, NotFound) and not found.ancestry_known(image_id):
            try:
                client.image.get_ancestry(image_id, auth=reader)
            except _REFUSED:
                raise
            except RegistryError as probed:
                found.ancestry_answered(image_id, probed)
            else:
                found.ancestry_answered(image_id, None)
        return None  # kept, with nothing known about it
    try:
        raw.parse()
    except (ValueError, TypeError) as error:
        found.json_corrupt(image_id, _text(error))
    return raw


def _read_repository(client: Client, run: _Survey, repository: _Repository, tokens: bool) -> None:
    repo, found = repository.name, run.collection
    keeping = run.journal is not None
    reader = _reader(client, run, repo, tokens)
    try:
        repository.tags = run.chosen(_tags(client, run, repo, reader))
    except _REFUSED:
        raise
    except RegistryError as error:
        kind = ProblemKind.MISSING_REPOSITORY if isinstance(error, NotFound) else None
        repository.unlisted = Problem(
            repo, None, None, kind or ProblemKind.TAG_LIST_ERROR, _text(error)
        )
        run.finished_one()
        return
    if run.untagged_wanted:
        repository.listed = _listed(client, repository)
    mine: list[str] = []
    for tip in _tips(repository.tags):
        if not found.claim_chain(tip):
            continue
        if run.every_ancestry:
            mine += _chain(client, found, tip, reader)
        else:
            mine += _walk(client, run, tip, reader)
    mine += found.claim_json(repository.listed)
    for image_id in mine:
        found.add_metadata(image_id, _metadata(client, found, image_id, reader), keep=keeping)
    run.finished_one(images=len(mine))


def inventory(
    client: Client,
    *,
    repositories: Iterable[str] | None = None,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    progress: InventoryListener | None = None,
    page_size: int = SEARCH_PAGE_SIZE,
    selection: Selection | None = None,
    journal: Journal | None = None,
    every_ancestry: bool = True,
    untagged: bool = True,
    phases: PhaseListener | None = None,
) -> Inventory:
    """Read every repository (``repositories``, else all that search lists), tag and image.

    Names are checked before any request (:class:`InvalidInput`); a registry without
    search raises :class:`SearchUnavailable` unless ``repositories`` is given.
    ``page_size`` is the search page asked for (1 to 100). ``selection`` narrows the
    repositories (include, exclude, shard) and tags before they are read; its naming
    rules play no part here. No layer is read.

    What one image or repository does wrong (an upload that never finished, a lost or
    corrupt JSON or ancestry, a tag naming a removed image, a tag list that errors, a
    search result that is not a repository name) is listed in
    :attr:`Inventory.problems` and the rest is read on. What stops it is raised as it
    is: a transport failure that outlasts ``retry`` (the registry cannot be reached)
    and a refused login (:class:`Unauthorized`, :class:`Forbidden`) or a source that
    speaks only the v2 API (:class:`V2OnlyRegistry`).

    ``journal`` (a migration's) keeps every image read whole and gives back those an
    earlier read kept (by this registry's name); ``every_ancestry=False`` asks a tagged
    image's ancestry only when its parent's chain is unknown (see the module's text);
    ``untagged=False`` does not look for untagged images (a migration moves tags: the
    index image lists cost a request per repository and tell it nothing).
    ``phases`` hears the ``"inventory"`` phase (:mod:`.phases`): ``done``/``total``
    count repositories read of those listed (the total is known once the search or
    the given names say how many), ``images`` the image JSONs asked for and
    ``requests`` every attempt sent so far.
    """
    run = _Survey.create(
        registry=client.base_url,
        repositories=repositories,
        concurrency=concurrency,
        progress=progress,
        page_size=page_size,
        selection=selection,
    )
    run.journal, run.every_ancestry, run.untagged = journal, every_ancestry, untagged
    run.origin = registry_origin(client)
    client = run.requests.counting(client, retry)
    counter = run.requests
    run.phase = Phase(
        phases, "inventory", counts=("images",), sampled={"requests": lambda: counter.count}
    ).start()
    tokens = client.issues_tokens()
    run.listed(run.named if run.named is not None else _search(client, run))
    jobs = [
        lambda repository=repository: _read_repository(client, run, repository, tokens)
        for repository in run.repositories
    ]
    run_threads(jobs, run.concurrency, threading.Event())
    run.phase.finish()
    return run.result()


async def ainventory(
    client: AsyncClient,
    *,
    repositories: Iterable[str] | None = None,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    progress: InventoryListener | None = None,
    page_size: int = SEARCH_PAGE_SIZE,
    selection: Selection | None = None,
    phases: PhaseListener | None = None,
) -> Inventory:
    """:func:`inventory` for an :class:`AsyncClient`: the same inventory, run in a worker
    thread on a sync twin of ``client`` (see ``transfer.threaded``); ``progress`` is
    called from threads. Cancelling it stops it at its next request."""
    return await run_in_worker(
        lambda worker: inventory(
            worker.twin(client),
            repositories=repositories,
            concurrency=concurrency,
            retry=retry,
            progress=worker.inventory_progress(progress),
            page_size=page_size,
            selection=selection,
            phases=phases,
        )
    )
