"""Running ``regv1`` in-process for the tests of every folder: one helper, not a copy per
test file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from click.testing import CliRunner, Result
from docker_registry_v1.cli import main

__all__ = ["document", "regv1"]


def regv1(*args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> Result:
    """Run ``regv1 ARGS`` in-process (``input``: its standard input); unexpected
    exceptions propagate to the test."""
    return CliRunner().invoke(
        main, list(args), input=input, env=dict(env or {}), catch_exceptions=False
    )


def document(result: Result, exit_code: int = 0) -> Any:
    """The ``--json`` document of a run that ended with ``exit_code``."""
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)
