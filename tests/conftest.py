"""Shared test configuration: the emulator's fixtures for every test directory."""

import pytest

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


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio only (trio is not a dependency)."""
    return "asyncio"
