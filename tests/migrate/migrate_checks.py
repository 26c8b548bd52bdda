"""What the migrate tests check with: the seeded source and distribution's request log."""

from __future__ import annotations

import re
from urllib.parse import unquote

import attrs
from docker_registry_v1.emulator import Standalone
from migrate_support import SeededRegistry
from v2.v2registry import V2Registry

_UPLOADED = re.compile(
    r'http\.request\.method=PUT .*http\.request\.uri="/v2/(?P<name>[^"]+?)/blobs/uploads/'
    r'[^"]*[?&]digest=sha256%3A(?P<hex>[0-9a-f]{64})[^"]*".*http\.response\.status=201'
)
_MOUNTED = re.compile(
    r'http\.request\.method=POST .*http\.request\.uri="/v2/[^"]+?/blobs/uploads/\?mount='
    r'sha256%3A(?P<hex>[0-9a-f]{64})[^"]*".*http\.response\.status=201'
)

SOME = "app[01]"
"""About half the seeded repositories, for the tests that run a migration several times."""


@attrs.frozen
class Seeded:
    """The running source emulator and what was seeded into it."""

    emulator: Standalone
    seed: SeededRegistry

    @property
    def host(self) -> str:
        return self.emulator.url.removeprefix("http://")

    def tips(self, pattern: str = "") -> set[str]:
        """The tagged images of the repositories ``pattern`` finds (``re.search``)."""
        return {tip for repo, _, tip in self.seed.tag_pairs() if re.search(pattern, repo)}

    def unique_images(self, pattern: str = "") -> set[str]:
        return {image for tip in self.tips(pattern) for image in self.seed.chains[tip]}

    def unique_blobs(self, pattern: str = "") -> int:
        """Layer blobs (one per unique image) plus one config per distinct tagged image."""
        return len(self.unique_images(pattern)) + len(self.tips(pattern))

    def layer_gets(self) -> list[str]:
        """Image ids of the layer GETs the source answered."""
        return [
            entry.path.split("/")[3]
            for entry in self.emulator.log.entries
            if entry.method == "GET"
            and entry.path.endswith("/layer")
            and entry.status in {200, 206}
        ]


def uploaded_blobs(registry: V2Registry) -> list[str]:
    """Digests of every blob upload distribution completed (201 to the final PUT)."""
    found = (_UPLOADED.search(line) for line in registry.log_lines())
    return [f"sha256:{match['hex']}" for match in found if match]


def mounted_blobs(registry: V2Registry) -> list[str]:
    found = (_MOUNTED.search(line) for line in registry.log_lines())
    return [f"sha256:{match['hex']}" for match in found if match]


_MOUNT_REQUEST = re.compile(
    r'http\.request\.uri="/v2/(?P<name>[^"?]+)/blobs/uploads/\?mount=sha256%3A(?P<hex>[0-9a-f]{64})'
    r'&from=(?P<source>[^"&]+)"'
)
_REQUEST_ID = re.compile(r"http\.request\.id=(\S+)")
_STATUS = re.compile(r"http\.response\.status=(\d+)")


def log_size(registry: V2Registry) -> int:
    """Lines in distribution's log so far: a mark for `mount_requests`."""
    return len(registry.log_path.read_text(errors="replace").splitlines())


def mount_requests(
    registry: V2Registry, since: int = 0, until: int | None = None
) -> list[tuple[str, str, str, int]]:
    """(target, source, digest, answer) of each mount request in log lines
    ``since:until``. One a token does not cover is logged only as the warning
    ``error authorizing context: insufficient scope``: it was answered 401."""
    lines = registry.log_path.read_text(errors="replace").splitlines()[since:until]
    found: dict[str, tuple[str, str, str, int]] = {}
    for line in lines:
        uri, request = _MOUNT_REQUEST.search(line), _REQUEST_ID.search(line)
        if uri is None or request is None:
            continue
        key = (uri["name"], unquote(uri["source"]), f"sha256:{uri['hex']}")
        if "insufficient scope" in line:
            found[request.group(1)] = (*key, 401)
        elif "response completed" in line and (status := _STATUS.search(line)):
            found[request.group(1)] = (*key, int(status.group(1)))
    return list(found.values())
