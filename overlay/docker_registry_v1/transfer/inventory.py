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
which describe what the tags need. With a tag filter (``Selection.tags``) they are
not looked for: which images no tag reaches cannot be told from some of the tags.
"""

from __future__ import annotations

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
)
from ..core.models import ImageMetadata, RawMetadata, SearchResults, TagMap
from ..core.names import RepositoryName
from ..engine.access import _own_host  # the read-token rule of every transfer, counted here
from ..engine.bounded import run_threads
from ..formats.archive import validate_ancestry
from ..v1.auth import Authenticator
from ..v1.services import next_page
from .retry import RetryPolicy
from .selection import Selection
from .threaded import run_in_worker

if TYPE_CHECKING:  # the client module imports this package for Client.pull/push
    from ..v1.client import AsyncClient, Client

__all__ = [
    "ImageRecord",
    "Inventory",
    "InventoryListener",
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
    """Everything one registry holds, and what reading it cost (``requests``, ``seconds``).

    ``requests`` counts every attempt sent, retries included, as the client's send
    path makes them: the client's one ``_ping`` too when this inventory made it.
    """

    registry: str
    repositories: tuple[RepositoryRecord, ...]
    images: Mapping[str, ImageRecord] = attrs.field(converter=_sorted_images)
    search_available: bool
    requests: int
    seconds: float
    broken: Mapping[str, str] = attrs.field(factory=dict, converter=_sorted_tags)
    """Image id → why its ancestry or JSON could not be read (an upload that never
    finished, a missing or unreadable image, a broken parent chain). Such an image is
    charged to the tags that need it; it stops neither the inventory nor a migration."""

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


@attrs.define
class _Collection:
    """What the repository jobs learned, and which shared requests are someone's to make.

    A chain or an image JSON is claimed before it is asked for, so among jobs running
    at once each is asked for once. Claims and results go through ``lock``.
    """

    chains: dict[str, tuple[str, ...]] = attrs.field(factory=dict)  # tip first, as v1 sends
    metadata: dict[str, RawMetadata | None] = attrs.field(factory=dict)
    chain_claims: set[str] = attrs.field(factory=set)
    json_claims: set[str] = attrs.field(factory=set)
    broken: dict[str, str] = attrs.field(factory=dict)
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

    def claim_json(self, ids: Iterable[str]) -> list[str]:
        with self.lock:
            mine = [i for i in dict.fromkeys(ids) if i not in self.json_claims]
            self.json_claims.update(mine)
        return mine

    def add_metadata(self, image_id: str, metadata: RawMetadata | None) -> None:
        with self.lock:
            self.metadata[image_id] = metadata

    def add_broken(self, image_id: str, error: Exception) -> None:
        with self.lock:
            self.broken.setdefault(image_id, " ".join(str(error).split()) or type(error).__name__)


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
    started: float = attrs.field(factory=time.monotonic)
    collection: _Collection = attrs.field(factory=_Collection)
    repositories: list[_Repository] = attrs.field(factory=list)
    done: int = 0

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
        seen: dict[str, str] = {}
        for name in names:
            if self.selection.repository_selected(name):
                seen.setdefault(str(RepositoryName.parse(name)), name)
        self.repositories = [_Repository(name) for name in sorted(seen.values())]
        self.report()

    def report(self) -> None:
        if self.listener is not None:
            self.listener.progressed(self.done, len(self.repositories), self.requests.count)

    def chosen(self, tags: Mapping[str, str]) -> dict[str, str]:
        return {tag: i for tag, i in tags.items() if self.selection.tag_selected(tag)}

    @property
    def untagged_wanted(self) -> bool:
        """Untagged means "no tag reaches it": with a tag filter that cannot be known from
        the chosen tags, so the index image lists are not read at all."""
        return self.selection.tags is None

    def finished_one(self) -> None:
        with self.collection.lock:
            self.done += 1
        self.report()

    def result(self) -> Inventory:
        return _assemble(self)


def _named(repositories: Iterable[str]) -> list[str]:
    if isinstance(repositories, str):
        raise InvalidInput("repositories", "expected an iterable of names, not one string")
    names = list(repositories)
    for name in names:
        RepositoryName.parse(name)
    return names


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
    metadata: RawMetadata | None,
    users: list[str],
    tags: int,
) -> ImageRecord:
    parsed: ImageMetadata | None = None
    if metadata is not None:
        try:
            parsed = metadata.parse()
        except (ValueError, TypeError):
            parsed = None  # the ancestry still places it; size may come from the header
    if chain is not None:
        parent = chain[1] if len(chain) > 1 else None
    else:
        parent = parsed.parent if parsed is not None else None
    size = metadata.size if metadata is not None else None
    if size is None and parsed is not None:
        size = parsed.size
    return ImageRecord(
        id=image_id,
        parent=parent,
        created=parsed.created if parsed is not None else None,
        size=size,
        repositories=tuple(sorted(set(users))),
        tags=tags,
    )


def _assemble(run: _Survey) -> Inventory:
    chains = run.collection.chains
    users: dict[str, list[str]] = {}
    tag_counts: dict[str, int] = {}
    records: list[RepositoryRecord] = []
    for repository in run.repositories:
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
        broken=dict(run.collection.broken),
    )


def _search(client: Client, run: _Survey) -> list[str]:
    def page(number: int) -> SearchResults:
        return client.search.query("", number, run.page_size)

    try:
        first = page(1)
    except RegistryError as error:
        if _search_missing(error):
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


def _listed(client: Client, run: _Survey, repo: str) -> list[str]:
    try:
        return [image.id for image in client.repository.list_images(repo)]
    except RegistryError as error:
        if _index_missing(error):
            return []
        raise


def _metadata(
    client: Client, run: _Survey, image_id: str, reader: Authenticator | None
) -> RawMetadata | None:
    try:
        return client.image.get_metadata_raw(image_id, auth=reader)
    except NotFound as error:
        run.collection.add_broken(image_id, error)
        return None  # listed but never uploaded: kept, with nothing known about it
    except (Unauthorized, Forbidden):
        raise  # a refused login stops the run: nothing else could be read either
    except RegistryError as error:  # e.g. 400 "Image is being uploaded, retry later"
        run.collection.add_broken(image_id, error)
        return None


def _read_repository(client: Client, run: _Survey, repository: _Repository, tokens: bool) -> None:
    repo, found = repository.name, run.collection
    reader = _reader(client, run, repo, tokens)
    repository.tags = run.chosen(_tags(client, run, repo, reader))
    if run.untagged_wanted:
        repository.listed = _listed(client, run, repo)
    mine: list[str] = []
    for tip in _tips(repository.tags):
        if found.claim_chain(tip):
            try:
                mine += found.add_ancestry(tip, client.image.get_ancestry(tip, auth=reader))
            except (Unauthorized, Forbidden):
                raise
            except (RegistryError, ValueError) as error:
                found.add_broken(tip, error)  # the tags on it fail, not the inventory
    mine += found.claim_json(repository.listed)
    for image_id in mine:
        found.add_metadata(image_id, _metadata(client, run, image_id, reader))
    run.finished_one()


def inventory(
    client: Client,
    *,
    repositories: Iterable[str] | None = None,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    progress: InventoryListener | None = None,
    page_size: int = SEARCH_PAGE_SIZE,
    selection: Selection | None = None,
) -> Inventory:
    """Read every repository (``repositories``, else all that search lists), tag and image.

    Names are checked before any request (:class:`InvalidInput`); a registry without
    search raises :class:`SearchUnavailable` unless ``repositories`` is given.
    ``page_size`` is the search page asked for (1 to 100). ``selection`` narrows the
    repositories (include, exclude, shard) and tags before they are read; its naming
    rules play no part here. Registry errors that outlast ``retry`` are raised as they
    are; no layer is read.
    """
    run = _Survey.create(
        registry=client.base_url,
        repositories=repositories,
        concurrency=concurrency,
        progress=progress,
        page_size=page_size,
        selection=selection,
    )
    client = run.requests.counting(client, retry)
    tokens = client.issues_tokens()
    run.listed(run.named if run.named is not None else _search(client, run))
    jobs = [
        lambda repository=repository: _read_repository(client, run, repository, tokens)
        for repository in run.repositories
    ]
    run_threads(jobs, run.concurrency, threading.Event())
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
        )
    )
