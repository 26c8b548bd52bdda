"""Tags deleted at the source after they were migrated, and ``migrate --prune``.

During a cut-over the old registry keeps changing: tags are pushed, and tags are
deleted. A rerun (or a ``--watch`` pass) moves what is new; this module finds what
is gone. A *deleted source tag* is one the journal records as migrated (its
``manifests`` rows name the source ``REPO:TAG``) whose repository this run selected
and whose tag the source no longer lists. It is decided from what the run already
asked (each selected repository's tag list, kept in the report's outcomes), so a
pass with nothing deleted costs no request. Two cases cost one tag-list request per
repository: a journal repository this pass did not list (search no longer names it,
or it is empty) is asked directly (404: every tag of it is gone; any other error:
nothing is concluded), and with ``--newer-than``/``--last`` a tag that aged out of
the selection is told from a deleted one the same way. A repository whose tags could
not be read, a tag the ``--tags`` rule leaves out and a repository the selection
leaves out are never taken for deleted.

Deleting at the destination is opt-in (``--prune``) and careful:

- An OCI registry deletes a manifest by digest, which untags every tag pointing at
  it in that repository. The OCI 1.1 tag delete (``DELETE …/manifests/TAG``) is tried
  first; a registry that refuses it (distribution 2.8 answers 400) gets the digest
  delete, only when no other tag of the repository that stays (still listed at the
  source, or not migrated by us) points at the same manifest: otherwise the tag is
  kept and the report says which tag holds it. A tag changed at the destination since
  it was migrated is kept too. A registry that allows no deletes (405 ``UNSUPPORTED``,
  distribution without ``storage.delete.enabled``) is reported per tag; it fails
  nothing.
- An ``oci:`` layout loses the ref name from ``index.json`` (its blobs stay).
- A v1 registry gets the v1 tag ``DELETE`` (its images stay).

A tag deleted (or found already gone) is forgotten by the journal
(`Journal.forget_tag`), so it is reported once, and a tag of that name pushed again
later is migrated as new.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import attrs

from ..core.errors import DockerRegistryError, Forbidden, NotFound, RegistryError, Unauthorized
from ..formats.errors import LayoutError
from ..formats.provenance import ARTIFACT_TYPE, INDEX_MEDIA_TYPE, fallback_tag, is_fallback_tag
from .inventory import ProblemKind
from .migrate_plan import LayoutSide, RegistrySide
from .migrate_v1 import V1Side

LOG = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ..engine.journal import Journal, JournalManifest
    from ..v1.client import Client
    from .migrate import MigrationReport
    from .migrate_plan import BlobStoreSide
    from .selection import Selection

__all__ = [
    "DeletedTag",
    "PruneStatus",
    "PrunedTag",
    "deleted_source_tags",
    "prune_deleted_tags",
    "source_tag_lister",
]

#: What ``--prune`` did with one deleted source tag: ``deleted`` at the destination;
#: ``absent`` there already (forgotten too); ``kept`` on purpose (the reason says why);
#: ``unsupported`` the destination deletes nothing; ``failed`` it answered an error.
PruneStatus = Literal["deleted", "absent", "kept", "unsupported", "failed"]

#: Answers that mean "this registry does not delete" rather than "not this tag".
_NOT_ALLOWED = (405, 501)
_CLIENT_ERRORS = range(400, 500)

#: A tag list, asked directly: the tags, or ``None`` when the answer proves nothing.
Relister = Callable[[str], set[str] | None]


@attrs.frozen
class DeletedTag:
    """A migrated tag whose source tag the source no longer lists."""

    source: str
    """The source ``REPO:TAG`` it was migrated from."""
    repository: str
    """The destination repository and tag, as the journal records them."""
    tag: str
    digest: str
    """The manifest digest the migration wrote (a v1 destination: the image id)."""

    @property
    def destination(self) -> str:
        """``REPOSITORY:TAG`` at the destination, as a report names it."""
        return f"{self.repository}:{self.tag}"


@attrs.frozen
class PrunedTag:
    """What ``--prune`` did with a deleted source tag, and why."""

    deleted: DeletedTag
    status: PruneStatus
    reason: str = ""


def source_tag_lister(client: Client) -> Relister:
    """Ask the source for one repository's tag list: 404 means no tags at all; any other
    failure (an error, no answer) proves nothing."""

    def relist(repository: str) -> set[str] | None:
        try:
            return set(client.repository.list_tags(repository))
        except NotFound:
            return set()
        except DockerRegistryError:
            return None

    return relist


def _split(source: str) -> tuple[str, str]:
    repository, _, tag = source.rpartition(":")
    return repository, tag


def deleted_source_tags(
    journal: Journal,
    registry: str,
    report: MigrationReport,
    selection: Selection,
    *,
    repositories: Sequence[str] | None,
    relist: Relister,
) -> list[DeletedTag]:
    """The tags the journal migrated into ``registry`` whose source tag is gone, among
    the repositories this run selected (``repositories``: the names it was given, else
    every one the selection takes), judged from the run's ``report``."""
    listed = {o.source for o in report.outcomes}
    read = {_split(source)[0] for source in listed}
    unread = {p.repository for p in report.problems if p.kind is not ProblemKind.MISSING_REPOSITORY}
    named = None if repositories is None else set(repositories)
    asked: dict[str, set[str] | None] = {}
    gone: list[DeletedTag] = []
    for record in journal.each_manifest(registry):  # a page at a time
        repository, tag = _split(record.source)
        if not repository or not _selected(selection, named, repository, tag):
            continue
        if record.source in listed:
            continue
        if repository in read and not selection.by_time:
            gone.append(_deleted(record))
            continue
        if repository in unread:
            continue  # its tags could not be read: nothing is known
        if repository not in asked:
            asked[repository] = relist(repository)
        still = asked[repository]
        if still is not None and tag not in still:
            gone.append(_deleted(record))
    return gone


