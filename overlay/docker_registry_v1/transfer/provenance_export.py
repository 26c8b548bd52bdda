"""The v1 → v2 mapping for auditors: which v2 tag, manifest and layer each v1 image became.

One row per v1 image of each migrated tag's chain (base first, ``position`` 0 the
base): the v1 registry, repository, tag and image id it was known by, and the v2
registry, repository, tag, manifest digest, layer digest and diff_id it is now. Two
sources give the same rows:

- the migration journal (`from_journal`): the tags it saw written (``manifests``),
  each tag's v1 chain with the JSONs the run read (``source_images``), and the blob each
  layer became (``layers``; when a layer was made with several compression settings,
  the blob the destination repository holds, ``placed``). Nothing is asked of any
  server, so it works after the old registry is gone;
- the destination alone (`from_destination`): its repositories (``_catalog``, or a
  given list), their tags (the referrers fallback tags ``sha256-…`` left out), each
  tag's manifest digest and the provenance artifact attached to it
  (`oci.referrers.read_provenance`). A tag without one (pushed there directly, or
  migrated with ``--no-provenance``) is listed once with empty v1 columns and
  ``provenance`` = ``no provenance``, so an auditor sees the gap instead of nothing.

The ``provenance`` column says where a row's v1 facts come from: ``journal``,
``artifact`` or ``no provenance``; apart from it, and from a tag one side knows and the
other does not (one pushed to the destination directly; one a ``--repair`` found wrong
and left out of its selection, which the journal no longer vouches for), the two exports
of one migration are equal row for row. The v1 registry is its base URL as the
provenance artifact names it (without credentials, without the API's ``/v1``).

Something that cannot be read for one tag (a damaged artifact, a manifest gone between
listing and reading) is an `ExportProblem` and the export goes on; the caller reports
them (the CLI exits 2). So is a tag a journal saw written into another v1 registry: it
has no v2 side, and a row would put its v1 image id in the v2 columns.
"""

from __future__ import annotations

import csv
import enum
import functools
import itertools
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from ..core.errors import DockerRegistryError
from ..engine.bounded import run_threads
from ..engine.journal import JournalManifest, JournalReader
from ..engine.provenance import v1_registry as v1_base_url
from ..formats.compress import LayerBlob
from ..formats.errors import LayoutError
from ..formats.layout import OCILayout
from ..formats.provenance import Provenance, is_fallback_tag
from ..oci.client import OCIClient
from ..oci.referrers import read_provenance

__all__ = [
    "COLUMNS",
    "EXPORT_KIND",
    "EXPORT_VERSION",
    "ExportProblem",
    "Found",
    "MappingRow",
    "from_destination",
    "from_journal",
    "list_repositories",
    "write_atomically",
    "write_csv",
    "write_json",
]

COLUMNS = (
    "v1_registry",
    "v1_repository",
    "v1_tag",
    "v1_image_id",
    "position",
    "v2_registry",
    "v2_repository",
    "v2_tag",
    "manifest_digest",
    "layer_digest",
    "diff_id",
    "provenance",
)
"""The columns of every format, in this order (CSV header, JSON keys)."""
EXPORT_KIND = "regv1-provenance-export"
EXPORT_VERSION = 1
"""The JSON document's ``version``: raised only when a column changes meaning or goes;
new columns are added without it."""


class Found(enum.Enum):
    """Where a row's v1 facts come from."""

    JOURNAL = "journal"
    ARTIFACT = "artifact"
    NONE = "no provenance"


@attrs.frozen
class MappingRow:
    """One v1 image of a tag's chain and what it became (v1 fields ``None`` for a tag
    without provenance; layer fields ``None`` for an image without a layer)."""

    v1_registry: str | None
    v1_repository: str | None
    v1_tag: str | None
    v1_image_id: str | None
    position: int | None
    """0 for the base image, counting up to the tagged image."""
    v2_registry: str
    v2_repository: str
    v2_tag: str
    manifest_digest: str
    layer_digest: str | None
    diff_id: str | None
    provenance: Found

    def as_dict(self) -> dict[str, Any]:
        """The row under the `COLUMNS` names (``provenance`` as its text)."""
        return {
            name: self.provenance.value if name == "provenance" else getattr(self, name)
            for name in COLUMNS
        }


