"""Ctrl-C during ``regv1 pull``, ``push`` and ``mirror``: a real process, a real SIGINT.

The installed ``regv1`` script runs as a subprocess against an emulator whose layer
requests are held back by a latency fault, so every layer transfer is in flight
(blocked in a socket read) when the signal arrives. The signal is sent 0.5 s after
the first layer request reached the emulator, so it lands in the transfer and not
in the interpreter's start-up. The time bound is the issue's own: 2 s.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import interruptible
import pytest
from cli_support import netloc
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.faults import FaultRule
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.formats.archive import ChainImage, write_loadable_archive

REGV1 = Path(sys.executable).with_name("regv1")
HELD_BACK = 30.0  # far longer than the bound: a transfer run to completion fails the test
BOUND = 2.0


@pytest.fixture
def tmpdir_env(clean_environment: Path, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The tests' clean environment, with TMPDIR a fresh, empty directory."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    return os.environ | {"TMPDIR": str(scratch)}, scratch


def big_image(layers: int = 4) -> list[SeedImage]:
    return build_image_chain(layers, seed=41, layer_size=1 << 20, gzip=False)


def wait_for(rule: FaultRule, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while rule.hits == 0:
        assert time.monotonic() < deadline, "the transfer never reached its layers"
        time.sleep(0.02)


def interrupt(args: Sequence[str], env: dict[str, str], rule: FaultRule) -> tuple[int, str, float]:
    """Start ``regv1 ARGS``, SIGINT it 0.5 s into its layer transfers; exit code, stderr,
    and the seconds from the signal to the end of the process."""
    process = interruptible.popen(
        [str(REGV1), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(rule)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        try:
            process.wait(timeout=HELD_BACK)
        finally:
            ended = time.monotonic() - sent
        _, stderr = process.communicate()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stderr.decode(), ended


def assert_interrupted(code: int, stderr: str, seconds: float) -> None:
    assert code == 130, stderr
    assert stderr.splitlines() == ["interrupted"], stderr
    assert seconds < BOUND, f"the process took {seconds:.2f} s to end after SIGINT"


def test_sigint_stops_a_pull_at_once(
    standalone: Standalone, tmp_path: Path, tmpdir_env: tuple[dict[str, str], Path]
) -> None:
    env, scratch = tmpdir_env
    standalone.store.seed("team/big", "1.0", big_image())
    rule = standalone.faults.latency("/v1/images/*/layer", HELD_BACK, method="GET")
    out = tmp_path / "out"
    out.mkdir()
    archive = out / "big.tar"
    ref = f"{netloc(standalone.url)}/team/big:1.0"
    assert_interrupted(*interrupt(["pull", ref, "-o", str(archive)], env, rule))
    assert list(out.iterdir()) == []  # no archive, no partial file, no spool directory
    assert list(scratch.iterdir()) == []
    assert rule.hits == 4  # all four layers were in flight, none was started afterwards


def test_sigint_stops_a_push_at_once(
    standalone: Standalone, tmp_path: Path, tmpdir_env: tuple[dict[str, str], Path]
) -> None:
    """A gzipped archive, so the push first spools it in TMPDIR: that must go too."""
    env, scratch = tmpdir_env
    images = big_image(2)
    plain = tmp_path / "big.tar"
    chain = [ChainImage(i.id, i.json_bytes, io.BytesIO(i.layer_bytes)) for i in images]
    write_loadable_archive(plain, "team/big", "1.0", chain)
    archive = tmp_path / "big.tar.gz"
    archive.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
    before = archive.read_bytes()
    rule = standalone.faults.latency("/v1/images/*/layer", HELD_BACK, method="PUT")
    ref = f"{netloc(standalone.url)}/team/big:1.0"
    assert_interrupted(*interrupt(["push", str(archive), ref], env, rule))
    assert archive.read_bytes() == before
    assert list(scratch.iterdir()) == []
    assert not standalone.store.tags("team/big")
    # besides the test's own files, only the clean environment's (empty) credential dirs
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "big.tar",
        "big.tar.gz",
        "config-home",
        "docker-config",
        "runtime",
        "tmp",
    ]


def test_sigint_stops_a_mirror_at_once(
    standalone: Standalone,
    private_registry: Standalone,
    tmpdir_env: tuple[dict[str, str], Path],
) -> None:
    env, scratch = tmpdir_env
    standalone.store.seed("team/big", "1.0", big_image(2))
    rule = standalone.faults.latency("/v1/images/*/layer", HELD_BACK, method="GET")
    src = f"{netloc(standalone.url)}/team/big:1.0"
    dst = f"{netloc(private_registry.url)}/copy/big"
    login = ["--dest-creds", "alice:s3cret"]
    assert_interrupted(*interrupt(["mirror", src, dst, *login], env, rule))
    assert list(scratch.iterdir()) == []
    assert not private_registry.store.tags("copy/big")
