"""A local Docker Registry v1 + Index v1 emulator on loopback, for tests and migration rehearsals.

``run_standalone`` starts one address that plays registry and index (as the
reference registry 0.9.1 in standalone mode, optionally behind Basic auth);
``run_hub`` starts an index and a registry on two addresses that share one
store and enforce tokens as Docker's hosted index did. Both return a running
:class:`Emulator` to use as a context manager.
"""

from .compat import Compat
from .faults import FaultKind, FaultRule, Faults
from .requestlog import LogEntry, RequestLog, fingerprint
from .server import Emulator, Hub, Standalone, run_hub, run_standalone
from .store import Store

__all__ = [
    "Compat",
    "Emulator",
    "FaultKind",
    "FaultRule",
    "Faults",
    "Hub",
    "LogEntry",
    "RequestLog",
    "Standalone",
    "Store",
    "fingerprint",
    "run_hub",
    "run_standalone",
]
