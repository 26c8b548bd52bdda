"""`regv1 provenance export`: the v1 → v2 mapping from the journal and from the destination.

One small seed is migrated once into Debian's distribution (2.8: no referrers API, so
the provenance sits behind ``sha256-…`` fallback tags) for the whole module; then:

- the journal's export and the destination's export give the same rows, except the
  ``provenance`` column (``journal`` / ``artifact``) and the tags only the destination
  has (one copied there without provenance: listed as ``no provenance``);
- every row agrees with what was seeded (ids base first, v1 repository and tag) and
  with the registry (manifest digests, layer digests of the manifests);
- CSV parses with its header, the JSON document keeps its keys;
- bad input ends with one ``error:`` line and exit 1; a tag whose artifact cannot be
  read is a warning, the rest is exported, exit 2; ``-o`` never leaves a partial file.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import pytest
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain, payload_checksum
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.formats.provenance import (
    EMPTY_CONFIG_BYTES,
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Source,
    artifact_descriptor,
    artifact_manifest,
    descriptor,
    fallback_index,
    fallback_tag,
    is_fallback_tag,
    sha256_digest,
)
from docker_registry_v1.oci.client import OCIClient
from docker_registry_v1.transfer.provenance_export import (
    COLUMNS,
    ExportProblem,
    write_atomically,
    write_csv,
)
from migrate_support import SeededRegistry, seed_registry
from regv1_runner import regv1
from v2.referrers_server import referrers_registry
from v2.v2registry import V2Registry, run_registry

PREFIX = "moved"
EMPTY_REPO = "team9/steps"
"""A chain whose middle image has an empty layer (a v1 ``ENV`` step): no v2 layer."""


def with_an_empty_layer() -> list[SeedImage]:
    chain = build_image_chain(3, seed=2109, layer_size=256)
    middle = chain[1]
    empty = b"\0" * 1024  # an empty tar: its end-of-archive blocks
    chain[1] = attrs.evolve(
        middle, layer_bytes=empty, checksum=payload_checksum(middle.json_bytes, empty)
    )
    return chain


@attrs.frozen
class Migrated:
    source: str
    """The emulator's ``HOST:PORT``."""
    seed: SeededRegistry
    v2: V2Registry
    journal: Path
    state: Path
    """The XDG_STATE_HOME the migration ran with (its default journal is there)."""
    direct: str
    """A tag copied without provenance: ``REPO:TAG``."""
    damaged: str
    """A tag whose provenance artifact holds no provenance document."""
    layout: Path
    """An OCI layout one repository was migrated into, with its journal beside it."""

    @property
    def dest(self) -> str:
        return f"docker://{self.v2.host}/{PREFIX}"

    @property
    def registry(self) -> str:
        return self.v2.url.rstrip("/")


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Migrated]:
    root = tmp_path_factory.mktemp("export")
    with (
        run_standalone() as emulator,
        run_registry("none", root / "v2") as v2,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("XDG_STATE_HOME", str(root / "state"))
        seed = seed_registry(emulator.store, repos=3, tags_per_repo=2, base_chains=1, seed=21)
        emulator.store.seed(EMPTY_REPO, "1", with_an_empty_layer())
        source = emulator.url.removeprefix("http://")
        ran = regv1("migrate", source, f"docker://{v2.host}/{PREFIX}")
        assert ran.exit_code == 0, ran.output
        journals = list((root / "state").rglob("migrate-*.sqlite"))
        assert len(journals) == 1, journals
        repo, tag, _ = seed.tag_pairs()[0]
        direct, damaged = "direct/app:1", "damaged/app:1"
        for name in (direct, damaged):
            copied = regv1(
                "copy", f"{source}/{repo}:{tag}", f"docker://{v2.host}/{name}", "--no-provenance"
            )
            assert copied.exit_code == 0, copied.output
        with OCIClient(v2.url) as client:
            damage(client, "damaged/app", "1")
        layout = root / "layout"
        into_layout = regv1(
            "migrate", f"{source}/{repo}", f"oci:{layout}", "--journal", f"{layout}.sqlite"
        )
        assert into_layout.exit_code == 0, into_layout.output
        yield Migrated(source, seed, v2, journals[0], root / "state", direct, damaged, layout)


def damage(client: OCIClient, name: str, tag: str) -> None:
    """Attach to ``name:tag`` an artifact of ours whose document is no provenance
    document (through the fallback tag, as Debian's 2.8 has no referrers API)."""
    subject = client.get_manifest(name, tag)
    document = b"not a provenance document"
    for blob in (document, EMPTY_CONFIG_BYTES):
        client.upload_blob(name, blob, digest=sha256_digest(blob))
    described = descriptor(subject.media_type, subject.data)
    artifact = artifact_manifest(described, document, Source("http://old", name, tag))
    client.put_manifest(name, sha256_digest(artifact), artifact, MANIFEST_MEDIA_TYPE)
    index = fallback_index(None, [artifact_descriptor(artifact)])
    client.put_manifest(name, fallback_tag(subject.digest), index, INDEX_MEDIA_TYPE)


def csv_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def without(rows: list[dict[str, Any]], *columns: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def test_journal_rows_match_the_seed_and_the_registry(migrated: Migrated) -> None:
    result = regv1("provenance", "export", "--journal", str(migrated.journal))
    assert result.exit_code == 0, result.output
    rows = [r for r in csv_rows(result.stdout) if r["v1_repository"] != EMPTY_REPO]
    expected = []
    for repo, tag, tip in migrated.seed.tag_pairs():
        for position, image in enumerate(migrated.seed.chains[tip]):
            expected.append((f"{PREFIX}/{repo}", tag, position, image, repo, tag))
    assert sorted(
        (
            r["v2_repository"],
            r["v2_tag"],
            int(r["position"]),
            r["v1_image_id"],
            r["v1_repository"],
            r["v1_tag"],
        )
        for r in rows
    ) == sorted(expected)
    assert {r["v1_registry"] for r in rows} == {f"http://{migrated.source}"}
    assert {r["v2_registry"] for r in rows} == {migrated.registry}
    assert {r["provenance"] for r in rows} == {"journal"}
    with OCIClient(migrated.v2.url) as client:
        for repo, tag in {(r["v2_repository"], r["v2_tag"]) for r in rows}:
            manifest = client.get_manifest(repo, tag)
            mine = [r for r in rows if (r["v2_repository"], r["v2_tag"]) == (repo, tag)]
            assert {r["manifest_digest"] for r in mine} == {manifest.digest}
            layers = [layer["digest"] for layer in json.loads(manifest.data)["layers"]]
            assert [r["layer_digest"] for r in mine if r["layer_digest"]] == layers


def test_an_image_with_an_empty_layer_has_a_row_without_a_layer(migrated: Migrated) -> None:
    """Both sources agree: the empty v1 layer is in the chain, not in the manifest."""
    chain = [image.id for image in with_an_empty_layer()]
    for args in (["--journal", str(migrated.journal)], ["--from", migrated.dest]):
        result = regv1("provenance", "export", *args, "--repository", f"{PREFIX}/{EMPTY_REPO}")
        assert result.exit_code == 0, result.output
        rows = csv_rows(result.stdout)
        assert [r["v1_image_id"] for r in rows] == chain
        assert [bool(r["layer_digest"]) for r in rows] == [True, False, True]
        assert [bool(r["diff_id"]) for r in rows] == [True, False, True]
    with OCIClient(migrated.v2.url) as client:
        manifest = client.get_manifest(f"{PREFIX}/{EMPTY_REPO}", "1")
    layers = [layer["digest"] for layer in json.loads(manifest.data)["layers"]]
    assert layers == [r["layer_digest"] for r in rows if r["layer_digest"]]


def test_the_destination_alone_gives_the_same_rows(migrated: Migrated) -> None:
    from_journal = regv1("provenance", "export", "--journal", str(migrated.journal))
    from_dest = regv1("provenance", "export", "--from", migrated.dest)
    assert from_dest.exit_code == 0, from_dest.output
    journal_rows, dest_rows = csv_rows(from_journal.stdout), csv_rows(from_dest.stdout)
    assert {r["provenance"] for r in dest_rows} == {"artifact"}
    assert without(dest_rows, "provenance") == without(journal_rows, "provenance")
    assert not any(is_fallback_tag(r["v2_tag"]) for r in dest_rows)


def test_a_tag_without_provenance_is_listed_as_such_and_a_broken_one_is_a_warning(
    migrated: Migrated,
) -> None:
    result = regv1("provenance", "export", "--from", f"docker://{migrated.v2.host}")
    assert result.exit_code == 2, result.output
    rows = csv_rows(result.stdout)
    repo, tag = migrated.direct.split(":")
    (gap,) = [r for r in rows if r["v2_repository"] == repo]
    assert gap["provenance"] == "no provenance"
    assert gap["v2_tag"] == tag
    assert gap["manifest_digest"].startswith("sha256:")
    assert all(gap[c] == "" for c in ("v1_registry", "v1_image_id", "position", "layer_digest"))
    assert not [r for r in rows if r["v2_repository"] == "damaged/app"]
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [
        result.stderr.splitlines()[0]
    ]
    assert result.stderr.startswith(f"warning: {migrated.damaged}: its provenance artifact")
    assert {r["provenance"] for r in rows} == {"artifact", "no provenance"}


def test_json_document_and_output_file(migrated: Migrated, tmp_path: Path) -> None:
    out = tmp_path / "mapping.json"
    result = regv1(
        "provenance", "export", "--from", migrated.dest, "--format", "json", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mapping.json"]
    document = json.loads(out.read_text())
    assert list(document) == ["kind", "version", "columns", "rows", "problems"]
    assert (document["kind"], document["version"]) == ("regv1-provenance-export", 1)
    assert document["columns"] == list(COLUMNS)
    assert document["problems"] == []
    assert all(list(row) == list(COLUMNS) for row in document["rows"])
    assert all(isinstance(row["position"], int) for row in document["rows"])
    csv_text = regv1("provenance", "export", "--from", migrated.dest).stdout
    as_text = [{k: "" if v is None else str(v) for k, v in r.items()} for r in document["rows"]]
    assert as_text == csv_rows(csv_text)


def test_an_oci_layout_from_its_journal_and_from_itself(migrated: Migrated) -> None:
    layout = migrated.layout
    from_journal = regv1("provenance", "export", "--journal", f"{layout}.sqlite")
    from_layout = regv1("provenance", "export", "--from", f"oci:{layout}")
    assert from_layout.exit_code == 0, from_layout.output
    journal_rows, layout_rows = csv_rows(from_journal.stdout), csv_rows(from_layout.stdout)
    repo = migrated.seed.tag_pairs()[0][0]
    assert {r["v2_registry"] for r in layout_rows} == {f"oci:{layout.resolve()}"}
    assert {(r["v2_repository"], r["v2_tag"]) for r in layout_rows} == {
        (repo, tag) for tag in migrated.seed.repositories[repo]
    }
    assert {r["provenance"] for r in layout_rows} == {"artifact"}
    assert without(layout_rows, "provenance") == without(journal_rows, "provenance")


def test_a_registry_with_the_referrers_api(migrated: Migrated, tmp_path: Path) -> None:
    """go-containerregistry's registry lists the artifact through the referrers API (no
    fallback tag): the export from it equals the journal's."""
    repo = migrated.seed.tag_pairs()[0][0]
    journal = str(tmp_path / "j.sqlite")
    with referrers_registry() as url:
        host = url.removeprefix("http://")
        moved = regv1(
            "migrate", f"{migrated.source}/{repo}", f"docker://{host}", "--journal", journal
        )
        assert moved.exit_code == 0, moved.output
        with OCIClient(url) as client:
            assert not [tag for tag in client.tags(repo) if is_fallback_tag(tag)]
        from_dest = regv1(
            "provenance", "export", "--from", f"docker://{host}", "--repository", repo
        )
    assert from_dest.exit_code == 0, from_dest.output
    from_journal = regv1("provenance", "export", "--journal", journal)
    dest_rows = csv_rows(from_dest.stdout)
    assert {r["provenance"] for r in dest_rows} == {"artifact"}
    assert len(dest_rows) == sum(
        len(migrated.seed.chains[tip]) for name, _, tip in migrated.seed.tag_pairs() if name == repo
    )
    assert without(dest_rows, "provenance") == without(csv_rows(from_journal.stdout), "provenance")


def test_write_atomically_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "mapping.csv"
    target.write_text("the earlier export\n")

    def broken(stream: IO[str]) -> list[ExportProblem]:
        stream.write("v1_registry,")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, broken)
    assert target.read_text() == "the earlier export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["mapping.csv"]
    assert write_atomically(target, lambda stream: write_csv([], stream)) == []
    assert target.read_text() == ",".join(COLUMNS) + "\n"


def test_default_journal_of_source_and_dest(
    migrated: Migrated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(migrated.state))
    by_pair = regv1("provenance", "export", migrated.source, migrated.dest, "--json")
    by_path = regv1("provenance", "export", "--journal", str(migrated.journal), "--json")
    assert by_pair.exit_code == 0, by_pair.output
    assert by_pair.stdout == by_path.stdout
    one = regv1(
        "provenance",
        "export",
        "--journal",
        str(migrated.journal),
        "--repository",
        f"{PREFIX}/{migrated.seed.tag_pairs()[0][0]}",
    )
    assert {r["v2_repository"] for r in csv_rows(one.stdout)} == {
        f"{PREFIX}/{migrated.seed.tag_pairs()[0][0]}"
    }


def test_usage_errors_exit_1() -> None:
    for args in ((), ("--journal", "j", "--from", "oci:x"), ("a:5000",)):
        result = regv1("provenance", "export", *args)
        assert result.exit_code == 1, result.output
        assert result.stderr.splitlines()[-1].startswith("Error: ")


def test_a_sharded_migrations_journals_one_after_the_other(
    migrated: Migrated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SOURCE DEST finds every shard's journal when there is no unsharded one; --journal
    takes several. (Two copies of one journal stand for two shards here.)"""
    folder = tmp_path / "state" / "docker-registry-v1"
    folder.mkdir(parents=True)
    stem = migrated.journal.stem
    shards = [folder / f"{stem}-shard-{index}-of-2.sqlite" for index in range(2)]
    for shard in shards:
        with sqlite3.connect(migrated.journal) as source, sqlite3.connect(shard) as copy:
            source.backup(copy)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    single = csv_rows(regv1("provenance", "export", "--journal", str(migrated.journal)).stdout)
    by_pair = regv1("provenance", "export", migrated.source, migrated.dest)
    assert by_pair.exit_code == 0, by_pair.output
    assert csv_rows(by_pair.stdout) == single + single
    listed = regv1("provenance", "export", "--journal", str(shards[0]), "--journal", str(shards[1]))
    assert listed.stdout == by_pair.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--journal", "{tmp}/none.sqlite"), "no journal at"),
        (("--journal", "{tmp}/not-a-journal"), "not a migration journal"),
        (("--from", "oci:{tmp}/nothing"), "no OCI image layout"),
        (("--from", "docker://127.0.0.1:9", "--retry-times", "0"), "127.0.0.1:9"),
        (("--from", "http://127.0.0.1:9"), "expected docker://"),
        (("--journal", "{tmp}/j", "-o", "{tmp}/missing/out.csv"), "its folder does not exist"),
        (("a:5000", "docker://b:5000"), "no migrate journal"),
    ],
)
def test_bad_input_is_one_error_line(
    args: tuple[str, ...], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "not-a-journal").write_text("hello")
    (tmp_path / "j").write_text("")
    result = regv1("provenance", "export", *(a.format(tmp=tmp_path) for a in args))
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j", "not-a-journal"]


def test_a_migration_into_a_v1_registry_has_no_v2_rows(tmp_path: Path) -> None:
    """A v1 → v1 journal: each tag is a warning saying why (no v2 side), no row carries a
    v1 id in the v2 columns, and the exit status says the export is partial."""
    with run_standalone() as source, run_standalone() as target:
        source.store.seed("team/app", "1.0", build_image_chain(2, seed=2110, layer_size=512))
        journal = tmp_path / "v1.sqlite"
        ran = regv1(
            "migrate",
            source.url.removeprefix("http://"),
            target.url.removeprefix("http://"),
            "--journal",
            str(journal),
        )
        assert ran.exit_code == 0, ran.output
    exported = regv1("provenance", "export", "--journal", str(journal))
    assert exported.exit_code == 2, exported.output
    assert csv_rows(exported.stdout) == []
    assert "team/app:1.0: migrated into the v1 registry" in exported.stderr
    assert "no v2 manifest to map" in exported.stderr
