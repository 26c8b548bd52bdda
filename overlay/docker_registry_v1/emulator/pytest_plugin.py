"""pytest fixtures serving emulators on loopback; load with ``pytest_plugins``.

``standalone`` is anonymous, ``private_registry`` and ``hub`` have the user
``alice`` / ``s3cret``; ``emulator_factory`` starts any configuration;
``messy_registry`` is a standalone seeded with :func:`~.messy.seed_messy` (every broken
state, beside healthy tags) and its description. Every emulator is stopped at the end of
its test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest

from .messy import MessyRegistry, seed_messy
from .server import Emulator, Hub, Standalone, run_hub, run_standalone

USERS = {"alice": "s3cret"}

EmulatorFactory = Callable[..., Emulator]


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    """``emulator_factory(mode="standalone"|"hub", **options)`` → a running emulator."""
    started: list[Emulator] = []

    def start(mode: Literal["standalone", "hub"] = "standalone", **options: Any) -> Emulator:
        emulator: Emulator
        if mode == "standalone":
            emulator = run_standalone(**options)
        elif mode == "hub":
            emulator = run_hub(**options)
        else:
            raise ValueError(f"mode must be 'standalone' or 'hub', not {mode!r}")
        started.append(emulator)
        return emulator

    yield start
    for emulator in reversed(started):
        emulator.stop()


@pytest.fixture
def standalone() -> Iterator[Standalone]:
    with run_standalone() as reg:
        yield reg


@pytest.fixture
def private_registry() -> Iterator[Standalone]:
    with run_standalone(users=USERS) as reg:
        yield reg


@pytest.fixture
def hub() -> Iterator[Hub]:
    with run_hub(users=USERS) as running:
        yield running


@pytest.fixture
def messy_registry() -> Iterator[tuple[Standalone, MessyRegistry]]:
    """A standalone holding the messy preset, and what is broken where in it."""
    with run_standalone() as reg:
        yield reg, seed_messy(reg.store)
