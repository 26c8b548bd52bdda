"""The copy cache is the journal's store: one schema (merged in ``PRAGMA user_version`` 2), an older
cache file is converted in place, a v1 id is trusted only for the source registry it was
learned from, and a cache that cannot be read costs a re-read with a warning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from docker_registry_v1 import BlobCache, CacheWarning, Client, Journal, OCILayout
from docker_registry_v1.cli import main
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.pytest_plugin import EmulatorFactory
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.engine import journal
from docker_registry_v1.engine.journal import SCHEMA_VERSION
from docker_registry_v1.formats.archive.compression import Compression
from docker_registry_v1.formats.compress import LayerBlob
from docker_registry_v1.transfer.copy import copy

REGISTRY = "http://registry.example"
SOURCE = "http://v1.example"
DIGEST = "sha256:" + "ab" * 32
BLOB = LayerBlob(
    digest=DIGEST,
    size=10,
    diff_id="sha256:" + "cd" * 32,
    plain_size=20,
    source=Compression.NONE,
    empty=False,
)


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def seed(registry: Standalone, repo: str, number: int) -> list[SeedImage]:
    chain = build_image_chain(3, seed=number, layer_size=120_000)
    registry.store.seed(repo, "1.0", chain)
    return chain


def test_a_version_1_copy_cache_becomes_the_one_schema(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    key = BlobCache.key("a" * 64, "tarsum+sha256:00", 6)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE blobs (key TEXT PRIMARY KEY, digest TEXT, size INTEGER, "
            "diff_id TEXT, plain_size INTEGER, source TEXT, empty INTEGER)"
        )
        db.execute(
            "CREATE TABLE placed (digest TEXT, registry TEXT, repository TEXT, "
            "PRIMARY KEY (digest, registry, repository))"
        )
        db.execute(
            "CREATE TABLE refused_mounts (registry TEXT, repository TEXT, source TEXT, digest "
            "TEXT, status INTEGER, at REAL, PRIMARY KEY (registry, repository, source, digest))"
        )
        db.execute("INSERT INTO blobs VALUES (?, ?, ?, ?, ?, ?, ?)", (key, *BLOB.row()))
        db.execute(f"INSERT INTO placed VALUES ('{DIGEST}', '{REGISTRY}', 'team/base')")
        db.execute(
            f"INSERT INTO refused_mounts VALUES ('{REGISTRY}', 'team/app', 'team/x', "
            f"'{DIGEST}', 403, 0)"
        )
        db.execute("PRAGMA user_version = 1")
    cache = BlobCache(path)
    try:
        assert cache.places(DIGEST, REGISTRY) == ["team/base"]
        assert cache.refused_sources(DIGEST, REGISTRY, "team/next") == {"team/x"}
        # The old fact names no source registry: its v1 id is not trusted any more.
        assert cache.get(key, origin=SOURCE) is None
        cache.put(key, BLOB, origin=SOURCE)
        assert cache.get(key, origin=SOURCE) == BLOB
        assert cache.get(key, origin="http://other.example") is None
    finally:
        cache.close()
    assert user_version(path) == SCHEMA_VERSION
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {
        "layers",
        "placed",
        "manifests",
        "failures",
        "refused_mounts",
        "created_repositories",
        "provenance",
        "source_images",
        "planned",
    }
    # Now one store: a journal opens it and sees the same facts.
    with Journal(path) as journal:
        assert journal.layer(key, SOURCE) == BLOB
        assert journal.places(REGISTRY, DIGEST) == ["team/base"]


def test_a_journal_fact_is_used_only_for_its_source_registry(tmp_path: Path) -> None:
    key = BlobCache.key("b" * 64, None, 6)
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.learned(key, "b" * 64, BLOB, REGISTRY, "team/app", origin=SOURCE)
        assert journal.layer(key, SOURCE) == BLOB
        assert journal.layer(key, "http://other.example") is None
        assert journal.layer(key, "") is None
        assert journal.diff_id("b" * 64, SOURCE) == (BLOB.diff_id, False)
        assert journal.diff_id("b" * 64, "http://other.example") is None
        assert journal.places(REGISTRY, DIGEST) == ["team/app"]


def test_a_v1_id_from_another_source_registry_is_read_again(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    first, second = emulator_factory("standalone"), emulator_factory("standalone")
    assert isinstance(first, Standalone)
    assert isinstance(second, Standalone)
    chain = seed(first, "acme/app", 41)
    seed(second, "acme/app", 41)  # the same v1 ids (and bytes) under another registry
    layout = OCILayout(tmp_path / "layout")
    cache = BlobCache(tmp_path / "cache.sqlite")
    total = sum(len(image.layer_bytes) for image in chain)
    try:
        with Client(first.url) as source:
            made = copy(source, "acme/app", "1.0", layout, dest_tag="a", cache=cache)
            again = copy(source, "acme/app", "1.0", layout, dest_tag="b", cache=cache)
        with Client(second.url) as other:
            elsewhere = copy(other, "acme/app", "1.0", layout, dest_tag="c", cache=cache)
    finally:
        cache.close()
    assert made.bytes_transferred == total
    assert again.bytes_transferred == 0  # same registry: the cache's facts are used
    assert sorted(again.skipped) == sorted(made.layers)
    # Another registry naming the same ids: nothing is trusted, every layer is read
    # and hashed; the blobs it makes are the same content, so the digest is the same.
    assert elsewhere.bytes_transferred == total
    assert elsewhere.digest == made.digest


def test_a_corrupt_copy_cache_costs_a_re_read_with_a_warning(
    standalone: Standalone, tmp_path: Path
) -> None:
    chain = seed(standalone, "acme/app", 42)
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    before = path.read_bytes()
    layout = OCILayout(tmp_path / "layout")
    with Client(standalone.url) as source:
        with pytest.warns(CacheWarning, match=f"copy cache {path}"):
            done = copy(source, "acme/app", "1.0", layout, cache=path)
        with pytest.warns(CacheWarning):
            again = copy(source, "acme/app", "1.0", layout, cache=path)
    assert len(done.uploaded) == len(chain)
    assert again.bytes_transferred == done.bytes_transferred > 0  # nothing remembered
    assert again.digest == done.digest
    assert path.read_bytes() == before  # left as it was


def test_a_schema_step_that_breaks_off_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    """Each step is one transaction, DDL included: a crash inside the merge of version 2
    (here an exception after all its statements ran) leaves a version 1 file intact."""
    path = tmp_path / "cache.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE placed (digest TEXT, registry TEXT, repository TEXT, "
            "PRIMARY KEY (digest, registry, repository))"
        )
        db.execute(journal._SCHEMA[0])
        db.execute(f"INSERT INTO placed VALUES ('{DIGEST}', '{REGISTRY}', 'team/base')")

    def broken(db: sqlite3.Connection) -> None:
        journal._one_store(db)
        raise RuntimeError("power cut")

    db = sqlite3.connect(path)
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            journal.migrate_schema(db, (journal._MIGRATIONS[0], broken), path)
    finally:
        db.close()
    assert user_version(path) == 1
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        placed = db.execute("SELECT * FROM placed").fetchall()
    assert tables == {"layers", "placed", "refused_mounts"}
    assert placed == [(DIGEST, REGISTRY, "team/base")]
    cache = BlobCache(path)  # the next open finishes the upgrade
    try:
        assert cache.places(DIGEST, REGISTRY) == ["team/base"]
    finally:
        cache.close()
    assert user_version(path) == SCHEMA_VERSION


def test_the_cli_says_warning_once_for_a_corrupt_cache_and_copies(
    standalone: Standalone, tmp_path: Path
) -> None:
    seed(standalone, "acme/cli", 43)
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"not a database at all")
    src = f"{standalone.url.removeprefix('http://').rstrip('/')}/acme/cli:1.0"
    result = CliRunner().invoke(
        main, ["copy", src, f"oci:{tmp_path / 'out'}:v1", "--cache", str(cache), "--json"]
    )
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 1
    assert warned[0].startswith(f"warning: copy cache {cache} cannot be used")
    assert "CacheWarning" not in result.stderr
    assert "Traceback" not in result.output
    assert cache.read_bytes() == b"not a database at all"
