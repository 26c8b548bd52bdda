"""Runs every command of docs/cut-over.md, as written, with the real ``regv1`` script.

``old.example:5000`` is a v1 emulator (user ``reader``) seeded with gzip and plain-tar
layers and a base chain shared by two repositories, ``new.example:5000`` Debian's
distribution with htpasswd auth, and ``localhost:5001`` the face the page starts (on a
free port here). The ``sh`` blocks run in page order in one directory (tests/docs
test_migration_doc's `Shell`). Outcomes are read back from the registries, the files the
blocks write and the archives they pull, not only from exit statuses. Section 6 points
the old name at the face, as the page does: from there on ``old.example:5000`` is the
face's address and the old emulator is stopped, so nothing can be answered by it.
"""

from __future__ import annotations

import csv
import json
import re
import tarfile
from pathlib import Path
from typing import Any

from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.formats.layout import OCILayout
from docker_registry_v1.formats.provenance import ARTIFACT_TYPE, SOURCE_ANNOTATION
from oci_images import DIRECT_CONTENT, direct_image
from ports import unused_port
from test_migration_doc import NEW, OLD, OLD_PASSWORD, OLD_USER, Shell, V2Factory, _v2_contents
from test_shell_examples import sh_blocks

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cut-over.md"
FACE = "localhost:5001"


def _sections() -> dict[str, list[str]]:
    parts = re.split(r"^## (.+)$", PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {
        title.strip(): sh_blocks(body) for title, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def _section(sections: dict[str, list[str]], start: str) -> list[str]:
    found = [blocks for title, blocks in sections.items() if title.startswith(start)]
    assert len(found) == 1, f"one '## {start}…' section"
    return found[0]


def _seed() -> dict[str, dict[str, list[SeedImage]]]:
    shared = build_image_chain(3, seed=2101, layer_size=20_000, gzip=True)
    plain = build_image_chain(2, seed=2102, layer_size=30_000, gzip=False)
    return {
        "team/app": {"latest": shared, "1.0": shared},
        "library/base": {"latest": shared[:2]},
        "team/tool": {"v1": plain},
    }


def _new_image(directory: Path) -> None:
    """The OCI layout ``new-image`` (tag ``1``) that section 7 pushes with skopeo: one
    gzip layer, a config with its diff_id, as any v2 build tool makes."""
    config, layer, manifest = direct_image()
    layout = OCILayout(directory)
    try:
        layout.write_blob([config])
        layout.write_blob([layer])
        layout.add_manifest(manifest, ref="1")
    finally:
        layout.close()


def _archive_images(path: Path) -> dict[str, tuple[bytes, bytes]]:
    """v1 id → (JSON, layer bytes) of a ``docker save``-format archive."""
    images: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] in ("json", "layer.tar") and member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                images.setdefault(parts[0], {})[parts[1]] = extracted.read()
    return {key: (value["json"], value["layer.tar"]) for key, value in images.items()}


def _wait_for_face(process: Any) -> None:
    """The face's first line is its address; anything else is a failed start."""
    line = process.stdout.readline()
    assert line.startswith("registry: "), line + process.stderr.read()


def test_every_cutover_doc_command_runs(v2_factory: V2Factory, tmp_path: Path) -> None:
    sections = _sections()
    seed = _seed()
    port = unused_port()
    old_server = run_standalone(users={OLD_USER: OLD_PASSWORD})
    old = old_server.__enter__()
    face_process = None
    try:
        for repository, tags in seed.items():
            for tag, chain in tags.items():
                old.store.seed(repository, tag, chain)
        new = v2_factory("htpasswd")
        shell = Shell(tmp_path / "team", old, new, old)
        shell.hosts[FACE] = f"127.0.0.1:{port}"
        work = shell.cwd

        # 1. The migration, verified.
        (migrate,) = _section(sections, "1.")
        shell.run(migrate)
        held = _v2_contents(new)
        for repository, tags in seed.items():
            assert set(tags) <= held[repository], held

        # 2. The artifact, found through distribution's fallback tag.
        (referrers,) = _section(sections, "2.")
        shell.run(referrers)
        listed = json.loads((work / "referrers.json").read_text())["manifests"]
        ours = [entry for entry in listed if entry.get("artifactType") == ARTIFACT_TYPE]
        # latest and 1.0 are one image, so one manifest with an artifact for each v1 tag
        sources = {entry["annotations"][SOURCE_ANNOTATION].split("/", 1)[1] for entry in ours}
        assert sources == {"team/app:latest", "team/app:1.0"}, listed

        # 3. The mapping: one row per v1 image of each tag, the same from both sources.
        (export,) = _section(sections, "3.")
        shell.run(export)
        rows = list(csv.DictReader((work / "mapping.csv").open(encoding="utf-8")))
        expected = {
            (repository, tag, image.id, position)
            for repository, tags in seed.items()
            for tag, chain in tags.items()
            for position, image in enumerate(chain)
        }
        got = {
            (row["v1_repository"], row["v1_tag"], row["v1_image_id"], int(row["position"]))
            for row in rows
        }
        assert got == expected
        exported = json.loads((work / "mapping.json").read_text(encoding="utf-8"))
        records = exported["rows"] if isinstance(exported, dict) else exported
        from_destination = {
            (row["v1_repository"], row["v1_tag"], row["v1_image_id"], int(row["position"]))
            for row in records
            if row.get("v1_image_id")
        }
        assert from_destination == expected
        assert not list(work.glob("mapping.csv.*")), "no temporary file is left"

        # 4. The face, started as the page starts it.
        (serve,) = _section(sections, "4.")
        face_process = shell.start(serve.replace("--port 5001", f"--port {port}"))
        _wait_for_face(face_process)

        # 5. The same answers as the old registry: the blocks diff and cmp them; the
        # archives hold the same images, JSON and layer bytes.
        (check,) = _section(sections, "5.")
        shell.run(check)
        through_face = _archive_images(work / "tool-face.tar")
        from_old = _archive_images(work / "tool-old.tar")
        assert through_face == from_old
        assert set(through_face) == {image.id for image in seed["team/tool"]["v1"]}
        for image in seed["team/tool"]["v1"]:
            assert through_face[image.id] == (image.json_bytes, image.layer_bytes)

        # 6. The old name now reaches the face; the old server is off.
        old_server.__exit__(None, None, None)
        old_server = None
        shell.hosts[OLD] = shell.hosts[FACE]
        after, refused = _section(sections, "6.")
        shell.run(after)
        out = shell.run(refused)
        assert "refused, as expected" in out

        # 7. An image pushed straight to the new registry: synthesized ids, pullable.
        (pushed,) = _section(sections, "7.")
        _new_image(work / "new-image")
        out = shell.run(pushed)
        (line,) = [line for line in out.splitlines() if line.startswith("1\t")]
        image_id = line.split()[1]
        assert re.fullmatch(r"[0-9a-f]{64}", image_id), line
        pulled = _archive_images(work / "new.tar")
        assert image_id in pulled
        assert DIRECT_CONTENT in pulled[image_id][1]
    finally:
        if face_process is not None:
            face_process.terminate()
            face_process.wait(timeout=10)
        if old_server is not None:
            old_server.__exit__(None, None, None)


def test_the_page_names_only_its_three_hosts() -> None:
    """Every host on the page is one of the three the test maps to real servers."""
    hosts = set(re.findall(r"\b([a-z0-9.-]+\.example:\d+|localhost:\d+)", PAGE.read_text()))
    assert hosts == {OLD, NEW, FACE}
