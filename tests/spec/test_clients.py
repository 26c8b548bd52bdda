"""The TypeScript and Go clients generated from the spec compile and read a live registry.

Each test runs ``clients/build.py <language>`` as ``make clients`` does, then runs the compiled
smoke program once more against a fresh emulator with a wrong expectation: a smoke program
that cannot fail would prove nothing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.emulator.seed import build_image_chain

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "clients" / "build.py"


def load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("clients_build", BUILD_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_smoke(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _build(language: str) -> None:
    """``clients/build.py`` as ``make clients`` runs it, its report checked line by line."""
    done = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), language],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    for step in ("generate", "build", "smoke"):
        assert re.search(rf"^\[{language}\] {step}\s+\d+\.\d\d s  ok$", done.stdout, re.M), report
    seeded = re.search(
        r"^registry \S+: clients/smoke:latest -> ([0-9a-f]{64}) \(3 images\)$", done.stdout, re.M
    )
    assert seeded, report
    tip = seeded.group(1)
    # The emulator answers the ping with `{}`, like the reference server; every client decodes it.
    assert f"[{language}]   | ping: 200 body={{}} " in done.stdout, report
    assert re.search(rf"^\[{language}\]   \| tags: 200 .*{tip}", done.stdout, re.M), report
    assert re.search(rf"^\[{language}\]   \| ancestry: 200 .*{tip}", done.stdout, re.M), report
    assert f"[{language}]   | smoke ok: latest -> {tip}, 3 images" in done.stdout
    assert re.search(rf"^summary: {language} ok \(generate .*\); total ", done.stdout, re.M)


@pytest.mark.clients
@pytest.mark.parametrize("language", ["typescript", "go"])
def test_generated_client_builds_and_reads_a_live_registry(language: str) -> None:
    """``make test`` builds the clients before pytest (``make clients``, which also smoke-runs
    them); a client already built from the same specs and sources is not generated and
    compiled again here (generating is a build step, and two openapi-generator JVMs cost
    the suite most of a minute). Either way its compiled program is run against a fresh
    emulator, right and with wrong expectations."""
    build_script = load_build_script()
    if not build_script.is_built(language):
        _build(language)
    assert build_script.is_built(language)

    command = build_script.smoke_command(language)
    images = build_image_chain(3)
    ancestry = [image.id for image in reversed(images)]
    with run_standalone() as registry:
        registry.store.seed("team/app", "v1", images)
        good = {
            "REGV1_URL": registry.url,
            "REGV1_NAMESPACE": "team",
            "REGV1_REPOSITORY": "app",
            "REGV1_TAG": "v1",
            "REGV1_IMAGE_ID": images[-1].id,
            "REGV1_ANCESTRY": ",".join(ancestry),
        }
        passed = run_smoke(command, good)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert f"smoke ok: v1 -> {images[-1].id}, 3 images" in passed.stdout
        # The emulator answers the ping with `{}`, like the reference server; clients decode it.
        assert "ping: 200 body={} " in passed.stdout, passed.stdout
        assert re.search(rf"^tags: 200 .*{images[-1].id}", passed.stdout, re.M), passed.stdout
        assert re.search(rf"^ancestry: 200 .*{images[-1].id}", passed.stdout, re.M), passed.stdout

        wrong_order = run_smoke(command, {**good, "REGV1_ANCESTRY": ",".join(reversed(ancestry))})
        assert wrong_order.returncode == 1
        assert "smoke FAILED: ancestry" in wrong_order.stdout

        wrong_tag = run_smoke(command, {**good, "REGV1_IMAGE_ID": images[0].id})
        assert wrong_tag.returncode == 1
        assert "smoke FAILED: tags" in wrong_tag.stdout

        missing = run_smoke(command, {**good, "REGV1_REPOSITORY": "absent"})
        assert missing.returncode == 1
        assert "smoke FAILED: " in missing.stdout
        assert "Repository not found" in missing.stdout
