"""Programs from outside Python that some tests drive (skopeo, podman, …).

`make test` installs them (tools/install-system-deps.sh) when it runs as root. Elsewhere a
missing one skips the tests that need it, except under ``CI=true``, where a skip would hide
a broken install step, so the test fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def require_tool(name: str) -> str:
    """The path of the program ``name``, or skip (fail under ``CI=true``) when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (tools/install-system-deps.sh installs it as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true needs every tool", pytrace=False)
        pytest.skip(message)
    return path


def skopeo(*args: str, timeout: float = 120) -> str:
    """``skopeo --insecure-policy ARGS``'s standard output; a failure fails the test with
    skopeo's own message. The machine's ``DOCKER_CONFIG`` logins are kept out."""
    done = subprocess.run(
        [require_tool("skopeo"), "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "DOCKER_CONFIG"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
