"""The benchmark harness still runs end to end: tiny sizes, one repetition, no thresholds.

It runs against the emulator (``--server emulator``), so ``make test`` needs no nginx;
the full ``make bench`` uses nginx for the throughput cases.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "1. layer GET",
    "2. layer PUT",
    "3. client peak RSS growth",
    "4. per-call time",
    "5. whole-image pull",
    "6. startup",
    "8. gzip throughput",
    "10. registry inventory",
}
# The copy and migrate cases need distribution and skopeo (tools/install-system-deps.sh
# installs them).
V2_CASES = {"7. copy to a v2 registry", "9. registry migrate", "11. registry scale"}


def test_smoke_run_reports_every_case(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--server", "emulator", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    data = json.loads((tmp_path / "benchmarks.json").read_text())
    assert data["mode"] == "smoke"
    assert data["server"] == "emulator"
    figures = data["figures"]
    expected = CASES | (
        V2_CASES if shutil.which("docker-registry") and shutil.which("skopeo") else set()
    )
    assert {f["case"] for f in figures} == expected
    for figure in figures:
        assert figure["reps"] >= 1
        assert len(figure["values"]) == figure["reps"]
        assert figure["min"] <= figure["median"] <= figure["max"]
        if figure["baseline"] is not None:
            assert figure["baseline_values"], figure
            assert figure["ratio"] is not None
            assert figure["ratio"] > 0
    whats = {f["what"] for f in figures}
    for name in ("get_layer sync", "get_layer async", "add_layer sync", "add_layer async"):
        assert any(w.startswith(name) for w in whats), name
    assert any(w.startswith("list_tags") for w in whats)
    assert any(w.startswith("get_metadata") for w in whats)
    throughput = [f for f in figures if f["unit"] == "MiB/s"]
    assert throughput
    assert all(f["median"] > 0 for f in throughput)
    markdown = (tmp_path / "benchmarks.md").read_text()
    for case in expected:
        assert f"| {case} |" in markdown
