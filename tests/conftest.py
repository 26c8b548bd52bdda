"""Shared test configuration: the emulator's fixtures for every test directory."""

import pytest

pytest_plugins = ["docker_registry_v1.emulator.pytest_plugin"]


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
