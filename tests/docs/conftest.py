"""Real distribution registries for the page tests, started on demand.

The page tests need several empty ones (a page run, then each sharding route into its
own), so this is a factory over the v2 tests' launcher rather than their session-wide
registries, which other tests fill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from v2.v2registry import Mode, V2Registry, run_registry

V2Factory = Callable[[Mode], V2Registry]


@pytest.fixture
def v2_factory(tmp_path: Path) -> Iterator[V2Factory]:
    """``v2_factory("htpasswd")``: a fresh distribution of this test's own, stopped after it."""
    with ExitStack() as stack:
        count = 0

        def start(mode: Mode) -> V2Registry:
            nonlocal count
            count += 1
            return stack.enter_context(run_registry(mode, tmp_path / f"v2-{count}"))

        yield start
