"""Migration into another v1 registry: images relayed GET → PUT, each at most once.

Each tag is one `copy_image` of the engine into `V1Destination`. v1 images are
global per registry, so an image the destination already has (its JSON answers
200, the existence probe of `engine.access`) is skipped in every repository; one
that it lacks is uploaded by the first tag that needs it while the others wait.
Images go up base first (a v1 registry refuses a child before its parent), layers
stream straight from the source GET into the PUT and are finalised only after the
payload checksum matched the source's. The tag is set last. A registry with an
index (the Hub, a token-mode REF) is written as docker pushed (v1-protocol f.3):
for every tag, the index first gets the image list covering its chain
(``PUT …/{repo}/``, which also hands out the write token), then the images go up
base first, then the tag, and last the final ``PUT …/images`` to the index with
the index's own credentials, listing every image of the repository's tags.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from ..core.errors import DockerRegistryError, NotFound
from ..core.models import IndexImage
from ..core.names import RepositoryName
from ..engine.access import WriteAccess, index_list, read_access, write_access
from ..engine.bounded import Stopped
from ..engine.destinations import V1Destination
from ..engine.journal import JournalManifest
from ..engine.model import Layer, SourceImage
from ..engine.run import Committed, Feed, copy_image
from ..engine.sources import GivenImage, v1_layer
from ..engine.tracking import Tracker
from ..formats.archive import ArchiveError
from .migrate_run import ClaimedLayers, RunProgress, SharedRun, TagOutcome

if TYPE_CHECKING:
    from ..v1.auth import Authenticator
    from ..v1.client import Client
    from .migrate_plan import PlannedTag

__all__ = ["V1Side"]


@attrs.frozen
class V1Side:
    """A v1 registry as the destination side (``HOST[:PORT][/PREFIX]``), through a
    `Client`; each tag goes into a `V1Destination`."""

    client: Client
    _readers: dict[str, Authenticator] = attrs.field(factory=dict, init=False, repr=False)

    @property
    def registry(self) -> str:
        """The registry's base URL."""
        return self.client.base_url.rstrip("/")

    def check_name(self, name: str) -> object:
        """The v1 repository name rules (`RepositoryName`)."""
        return RepositoryName.parse(name)

    def reference(self, repository: str, tag: str) -> tuple[str, str]:
        """Names and tags are the registry's own."""
        return repository, tag

    def reader(self, repository: str) -> Authenticator | None:
        """Read access: a registry behind an index (the Hub) answers tag reads only under
        the read token the index hands out; kept per repository once one was given."""
        known = self._readers.get(repository)
        if known is None:
            known = read_access(self.client, repository)
            if known is not None:
                self._readers[repository] = known
        return known

    def tags(self, repository: str) -> set[str]:
        """The repository's tags; an unknown repository has none."""
        try:
            return set(self.client.repository.list_tags(repository, auth=self.reader(repository)))
        except NotFound:
            return set()

    def destination(
        self,
        repository: str,
        tag: str,
        *,
        access: WriteAccess,
        index_images: Callable[[], list[IndexImage]],
    ) -> V1Destination:
        """`V1Destination` for ``repository:tag`` with the run's write access and the
        final image list an index gets."""
        return V1Destination(self.client, repository, tag, access=access, index_images=index_images)

    def current(self, repository: str, tag: str) -> str | None:
        """The image id the tag points at, or None."""
        try:
            return self.client.repository.get_image_id(
                repository, tag, auth=self.reader(repository)
            )
        except NotFound:
            return None


