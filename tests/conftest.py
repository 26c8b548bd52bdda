"""Shared test configuration: the emulator's fixtures for every test directory."""

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from direct_body import SMALL_DIRECT_BODY
from docker_registry_v1.core import http as core_http
from docker_registry_v1.core.budget import reset_budgets

# every_test_ran (tests/every_test_ran.py) fails a run in which a collected test was never
# reported, which pytest-xdist's workers could otherwise hide.
pytest_plugins = ["docker_registry_v1.emulator.pytest_plugin", "every_test_ran"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--emulator-rss-mib",
        type=int,
        default=64,
        help="Layer size (MiB) for the emulator's memory test; 1024 for the full 1 GiB check.",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Default journals, blob caches and state land in a directory of this process's own,
    never in the home directory of whoever runs the suite (and two xdist workers never
    share one); a test that wants a fresh one still sets its own with monkeypatch."""
    scratch = tempfile.mkdtemp(prefix="regv1-tests-xdg-")
    config.add_cleanup(lambda: shutil.rmtree(scratch, ignore_errors=True))
    for name in ("XDG_STATE_HOME", "XDG_CACHE_HOME"):
        os.environ[name] = os.path.join(scratch, name.removeprefix("XDG_").lower())


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio only (trio is not a dependency)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_host_budgets() -> Iterator[None]:
    """Every test starts with no host paused: the per-host budgets are process-wide
    (core/budget.py), and a Retry-After one test provoked must not slow the next."""
    yield
    reset_budgets()


@pytest.fixture
def small_direct_body(monkeypatch: pytest.MonkeyPatch) -> int:
    """Bodies from 1 MiB on are read off the connection (`core.http.iter_body`)."""
    monkeypatch.setattr(core_http, "DIRECT_BODY", SMALL_DIRECT_BODY)
    return SMALL_DIRECT_BODY
