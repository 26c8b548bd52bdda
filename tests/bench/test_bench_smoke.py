"""The benchmark cases that need no v2 registry still run end to end (smoke sizes).

They run against the emulator (``--server emulator``), so ``make test`` needs no nginx;
the full ``make bench`` uses nginx for the throughput cases.
"""

from pathlib import Path

from smoke_support import run_smoke

CASES = {
    "1. layer GET",
    "2. layer PUT",
    "3. client peak RSS growth",
    "4. per-call time",
    "5. whole-image pull",
    "6. startup",
    "10. registry inventory",
}


def test_smoke_run_reports_every_case(tmp_path: Path) -> None:
    figures = run_smoke(tmp_path, {"layers", "calls", "pull", "startup", "inventory"})
    assert {f["case"] for f in figures} == CASES
    whats = {f["what"] for f in figures}
    for name in ("get_layer sync", "get_layer async", "add_layer sync", "add_layer async"):
        assert any(w.startswith(name) for w in whats), name
    assert any(w.startswith("list_tags") for w in whats)
    assert any(w.startswith("get_metadata") for w in whats)
    throughput = [f for f in figures if f["unit"] == "MiB/s"]
    assert throughput
    assert all(f["median"] > 0 for f in throughput)
