"""Migration into another v1 registry: images relayed GET → PUT, each at most once.

v1 images are global per registry, so an image the destination already has
(its JSON answers 200, the existence probe of `engine.access`) is skipped in
every repository; one that it lacks is uploaded by the first tag that needs it
while the others wait. Images go up base first (a v1 registry refuses a child
before its parent), layers stream straight from the source GET into the PUT and
are finalised only after the payload checksum matched the source's. The tag is
set last. A registry with an index (the Hub, a token-mode REF) is written as
docker pushed (v1-protocol f.3): for every tag, the index first gets the image
list covering its chain (``PUT …/{repo}/``, which also hands out the write
token), then the images go up base first, then the tag, and last the final
``PUT …/images`` to the index with the index's own credentials.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from ..core.errors import Conflict, DockerRegistryError, NotFound
from ..core.models import IndexImage
from ..core.names import RepositoryName
from ..engine.access import WriteAccess, index_list, is_present, read_access, write_access
from ..engine.bounded import Stopped
from ..engine.journal import JournalManifest
from ..engine.layers import LayerFetch, iter_layer
from .migrate_run import ImageFault, SharedRun, TagOutcome
from .mirror import LayerRestartError
from .retry import RetryPolicy

if TYPE_CHECKING:
    from ..v1.auth import Authenticator
    from ..v1.client import Client
    from .migrate_plan import PlannedTag

__all__ = ["V1Target"]


@attrs.frozen
class V1Target:
    """A v1 registry as a destination (``HOST[:PORT][/PREFIX]``), through a `Client`."""

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

    dest: V1Target
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

    def image(self, planned: PlannedTag, image_id: str, access: WriteAccess) -> None:
        """Make the destination hold the complete image (its parent is there already)."""
        target = self.dest.client
        with self.image_locks(image_id):
            if image_id in self.present:
                return
            if is_present(target, planned.dest_repo, image_id, access):
                self.counters.add(skipped=1)
            else:
                self.send(planned, image_id, access)
            self.journal.placed(self.registry, "", image_id)
            with self.lock:
                self.present.add(image_id)

    def send(self, planned: PlannedTag, image_id: str, access: WriteAccess) -> None:
        target, metadata = self.dest.client, self.metadata[image_id]
        try:
            target.image.add_metadata_raw(image_id, metadata.json_bytes, auth=access.auth)
        except Conflict:  # finalised meanwhile by someone else
            self.counters.add(skipped=1)
            return
        reader = self.reader(planned.source_repo)
        stop = threading.Event()

        def restarted(lost: int) -> None:
            raise LayerRestartError(
                "GET", f"/v1/images/{image_id}/layer", f"restarted after {lost} bytes"
            )

        fetches: list[LayerFetch] = []

        def relay() -> str:
            fetch = LayerFetch(image_id, metadata, reader, self.policy, restarted)
            fetches.append(fetch)
            body = self.counted(image_id, iter_layer(self.source, fetch), stop)
            try:
                upload = target.image.add_layer(
                    image_id, body, metadata_json=metadata.json_bytes, auth=access.auth
                )
            except DockerRegistryError:
                self.listener.layer_advanced(image_id, -fetch.received)
                raise
            fetch.verify()
            assert upload.checksum is not None  # metadata_json was given
            return upload.checksum

        with self.slots:
            self.listener.layer_started(image_id, metadata.size)
            checksum = _relayed(self.policy, relay, fetches)
            target.image.put_checksum(image_id, checksum, auth=access.auth)
            self.listener.layer_finished(image_id)
        self.counters.add(images_read=1, uploaded=1, bytes_uploaded=metadata.size or 0)

    def tag(self, planned: PlannedTag) -> TagOutcome:
        """Every image of the chain, base first, then the tag."""
        for image_id in planned.chain:
            self.image_json(image_id, planned.source_repo)
        access = self.writer(planned)
        for image_id in planned.chain:
            if self.stop.is_set():
                raise Stopped
            try:
                self.image(planned, image_id, access)
            except (DockerRegistryError, OSError, ValueError) as error:
                raise ImageFault(image_id, error) from error
        target = self.dest.client
        target.repository.set_tag(
            planned.dest_repo, planned.image_id, planned.dest_tag, auth=access.auth
        )
        if access.indexed:
            # The push's last step goes to the index with the index's own credentials
            # (never the registry token), listing every image of the repository's tags.
            with self.image_locks(f"writer:{planned.dest_repo}"):
                ids = list(self.listed[planned.dest_repo])
            target.repository.update_images(
                planned.dest_repo,
                [IndexImage(id=i, checksum=self.metadata[i].checksum) for i in ids],
            )
        self.journal.manifest_written(
            self.registry,
            JournalManifest(
                planned.dest_repo,
                planned.dest_tag,
                planned.image_id,
                planned.image_id,
                planned.source,
            ),
        )
        return TagOutcome(
            planned.source,
            planned.destination,
            "copied",
            digest=planned.image_id,
            image=planned.image_id,
        )


def _relayed(policy: RetryPolicy, relay: Callable[[], str], fetches: list[LayerFetch]) -> str:
    """``relay`` until it succeeds or ``policy`` gives up; not again for a source layer
    whose own resume loop has given up (its attempts are spent: no multiplying them)."""
    failures = 0
    while True:
        try:
            return relay()
        except DockerRegistryError as error:
            failures += 1
            spent = bool(fetches) and error is fetches[-1].gave_up
            wait = None if spent else policy.delay(failures, error)
            if wait is None:
                raise
        time.sleep(wait)