def _selected(selection: Selection, named: set[str] | None, repository: str, tag: str) -> bool:
    if named is not None and repository not in named:
        return False
    return selection.repository_selected(repository) and selection.tag_selected(tag)


def _deleted(record: JournalManifest) -> DeletedTag:
    return DeletedTag(record.source, record.repository, record.tag, record.digest)


def prune_deleted_tags(
    target: BlobStoreSide | V1Side, journal: Journal, deleted: Iterable[DeletedTag]
) -> list[PrunedTag]:
    """Delete each tag at the destination where that is safe (see the module doc); the
    journal forgets each tag deleted or found absent."""
    pruned: list[PrunedTag] = []
    by_repository: dict[str, list[DeletedTag]] = defaultdict(list)
    for tag in deleted:
        by_repository[tag.repository].append(tag)
    if isinstance(target, RegistrySide):
        pruner = _RegistryPruner(target)
        for repository, tags in by_repository.items():
            pruned += pruner.repository(repository, tags)
    else:
        for tags in by_repository.values():
            pruned += (_prune_one(target, tag) for tag in tags)
    for outcome in pruned:
        if outcome.status in ("deleted", "absent"):
            journal.forget_tag(target.registry, outcome.deleted.repository, outcome.deleted.tag)
    return pruned


def _refusal(error: DockerRegistryError) -> tuple[PruneStatus, str]:
    """A refused delete: the registry's "I delete nothing" (405, 501) or another error."""
    code = getattr(error, "code", None)
    text = " ".join(str(error).split())
    if code in _NOT_ALLOWED:
        return "unsupported", f"the destination deletes nothing ({text})"
    return "failed", text


def _prune_one(target: BlobStoreSide | V1Side, tag: DeletedTag) -> PrunedTag:
    """An ``oci:`` layout's ref name or a v1 tag: one name, nothing shared to mind."""
    try:
        now = target.current(tag.repository, tag.tag)
        if now is None:
            return PrunedTag(tag, "absent", "not at the destination any more")
        if now != tag.digest:
            return PrunedTag(tag, "kept", f"changed at the destination since (now {now})")
        if isinstance(target, LayoutSide):
            target.layout.remove_ref(target.reference(tag.repository, tag.tag)[1])
        elif isinstance(target, V1Side):
            target.client.repository.delete_tag(tag.repository, tag.tag)
        else:
            return PrunedTag(tag, "unsupported", "this destination deletes nothing")
    except NotFound:
        return PrunedTag(tag, "absent", "not at the destination any more")
    except DockerRegistryError as error:
        return PrunedTag(tag, *_refusal(error))
    except (LayoutError, OSError) as error:  # the layout's index.json cannot be rewritten
        return PrunedTag(tag, "failed", " ".join(str(error).split()))
    return PrunedTag(tag, "deleted")


