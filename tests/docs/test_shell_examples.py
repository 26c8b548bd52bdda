"""Runs the ``sh`` blocks of docs/migration-guide.md and of README.md's quick start, as written,
with the real ``regv1`` script against emulators.

The examples name ``old.example:5000`` (the registry being left, anonymous here) and
``new.example:5000`` (the one copied into, with the user ``alice``); each block runs in
``bash -euo pipefail`` with those hosts replaced by emulators and ``$NEW_PASSWORD`` set,
all blocks of a page in order in one directory, as a reader would type them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from docker_registry_v1 import BasicAuth, Client, OCILayout
from docker_registry_v1.emulator import Emulator
from docker_registry_v1.emulator.pytest_plugin import EmulatorFactory
from docker_registry_v1.emulator.seed import build_image_chain

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "old.example:5000", "new.example:5000"
PASSWORD = "n3w-s3cret"


def sh_blocks(markdown: str, section: str | None = None) -> list[str]:
    """The fenced ``sh`` blocks of ``markdown``, or of its level-2 ``section`` only."""
    if section is not None:
        pattern = rf"^## {re.escape(section)}\s*$(.*?)(?=^## |\Z)"
        match = re.search(pattern, markdown, re.MULTILINE | re.DOTALL)
        assert match is not None, f"no '## {section}' section"
        markdown = match.group(1)
    return re.findall(r"^```sh\n(.*?)^```", markdown, re.MULTILINE | re.DOTALL)


def _netloc(emulator: Emulator) -> str:
    return emulator.url.removeprefix("http://").rstrip("/")


def _run_blocks(blocks: list[str], old: Emulator, new: Emulator, cwd: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REGV1_") and key != "CI"
    }
    (cwd / "docker-config").mkdir()
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        DOCKER_CONFIG=str(cwd / "docker-config"),
        # default journals in the test's directory: not the user's, not shared between workers
        XDG_STATE_HOME=str(cwd / "state"),
        NEW_PASSWORD=PASSWORD,
    )
    for number, block in enumerate(blocks, 1):
        script = block.replace(OLD, _netloc(old)).replace(NEW, _netloc(new))
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"block {number}:\n{block}\n{done.stderr}"
        assert "Traceback" not in done.stderr


def _seed_old(old: Emulator) -> tuple[dict[str, str], bytes]:
    """``team/app`` with 1.0 and 2.0 (its child); the tags and the raw JSON of 1.0."""
    chain = build_image_chain(3, seed=21, layer_size=2048)
    old.store.seed("team/app", "1.0", chain[:2])
    old.store.seed("team/app", "2.0", chain)
    return {"1.0": chain[1].id, "2.0": chain[2].id}, chain[1].json_bytes


def test_every_migration_guide_command_runs(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    old = emulator_factory()
    new = emulator_factory(users={"alice": PASSWORD})
    tags, raw_json = _seed_old(old)
    blocks = sh_blocks((ROOT / "docs" / "migration-guide.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    commands = set(re.findall(r"\bregv1 ([a-z-]+)", "\n".join(blocks)))
    assert {
        "ping",
        "search",
        "tags",
        "ancestry",
        "metadata",
        "pull",
        "push",
        "mirror",
        "copy",
    } <= commands

    _run_blocks(blocks, old, new, tmp_path)

    with Client(new.url, auth=BasicAuth("alice", PASSWORD)) as client:
        assert dict(client.repository.list_tags("team/app")) == tags
    with tarfile.open(tmp_path / "team-app-1.0.tar") as archive:
        assert "manifest.json" in archive.getnames()
    assert (tmp_path / f"{tags['1.0']}.json").read_bytes().rstrip(b"\n") == raw_json
    assert set(OCILayout(tmp_path / "team-app-layout").refs()) == {"2.0"}


def test_readme_quick_start_runs(emulator_factory: EmulatorFactory, tmp_path: Path) -> None:
    old, new = emulator_factory(), emulator_factory()
    tags, _ = _seed_old(old)
    blocks = sh_blocks((ROOT / "README.md").read_text(encoding="utf-8"), "Quick start")
    assert len(blocks) == 1
    assert len(blocks[0].strip().splitlines()) == 5

    _run_blocks(blocks, old, new, tmp_path)

    with Client(new.url) as client:
        assert dict(client.repository.list_tags("team/app")) == tags
    with tarfile.open(tmp_path / "app.tar") as archive:
        assert "manifest.json" in archive.getnames()


@pytest.mark.parametrize("page", ["docs/migration-guide.md", "README.md"])
def test_examples_name_only_placeholder_hosts(page: str) -> None:
    """The runner can only rewrite hosts it knows; any other would go out to the network."""
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = sh_blocks(text, "Quick start") if page == "README.md" else sh_blocks(text)
    hosts = set(re.findall(r"\b([a-z0-9.-]+\.[a-z]+:\d+)", "\n".join(blocks)))
    assert hosts <= {OLD, NEW}
