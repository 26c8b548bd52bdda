"""The journal's files cannot be turned against the user: planted symbolic links (lock,
journal, SQLite's -wal) are refused without touching their targets, a --journal in a
missing folder does not create it, a file that is not a journal is refused and left
as it is, and every error names the file (one ``error:`` line from the CLI)."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from docker_registry_v1 import Journal, JournalError, JournalLocked
from docker_registry_v1.cli import main
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1.emulator.server import Standalone, run_standalone

PRECIOUS = b"precious: must survive\n"


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    """A small v1 registry: ``team/app:1.0``."""
    with run_standalone() as registry:
        registry.store.seed("team/app", "1.0", build_image_chain(2, layer_size=512))
        yield registry.url.removeprefix("http://")


def migrate(source: str, tmp_path: Path, *extra: str) -> Result:
    """A dry run into an OCI layout: it opens the journal like a real run."""
    layout = f"oci:{tmp_path / 'layout'}"
    return CliRunner().invoke(
        main, ["migrate", source, layout, "--dry-run", *extra], catch_exceptions=False
    )


def one_error_line(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def victim(tmp_path: Path) -> Path:
    """A file of the user's that a planted link points at."""
    path = tmp_path / "elsewhere" / "victim.txt"
    path.parent.mkdir()
    path.write_bytes(PRECIOUS)
    return path


def test_a_planted_lock_link_is_refused_and_its_target_kept(source: str, tmp_path: Path) -> None:
    target = victim(tmp_path)
    journal = tmp_path / "journal.sqlite"
    lock = tmp_path / "journal.sqlite.lock"
    lock.symlink_to(target)
    with pytest.raises(JournalError, match="symbolic link"):
        Journal(journal)
    one_error_line(migrate(source, tmp_path, "--journal", str(journal)), str(lock), "symbolic link")
    assert target.read_bytes() == PRECIOUS
    assert lock.is_symlink()
    assert not journal.exists()


def test_a_dangling_lock_link_creates_nothing(source: str, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "new-file"
    target.parent.mkdir()
    (tmp_path / "j.sqlite.lock").symlink_to(target)
    one_error_line(migrate(source, tmp_path, "--journal", str(tmp_path / "j.sqlite")), "j.sqlite")
    assert not target.exists()


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_planted_journal_link_is_refused(source: str, tmp_path: Path, suffix: str) -> None:
    """The journal itself, and the files SQLite opens next to it by name."""
    target = victim(tmp_path)
    journal = tmp_path / "journal.sqlite"
    planted = tmp_path / f"journal.sqlite{suffix}"
    planted.symlink_to(target)
    one_error_line(
        migrate(source, tmp_path, "--journal", str(journal)), str(planted), "symbolic link"
    )
    assert target.read_bytes() == PRECIOUS


def test_a_lock_that_is_not_ours_is_not_overwritten(tmp_path: Path) -> None:
    """Something else named like the lock (text, or a hard link to another file)."""
    journal = tmp_path / "notes"
    lock = tmp_path / "notes.lock"
    lock.write_bytes(PRECIOUS)
    with pytest.raises(JournalError, match=f"{lock}.*other than a process id"):
        Journal(journal)
    assert lock.read_bytes() == PRECIOUS
    lock.unlink()
    target = victim(tmp_path)
    target.write_bytes(b"")  # empty, as a fresh lock file would be
    os.link(target, lock)
    with pytest.raises(JournalError, match=f"{lock} has other hard links"):
        Journal(journal)
    assert target.stat().st_nlink == 2


def test_a_journal_in_a_missing_folder_is_an_error(source: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    journal = missing / "j.sqlite"
    one_error_line(
        migrate(source, tmp_path, "--journal", str(journal)), str(journal), "does not exist"
    )
    assert not missing.exists()


def test_the_default_folder_is_created_private(source: str, tmp_path: Path) -> None:
    """$XDG_STATE_HOME is tmp_path/state here (conftest); nothing of it exists yet."""
    folder = tmp_path / "state" / "docker-registry-v1"
    assert not folder.parent.exists()
    result = migrate(source, tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (journal,) = folder.glob("*.sqlite")
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    lock = journal.with_name(journal.name + ".lock")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_file_that_is_not_sqlite_is_left_alone(source: str, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(PRECIOUS)
    one_error_line(
        migrate(source, tmp_path, "--journal", str(notes)), str(notes), "not an SQLite database"
    )
    assert notes.read_bytes() == PRECIOUS


def test_another_programs_database_is_left_alone(source: str, tmp_path: Path) -> None:
    foreign = tmp_path / "contacts.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        db.execute("INSERT INTO contacts VALUES ('ada', '123')")
    db.close()
    before = foreign.read_bytes()
    one_error_line(
        migrate(source, tmp_path, "--journal", str(foreign)),
        str(foreign),
        "not a migration journal",
    )
    assert foreign.read_bytes() == before  # no tables added, journal mode unchanged
    assert sorted(p.name for p in tmp_path.glob("contacts.sqlite*")) == [
        "contacts.sqlite",
        "contacts.sqlite.lock",
    ]


def test_a_corrupt_journal_is_named_and_left_alone(source: str, tmp_path: Path) -> None:
    corrupt = tmp_path / "journal.sqlite"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    before = corrupt.read_bytes()
    one_error_line(
        migrate(source, tmp_path, "--journal", str(corrupt)),
        str(corrupt),
        "cannot be read as a migration journal",
    )
    assert corrupt.read_bytes() == before


def test_an_empty_file_is_a_new_journal_and_a_journal_reopens(source: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    journal.touch()
    for _ in range(2):
        result = migrate(source, tmp_path, "--journal", str(journal))
        assert result.exit_code == 0, result.stderr
    with Journal(journal) as opened:
        assert opened.failures("anywhere") == {}


def test_a_held_journal_names_its_holder(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    with Journal(journal), pytest.raises(JournalLocked, match=f"{journal}.*{os.getpid()}"):
        Journal(journal)
    assert isinstance(JournalLocked(journal, "1"), JournalError)


def test_sqlite_errors_name_the_journal(tmp_path: Path) -> None:
    """A failing write (here: a read-only connection) says which file it was."""
    journal = tmp_path / "journal.sqlite"
    with Journal(journal) as opened:
        opened._db.execute("PRAGMA query_only = ON")
        with pytest.raises(sqlite3.OperationalError, match=f"^journal {journal}: .*readonly"):
            opened.failed("registry", "team/app", "1.0", "because")


def test_the_cli_reports_a_failing_journal_write_in_one_line(
    standalone: Standalone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's errors are expected failures for the CLI: one line naming the journal."""
    standalone.store.seed("team/app", "1.0", build_image_chain(1, layer_size=64))
    original = Journal.confirmed_blobs

    def refuse(self: Journal, registry: str) -> set[str]:
        self._db.execute("PRAGMA query_only = ON")
        self.failed(registry, "team/app", "1.0", "now")
        return original(self, registry)

    monkeypatch.setattr(Journal, "confirmed_blobs", refuse)
    journal = tmp_path / "journal.sqlite"
    one_error_line(
        migrate(standalone.url.removeprefix("http://"), tmp_path, "--journal", str(journal)),
        f"journal {journal}: attempt to write a readonly database",
    )