@attrs.frozen
class ExportProblem:
    """A tag whose mapping could not be read (the rest of the export goes on)."""

    v2_repository: str
    v2_tag: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The problem under the names JSON gives it (``v2_repository``, ``v2_tag``,
        ``message``)."""
        return attrs.asdict(self)


Item = MappingRow | ExportProblem


# --- from the journal ----------------------------------------------------------------


def _v1_source(source: str) -> tuple[str, str]:
    """The journal's ``repository:tag`` of the source."""
    repository, _, tag = source.rpartition(":")
    return repository, tag


class _JournalView:
    """What one export asks the journal, each fact once: the source registries (and
    their names), a chain per top image, the layer blobs per image. The caches are
    bounded, so memory stays flat whatever the journal's size; shared base images (most
    rows) are found in them."""

    def __init__(self, reader: JournalReader) -> None:
        self.reader = reader
        self.origins = reader.source_origins()
        self.names = {origin: v1_base_url(origin) or origin for origin in self.origins}
        self.facts = functools.lru_cache(maxsize=_CACHED)(self._facts)
        self.places = functools.lru_cache(maxsize=_CACHED)(self._places)

    def _facts(self, image_id: str, origin: str) -> list[LayerBlob]:
        return self.reader.layer_facts(image_id, origin)

    def _places(self, registry: str, digest: str) -> frozenset[str]:
        return frozenset(self.reader.places(registry, digest))

    def chain(self, top: str) -> tuple[str, tuple[str, ...]] | None:
        """The origin that kept ``top``'s whole chain, and the chain (top first)."""
        for origin in self.origins:
            chain = self.reader.source_chain(origin, top)
            if chain is not None:
                return origin, chain
        return None

    def layer(self, registry: str, repository: str, image_id: str, origin: str) -> LayerBlob | None:
        """The blob the image's layer became in ``repository``: of the blobs recorded
        for it, the one placed there (else the first: same diff_id, another
        compression)."""
        facts = self.facts(image_id, origin)
        for blob in facts:
            if blob.empty or repository in self.places(registry, blob.digest):
                return blob
        return facts[0] if facts else None


_CACHED = 8192
"""Entries per cache of `_JournalView` (a few MiB at most)."""


def _journal_rows(view: _JournalView, registry: str, manifest: JournalManifest) -> Iterator[Item]:
    repository, tag, digest, top = (
        manifest.repository,
        manifest.tag,
        manifest.digest,
        manifest.image_id,
    )
    v1_repository, v1_tag = _v1_source(manifest.source)
    found = view.chain(top)
    if found is None:
        yield ExportProblem(
            repository, tag, f"the journal does not hold the v1 chain of image {top}"
        )
        return
    origin, chain = found
    for position, image_id in enumerate(reversed(chain)):
        blob = view.layer(registry, repository, image_id, origin)
        if blob is None:
            yield ExportProblem(
                repository, tag, f"the journal does not hold the layer of v1 image {image_id}"
            )
        empty = blob is None or blob.empty
        yield MappingRow(
            view.names[origin],
            v1_repository,
            v1_tag,
            image_id,
            position,
            registry,
            repository,
            tag,
            digest,
            None if empty or blob is None else blob.digest,
            None if empty or blob is None else blob.diff_id,
            Found.JOURNAL,
        )


def from_journal(
    reader: JournalReader,
    registries: Sequence[str] | None = None,
    *,
    repositories: Sequence[str] | None = None,
) -> Iterator[Item]:
    """Every tag the journal saw written into ``registries`` (all it knows by default),
    only ``repositories`` when given, by registry, repository and tag; each tag's chain
    base first."""
    view = _JournalView(reader)
    for registry in registries if registries is not None else reader.registries():
        for manifest in reader.manifests(registry):
            if repositories is not None and manifest.repository not in repositories:
                continue
            if not manifest.digest.startswith("sha256:"):
                # a migration into another v1 registry records the v1 image id as the
                # tag's digest: there is no v2 manifest or blob to map it to
                yield ExportProblem(
                    manifest.repository,
                    manifest.tag,
                    f"migrated into the v1 registry {registry} (image {manifest.image_id}): "
                    "no v2 manifest to map",
                )
                continue
            yield from _journal_rows(view, registry, manifest)


