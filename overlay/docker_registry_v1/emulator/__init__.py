"""A local Docker Registry v1 + Index v1 emulator on loopback, for tests and migration rehearsals.

``run_standalone`` starts one address that plays registry and index (as the
reference registry 0.9.1 in standalone mode, optionally behind Basic auth);
``run_hub`` starts an index and a registry on two addresses that share one
store and enforce tokens as Docker's hosted index did. Both return a running
:class:`Emulator` to use as a context manager. :func:`seed_messy` fills a store with
every broken state a decade-old reference registry holds (:class:`Breakage`), and
describes them (:class:`MessyRegistry`); :func:`seed_scale` fills one with thousands of
healthy repositories in about a second (:class:`ScaleRegistry`).
"""

from .bomb import BombFormat, bomb_image, bomb_layer
from .compat import Compat
from .faults import FaultKind, FaultRule, Faults
from .messy import Fault, HealthyTag, MessyRegistry, PlantedFault, Probe, seed_messy
from .requestlog import LogEntry, RequestLog, fingerprint
from .scale import ScaleRegistry, add_scale_tag, count_source_requests, seed_scale
from .server import Emulator, Hub, Standalone, run_hub, run_standalone
from .storage import StorageError, V1Storage
from .store import Breakage, Store

__all__ = [
    "BombFormat",
    "Breakage",
    "Compat",
    "Emulator",
    "Fault",
    "FaultKind",
    "FaultRule",
    "Faults",
    "HealthyTag",
    "Hub",
    "LogEntry",
    "MessyRegistry",
    "PlantedFault",
    "Probe",
    "RequestLog",
    "ScaleRegistry",
    "Standalone",
    "StorageError",
    "Store",
    "V1Storage",
    "add_scale_tag",
    "bomb_image",
    "bomb_layer",
    "count_source_requests",
    "fingerprint",
    "run_hub",
    "run_standalone",
    "seed_messy",
    "seed_scale",
]
