"""The pulled archive is read by skopeo, and its layer digests are the diff_ids."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from docker_registry_v1 import Client
from docker_registry_v1.emulator import Emulator
from docker_registry_v1.transfer import pull
from system_tools import require_tool
from transfer_support import FAST, seed_chain


def test_skopeo_inspects_and_copies_the_pulled_archive(
    standalone: Emulator, tmp_path: Path
) -> None:
    skopeo_path = require_tool("skopeo")
    chain = seed_chain(2, size=3000)
    standalone.store.seed("acme/app", "1.0", chain)
    dest = tmp_path / "pulled.tar"
    with Client(standalone.url) as client:
        result = pull(client, "acme/app", "1.0", dest, retry=FAST)

    def skopeo(*args: str) -> str:
        done = subprocess.run(
            [skopeo_path, "--insecure-policy", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    inspected = json.loads(skopeo("inspect", f"docker-archive:{dest}"))
    assert inspected["Layers"] == [layer.diff_id for layer in result.layers]
    skopeo("copy", f"docker-archive:{dest}", f"dir:{tmp_path / 'copy'}")
    assert (tmp_path / "copy" / "manifest.json").exists()
