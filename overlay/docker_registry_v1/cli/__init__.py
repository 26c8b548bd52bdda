"""The ``regv1`` command line."""

import click

from docker_registry_v1 import __version__

from .changes import delete, login, logout, tag, untag
from .copy import copy
from .inventory import inventory_command
from .migrate import migrate
from .options import GROUP_EPILOG, RegistryGroup, verbose_option
from .provenance import provenance
from .queries import ancestry, image_id, metadata, ping, search, tags
from .serve import serve
from .transfers import mirror, pull, push


@click.group(cls=RegistryGroup, epilog=GROUP_EPILOG)
@click.version_option(__version__, prog_name="regv1")
@verbose_option
def main() -> None:
    """Docker Registry v1 client tools and local emulator."""


for _command in (
    ping,
    tags,
    image_id,
    ancestry,
    metadata,
    search,
    tag,
    untag,
    delete,
    login,
    logout,
    pull,
    push,
    mirror,
    copy,
    inventory_command,
    migrate,
):
    main.add_command(_command)
main.add_command(serve)
main.add_command(provenance)

__all__ = ["main"]
