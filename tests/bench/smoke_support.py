"""The benchmark harness run end to end at tiny sizes, one repetition, no thresholds.

The cases are split over two test files (registry-free ones, and those that start
distribution and skopeo) so that pytest's workers run the halves side by side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_smoke(out: Path, only: set[str]) -> list[dict[str, Any]]:
    """``python -m bench --smoke --only …`` against the emulator; its figures, checked for
    the shape every figure must have, and the Markdown report naming each case."""
    command = [sys.executable, "-m", "bench", "--smoke", "--server", "emulator"]
    command += ["--out", str(out), "--only", ",".join(sorted(only))]
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    data = json.loads((out / "benchmarks.json").read_text())
    assert data["mode"].startswith("smoke")
    assert data["server"] == "emulator"
    figures: list[dict[str, Any]] = data["figures"]
    for figure in figures:
        assert figure["reps"] >= 1
        assert len(figure["values"]) == figure["reps"]
        assert figure["min"] <= figure["median"] <= figure["max"]
        if figure["baseline"] is not None:
            assert figure["baseline_values"], figure
            assert figure["ratio"] is not None
            assert figure["ratio"] > 0
    markdown = (out / "benchmarks.md").read_text()
    for case in {f["case"] for f in figures}:
        assert f"| {case} |" in markdown
    return figures
