"""The journal and the copy cache against a model, and against damaged files.

A hypothesis state machine runs random sequences of what migrations and copies do to
the store (learn a layer, intend and confirm placements, refuse mounts, write and fail
tags, close and reopen the file) and checks each answer against a plain-Python model
of the same facts. Random bytes written over a closed journal make opening or using it
raise `JournalError` naming the file, never SQLite's own DatabaseError; over a copy
cache they cost a `CacheWarning` naming it, and the cache still answers what it was
told in this run.
"""

from __future__ import annotations

import functools
import sqlite3
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
from docker_registry_v1 import BlobCache, CacheWarning, Journal, JournalError, JournalManifest
from docker_registry_v1.engine.journal import SCHEMA_VERSION
from docker_registry_v1.formats.archive.compression import Compression
from docker_registry_v1.formats.compress import LayerBlob
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)
from property_support import budget

REGISTRIES = st.sampled_from(["reg.example", "other.example:5000"])
REPOSITORIES = st.sampled_from(["team/app", "team/base", "app"])
DIGESTS = st.sampled_from(["sha256:" + c * 64 for c in "abc"])
IMAGES = st.sampled_from([c * 64 for c in "012"])
ORIGINS = st.sampled_from(["", "http://v1.example", "https://v1-b.example"])
TAGS = st.sampled_from(["1.0", "latest", "é"])
TEXT = st.text(max_size=30)
blobs = st.builds(
    LayerBlob,
    digest=DIGESTS,
    size=st.integers(0, 2**62),
    diff_id=DIGESTS,
    plain_size=st.integers(0, 2**62),
    source=st.sampled_from(list(Compression)),
    empty=st.booleans(),
)


class Model:
    """The facts as the store is meant to keep them."""

    def __init__(self) -> None:
        self.layers: dict[tuple[str, str], tuple[str, LayerBlob]] = {}
        self.placed: dict[tuple[str, str, str], bool] = {}
        self.refused: dict[tuple[str, str, str, str], int] = {}
        self.manifests: dict[tuple[str, str, str], JournalManifest] = {}
        self.failures: dict[tuple[str, str, str], str] = {}

    def learn(self, key: str, origin: str, image: str, blob: LayerBlob) -> None:
        self.layers[key, origin] = (image, blob)

    def intend(self, registry: str, repository: str, digest: str) -> None:
        self.placed.setdefault((registry, repository, digest), False)

    def places(self, registry: str, digest: str) -> list[str]:
        found = [
            (not ok, repo)
            for (reg, repo, dig), ok in self.placed.items()
            if (reg, dig) == (registry, digest)
        ]
        return [repo for _, repo in sorted(found)]