@attrs.define(kw_only=True)
class V1Run(SharedRun):
    """A run into a v1 registry."""

    dest: V1Side
    present: set[str] = attrs.field(factory=set)
    """Image ids the destination holds, as confirmed during this run."""
    access: dict[str, WriteAccess] = attrs.field(factory=dict)
    listed: dict[str, dict[str, None]] = attrs.field(factory=dict)
    """Per repository, the image ids the index was given this run (push order)."""
    tagged: dict[str, dict[str, str]] = attrs.field(factory=dict)
    """Per repository, the tags written this run and their image ids."""

    @property
    def registry(self) -> str:
        """The journal's name for the destination."""
        return self.dest.registry

    def writer(self, planned: PlannedTag) -> WriteAccess:
        """Write access for this tag, asked before any image of its chain is PUT.

        A registry behind an index (the Hub, a token-mode REF) accepts a json PUT only
        for an id the index lists for the repository, so the index gets the list for
        every tag: the ids of this tag's chain and of the tags written into the
        repository before it in this run (the union, however the index stores it),
        each tag named on its image, as docker sent it. A registry without index
        routes is asked once."""
        repo = planned.dest_repo
        with self.image_locks(f"writer:{repo}"):
            known = self.access.get(repo)
            if known is not None and not known.indexed:
                return known
            listed = self.listed.setdefault(repo, {})
            listed.update(dict.fromkeys(planned.chain))
            tags = self.tagged.setdefault(repo, {})
            tags[planned.dest_tag] = planned.image_id
            access = write_access(self.dest.client, repo, index_list(listed, tags))
            if known is not None and known.probe_upgraded:  # the probe's read token
                access.probe, access.probe_upgraded = known.probe, True
            self.access[repo] = access
            return access

    def tag(self, planned: PlannedTag) -> TagOutcome:
        """One `copy_image` of the engine into `V1Destination`: every image of the chain,
        base first (one the registry has is skipped), then the tag and, behind an
        index, the final image list."""
        chain = planned.chain
        metadata = [self.image_json(image_id, planned.source_repo) for image_id in chain]
        access = self.writer(planned)
        if self.stop.is_set():
            raise Stopped
        reader = self.reader(planned.source_repo)
        layers = tuple(
            v1_layer(self.source, image_id, meta, chain[n - 1] if n else None, reader, self.policy)
            for n, (image_id, meta) in enumerate(zip(chain, metadata, strict=True))
        )
        image = SourceImage(planned.source_repo, planned.tag, layers, source=self.origin)
        repo = planned.dest_repo

        def index_images() -> list[IndexImage]:
            # every image of the repository's tags written this run, as docker sends it
            with self.image_locks(f"writer:{repo}"):
                ids = list(self.listed[repo])
            return [
                IndexImage(id=i, checksum=self.image_json(i, planned.source_repo).checksum)
                for i in ids
            ]

        inner = self.dest.destination(
            repo, planned.dest_tag, access=access, index_images=index_images
        )
        copy_image(
            GivenImage(image),
            _Claimed(self, inner),
            concurrency=1,
            progress=RunProgress(self),
            retry=self.policy,
        )
        self.journal.manifest_written(
            self.registry,
            JournalManifest(
                repo, planned.dest_tag, planned.image_id, planned.image_id, planned.source
            ),
        )
        return TagOutcome(
            planned.source,
            planned.destination,
            "copied",
            digest=planned.image_id,
            image=planned.image_id,
        )


_EXPECTED = (DockerRegistryError, ArchiveError, OSError, ValueError)


class _Claimed(ClaimedLayers):
    """`V1Destination` inside a migration run: an image is probed and sent by one tag
    at a time and at most once per run (v1 images are global per registry: one
    confirmed in any repository is there for all), within the run's bound on streaming
    layers; a failure is charged to the image (`ImageFault`)."""

    sequential = True
    overlaps = False

    faults = _EXPECTED
    _run: V1Run
    _inner: V1Destination

    def __init__(self, run: V1Run, inner: V1Destination) -> None:
        self._run = run
        self._inner = inner

    def prepare(self) -> None:
        """Nothing to ask: the plan talked to the registry already."""

    def begin(self, image: SourceImage) -> None:
        self._inner.begin(image)

    def _confirmed(self, image_id: str) -> None:
        run = self._run
        run.journal.placed(run.registry, "", image_id)
        with run.lock:
            run.present.add(image_id)

    def reuse(self, layer: Layer) -> bool:
        """Known this run, or found by the destination's probe; a False keeps the claim
        for `put`."""

        def decide() -> bool:
            run = self._run
            with run.lock:
                if layer.image_id in run.present:
                    return True
            if not self._inner.reuse(layer):
                return False
            run.counters.add(skipped=1)
            self._confirmed(layer.image_id)
            return True

        return self._decided(layer, decide)

    def put(self, layer: Layer, feed: Feed) -> bool:
        """The image's JSON, layer and checksum, within the run's bound."""

        def counted(sent: bool) -> None:
            if sent:
                self._run.counters.add(images_read=1, uploaded=1, bytes_uploaded=layer.size or 0)
            else:  # finalised meanwhile by someone else (409)
                self._run.counters.add(skipped=1)
            self._confirmed(layer.image_id)

        return self._moved(layer, feed, counted)

    def commit(self, image: SourceImage, tracker: Tracker) -> Committed:
        return self._inner.commit(image, tracker)

    def close(self) -> None:
        self._inner.close()
