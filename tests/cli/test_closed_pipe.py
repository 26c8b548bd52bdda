"""``regv1 … | head -1``: when stdout's reader goes away, regv1 stops quietly with exit
status 141 (128 + SIGPIPE), as a process the signal killed, and prints nothing on stderr:
no ``error: Broken pipe``, no traceback, no "Exception ignored" at interpreter exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import chain, netloc
from docker_registry_v1.cli.options import EXIT_CLOSED_PIPE
from docker_registry_v1.emulator import Standalone, run_standalone
from docker_registry_v1.emulator.seed import build_image_chain

REGV1 = Path(sys.executable).with_name("regv1")
#: Enough output to be far bigger than a pipe's buffer (64 KiB), so regv1 is still
#: writing when head has gone.
TAGS = 3000
REPOSITORIES = 1500


@pytest.fixture(scope="module")
def big() -> Iterator[Standalone]:
    """Many tags in one repository, many repositories with long names, one 4 MB layer."""
    with run_standalone() as registry:
        images = chain(2)
        for number in range(TAGS):
            registry.store.seed("team/app", f"release-{number:05d}", images)
        for number in range(REPOSITORIES):
            registry.store.seed(f"team/service-{number:05d}-{'x' * 40}", "1.0", images)
        registry.store.seed(
            "team/big", "latest", build_image_chain(1, seed=7, layer_size=4_000_000)
        )
        yield registry


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REGV1_")}


def pipeline(command: str, reader: str = "head -1") -> tuple[int, bytes, str]:
    """``REGV1 ARGS | reader`` in bash: regv1's exit status, the reader's output, regv1's
    stderr. bash and coreutils are essential packages: missing, the test fails."""
    bash = shutil.which("bash")
    assert bash is not None, "bash is not on PATH"
    assert shutil.which(reader.split(maxsplit=1)[0]) is not None, f"{reader} is not on PATH"
    script = f'"$REGV1" {command} 2>"$ERR" | {reader}; exit "${{PIPESTATUS[0]}}"'
    with tempfile.NamedTemporaryFile("r", suffix=".stderr") as stderr:
        result = subprocess.run(
            [bash, "-c", script],
            capture_output=True,
            env=environment() | {"REGV1": str(REGV1), "ERR": stderr.name},
            timeout=120,
            check=False,
        )
        return result.returncode, result.stdout, stderr.read()


@pytest.mark.parametrize(
    ("args", "first"),
    [
        pytest.param("tags {host}/team/app", b"release-00000\t", id="tags-plain"),
        pytest.param("tags {host}/team/app --format table", b"http://", id="tags-table"),
        pytest.param("tags {host}/team/app --format json", b"{", id="tags-json"),
        pytest.param("search team --registry {host}", b"team/", id="search"),
        pytest.param("inventory {host}/team/app --format csv", b"repository,", id="inventory-csv"),
        pytest.param("inventory {host}/team/app --format ndjson", b'{"bytes"', id="inventory-nd"),
    ],
)
def test_head_ends_big_outputs_quietly(big: Standalone, args: str, first: bytes) -> None:
    status, out, err = pipeline(args.format(host=netloc(big.url)))
    assert err == ""
    assert status == EXIT_CLOSED_PIPE == 141
    assert out.startswith(first)
    assert out.count(b"\n") == 1


def test_pull_to_stdout_into_a_short_reader(big: Standalone) -> None:
    status, out, err = pipeline(f"pull {netloc(big.url)}/team/big -o -", reader="head -c 100")
    assert err == ""
    assert status == EXIT_CLOSED_PIPE
    assert len(out) == 100


def test_a_whole_output_still_exits_0(big: Standalone) -> None:
    """A reader that reads everything sees everything, and regv1 succeeds."""
    status, out, err = pipeline(f"tags {netloc(big.url)}/team/app", reader="wc -l")
    assert (status, err) == (0, "")
    assert int(out) == TAGS


def closed_stdout(*args: str) -> subprocess.CompletedProcess[bytes]:
    """regv1 with stdout a pipe whose reading end is closed before it starts: its first
    write fails, whatever the size of the output."""
    reading, writing = os.pipe()
    os.close(reading)
    try:
        return subprocess.run(
            [str(REGV1), *args],
            stdin=subprocess.DEVNULL,
            stdout=writing,
            stderr=subprocess.PIPE,
            env=environment(),
            timeout=120,
            check=False,
        )
    finally:
        os.close(writing)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--help",), id="group-help"),
        pytest.param(("--version",), id="version"),
        pytest.param(("tags", "--help"), id="command-help"),
    ],
)
def test_click_s_own_output_into_a_closed_pipe(args: tuple[str, ...]) -> None:
    result = closed_stdout(*args)
    assert (result.returncode, result.stderr) == (EXIT_CLOSED_PIPE, b"")


def test_small_outputs_into_a_closed_pipe(standalone: Standalone, tmp_path: Path) -> None:
    """Outputs that fit any buffer: printed by rich, by click.echo, and by a command
    outside the shared error handling (logout)."""
    standalone.store.seed("team/app", "1.0", chain(1))
    host = netloc(standalone.url)
    auth = tmp_path / "auth.json"
    auth.write_text('{"auths": {}}')
    for args in (
        ("tags", f"{host}/team/app"),
        ("ping", host),
        ("image-id", f"{host}/team/app:1.0"),
        ("metadata", f"{host}/team/app:1.0", "--raw"),
        ("logout", "--all", "--authfile", str(auth)),
    ):
        result = closed_stdout(*args)
        assert (result.returncode, result.stderr) == (EXIT_CLOSED_PIPE, b""), args


def test_a_real_failure_is_still_reported(standalone: Standalone) -> None:
    """A closed stdout does not hide an error that happened before anything was printed."""
    result = closed_stdout("tags", f"{netloc(standalone.url)}/team/missing")
    assert result.returncode == 1
    assert result.stderr.decode().startswith("error: ")
