"""``migrate --repair``: find what the destination lost of a migration and send it again.

A plain rerun takes a tag as current when its manifest is still the one the journal
recorded (one tag list per repository, one manifest HEAD per listed tag): the tag's
blobs are not looked up, so a layer blob the destination lost since (a storage
restore, a garbage collection, a deleted file) goes unnoticed, and looking every blob
up on every rerun would cost a request per blob per tag. A repair pays that once:
it runs the verify's check on every tag the journal records (`verify_migration`,
fast: HEADs, no layer read), then, for each tag found wrong,

- the journal forgets that the tag's repository holds each blob found missing or of
  another size (`Journal.forget_placed`), so no run skips it or mounts it from there
  on the journal's word (an ``oci:`` layout's file of the wrong size is removed: a
  content-addressed file that does not match its name is no blob at all);
- the journal forgets the tag was written (`Journal.forget_manifest`) and the plan
  takes it as a tag to copy (`requeue_wrong_tags`);

after which the normal run moves those tags: for each lost blob the engine asks the
destination (HEAD), mounts it from a repository still holding it, or reads the v1
layer from the source again and uploads it. What the journal knows of which blob a
v1 layer became is kept: those are facts about content, true whatever the
destination lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .migrate_plan import BlobStoreSide, LayoutSide, MigrationPlan, TagState
from .migrate_v1 import V1Side
from .migrate_verify import SIZE_MISMATCH, VerifyReport

if TYPE_CHECKING:
    from ..engine.journal import Journal

__all__ = ["forget_lost_blobs", "requeue_wrong_tags"]


def forget_lost_blobs(report: VerifyReport, journal: Journal, dest: BlobStoreSide | V1Side) -> int:
    """Drop the journal's facts that ``report`` found false: each lost blob's placement
    in its repository, and each wrong tag's record. Returns the blobs forgotten."""
    registry = dest.registry
    forgotten = 0
    for mismatch in report.mismatches:
        if mismatch.lost and mismatch.digest is not None:
            # a v1 destination's images are registry-wide: placed under no repository
            repository = "" if isinstance(dest, V1Side) else mismatch.repository
            journal.forget_placed(registry, repository, mismatch.digest)
            if isinstance(dest, LayoutSide) and mismatch.what == SIZE_MISMATCH:
                dest.layout.blob_path(mismatch.digest).unlink(missing_ok=True)
            forgotten += 1
    for repository, tag in report.wrong_tags:
        journal.forget_manifest(registry, repository, tag)
    return forgotten


def requeue_wrong_tags(
    plan: MigrationPlan, report: VerifyReport
) -> tuple[MigrationPlan, tuple[tuple[str, str], ...]]:
    """``plan`` with every tag ``report`` found wrong to be copied again (whatever the
    plan had found), and the wrong tags this plan does not select (another selection
    or shard migrated them; they stay as they are)."""
    wrong = set(report.wrong_tags)
    tags = tuple(
        attrs.evolve(one, state=TagState.COPY, digest=None)
        if (one.dest_repo, one.dest_tag) in wrong
        else one
        for one in plan.tags
    )
    selected = {(one.dest_repo, one.dest_tag) for one in plan.tags}
    unselected = tuple(pair for pair in report.wrong_tags if pair not in selected)
    return attrs.evolve(plan, tags=tags), unselected
