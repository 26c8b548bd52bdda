"""Every query the journal sends is served by an index that covers all of its equality
conditions: none scans a table, none searches by a prefix and filters the rest row by
row, so no lookup costs more as the journal grows (a registry of 50,000 tags must cost
per tag what one of 50 does).

The statements are the ones a real run sends — a migration into the real distribution
(mounts between repositories, refused-mount lookups), its rerun, a fast verify, and a
copy through the copy cache — captured with SQLite's trace hook and each explained with
``EXPLAIN QUERY PLAN`` against the journal file they ran on."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from docker_registry_v1.cli import main
from docker_registry_v1.engine.journal import Journal
from migrate_checks import Seeded
from v2.v2registry import V2Registry

#: Statements that are not lookups: schema, pragmas, transactions, plain inserts.
_NOT_A_LOOKUP = re.compile(
    r"^\s*(CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|INSERT)\b", re.I
)
#: The schema check reads SQLite's own catalogue, which is small and fixed.
_CATALOGUE = re.compile(r"\bsqlite_(master|schema)\b|pragma_", re.I)


def traced(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Record every statement each journal/cache file runs, by file."""
    seen: dict[str, list[str]] = {}
    connect: Callable[..., sqlite3.Connection] = sqlite3.connect

    def tracing(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = connect(database, *args, **kwargs)
        db.set_trace_callback(seen.setdefault(str(database), []).append)
        return db

    monkeypatch.setattr(sqlite3, "connect", tracing)
    return seen


def equalities(statement: str) -> set[str]:
    """The columns a statement's WHERE clause fixes with ``=`` outside any parenthesis
    (inside one they are alternatives an index cannot be asked for)."""
    where = re.search(r"\bWHERE\b(.*?)(?:\bORDER BY\b|\bGROUP BY\b|\bLIMIT\b|$)", statement, re.S)
    if where is None:
        return set()
    text = re.sub(r"'(?:[^']|'')*'", "?", where.group(1))  # the trace shows values bound
    while "(" in text:
        text = re.sub(r"\([^()]*\)", "", text)
    return set(re.findall(r"(\w+)\s*=\s*(?:\?|-?\d)", text))


def own_rows(statement: str) -> set[str]:
    """The names (and aliases) of a statement's own recursive table: walking a chain reads
    back the rows it found itself, one per step (bounded by the chain's depth, never the
    table's size); its steps into the stored tables are what must use an index."""
    names = set(re.findall(r"\bWITH RECURSIVE\s+(\w+)", statement, re.I))
    for name in set(names):
        names |= set(re.findall(rf"\b(?:FROM|JOIN)\s+{name}\s+(\w+)", statement, re.I))
    return names - {"WHERE", "ORDER", "JOIN", "ON"}


def unindexed(path: str, statements: list[str]) -> dict[str, list[str]]:
    """The lookups among ``statements`` whose plan scans a table, or searches an index
    that leaves some of the statement's equality conditions to be checked row by row."""
    found: dict[str, list[str]] = {}
    with sqlite3.connect(path) as db:
        for statement in set(statements):
            if _NOT_A_LOOKUP.match(statement) or _CATALOGUE.search(statement):
                continue
            plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}")]
            wanted = equalities(statement)
            own = own_rows(statement)
            bad = [
                step
                for step in plan
                if (step.startswith("SCAN") and step.split()[1] not in own)
                or (step.startswith("SEARCH") and not wanted <= set(re.findall(r"(\w+)=\?", step)))
            ]
            if bad:
                found[statement] = bad
    return found


def run(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_every_journal_lookup_of_a_run_uses_an_index(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "journal.sqlite"
    cache = tmp_path / "cache.sqlite"
    seen = traced(monkeypatch)
    dest = f"docker://{v2_fresh.host}/plans"
    made = ("--create-repo-cmd", "true")  # its journal lookups too
    run("migrate", seeded.host, dest, "--journal", str(journal), "--dest-tls-verify=false", *made)
    run("migrate", seeded.host, dest, "--journal", str(journal), "--dest-tls-verify=false")
    run(
        "migrate",
        seeded.host,
        dest,
        "--journal",
        str(journal),
        "--verify=fast",
        "--dest-tls-verify=false",
    )
    repository, tag, _ = sorted(seeded.seed.tag_pairs())[0]
    source = f"{seeded.host}/{repository}:{tag}"
    run("copy", source, f"oci:{tmp_path / 'layout'}:x", "--cache", str(cache))
    run("copy", source, f"oci:{tmp_path / 'layout'}:y", "--cache", str(cache))
    lookups = {
        path: statements for path, statements in seen.items() if path in (str(journal), str(cache))
    }
    assert set(lookups) == {str(journal), str(cache)}
    # The trace saw the lookups this test is about (a check that cannot pass vacuously).
    journal_text = " ".join(lookups[str(journal)])
    assert "FROM placed WHERE registry" in journal_text
    assert "FROM layers" in journal_text
    assert "FROM created_repositories WHERE registry" in journal_text
    assert "JOIN source_images s ON s.origin" in journal_text
    for path, statements in lookups.items():
        assert unindexed(path, statements) == {}, path


def test_reads_from_short_lived_threads_share_a_few_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine starts threads per tag and per layer: a connection per reading thread
    would pile up (thousands at registry scale, each with its page cache). Reads take an
    idle connection back instead; at most as many exist as ever read at once."""
    path = tmp_path / "journal.sqlite"
    opened: list[str] = []
    connect: Callable[..., sqlite3.Connection] = sqlite3.connect

    def counting(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(str(database))
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counting)
    with Journal(path) as journal:
        found = []
        for _ in range(50):
            reader = threading.Thread(target=lambda: found.append(journal.manifests("https://r")))
            reader.start()
            reader.join()
    assert found == [[]] * 50
    assert opened.count(str(path)) == 2  # the writer's, and one reader taken back each time