# --- from the destination ------------------------------------------------------------


def _provenance_rows(
    records: Sequence[Provenance], registry: str, repository: str, tag: str, digest: str
) -> Iterator[MappingRow]:
    if not records:
        yield MappingRow(
            None,
            None,
            None,
            None,
            None,
            registry,
            repository,
            tag,
            digest,
            None,
            None,
            Found.NONE,
        )
    for record in records:
        source = record.source
        for position, image in enumerate(record.images):
            yield MappingRow(
                source.registry,
                source.repository,
                source.tag,
                image.id,
                position,
                registry,
                repository,
                tag,
                digest,
                image.layer.digest,
                image.layer.diff_id,
                Found.ARTIFACT,
            )


def _of_tag(records: Sequence[Provenance], repository: str, tag: str) -> Sequence[Provenance]:
    """The records that belong to the tag ``repository:tag``. An artifact names the
    manifest, not the tag: a manifest several v1 tags became (``latest`` and ``1.0`` of
    one image) carries one record per v1 tag, all listed under each of its v2 tags.
    Those whose v1 tag is this tag (and whose v1 repository ends the v2 name, as
    ``migrate`` maps names under a prefix) are the tag's own; when none is, every
    record is listed (a renamed tag), so no provenance is hidden."""

    def named(record: Provenance) -> bool:
        v1 = record.source.repository
        return record.source.tag == tag and (repository == v1 or repository.endswith("/" + v1))

    own = [record for record in records if named(record)]
    if not own:
        own = [record for record in records if record.source.tag == tag]
    return own or records


_PER_TAG = (DockerRegistryError, LayoutError, ValueError, OSError)
"""What reading one tag can run into without the rest being unreadable: the registry's
answer for that tag, a damaged artifact (`ProvenanceError` is a ValueError), a layout
file."""


def _registry_tags(
    client: OCIClient, repositories: Iterable[str]
) -> Iterator[ExportProblem | _Tag]:
    """Each repository's tags (the referrers fallback tags left out), sorted."""
    for repository in repositories:
        try:
            tags = sorted(tag for tag in client.tags(repository) if not is_fallback_tag(tag))
        except _PER_TAG as exc:
            yield ExportProblem(repository, "", f"its tags cannot be listed: {_said(exc)}")
            continue
        for tag in tags:
            yield _Tag(repository, tag, None)


def _layout_tags(layout: OCILayout, repositories: Sequence[str] | None) -> Iterator[_Tag]:
    """The layout's ref names ``REPO:TAG`` (how ``migrate`` names them), sorted."""
    found = []
    for ref, digest in layout.refs().items():
        repository, colon, tag = ref.rpartition(":")
        if not colon or (repositories is not None and repository not in repositories):
            continue
        found.append(_Tag(repository, tag, digest))
    yield from sorted(found, key=lambda one: (one.repository, one.tag))


