"""v1 identities for an image that never had any: docker's v1-compatibility id scheme.

An image pushed straight to a v2 registry (after the cut-over, say) has a config and
layers but no v1 ids and no v1 JSON. A v1 client still needs both: ``/v1/images/ID/json``,
``ancestry``, a ``parent`` chain with one layer per image. docker itself faced this when
``docker save`` (and the old v1 push) had to describe a v2 image in the legacy format;
its answer (moby ``image/v1`` ``CreateID`` and ``image/tarexport`` ``save``) is the
reference here, because a team may already hold ids that docker derived this way (in
legacy ``docker save`` archives), and because using docker's scheme rather than an
invented one means no one has to trust a second convention.

The scheme, base first, for layer ``i`` of the config's ``rootfs.diff_ids``:

1. the chain id of ``diff_ids[:i+1]`` (OCI: ``chain(0) = diff_id(0)``, ``chain(i) =
   sha256(chain(i-1) + " " + diff_id(i))``);
2. the v1 image: for the top layer, the config's v1 fields (comment, created, container,
   container_config, docker_version, author, config, architecture, variant, os, Size);
   for every layer below it, nothing but ``created`` = the Unix epoch (docker keeps no
   per-layer config, and its history entries carry no config either);
3. ``id`` = hex sha256 of that v1 image serialized the way docker's Go code does it
   (see below) with ``layer_id`` = the chain id and, except for the base, ``parent`` =
   ``sha256:`` + the parent's id added; the keys of that outer object sorted;
4. the served JSON (``<id>/json``) = the v1 image with ``id``, ``parent`` (bare hex) and
   ``os`` set, in docker's field order.

Serialized "the way docker's Go code does it" means the v1 fields go through the Go
structs (``image.V1Image``, ``container.Config``): their field order, ``omitempty``
rules, zero values for absent fields (a missing ``container_config`` is the all-zero
``Config``), unknown keys dropped, keys matched case-insensitively, RFC 3339 times with
trailing zero fractions trimmed, maps sorted, ``<``, ``>``, ``&``, U+2028 and U+2029
escaped, other text as UTF-8. So a config docker built gives the ids docker's own legacy
export gives for it. Only fields docker marks ``omitempty`` were ever added to
``container.Config`` (moby keeps it so, for exactly these hashes), so the result does not
depend on which docker release one compares against.

**``empty_layer`` history steps are folded, as docker folds them**: one v1 image per
layer, not per history step. A v1 image is a layer plus its JSON, and docker's ids are
defined per layer; emitting extra images for ``ENV``/``CMD`` steps would need ids docker
never defined (and give v1 clients empty layers to fetch for nothing). What those steps
did is in the top image's ``config``, which is what a container runs with; only their
``docker history`` lines are lost, as they are in docker's own legacy export.

An image with no layer at all (``FROM scratch`` plus metadata) becomes one v1 image
without a layer (`SynthImage.layer_digest` is ``None``), its ``layer_id`` the empty
string: docker refuses to export it, but a v1 registry served such images (an empty
layer), so a v1 client can still pull it.

Everything here is pure: bytes in, tuples out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

CONFIG_LIMIT = 8 << 20
"""The largest config taken. docker's configs are a few KiB, long histories a few
hundred KiB; anything bigger is not an image config, and parsing it would only cost
memory on the serving path."""

EPOCH = "1970-01-01T00:00:00Z"
"""``created`` of every image below the top one, as docker writes it."""

_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})")


class V1CompatError(ValueError):
    """A config (or layer list) that cannot be given v1 identities; says what is wrong."""


@attrs.frozen
class SynthImage:
    """One synthesized v1 image of a chain (base first)."""

    id: str
    """64 hex characters."""
    json: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    """What ``/v1/images/ID/json`` serves: includes ``id`` and, above the base, ``parent``."""
    parent: str | None
    layer_digest: str | None
    """The manifest's blob for this image's layer; ``None`` for an image without one."""
    layer_size: int
    """That blob's size (0 without a layer)."""
    diff_id: str | None
    """The config's ``rootfs.diff_ids`` entry for the layer (``None`` without one)."""


# --- Go's encoding/json, for the values these structs hold --------------------------

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE = re.compile("[<>&\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")
"""A lone surrogate (JSON allows ``\\ud800``) is invalid UTF-8; Go decodes it as U+FFFD."""


def _go_json(value: Any) -> str:
    """``value`` as Go's ``json.Marshal`` writes it: compact, map keys sorted by the
    caller (dicts keep their order here), HTML characters escaped, other text raw."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = _SURROGATE.sub("\ufffd", text)
    return _GO_ESCAPE.sub(lambda match: _GO_ESCAPES[match.group()], text)


def _lookup(mapping: Mapping[str, Any], key: str) -> Any:
    """Go's decoder: the exact key, else the first key equal to it ignoring case."""
    if key in mapping:
        return mapping[key]
    folded = key.casefold()
    for name, value in mapping.items():
        if name.casefold() == folded:
            return value
    return None


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise V1CompatError(f"{where} is not a string")
    return value


