"""Journal and copy-cache files made before refused mounts were recorded are upgraded in
place (``PRAGMA user_version`` 0 → the current version) and keep their facts; a file from a newer
version is refused, by the CLI with one ``error:`` line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from docker_registry_v1 import BlobCache, Journal, SchemaTooNew
from docker_registry_v1.cli import main
from docker_registry_v1.engine.journal import SCHEMA_VERSION
from migrate_checks import Seeded

REGISTRY = "http://registry.example"
DIGEST = "sha256:" + "ab" * 32

#: The journal schema before version 1 (user_version 0), as released.
VERSION_0 = (
    "CREATE TABLE layers (key TEXT PRIMARY KEY, image_id TEXT, digest TEXT, "
    "size INTEGER, diff_id TEXT, plain_size INTEGER, source TEXT, empty INTEGER)",
    "CREATE TABLE placed (registry TEXT, repository TEXT, digest TEXT, "
    "confirmed INTEGER, PRIMARY KEY (registry, repository, digest))",
    "CREATE TABLE manifests (registry TEXT, repository TEXT, tag TEXT, "
    "digest TEXT, image_id TEXT, source TEXT, at REAL, PRIMARY KEY (registry, repository, tag))",
    "CREATE TABLE failures (registry TEXT, repository TEXT, tag TEXT, "
    "reason TEXT, at REAL, PRIMARY KEY (registry, repository, tag))",
    f"INSERT INTO placed VALUES ('{REGISTRY}', 'team/base', '{DIGEST}', 1)",
)


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_a_version_0_journal_is_upgraded_and_keeps_its_facts(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        for statement in VERSION_0:
            db.execute(statement)
    assert user_version(path) == 0
    with Journal(path) as journal:
        assert journal.places(REGISTRY, DIGEST) == ["team/base"]
        assert journal.refused_sources(REGISTRY, "team/app", DIGEST) == set()
        journal.refused_mount(REGISTRY, "team/app", "team/base", DIGEST, 202)
        journal.refused_mount(REGISTRY, "team/app", "team/secret", DIGEST, 401)
    assert user_version(path) == SCHEMA_VERSION
    with Journal(path) as journal:  # reopening changes nothing
        assert journal.refused_sources(REGISTRY, "team/app", DIGEST) == {
            "team/base",
            "team/secret",
        }
        # A 202 was about that target; no access to a source holds for every target.
        assert journal.refused_sources(REGISTRY, "team/other", DIGEST) == {"team/secret"}
        assert journal.refused_sources("http://elsewhere", "team/app", DIGEST) == set()
    assert user_version(path) == SCHEMA_VERSION


def test_a_version_0_copy_cache_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE placed (digest TEXT, registry TEXT, repository TEXT, "
            "PRIMARY KEY (digest, registry, repository))"
        )
        db.execute(f"INSERT INTO placed VALUES ('{DIGEST}', '{REGISTRY}', 'team/base')")
    cache = BlobCache(path)
    try:
        assert cache.places(DIGEST, REGISTRY) == ["team/base"]
        cache.refused_mount(DIGEST, REGISTRY, "team/app", "team/base", 403)
        assert cache.refused_sources(DIGEST, REGISTRY, "team/next") == {"team/base"}
    finally:
        cache.close()
    assert user_version(path) == SCHEMA_VERSION


NEWER = SCHEMA_VERSION + 1


def test_a_journal_from_a_newer_version_is_refused(seeded: Seeded, tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {NEWER}")
    with pytest.raises(SchemaTooNew, match=f"schema version {NEWER}"):
        Journal(path)
    result = CliRunner().invoke(
        main, ["migrate", seeded.host, f"oci:{tmp_path / 'layout'}", "--journal", str(path)]
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ")
    assert f"schema version {NEWER}" in result.stderr
    assert "Traceback" not in result.output
    assert user_version(path) == NEWER
