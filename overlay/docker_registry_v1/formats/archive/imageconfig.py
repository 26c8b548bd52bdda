"""Conversions between v1 image JSON and the image config of `manifest.json` archives.

Both directions follow what docker itself did, so that archives and pushes made
here line up with docker's: v1 → config as `docker load` of a legacy archive did
(`MakeConfigFromV1Config`, `HistoryFromConfig`), config → v1 as docker's own v1
push did (`newV1DependencyImage`, `newV1TopImage`: a layer's v1 id is its chain
id, the top image's v1 id is the config digest).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Container, Mapping, Sequence
from typing import Any

from .errors import MalformedArchiveError

EMPTY_TAR = bytes(1024)
"""What docker stores for a layer without content: two zero blocks, an empty tar."""

_V1_ONLY_KEYS = ("id", "parent", "Size", "parent_id", "layer_id", "throwaway")
_CONFIG_ONLY_KEYS = ("history", "rootfs", "os.version", "os.features")
_DEFAULT_PLATFORM = {"os": "linux", "architecture": "amd64"}
_SHELL_PREFIX = "/bin/sh -c "


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON number {name}")


def load_json(data: bytes, where: str) -> Any:
    """Parse JSON, raising `MalformedArchiveError` naming `where`.

    Nesting is bounded by the decoder's recursion limit: a document nested deeper (a
    few bytes of ``[`` suffice) is refused like any other bad JSON, not a RecursionError."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except ValueError as exc:
        raise MalformedArchiveError(f"{where} is not valid JSON ({exc})") from exc
    except RecursionError:
        raise MalformedArchiveError(f"{where} is not valid JSON (nested too deeply)") from None


def load_object(data: bytes, where: str) -> dict[str, Any]:
    """Parse JSON that must be an object, raising `MalformedArchiveError` naming `where`."""
    value = load_json(data, where)
    if not isinstance(value, dict):
        raise MalformedArchiveError(f"{where} must be a JSON object")
    return value


def dump_json(value: object) -> bytes:
    """Serialise deterministically: sorted keys, no spaces, as Go's encoder orders maps."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def byte_count(data: bytes) -> str:
    """Stand-in for JSON bytes in reprs: their size tells more than a wall of text."""
    return f"<{len(data)} bytes>"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """Docker's layer chain ids: the first diff_id, then sha256("<parent chain> <diff_id>")."""
    chains: list[str] = []
    for diff_id in diff_ids:
        chains.append(diff_id if not chains else sha256_digest(f"{chains[-1]} {diff_id}".encode()))
    return chains


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _history_entry(v1: Mapping[str, Any], empty_layer: bool) -> dict[str, Any]:
    container_config = v1.get("container_config")
    cmd = container_config.get("Cmd") if isinstance(container_config, dict) else None
    entry = {
        "created": _text(v1.get("created")),
        "author": _text(v1.get("author")),
        "created_by": " ".join(part for part in cmd if isinstance(part, str))
        if isinstance(cmd, list)
        else "",
        "comment": _text(v1.get("comment")) or _text(v1.get("Comment")),
        "empty_layer": empty_layer,
    }
    return {key: value for key, value in entry.items() if value}


def config_from_v1(
    chain: Sequence[Mapping[str, Any]],
    diff_ids: Sequence[str],
    *,
    empty_layers: Container[int] = frozenset(),
) -> bytes:
    """Build the image config for a base-first chain of parsed v1 JSON documents.

    v1 images predate multi-platform images; a missing os/architecture is filled
    with linux/amd64, the only platform v1 registries served. `empty_layers`
    holds the chain indices of images that add no layer: a v2 image marks their
    history ``empty_layer`` and has no diff_id for them, where `docker load`
    (which passes none) keeps a layer for every image.
    """
    config = {key: value for key, value in chain[-1].items() if key not in _V1_ONLY_KEYS}
    for key, default in _DEFAULT_PLATFORM.items():
        if not isinstance(config.get(key), str) or not config[key]:
            config[key] = default
    config["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    config["history"] = [
        _history_entry(v1, index in empty_layers) for index, v1 in enumerate(chain)
    ]
    return dump_json(config)


def _layer_history(config: Mapping[str, Any], layer_count: int) -> list[Mapping[str, Any]]:
    """History entries that own a layer, or nothing when they do not line up with the layers."""
    history = config.get("history")
    if not isinstance(history, list):
        return []
    owning: list[Mapping[str, Any]] = [
        h for h in history if isinstance(h, dict) and not h.get("empty_layer")
    ]
    return owning if len(owning) == layer_count else []


def _container_config(created_by: str) -> dict[str, Any]:
    if created_by.startswith(_SHELL_PREFIX):
        return {"Cmd": ["/bin/sh", "-c", created_by[len(_SHELL_PREFIX) :]]}
    return {"Cmd": [created_by]}


def v1_chain_from_config(
    config_bytes: bytes, layer_sizes: Sequence[int], where: str
) -> list[tuple[str, bytes]]:
    """Derive `(v1 id, v1 JSON bytes)` per layer, base first, for an archive without v1 ids.

    Ids follow docker's v1 push, so the same image always gets the same ids.
    The top image's JSON is the config without config-only keys; the others
    carry what the history and config say about them. A config without layers
    still yields one v1 image (its layer empty), as docker's push did.
    """
    config = load_object(config_bytes, where)
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(
        isinstance(d, str) and d.startswith("sha256:") and len(d) == 71 for d in diff_ids
    ):
        raise MalformedArchiveError(f"{where}: rootfs.diff_ids is missing or not sha256 digests")
    if len(diff_ids) != len(layer_sizes):
        raise MalformedArchiveError(
            f"{where}: {len(diff_ids)} diff_ids for {len(layer_sizes)} layers"
        )
    chains = chain_ids(diff_ids)
    history = _layer_history(config, len(diff_ids))
    ids = [chain.removeprefix("sha256:") for chain in chains[:-1]]
    ids.append(hashlib.sha256(config_bytes).hexdigest())
    result: list[tuple[str, bytes]] = []
    for index, v1_id in enumerate(ids):
        parent = ids[index - 1] if index else None
        if index == len(ids) - 1:
            top = {key: value for key, value in config.items() if key not in _CONFIG_ONLY_KEYS}
            top["id"] = v1_id
            if layer_sizes:
                top["Size"] = layer_sizes[index]
            if parent:
                top["parent"] = parent
            result.append((v1_id, dump_json(top)))
            continue
        v1: dict[str, Any] = {"id": v1_id, "Size": layer_sizes[index]}
        if parent:
            v1["parent"] = parent
        for key in ("architecture", "os"):
            if isinstance(config.get(key), str):
                v1[key] = config[key]
        if history:
            entry = history[index]
            for key in ("created", "author", "comment"):
                if isinstance(entry.get(key), str) and entry[key]:
                    v1[key] = entry[key]
            if isinstance(entry.get("created_by"), str):
                v1["container_config"] = _container_config(entry["created_by"])
        result.append((v1_id, dump_json(v1)))
    return result
