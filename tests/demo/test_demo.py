"""`make demo` keeps doing the whole migration job and reports it truthfully."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_the_migration_job() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "docker_registry_v1.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "pushed acme/app:1.0: 4 images" in out
    assert "pulled back into pulled.tar: 4 layers" in out
    assert "JSON and layer bytes identical after the round trip: yes" in out
    assert "mirrored into the new registry: 4 images copied" in out
    assert "a second run skipped 4" in out
    assert "inventory of the legacy registry: 1 repository, 1 tag, 4 images" in out
    assert "migrated into the OCI layout oci/: 1 tag, 5 blobs written" in out
    assert "verify: 1 tag checked, ok" in out
    assert "Basic credentials seen by the legacy registry: 0" in out
    assert "Traceback" not in result.stderr
