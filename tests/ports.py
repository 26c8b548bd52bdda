"""Loopback ports for servers that must be told theirs (distribution, nginx), and ports
that must stay closed, safe with several test processes running at once.

The usual trick, bind port 0 and close, hands out a port from the kernel's ephemeral
range, the range every other port-0 bind (each emulator, another pytest-xdist worker's
servers) and every outgoing connection also draws from: between the probe and the
server's own bind, someone else may take it, and the test then talks to a stranger or
its "closed" port answers. These ports come from below the ephemeral range, where only
an explicit choice lands, picked at random among thousands and checked free; a server
that still finds its port taken is started again on another (``ATTEMPTS``).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

ATTEMPTS = 5
"""How many ports a server start tries before giving up."""

_LOWEST = 20000
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_random = random.SystemRandom()


def _ephemeral_low() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def unused_port() -> int:
    """A loopback TCP port nobody listens on and no port-0 bind can be given."""
    high = _ephemeral_low() - 1
    if high - _LOWEST < 1000:  # an unusual ephemeral range: fall back to the kernel's pick
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    for _ in range(100):
        port = _random.randint(_LOWEST, high)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port between {_LOWEST} and {high}")
