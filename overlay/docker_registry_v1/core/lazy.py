"""Names a package exports but loads on first use.

Three packages keep their heavy parts off the import path: the root package (whole-image
transfers pull in archives, the OCI client and isal), the engine (the OCI destinations
load isal, which only the ``cli`` and ``copy`` extras install) and the file formats
(conversion needs isal too). Each declares a table of ``name → submodule`` and gets its
module ``__getattr__`` from :func:`lazy_exports`, so the loading rule is written once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def table(*groups: tuple[Iterable[str], str]) -> dict[str, str]:
    """``name → submodule`` from ``(names, submodule)`` pairs, each name once."""
    out: dict[str, str] = {}
    for names, module in groups:
        for name in names:
            if name in out:
                raise ValueError(f"{name} is exported twice")
            out[name] = module
    return out


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``names[name]`` imported on first use."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - it is a module __getattr__
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{module}", package), name)

    return __getattr__