class JournalMachine(RuleBasedStateMachine):
    """Random operations on one journal file, reopened now and then."""

    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory(prefix="regv1-props-journal-")
        self.path = Path(self.folder.name) / "journal.sqlite"
        self.model = Model()
        self.journal = Journal(self.path)

    def teardown(self) -> None:
        self.journal.close()
        self.folder.cleanup()

    @initialize(target=keys, images=st.lists(IMAGES, min_size=1, max_size=3, unique=True))
    def make_keys(self, images: list[str]) -> Any:
        return multiple(*(BlobCache.key(image, "tarsum+sha256:00", 6) for image in images))

    @rule(key=keys, blob=blobs, registry=REGISTRIES, repository=REPOSITORIES, origin=ORIGINS)
    def learned(
        self, key: str, blob: LayerBlob, registry: str, repository: str, origin: str
    ) -> None:
        image = key.partition("|")[0]
        self.journal.learned(key, image, blob, registry, repository, origin=origin)
        self.model.learn(key, origin, image, blob)
        self.model.intend(registry, repository, blob.digest)

    @rule(key=keys, blob=blobs, origin=ORIGINS)
    def remember(self, key: str, blob: LayerBlob, origin: str) -> None:
        self.journal.remember(key, blob, origin)
        self.model.learn(key, origin, key.partition("|")[0], blob)

    @rule(registry=REGISTRIES, repository=REPOSITORIES, digest=DIGESTS)
    def intend(self, registry: str, repository: str, digest: str) -> None:
        self.journal.intend(registry, repository, digest)
        self.model.intend(registry, repository, digest)

    @rule(registry=REGISTRIES, repository=REPOSITORIES, digest=DIGESTS)
    def place(self, registry: str, repository: str, digest: str) -> None:
        self.journal.placed(registry, repository, digest)
        self.model.placed[registry, repository, digest] = True

    @rule(
        registry=REGISTRIES,
        repository=REPOSITORIES,
        source=REPOSITORIES,
        digest=DIGESTS,
        status=st.sampled_from([202, 401, 403, 404]),
    )
    def refuse(self, registry: str, repository: str, source: str, digest: str, status: int) -> None:
        self.journal.refused_mount(registry, repository, source, digest, status)
        self.model.refused[registry, repository, source, digest] = status

    @rule(
        registry=REGISTRIES,
        repository=REPOSITORIES,
        tag=TAGS,
        digest=DIGESTS,
        image=IMAGES,
        source=TEXT,
    )
    def write_tag(
        self, registry: str, repository: str, tag: str, digest: str, image: str, source: str
    ) -> None:
        manifest = JournalManifest(repository, tag, digest, image, source)
        self.journal.manifest_written(registry, manifest)
        self.model.manifests[registry, repository, tag] = manifest
        self.model.failures.pop((registry, repository, tag), None)

    @rule(registry=REGISTRIES, repository=REPOSITORIES, tag=TAGS, reason=TEXT)
    def fail_tag(self, registry: str, repository: str, tag: str, reason: str) -> None:
        self.journal.failed(registry, repository, tag, reason)
        self.model.failures[registry, repository, tag] = reason

    @rule()
    def reopen(self) -> None:
        self.journal.close()
        self.journal = Journal(self.path)

    @rule(key=keys, origin=ORIGINS)
    def lookup(self, key: str, origin: str) -> None:
        found = self.journal.layer(key, origin)
        known = self.model.layers.get((key, origin))
        assert found == (known[1] if known and origin else None)

    @rule(image=IMAGES, origin=ORIGINS)
    def diff_id(self, image: str, origin: str) -> None:
        found = self.journal.diff_id(image, origin)
        possible = {
            (blob.diff_id, blob.empty)
            for (_key, o), (i, blob) in self.model.layers.items()
            if (i, o) == (image, origin)
        }
        if not origin or not possible:
            assert found is None
        else:
            assert found in possible

    @rule(registry=REGISTRIES, repository=REPOSITORIES, digest=DIGESTS)
    def refused_sources(self, registry: str, repository: str, digest: str) -> None:
        expected = {
            src
            for (reg, repo, src, dig), status in self.model.refused.items()
            if (reg, dig) == (registry, digest) and (repo == repository or status in (401, 403))
        }
        assert self.journal.refused_sources(registry, repository, digest) == expected

    @invariant()
    def placements_tags_and_failures(self) -> None:
        for registry in ("reg.example", "other.example:5000"):
            for digest in ("sha256:" + c * 64 for c in "abc"):
                assert self.journal.places(registry, digest) == self.model.places(registry, digest)
            confirmed = {
                d for (reg, _r, d), ok in self.model.placed.items() if ok and reg == registry
            }
            assert self.journal.confirmed_blobs(registry) == confirmed
            manifests = sorted(
                (m for (reg, _r, _t), m in self.model.manifests.items() if reg == registry),
                key=lambda m: (m.repository, m.tag),
            )
            assert self.journal.manifests(registry) == manifests
            failures = {
                (repo, tag): why
                for (reg, repo, tag), why in self.model.failures.items()
                if reg == registry
            }
            assert self.journal.failures(registry) == failures


JournalMachine.TestCase.settings = settings(budget(25), stateful_step_count=30)
test_journal_against_the_model = JournalMachine.TestCase


# ---------------------------------------------------------------- damaged files

_BLOB = LayerBlob("sha256:" + "a" * 64, 10, "sha256:" + "b" * 64, 20, Compression.GZIP, False)


def _filled(store: Any, rows: int) -> None:
    """Enough facts that the file spans several pages (a damaged one is then found late)."""
    for n in range(rows):
        key = BlobCache.key(f"{n:064x}", None, 6)
        store.remember(key, _BLOB, "http://v1.example")
        store.placed("reg.example", f"team/app{n}", _BLOB.digest)


@functools.cache
def _pristine(kind: str) -> bytes:
    """A journal's (or copy cache's) file holding 150 layers and placements, made once."""
    with tempfile.TemporaryDirectory(prefix="regv1-props-") as folder:
        path = Path(folder) / "store.sqlite"
        if kind == "journal":
            with Journal(path) as journal:
                _filled(journal, 150)
                written = JournalManifest("team/app", "1.0", _BLOB.digest, "0" * 64, "a:1")
                journal.manifest_written("reg.example", written)
        else:
            cache = BlobCache(path)
            _filled(cache._store, 150)
            cache.close()
        return path.read_bytes()


def _damaged(kind: str, path: Path, writes: list[tuple[int, bytes]], cut: int | None) -> None:
    data = bytearray(_pristine(kind))
    for offset, chunk in writes:
        start = offset % len(data)
        data[start : start + len(chunk)] = chunk
    if cut is not None:
        del data[cut % len(data) :]
    path.write_bytes(bytes(data))


