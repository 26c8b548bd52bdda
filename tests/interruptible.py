"""Processes that a test interrupts with SIGINT, whatever started pytest.

A process started with SIGINT ignored (a background job of a non-interactive shell,
``nohup``, some CI runners and process managers) passes ``SIG_IGN`` on to its
children, and Python installs its ``KeyboardInterrupt`` handler only when SIGINT
is at its default at start-up: a Ctrl-C test would then see its SIGINT ignored and
fail, or pass only because of how the suite happened to be started. A child started
by :func:`popen` first puts SIGINT back to its default and then execs the command
(so Python installs its own handler), in a session of its own, so that a Ctrl-C at
the terminal that runs pytest does not reach it too. In-process tests use
:func:`keyboard_interrupt_on_sigint`.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

# Runs before the command: SIG_IGN survives exec, SIG_DFL is what the command must find.
_RESET_AND_EXEC = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def argv(command: Sequence[str]) -> list[str]:
    """``command`` behind the reset: SIGINT at its default when the command starts."""
    return [sys.executable, "-I", "-S", "-c", _RESET_AND_EXEC, *command]


def popen(command: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(command, **kwargs)`` for a process the test will SIGINT."""
    return subprocess.Popen(argv(command), start_new_session=True, **kwargs)


@contextlib.contextmanager
def keyboard_interrupt_on_sigint() -> Iterator[None]:
    """SIGINT raises ``KeyboardInterrupt`` in this process while inside, as it would by
    default; the handler found on entry (perhaps ``SIG_IGN``) is put back on exit."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
