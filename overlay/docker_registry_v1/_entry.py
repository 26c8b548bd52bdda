"""The ``regv1`` script's entry point.

It lives outside :mod:`docker_registry_v1.cli` because importing that package needs click and
rich, which only the ``cli`` extra installs; a plain ``pip install docker-registry-v1`` still
gets the script, and it must explain itself in one line rather than fail with a traceback.
"""

import sys

_CLI_EXTRA = frozenset({"click", "rich"})


def main() -> None:
    """Run the command line, or say which extra is missing (exit 1)."""
    try:
        from docker_registry_v1.cli import main as app  # noqa: PLC0415 - see the module doc
    except ModuleNotFoundError as exc:
        if exc.name not in _CLI_EXTRA:
            raise
        sys.stderr.write(
            "error: regv1 needs the cli extra: pip install 'docker-registry-v1[cli]'\n"
        )
        raise SystemExit(1) from None
    app()