_OLD_KEY = BlobCache.key(f"{3:064x}", None, 6)
_NEW_KEY = BlobCache.key("f" * 64, None, 6)
_writes = st.lists(
    st.tuples(st.integers(0, 2**20), st.binary(min_size=1, max_size=600) | st.just(b"\x00" * 4096)),
    min_size=1,
    max_size=4,
)


@budget(60)
@given(writes=_writes, cut=st.none() | st.integers(0, 2**20))
@example(writes=[(3000, b"\xff" * 512)], cut=None)  # inside a table page, past the header
@example(writes=[(100, b"\x00" * 4096)], cut=None)
@example(writes=[(0, b"\x00")], cut=None)
@example(writes=[(60, b"\xff\xff\xff\xfb")], cut=None)  # user_version -5
@example(writes=[(60, b"\xff\xff\xff\xff")], cut=None)  # -1: the last step run again
def test_a_damaged_journal_is_a_journal_error_naming_it(
    writes: list[tuple[int, bytes]], cut: int | None
) -> None:
    with tempfile.TemporaryDirectory(prefix="regv1-props-") as folder:
        path = Path(folder) / "journal.sqlite"
        _damaged("journal", path, writes, cut)
        error: JournalError | None = None
        try:
            with Journal(path) as journal:
                journal.layer(_OLD_KEY, "http://v1.example")
                journal.diff_id(f"{3:064x}", "http://v1.example")
                journal.places("reg.example", _BLOB.digest)
                journal.confirmed_blobs("reg.example")
                journal.refused_sources("reg.example", "team/app", _BLOB.digest)
                journal.manifests("reg.example")
                journal.failures("reg.example")
                journal.remember(_NEW_KEY, _BLOB, "http://v1.example")
                journal.placed("reg.example", "team/new", _BLOB.digest)
                # damage SQLite does not notice may lose this fact, not change it
                assert journal.layer(_NEW_KEY, "http://v1.example") in (_BLOB, None)
        except JournalError as exc:
            error = exc
        assert error is None or str(path) in str(error)


@budget(60)
@given(writes=_writes, cut=st.none() | st.integers(0, 2**20))
@example(writes=[(3000, b"\xff" * 512)], cut=None)
@example(writes=[(100, b"\x00" * 4096)], cut=None)
def test_a_damaged_copy_cache_costs_a_warning_never_an_error(
    writes: list[tuple[int, bytes]], cut: int | None
) -> None:
    with tempfile.TemporaryDirectory(prefix="regv1-props-") as folder:
        path = Path(folder) / "cache.sqlite"
        _damaged("cache", path, writes, cut)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cache = BlobCache(path)
            try:
                cache.get(_OLD_KEY, origin="http://v1.example")
                cache.places(_BLOB.digest, "reg.example")
                cache.refused_sources(_BLOB.digest, "reg.example", "team/app")
                cache.facts.places("reg.example", _BLOB.digest)
                cache.put(_NEW_KEY, _BLOB, origin="http://v1.example")
                cache.place(_BLOB.digest, "reg.example", "team/new")
                cache.refused_mount(_BLOB.digest, "reg.example", "team/new", "team/app", 404)
                # damage SQLite does not notice may lose this fact (a re-read), not change it
                assert cache.get(_NEW_KEY, origin="http://v1.example") in (_BLOB, None)
            finally:
                cache.close()
    assert len(caught) <= 1, [str(w.message) for w in caught]  # one warning, then memory
    for warning in caught:
        assert issubclass(warning.category, CacheWarning), warning
        assert str(path) in str(warning.message)


def test_damage_is_found_not_only_at_open() -> None:
    """The damaged-file properties are only worth something if damage past the first
    page gets through `Journal`'s open checks and meets SQLite mid-query; it does."""
    with tempfile.TemporaryDirectory(prefix="regv1-props-") as folder:
        path = Path(folder) / "journal.sqlite"
        _damaged("journal", path, [(len(_pristine("journal")) // 2, b"\xff" * 2048)], None)
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            try:
                db.execute("SELECT count(*) FROM placed WHERE repository > ''").fetchall()
                db.execute("SELECT count(*) FROM layers WHERE key > ''").fetchall()
                damaged = db.execute("PRAGMA integrity_check").fetchone()[0] != "ok"
            except sqlite3.DatabaseError:
                damaged = True
        assert damaged


def test_a_value_sqlite_cannot_store_is_not_called_damage(tmp_path: Path) -> None:
    """Text with a lone surrogate cannot be stored; that says nothing of the file, which
    stays usable (a damage error would tell the user to give up the journal)."""
    with Journal(tmp_path / "journal.sqlite") as journal:
        with pytest.raises(UnicodeEncodeError):
            journal.failed("reg.example", "team/app", "\ud800", "why")
        journal.failed("reg.example", "team/app", "1.0", "why")
        assert journal.failures("reg.example") == {("team/app", "1.0"): "why"}
