"""The docstring check for the emulator, kept apart from ``test_docstrings.py`` so a hole
in the emulator's reference is reported on its own.
"""

from __future__ import annotations

from docstring_support import is_pending, missing_docstrings


def test_public_api_of_the_pending_modules_has_docstrings() -> None:
    assert missing_docstrings(is_pending) == []
