"""The ``regv1`` command line."""

import click

from docker_registry_v1 import __version__

from .serve import serve


@click.group()
@click.version_option(__version__, prog_name="regv1")
def main() -> None:
    """Docker Registry v1 client tools and local emulator."""


main.add_command(serve)

__all__ = ["main"]