def _said(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def list_repositories(client: OCIClient, prefix: str = "") -> list[str]:
    """The registry's repositories (``_catalog``, every page) under ``prefix``, sorted.
    Its failure (no catalog, refused) is raised: then nothing can be exported."""
    under = prefix.strip("/")
    return sorted(
        name
        for name in client.catalog()
        if not under or name == under or name.startswith(under + "/")
    )


@attrs.frozen
class _Tag:
    repository: str
    tag: str
    digest: str | None
    """Known already (a layout's index), else asked (``HEAD``)."""


def _tag_rows(target: OCIClient | OCILayout, registry: str, one: _Tag) -> list[Item]:
    """One tag's rows (or its problem): its manifest digest, its provenance."""
    repository, tag, digest = one.repository, one.tag, one.digest
    if digest is None:
        assert isinstance(target, OCIClient)  # a layout's tags come with their digest
        try:
            digest = target.manifest_digest(repository, tag)
        except _PER_TAG as exc:
            return [ExportProblem(repository, tag, f"its manifest cannot be read: {_said(exc)}")]
        if digest is None:
            return [ExportProblem(repository, tag, "listed, but its manifest is gone")]
    try:
        records = read_provenance(target, repository, digest)
    except _PER_TAG as exc:
        said = f"its provenance artifact cannot be read: {_said(exc)}"
        return [ExportProblem(repository, tag, said)]
    return list(
        _provenance_rows(_of_tag(records, repository, tag), registry, repository, tag, digest)
    )


def _as_rows(problem: ExportProblem) -> list[Item]:
    return [problem]


WINDOW = 64
"""Tags read ahead per job: the rows come out in order, a window at a time, so memory
stays flat however many tags there are."""


def from_destination(
    target: OCIClient | OCILayout,
    registry: str,
    *,
    repositories: Sequence[str] | None = None,
    jobs: int = 1,
) -> Iterator[Item]:
    """The mapping as the destination itself records it: each tag of ``repositories``
    (a registry's: given, see `list_repositories`; a layout's: its ref names
    ``REPO:TAG``, all or those of ``repositories``), its manifest digest and the
    provenance attached to it, ``jobs`` tags at a time, in order. ``registry`` fills
    the ``v2_registry`` column (use the journal's name for it: the base URL, or ``oci:``
    + the layout's absolute path). Whatever fails for one tag is an `ExportProblem`."""
    tags: Iterable[ExportProblem | _Tag]
    if isinstance(target, OCILayout):
        tags = _layout_tags(target, repositories)
    else:
        tags = _registry_tags(target, sorted(repositories or ()))
    window: list[ExportProblem | _Tag] = []
    for item in itertools.chain(tags, [None]):
        if item is not None:
            window.append(item)
            if len(window) < WINDOW * jobs:
                continue
        work: list[Callable[[], list[Item]]] = [
            functools.partial(_tag_rows, target, registry, one)
            if isinstance(one, _Tag)
            else functools.partial(_as_rows, one)
            for one in window
        ]
        for rows in run_threads(work, jobs, threading.Event()):
            yield from rows
        window = []


# --- output --------------------------------------------------------------------------


def _rows(items: Iterable[Item], problems: list[ExportProblem]) -> Iterator[MappingRow]:
    for item in items:
        if isinstance(item, ExportProblem):
            problems.append(item)
        else:
            yield item


def write_csv(
    items: Iterable[Item],
    stream: IO[str],
    *,
    cell: Callable[[object], object] = lambda value: value,
) -> list[ExportProblem]:
    """The rows as CSV (header `COLUMNS`, ``None`` as an empty cell, each cell through
    ``cell``: the CLI guards spreadsheet formulas); returns the problems met."""
    problems: list[ExportProblem] = []
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in _rows(items, problems):
        values = row.as_dict()
        writer.writerow(["" if values[name] is None else cell(values[name]) for name in COLUMNS])
    return problems


def write_json(items: Iterable[Item], stream: IO[str]) -> list[ExportProblem]:
    """One JSON document, written as the rows come (one row a line)::

        {"kind": "regv1-provenance-export", "version": 1, "columns": [...],
         "rows": [{column: value, ...}, ...], "problems": [{...}, ...]}

    ``None`` is ``null``; ``position`` a number. Returns the problems met."""
    problems: list[ExportProblem] = []
    head = {"kind": EXPORT_KIND, "version": EXPORT_VERSION, "columns": list(COLUMNS)}
    stream.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "rows": [')
    separator = "\n"
    for row in _rows(items, problems):
        stream.write(separator + json.dumps(row.as_dict(), ensure_ascii=False))
        separator = ",\n"
    listed = json.dumps([problem.as_dict() for problem in problems], ensure_ascii=False)
    stream.write(f'\n], "problems": {listed}}}\n')
    return problems


def write_atomically(
    path: Path, write: Callable[[IO[str]], list[ExportProblem]]
) -> list[ExportProblem]:
    """``write`` into a temporary file next to ``path``, then rename it into place: a
    reader never finds a partial export under the name (an interrupted or failed export
    leaves no file, and an earlier one stays as it was). The file gets the mode a new
    file would (umask)."""
    folder = path.parent
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            problems = write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return problems
