"""Helpers for the CLI tests: names, images and reading output (``regv1`` itself runs
through tests/regv1_runner.py, shared by every folder)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from click.testing import Result
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain

PASSWORD = "s3cret"
ALICE = ("alice", PASSWORD)


def netloc(url: str) -> str:
    """``http://127.0.0.1:PORT`` → ``127.0.0.1:PORT``, the form references use."""
    return url.removeprefix("http://").removeprefix("https://").rstrip("/")


def chain(layers: int = 2, seed: int = 0) -> list[SeedImage]:
    return build_image_chain(layers, seed=seed, layer_size=2048)


def assert_one_line_failure(result: Result, *fragments: str, code: int = 1) -> None:
    """Exit ``code``, nothing on stdout, exactly one ``error: …`` line, no traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def make_helper(
    directory: Path,
    name: str,
    *,
    known: Mapping[str, tuple[str, str]] | None = None,
    failure: str | None = None,
) -> Path:
    """A real ``docker-credential-NAME`` executable in ``directory`` (put it on PATH).

    It answers ``get`` from ``known`` (server → user, secret) with docker's JSON,
    says "credentials not found in native keychain" (exit 1) for other servers, or
    prints ``failure`` on stderr and exits 3. Each call appends the arguments and
    the exact stdin it got to ``directory/NAME.calls`` (one JSON object a line).
    """
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / f"docker-credential-{name}"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "server = sys.stdin.read()\n"
        f"with open({str(directory / (name + '.calls'))!r}, 'a') as log:\n"
        "    log.write(json.dumps({'argv': sys.argv[1:], 'stdin': server}) + '\\n')\n"
        f"failure = {failure!r}\n"
        "if failure:\n"
        "    print(failure, file=sys.stderr)\n"
        "    sys.exit(3)\n"
        f"known = {dict(known or {})!r}\n"
        "if server in known:\n"
        "    user, secret = known[server]\n"
        "    print(json.dumps({'ServerURL': server, 'Username': user, 'Secret': secret}))\n"
        "else:\n"
        "    print('credentials not found in native keychain')\n"
        "    sys.exit(1)\n"
    )
    script.chmod(0o755)
    return script


def helper_calls(directory: Path, name: str) -> list[dict[str, Any]]:
    path = directory / f"{name}.calls"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def path_with(directory: Path) -> str:
    """``PATH`` with ``directory`` first."""
    return f"{directory}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
