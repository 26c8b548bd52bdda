"""Typed results and the image metadata model, with the v1 API's own JSON spelling.

Image JSON keeps docker's keys (``Size``, ``container_config``, PascalCase config
keys), accepts ``Comment``/``comment`` and ``Size``/``size`` on input, keeps unknown
keys and writes them back, and omits absent fields instead of sending zero values
(``"parent": ""`` or a year-1 date confuse registries). ``created`` stays the exact
text the producer wrote: a datetime would drop the nanoseconds and change the bytes
the payload checksum is computed over. For byte-exact round trips use the raw
metadata calls; this model is for reading and for building new images.
"""

# ruff: noqa: RUF009 - every mapped field is made by _key(), an attrs.field() with metadata
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Self

import attrs

_KINDS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "strlist": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "object": lambda v: isinstance(v, dict),
    "config": lambda v: isinstance(v, dict),
}


#: Kinds a value of one exact type always satisfies: checked without a call.
_EXACT: dict[str, type] = {"str": str, "int": int, "bool": bool, "object": dict}


def _key(json_key: str, kind: str, *aliases: str) -> Any:
    """An optional field stored under ``json_key`` (or an alias) holding a ``kind`` value."""
    return attrs.field(default=None, metadata={"json": json_key, "kind": kind, "aliases": aliases})


# JSON key -> (attribute, the type a value of the kind usually is exactly, the value kind,
# the spellings that win over this one when present)
_Table = dict[str, tuple[str, type | None, str, tuple[str, ...]]]
_TABLES: dict[type[Any], _Table] = {}


def _decoding_table(cls: type[Any]) -> _Table:
    """Per class, once: where every accepted JSON spelling goes (the first listed wins)."""
    table = _TABLES.get(cls)
    if table is None:
        table = _TABLES[cls] = {}
        for field in attrs.fields(cls):
            if key := field.metadata.get("json"):
                kind = field.metadata["kind"]
                spellings = (key, *field.metadata.get("aliases", ()))
                for rank, spelling in enumerate(spellings):
                    table[spelling] = (field.name, _EXACT.get(kind), kind, spellings[:rank])
    return table


def _decode(cls: type[Any], data: object) -> Any:
    """One pass over the object's keys: image JSON is parsed on every metadata call, so a
    value of its kind's usual exact type is taken without a further check."""
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    table = _TABLES.get(cls) or _decoding_table(cls)
    rest: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for key, value in data.items():
        entry = table.get(key)
        if entry is None:
            rest[key] = value
            continue
        name, exact, kind, preferred = entry
        if value is None or (preferred and any(spelling in data for spelling in preferred)):
            continue  # absent, or a preferred spelling of this field is there too
        if type(value) is exact:
            values[name] = value
        elif not _KINDS[kind](value):
            raise TypeError(f"{key}: expected {kind}, got {type(value).__name__}")
        else:
            values[name] = _decode(ContainerConfig, value) if kind == "config" else value
    return cls(**values, extra=rest)


