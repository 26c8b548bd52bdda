"""Helpers for the CLI tests: invoking ``regv1`` in-process and reading its output."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from click.testing import CliRunner, Result
from docker_registry_v1.cli import main
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain

PASSWORD = "s3cret"
ALICE = ("alice", PASSWORD)


def netloc(url: str) -> str:
    """``http://127.0.0.1:PORT`` → ``127.0.0.1:PORT``, the form references use."""
    return url.removeprefix("http://").removeprefix("https://").rstrip("/")


def chain(layers: int = 2, seed: int = 0) -> list[SeedImage]:
    return build_image_chain(layers, seed=seed, layer_size=2048)


def regv1(*args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> Result:
    """Run ``regv1 ARGS`` in-process; unexpected exceptions propagate to the test."""
    return CliRunner().invoke(
        main, list(args), input=input, env=dict(env or {}), catch_exceptions=False
    )


def json_out(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


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
