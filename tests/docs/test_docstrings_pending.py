"""The docstring check for the modules other work is changing now (the emulator):
deselected by default through the ``pending_docstrings``
marker, to be enabled by deleting the marker once that work has landed.
"""

from __future__ import annotations

import pytest
from docstring_support import is_pending, missing_docstrings

pytestmark = pytest.mark.pending_docstrings


def test_public_api_of_the_pending_modules_has_docstrings() -> None:
    assert missing_docstrings(is_pending) == []