def _encode(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in attrs.fields(type(obj)):
        key, value = field.metadata.get("json"), getattr(obj, field.name)
        if key is not None and value is not None:
            out[key] = value.to_dict() if isinstance(value, ContainerConfig) else value
    for key, value in obj.extra.items():
        out.setdefault(key, value)
    return out


class _DockerJSON:
    """Docker's own JSON spelling, with every field a :func:`_key` and an ``extra``."""

    extra: dict[str, Any]

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """Decode an object as docker wrote it; unknown keys are kept in ``extra``.

        Raises ``TypeError`` when ``data`` is not an object or a known key has the wrong type.
        """
        result: Self = _decode(cls, data)
        return result

    def to_dict(self) -> dict[str, Any]:
        """The object with docker's keys, absent fields left out and ``extra`` written back."""
        return _encode(self)


@attrs.define(kw_only=True)
class ContainerConfig(_DockerJSON):
    """Docker's container configuration as stored in image JSON (``Hostname``, ``Cmd``, …)."""

    hostname: str | None = _key("Hostname", "str")
    domainname: str | None = _key("Domainname", "str")
    user: str | None = _key("User", "str")
    memory: int | None = _key("Memory", "int")
    memory_swap: int | None = _key("MemorySwap", "int")
    cpu_shares: int | None = _key("CpuShares", "int")
    cpuset: str | None = _key("Cpuset", "str")
    attach_stdin: bool | None = _key("AttachStdin", "bool")
    attach_stdout: bool | None = _key("AttachStdout", "bool")
    attach_stderr: bool | None = _key("AttachStderr", "bool")
    port_specs: list[str] | None = _key("PortSpecs", "strlist")
    exposed_ports: dict[str, Any] | None = _key("ExposedPorts", "object")
    tty: bool | None = _key("Tty", "bool")
    open_stdin: bool | None = _key("OpenStdin", "bool")
    stdin_once: bool | None = _key("StdinOnce", "bool")
    env: list[str] | None = _key("Env", "strlist")
    cmd: list[str] | None = _key("Cmd", "strlist")
    dns: list[str] | None = _key("Dns", "strlist")
    image: str | None = _key("Image", "str")
    volumes: dict[str, Any] | None = _key("Volumes", "object")
    volumes_from: str | None = _key("VolumesFrom", "str")
    working_dir: str | None = _key("WorkingDir", "str")
    entrypoint: list[str] | None = _key("Entrypoint", "strlist")
    network_disabled: bool | None = _key("NetworkDisabled", "bool")
    mac_address: str | None = _key("MacAddress", "str")
    security_opts: list[str] | None = _key("SecurityOpts", "strlist")
    on_build: list[str] | None = _key("OnBuild", "strlist")
    labels: dict[str, Any] | None = _key("Labels", "object")
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class ImageMetadata(_DockerJSON):
    """One image's JSON (``GET``/``PUT /v1/images/{id}/json``)."""

    id: str = attrs.field(metadata={"json": "id", "kind": "str", "aliases": ()})
    parent: str | None = _key("parent", "str")
    comment: str | None = _key("comment", "str", "Comment")
    created: str | None = _key("created", "str")
    container: str | None = _key("container", "str")
    container_config: ContainerConfig | None = _key("container_config", "config")
    docker_version: str | None = _key("docker_version", "str")
    author: str | None = _key("author", "str")
    config: ContainerConfig | None = _key("config", "config")
    architecture: str | None = _key("architecture", "str")
    os: str | None = _key("os", "str")
    size: int | None = _key("Size", "int", "size")
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def created_at(self) -> datetime | None:
        """``created`` as a datetime (fractions beyond microseconds are dropped)."""
        return datetime.fromisoformat(self.created) if self.created else None

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """Decode parsed image JSON; unknown keys are kept in ``extra``, ``"parent": ""`` is none.

        Raises ``TypeError`` when ``data`` is not an object with a string ``id`` or a known
        key has the wrong type.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise TypeError("image JSON must be an object with a string 'id'")
        result = super().from_dict(data)
        if result.parent == "":
            result.parent = None
        return result

    @classmethod
    def from_json(cls, raw: bytes | str) -> Self:
        """Decode image JSON text; raises ``ValueError`` on bad JSON, else as ``from_dict``."""
        return cls.from_dict(json.loads(raw))

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON: the exact bytes ``add_metadata`` sends."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()


@attrs.frozen
class TagMap(Mapping[str, str]):
    """Tag name to image id, read-only like a dict.

    ``short_ids`` is true when the server sent the Hub's list form
    (``[{"layer": "<8 hex>", "name": …}]``), whose ids are abbreviated.
    """

    tags: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    short_ids: bool = False

    def __getitem__(self, tag: str) -> str:
        return self.tags[tag]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tags)

    def __len__(self) -> int:
        return len(self.tags)


@attrs.frozen
class SearchResult:
    """One repository found by a search; keys the server added are kept in ``extra``."""

    name: str
    description: str = ""
    star_count: int = 0
    is_official: bool = False
    is_trusted: bool = False
    is_automated: bool = False
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class SearchResults:
    """One page of search results; paging fields are ``None`` when the server sent none."""

    query: str
    num_results: int
    results: tuple[SearchResult, ...]
    num_pages: int | None = None
    page_size: int | None = None
    page: int | None = None


@attrs.frozen
class Ping:
    """What ``/v1/_ping`` said. ``standalone`` is only a hint (servers lie, see docs)."""

    version: str | None
    standalone: bool | None
    body: Any


@attrs.frozen
class IndexImage:
    """One entry of an index image list (``GET``/``PUT …/images``)."""

    id: str
    checksum: str | None = None
    tag: str | None = None


@attrs.frozen
class RawMetadata:
    """Image JSON exactly as received, with the size and checksum headers that came with it."""

    json_bytes: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    size: int | None = None
    checksum: str | None = None

    def parse(self) -> ImageMetadata:
        """The decoded model; raises as ``ImageMetadata.from_json`` does."""
        return ImageMetadata.from_json(self.json_bytes)


@attrs.frozen
class LayerUpload:
    """What ``add_layer`` sent: its size and, given the image JSON, the payload checksum."""

    size: int
    checksum: str | None = None
