"""Bench case 12 (the v1 face over distribution) still runs end to end at smoke sizes:
a migration with provenance, two ``regv1 serve --backend`` processes, every figure."""

from pathlib import Path

from smoke_support import run_smoke
from system_tools import require_tool


def test_smoke_run_reports_the_face_case(tmp_path: Path) -> None:
    require_tool("docker-registry")
    figures = run_smoke(tmp_path, {"face"})
    assert {f["case"] for f in figures} == {"12. v1 face over v2"}
    whats = [f["what"] for f in figures]
    assert any(w.startswith("layer GET, gzip v1 layer served as stored") for w in whats)
    assert any(w.startswith("layer GET, plain-tar v1 layer decompressed") for w in whats)
    for kind in ("tag list", "image json", "ancestry"):
        assert any(w.startswith(f"{kind} latency through the face, warm") for w in whats)
    assert all(f["median"] > 0 for f in figures)
