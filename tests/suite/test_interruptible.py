"""The SIGINT tests do not depend on how pytest was started (tests/interruptible.py).

Each case starts from the worst start-up: this process ignoring SIGINT, as a
background job of a non-interactive shell does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import interruptible
import pytest

REPORT = (
    "import os, signal; h = signal.getsignal(signal.SIGINT); "
    "print('python' if h is signal.default_int_handler else h, os.getsid(0) == os.getpid())"
)


@pytest.fixture
def sigint_ignored() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def report(process: subprocess.Popen[str]) -> str:
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    return out.strip()


@pytest.mark.usefixtures("sigint_ignored")
def test_a_child_gets_pythons_handler_in_a_session_of_its_own() -> None:
    child = interruptible.popen([sys.executable, "-c", REPORT], stdout=subprocess.PIPE, text=True)
    assert report(child) == "python True"
    # what the helper is for: a plain child inherits the ignored SIGINT
    plain = subprocess.Popen([sys.executable, "-c", REPORT], stdout=subprocess.PIPE, text=True)
    assert report(plain) == f"{signal.SIG_IGN} False"


@pytest.mark.usefixtures("sigint_ignored")
def test_a_child_stops_on_sigint() -> None:
    child = interruptible.popen(
        [sys.executable, "-c", "import sys, time; print(flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    child.stdout.readline()  # started, past the reset
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGINT  # how Python ends on an uncaught Ctrl-C
    assert stderr.strip().endswith("KeyboardInterrupt")
    assert os.getpgid(os.getpid()) != child.pid


@pytest.mark.usefixtures("sigint_ignored")
def test_in_process_sigint_raises_keyboard_interrupt_and_the_handler_is_put_back() -> None:
    with interruptible.keyboard_interrupt_on_sigint(), pytest.raises(KeyboardInterrupt):
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
