"""A 2 GiB layer pushed and pulled with the client's RSS growth under 64 MiB.

Slow (about a minute and 10 GiB of disk): run with
``.venv/bin/python -m pytest tests/transfer -m slow``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("memory_probe.py")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_two_gib_layer_in_constant_memory(tmp_path: Path, flavour: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(PROBE),
            "--gib",
            "2",
            "--workdir",
            str(tmp_path),
            "--flavour",
            flavour,
        ],
        capture_output=True,
        text=True,
        timeout=850,
        check=True,
    )
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["action"] for r in reports] == ["push", "pull"]
    for report in reports:
        assert report["bytes"] >= 2 << 30
        assert report["rss_growth_mib"] < 64, report