@attrs.define
class _RegistryPruner:
    """Deletes in an OCI registry: by tag where it takes that, else by digest when no
    tag that stays shares the manifest."""

    target: RegistrySide
    tag_delete: bool = True
    """Cleared once the registry refuses a tag delete: not asked again this run."""

    def repository(self, repository: str, tags: list[DeletedTag]) -> list[PrunedTag]:
        try:
            present = self.target.tags(repository)
        except DockerRegistryError as error:
            return [PrunedTag(tag, *_refusal(error)) for tag in tags]
        digests: dict[str, str | None] = {}
        out: list[PrunedTag] = []
        waiting: list[DeletedTag] = []
        for tag in tags:
            if tag.tag not in present:
                out.append(PrunedTag(tag, "absent", "not at the destination any more"))
                continue
            try:
                now = self._digest(repository, tag.tag, digests)
            except DockerRegistryError as error:
                out.append(PrunedTag(tag, *_refusal(error)))
                continue
            if now != tag.digest:
                out.append(PrunedTag(tag, "kept", f"changed at the destination since (now {now})"))
                continue
            done = self._by_tag(tag)
            if done is not None:
                out.append(done)
            else:
                waiting.append(tag)
        return out + self._by_digest(repository, waiting, present, digests)

    def _digest(self, repository: str, tag: str, known: dict[str, str | None]) -> str | None:
        if tag not in known:
            known[tag] = self.target.current(repository, tag)
        return known[tag]

    def _by_tag(self, tag: DeletedTag) -> PrunedTag | None:
        """The OCI 1.1 tag delete; ``None`` when the registry refuses the form."""
        if not self.tag_delete:
            return None
        try:
            self.target.client.delete_manifest(tag.repository, tag.tag)
        except NotFound:
            return PrunedTag(tag, "absent", "not at the destination any more")
        except (Unauthorized, Forbidden) as error:
            return PrunedTag(tag, *_refusal(error))
        except RegistryError as error:
            if error.code not in _CLIENT_ERRORS:
                return PrunedTag(tag, *_refusal(error))
            self.tag_delete = False  # 400 DIGEST_INVALID (distribution 2.8), 405: by digest
            return None
        return PrunedTag(tag, "deleted")

    def _by_digest(
        self,
        repository: str,
        tags: list[DeletedTag],
        present: set[str],
        digests: dict[str, str | None],
    ) -> list[PrunedTag]:
        """One digest delete per manifest, when every tag pointing at it is going."""
        going = {tag.tag for tag in tags}
        by_digest: dict[str, list[DeletedTag]] = defaultdict(list)
        for tag in tags:
            by_digest[tag.digest].append(tag)
        out: list[PrunedTag] = []
        for digest, group in by_digest.items():
            try:
                holders = sorted(
                    other
                    for other in present - going
                    if not is_fallback_tag(other)
                    and self._digest(repository, other, digests) == digest
                )
            except DockerRegistryError as error:
                out += (PrunedTag(tag, *_refusal(error)) for tag in group)
                continue
            if holders:
                why = (
                    f"{repository}:{holders[0]} still points at the same manifest {digest}, "
                    "and this registry deletes a manifest only by digest (every tag with it)"
                )
                out += (PrunedTag(tag, "kept", why) for tag in group)
                continue
            try:
                self.target.client.delete_manifest(repository, digest)
            except NotFound:
                out += (PrunedTag(t, "absent", "not at the destination any more") for t in group)
            except DockerRegistryError as error:
                out += (PrunedTag(tag, *_refusal(error)) for tag in group)
            else:
                out += (PrunedTag(tag, "deleted") for tag in group)
                self._drop_fallback(repository, digest, present)
        return out

    def _drop_fallback(self, repository: str, digest: str, present: set[str]) -> None:
        """The manifest is gone, so its referrers fallback tag (``sha256-<hex>``) would list
        artifacts about nothing: delete our provenance artifacts it lists, then the index
        itself (another tool's artifacts are left, unlisted, for the registry's garbage
        collection). Best effort: the prune is done, a refusal here changes nothing."""
        tag = fallback_tag(digest)
        if tag not in present:
            return
        client = self.target.client
        try:
            index = client.get_manifest(repository, tag, accept=[INDEX_MEDIA_TYPE])
            for entry in json.loads(index.data).get("manifests", []):
                if entry.get("artifactType") == ARTIFACT_TYPE:
                    with contextlib.suppress(NotFound):
                        client.delete_manifest(repository, entry["digest"])
            client.delete_manifest(repository, index.digest)
        except (DockerRegistryError, ValueError, KeyError, TypeError, AttributeError) as error:
            LOG.info("the referrers fallback tag %s of %s stays: %s", tag, repository, error)
