"""Client, CLI and local emulator for the Docker Registry v1 and Index v1 APIs."""

from importlib.metadata import version as _version

__version__ = _version("docker-registry-v1")

__all__ = ["__version__"]
