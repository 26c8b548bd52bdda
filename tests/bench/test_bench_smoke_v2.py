"""The benchmark cases that start Debian's distribution and skopeo still run end to end
(smoke sizes). tools/install-system-deps.sh installs both; under CI=true a missing one
fails here rather than skipping."""

from pathlib import Path

from smoke_support import run_smoke
from system_tools import require_tool

CASES = {
    "7. copy to a v2 registry",
    "8. gzip throughput",
    "9. registry migrate",
    "11. registry scale",
}


def test_smoke_run_reports_every_registry_case(tmp_path: Path) -> None:
    require_tool("docker-registry")
    require_tool("skopeo")
    figures = run_smoke(tmp_path, {"copy", "migrate", "scale"})
    assert {f["case"] for f in figures} == CASES
    assert all(f["median"] > 0 for f in figures if f["unit"] == "MiB/s")
