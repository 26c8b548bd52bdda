"""The public surface the API reference documents, and which parts of it lack a docstring.

The surface is every name in the ``__all__`` of ``docker_registry_v1``, of
``docker_registry_v1.transfer`` and of ``docker_registry_v1.emulator``, plus the classes of
the services a ``Client`` and an ``AsyncClient`` expose as attributes; for each class, its
public methods and properties defined in this package (inherited ones included).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import docker_registry_v1
from docker_registry_v1.v1.services import call

MODULES = ("docker_registry_v1", "docker_registry_v1.transfer", "docker_registry_v1.emulator")


def _methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    seen: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("docker_registry_v1"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_"):
                continue
            value = member.__func__ if isinstance(member, staticmethod | classmethod) else member
            if isinstance(value, call):  # a service operation: the method it describes
                value = value.describe
            if isinstance(value, property) and value.fget is not None:
                value = value.fget
            if inspect.isfunction(value):
                seen[name] = value
    yield from seen.items()


def _surface() -> Iterator[tuple[str, Any]]:
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            yield f"{module_name}.{name}", getattr(module, name)
    for client_class in (docker_registry_v1.Client, docker_registry_v1.AsyncClient):
        client = client_class("http://127.0.0.1:1/v1/")
        for name, value in vars(client).items():
            if not name.startswith("_"):
                yield f"{client_class.__name__}.{name}", type(value)


def surface_names() -> set[str]:
    return {qualname for qualname, _ in _surface()}


def missing_docstrings(defined_in: Callable[[str], bool]) -> list[str]:
    """Public classes, functions and methods without a docstring, by where they are defined.

    ``defined_in`` picks the defining modules to check, so that areas can be checked apart.
    """
    missing: set[str] = set()
    for qualname, obj in _surface():
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants such as DEFAULT_BASE_URL and __version__
        if not defined_in(obj.__module__):
            continue
        if not obj.__doc__:
            missing.add(f"{qualname} ({obj.__module__})")
        if inspect.isclass(obj):
            for name, method in _methods(obj):
                if defined_in(method.__module__) and not inspect.getdoc(method):
                    missing.add(f"{qualname}.{name} ({method.__module__})")
    return sorted(missing)


#: Modules other work is changing now; test_docstrings_pending.py checks them.
PENDING_PREFIXES = ("docker_registry_v1.emulator",)


def is_pending(module: str) -> bool:
    return module.startswith(PENDING_PREFIXES)