def _bool(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise V1CompatError(f"{where} is not a boolean")
    return value


def _int(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise V1CompatError(f"{where} is not an integer")
    return value


def _strings(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise V1CompatError(f"{where} is not a list of strings")
    return list(value)


def _strslice(value: Any, where: str) -> list[str] | None:
    """docker's ``StrSlice``: a string stands for a one-element list."""
    if isinstance(value, str):
        return [value]
    return _strings(value, where)


def _set(value: Any, where: str) -> dict[str, dict[str, Any]] | None:
    """``map[string]struct{}``: keys sorted, every value ``{}``."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        item is None or isinstance(item, dict) for item in value.values()
    ):
        raise V1CompatError(f"{where} is not an object of objects")
    return {key: {} for key in sorted(value)}


def _labels(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise V1CompatError(f"{where} is not an object")
    return {key: _string(value[key], f"{where}[{key!r}]") for key in sorted(value)}


def _optional_int(value: Any, where: str) -> int | None:
    return None if value is None else _int(value, where)


def _time(value: Any, where: str) -> str | None:
    """A Go ``time.Time`` round trip: RFC 3339, fraction without trailing zeros, ``Z``
    for a zero offset."""
    if value is None:
        return None
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise V1CompatError(f"{where} is not an RFC 3339 time: {value!r:.60}")
    date, clock, fraction, zone = match.groups()
    fraction = (fraction or "")[:9].rstrip("0")
    if zone in ("Z", "z", "+00:00", "-00:00"):
        zone = "Z"
    return f"{date}T{clock}{'.' + fraction if fraction else ''}{zone}"


_ALWAYS, _IF_EMPTY, _IF_NIL = "always", "if-empty", "if-nil"
_Field = tuple[str, Callable[[Any, str], Any], str]
"""(JSON name, decoder, when Go leaves it out): ``omitempty`` drops a zero value, but a
pointer field only when it is nil (a pointer to a zero struct or to 0 is written)."""


def _health(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise V1CompatError(f"{where} is not an object")
    return _struct(value, _HEALTH_FIELDS, where)


_HEALTH_FIELDS: tuple[_Field, ...] = (
    ("Test", _strings, _IF_EMPTY),
    ("Interval", _int, _IF_EMPTY),
    ("Timeout", _int, _IF_EMPTY),
    ("StartPeriod", _int, _IF_EMPTY),
    ("StartInterval", _int, _IF_EMPTY),
    ("Retries", _int, _IF_EMPTY),
)
_CONFIG_FIELDS: tuple[_Field, ...] = (
    ("Hostname", _string, _ALWAYS),
    ("Domainname", _string, _ALWAYS),
    ("User", _string, _ALWAYS),
    ("AttachStdin", _bool, _ALWAYS),
    ("AttachStdout", _bool, _ALWAYS),
    ("AttachStderr", _bool, _ALWAYS),
    ("ExposedPorts", _set, _IF_EMPTY),
    ("Tty", _bool, _ALWAYS),
    ("OpenStdin", _bool, _ALWAYS),
    ("StdinOnce", _bool, _ALWAYS),
    ("Env", _strings, _ALWAYS),
    ("Cmd", _strslice, _ALWAYS),
    ("Healthcheck", _health, _IF_NIL),
    ("ArgsEscaped", _bool, _IF_EMPTY),
    ("Image", _string, _ALWAYS),
    ("Volumes", _set, _ALWAYS),
    ("WorkingDir", _string, _ALWAYS),
    ("Entrypoint", _strslice, _ALWAYS),
    ("NetworkDisabled", _bool, _IF_EMPTY),
    ("MacAddress", _string, _IF_EMPTY),
    ("OnBuild", _strings, _ALWAYS),
    ("Labels", _labels, _ALWAYS),
    ("StopSignal", _string, _IF_EMPTY),
    ("StopTimeout", _optional_int, _IF_NIL),
    ("Shell", _strslice, _IF_EMPTY),
)


def _container_config(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise V1CompatError(f"{where} is not an object")
    return _struct(value, _CONFIG_FIELDS, where)


def _pointer_config(value: Any, where: str) -> dict[str, Any] | None:
    return None if value is None else _container_config(value, where)


# image.V1Image; "id" and "parent" are set by the scheme, never taken from the config
# (a config's "parent" is the builder's local image id, which docker decodes elsewhere).
_V1_FIELDS: tuple[_Field, ...] = (
    ("comment", _string, _IF_EMPTY),
    ("created", _time, _IF_EMPTY),
    ("container", _string, _IF_EMPTY),
    ("container_config", _container_config, _ALWAYS),
    ("docker_version", _string, _IF_EMPTY),
    ("author", _string, _IF_EMPTY),
    ("config", _pointer_config, _IF_NIL),
    ("architecture", _string, _IF_EMPTY),
    ("variant", _string, _IF_EMPTY),
    ("os", _string, _IF_EMPTY),
    ("Size", _int, _IF_EMPTY),
)


def _empty(value: Any) -> bool:
    """Go's ``omitempty``: false, 0, "", and empty lists and maps are left out."""
    if isinstance(value, (list, dict, str)):
        return len(value) == 0
    return value is None or value is False or value == 0


def _struct(source: Mapping[str, Any], fields: Sequence[_Field], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, decode, omit in fields:
        value = decode(_lookup(source, name), f"{where}.{name}")
        if (omit == _IF_EMPTY and _empty(value)) or (omit == _IF_NIL and value is None):
            continue
        out[name] = value
    return out


# --- the scheme ---------------------------------------------------------------------


def _chain_ids(diff_ids: Sequence[str]) -> list[str]:
    chain: list[str] = []
    for diff_id in diff_ids:
        link = f"{chain[-1]} {diff_id}" if chain else None
        chain.append("sha256:" + hashlib.sha256(link.encode()).hexdigest() if link else diff_id)
    return chain


def _create_id(v1_image: Mapping[str, Any], layer_id: str, parent: str | None) -> str:
    """docker's ``CreateID``: the v1 image (without ``id``) plus ``layer_id`` and the
    parent's digest, keys sorted, hashed."""
    fields = dict(v1_image)
    fields["layer_id"] = layer_id
    if parent is not None:
        fields["parent"] = "sha256:" + parent
    text = (
        "{" + ",".join(f"{_go_json(key)}:{_go_json(fields[key])}" for key in sorted(fields)) + "}"
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _served_json(v1_image: Mapping[str, Any], image_id: str, parent: str | None, os: str) -> bytes:
    """docker's legacy ``<id>/json``: ``id`` first, then ``parent``, then the v1 image
    in struct order with ``os`` in its place."""
    out: dict[str, Any] = {"id": image_id}
    if parent is not None:
        out["parent"] = parent
    for name, _decode, _omit in _V1_FIELDS:
        if name == "os":
            if os:
                out["os"] = os
        elif name in v1_image:
            out[name] = v1_image[name]
    return _go_json(out).encode("utf-8")


def _parse(config: bytes) -> dict[str, Any]:
    if len(config) > CONFIG_LIMIT:
        raise V1CompatError(f"the image config is over {CONFIG_LIMIT} bytes")
    try:
        parsed = json.loads(config)
    except (ValueError, RecursionError) as exc:
        raise V1CompatError(f"the image config is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise V1CompatError("the image config is not a JSON object")
    return parsed


def _diff_ids(parsed: Mapping[str, Any]) -> list[str]:
    rootfs = parsed.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise V1CompatError("the image config has no rootfs of type 'layers'")
    diff_ids = rootfs.get("diff_ids", [])
    if diff_ids is None:
        diff_ids = []
    if not isinstance(diff_ids, list) or not all(
        isinstance(item, str) and _DIGEST.fullmatch(item) for item in diff_ids
    ):
        raise V1CompatError("the image config's rootfs.diff_ids is not a list of digests")
    return diff_ids


def _check_layers(layers: Sequence[tuple[str, int]], count: int) -> None:
    if len(layers) != count:
        raise V1CompatError(
            f"the image config lists {count} diff_ids but the manifest {len(layers)} layers"
        )
    for index, (digest, size) in enumerate(layers):
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise V1CompatError(f"layer {index} (base first): not a digest: {digest!r:.80}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise V1CompatError(f"layer {index} (base first): not a size: {size!r:.40}")


def synthesize(config: bytes, layers: Sequence[tuple[str, int]]) -> tuple[SynthImage, ...]:
    """The v1 images docker's scheme gives an image: ``config`` is the config blob,
    ``layers`` the manifest's (blob digest, size) pairs, base first. Returns the chain
    base first, one image per layer (see the module docstring for empty_layer steps and
    layerless images). Same input, same output; `V1CompatError` when they do not fit."""
    parsed = _parse(config)
    diff_ids = _diff_ids(parsed)
    _check_layers(layers, len(diff_ids))
    top = _struct(parsed, _V1_FIELDS, "config")
    os = top.get("os", "")
    base = _struct({"created": EPOCH}, _V1_FIELDS, "config")
    if not diff_ids:
        image_id = _create_id(top, "", None)
        return (SynthImage(image_id, _served_json(top, image_id, None, os), None, None, 0, None),)
    images: list[SynthImage] = []
    parent: str | None = None
    chain = _chain_ids(diff_ids)
    for index, (diff_id, layer_id, (digest, size)) in enumerate(
        zip(diff_ids, chain, layers, strict=True)
    ):
        v1_image = top if index == len(diff_ids) - 1 else base
        image_id = _create_id(v1_image, layer_id, parent)
        served = _served_json(v1_image, image_id, parent, os)
        images.append(SynthImage(image_id, served, parent, digest, size, diff_id))
        parent = image_id
    return tuple(images)
