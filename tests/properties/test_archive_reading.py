"""Reading `docker save` archives: random, damaged and hostile input.

Whatever the archive holds, the reader either returns chains that satisfy what push
relies on (see `archive_support.read_all`) or raises the archive package's typed
error (`ArchiveError`): never IndexError, KeyError, TypeError, RecursionError,
UnicodeError. A hostile member (absolute or ``..`` path, a link leaving the archive,
a device or FIFO, a duplicate name) is always refused as unsafe, and reading never
writes anywhere but its own spool directory, which it empties. What the writer
writes, the reader reads back: the same ids, JSON bytes, tags and layers.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from archive_support import (
    Read,
    compressed,
    json_of,
    layer_tar,
    members,
    oci_archive,
    read_all,
    rebuild,
    saved_archive,
    sha256,
    v1_chain,
)
from docker_registry_v1.formats.archive import (
    ArchiveError,
    Layout,
    MalformedArchiveError,
    RepoTag,
    UnsafeArchiveError,
)
from hypothesis import example, given
from hypothesis import strategies as st
from property_support import budget, hostile_json_text, json_values, tricky_text

_SPOOL = Path(tempfile.gettempdir())


@pytest.fixture(scope="module")
def base() -> bytes:
    """One valid archive (manifest.json and legacy layout) of a three-image chain."""
    layers = [layer_tar({"etc/a": b"a\n"}), layer_tar({"usr/b": b"b" * 700}), b""]
    with tempfile.TemporaryDirectory() as spool:
        return saved_archive("team/app", "1.0", v1_chain(layers, "base"), Path(spool))


class Sandbox:
    """A folder holding the archive, the reader's spool folder and a canary beside them,
    to prove the reader wrote nowhere else and left its spool empty."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.archive = root / "in" / "archive.tar"
        self.spool = root / "spool"
        self.outside = root / "outside"
        for folder in (self.archive.parent, self.spool, self.outside):
            folder.mkdir()
        (self.outside / "canary").write_bytes(b"keep")

    def snapshot(self) -> dict[str, bytes | None]:
        return {
            str(path.relative_to(self.root)): path.read_bytes() if path.is_file() else None
            for path in sorted(self.root.rglob("*"))
        }

    def read(self, data: bytes, *, as_stream: bool = False) -> Read | ArchiveError:
        self.archive.write_bytes(data)
        before = self.snapshot()
        if as_stream:
            result = read_all(io.BytesIO(data), self.spool)
        else:
            result = read_all(self.archive, self.spool)
        assert self.snapshot() == before, "the reader changed files outside its spool"
        assert not any(self.spool.iterdir()), "the reader left files in its spool"
        return result


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with tempfile.TemporaryDirectory(prefix="regv1-props-") as root:
        yield Sandbox(Path(root))


def fresh_sandbox() -> Any:
    """A sandbox per example (hypothesis reruns the body; a fixture would be shared)."""
    return tempfile.TemporaryDirectory(prefix="regv1-props-")


# ---------------------------------------------------------------- random and damaged bytes

_MAGIC = st.sampled_from([b"", b"\x1f\x8b\x08\x00", b"BZh9", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd"])


@budget(60)
@given(head=_MAGIC, body=st.binary(max_size=3000), as_stream=st.booleans())
@example(head=b"", body=b"\x00" * 1024, as_stream=False)  # an empty tar: no layout
def test_random_bytes_are_read_or_refused(head: bytes, body: bytes, as_stream: bool) -> None:
    with fresh_sandbox() as root:
        result = Sandbox(Path(root)).read(head + body, as_stream=as_stream)
    assert isinstance(result, ArchiveError) or result.chains is not None


@budget(60)
@given(
    cut=st.integers(0, 20_000),
    flips=st.lists(st.tuples(st.integers(0, 20_000), st.integers(1, 255)), max_size=4),
    how=st.sampled_from(["plain", "gzip"]),
    as_stream=st.booleans(),
)
def test_a_truncated_or_damaged_archive_is_read_or_refused(
    base: bytes, cut: int, flips: list[tuple[int, int]], how: str, as_stream: bool
) -> None:
    damaged = bytearray(base[: len(base) - cut])
    for offset, mask in flips:
        if offset < len(damaged):
            damaged[offset] ^= mask
    with fresh_sandbox() as root:
        result = Sandbox(Path(root)).read(compressed(bytes(damaged), how), as_stream=as_stream)
    if cut == 0 and not flips:
        assert isinstance(result, Read), result  # the undamaged archive must be read
        assert [str(t) for c in result.chains for t in c.repo_tags] == ["team/app:1.0"]
    else:
        assert isinstance(result, ArchiveError | Read)


# ---------------------------------------------------------------- hostile members

_PIECES = ["a", "b", "..", ".", "", "json", "layer.tar", "manifest.json", "repositories"]
_member_names = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "", "/", "./", "//"]),
    st.lists(st.sampled_from(_PIECES) | tricky_text.filter(lambda t: "\x00" not in t), max_size=4),
)
_KINDS = [
    tarfile.REGTYPE,
    tarfile.AREGTYPE,
    tarfile.DIRTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.CHRTYPE,
    tarfile.BLKTYPE,
    tarfile.FIFOTYPE,
    tarfile.CONTTYPE,
    b"Z",  # no type tar knows
]
_hostile_member = st.tuples(
    _member_names, st.sampled_from(_KINDS), _member_names, st.binary(max_size=40)
)


def _unsafe(infos: list[tarfile.TarInfo]) -> bool:
    """The rules for members, stated apart from the reader (on the names as tar reads them)."""
    seen: set[str] = set()
    for info in infos:
        parts = [p for p in info.name.split("/") if p not in ("", ".")]
        if info.name.startswith("/") or ".." in parts:
            return True
        if not (info.isreg() or info.isdir() or info.issym() or info.islnk()) or info.issparse():
            return True
        if info.issym():
            target = posixpath.normpath(
                posixpath.join(posixpath.dirname("/".join(parts)), info.linkname)
            )
            if info.linkname.startswith("/") or target == ".." or target.startswith("../"):
                return True
        if info.islnk():
            link_parts = [p for p in info.linkname.split("/") if p not in ("", ".")]
            if info.linkname.startswith("/") or ".." in link_parts:
                return True
        name = "/".join(parts)
        if not name:
            if info.isdir():
                continue
            return True
        if name in seen:
            return True
        seen.add(name)
    return False


@budget(120)
@given(extra=st.lists(_hostile_member, min_size=1, max_size=5), with_image=st.booleans())
@example(extra=[("../../evil", tarfile.REGTYPE, "", b"x")], with_image=True)
@example(extra=[("esc", tarfile.SYMTYPE, "../../etc/passwd", b"")], with_image=True)
@example(extra=[("manifest.json", tarfile.SYMTYPE, "repositories", b"")], with_image=True)
@example(extra=[("a", tarfile.LNKTYPE, "/etc/shadow", b"")], with_image=False)
@example(extra=[("dev/null", tarfile.CHRTYPE, "", b"")], with_image=False)
def test_hostile_members_are_refused_and_nothing_is_written(
    base: bytes, extra: list[tuple[str, bytes, str, bytes]], with_image: bool
) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if with_image:
            for info, data in members(base):
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        for name, kind, link, data in extra:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
            tar.addfile(info, io.BytesIO(data[: info.size]))
    archive = out.getvalue()
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            unsafe = _unsafe(tar.getmembers())
    except tarfile.TarError:
        unsafe = None  # tar cannot read its own output back (a header it writes but refuses)
    with fresh_sandbox() as root:
        result = Sandbox(Path(root)).read(archive)
    if unsafe is None:
        assert isinstance(result, ArchiveError), result
    elif unsafe:
        assert isinstance(result, UnsafeArchiveError), result
    else:
        assert not isinstance(result, UnsafeArchiveError), result


# ---------------------------------------------------------------- metadata files


def _mutated(document: Any, path: list[int], value: Any) -> Any:
    """``document`` with the value reached by following ``path`` (indexes into the keys or
    items met on the way, modulo their count) replaced by ``value``."""
    if not path or not isinstance(document, dict | list) or not document:
        return value
    if isinstance(document, dict):
        key = sorted(document)[path[0] % len(document)]
        return {**document, key: _mutated(document[key], path[1:], value)}
    position = path[0] % len(document)
    copy = list(document)
    copy[position] = _mutated(copy[position], path[1:], value)
    return copy


_replacement = st.one_of(
    json_values.map(json_of), hostile_json_text, st.binary(max_size=32)
) | st.builds(
    lambda path, value: (path, value), st.lists(st.integers(0, 50), max_size=4), json_values
)


@budget(150)
@given(
    target=st.sampled_from(["manifest.json", "repositories", "json", "config"]),
    new=_replacement,
    legacy_only=st.booleans(),
)
@example(target="manifest.json", new=b"[" * 100_000, legacy_only=False)
@example(target="repositories", new=b'{"a":' * 5_000 + b"1" + b"}" * 5_000, legacy_only=True)
def test_random_metadata_files_are_read_or_refused(
    base: bytes, target: str, new: Any, legacy_only: bool
) -> None:
    parts = members(base)
    by_name = {info.name: data for info, data in parts}
    if target == "json":
        name = next(n for n in sorted(by_name) if n.endswith("/json"))
    elif target == "config":
        name = next(n for n in by_name if n.endswith(".json") and n != "manifest.json")
    else:
        name = target
    if isinstance(new, tuple):  # a change deep inside the real document
        original = by_name[name]
        assert original is not None
        new = json_of(_mutated(json.loads(original), *new))
    archive = rebuild(
        parts,
        replace={name: new},
        drop=(lambda n: n == "manifest.json")
        if legacy_only and name != "manifest.json"
        else lambda _n: False,
    )
    with fresh_sandbox() as root:
        result = Sandbox(Path(root)).read(archive)
    assert isinstance(result, ArchiveError | Read)


# ---------------------------------------------------------------- OCI layouts

_CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
_MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def _oci_documents() -> tuple[dict[str, Any], dict[str, Any], list[bytes]]:
    layer = layer_tar({"bin/sh": b"#!" * 30})
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
        "history": [{"created_by": "/bin/sh -c x"}],
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": _MANIFEST_TYPE,
        "config": {"mediaType": _CONFIG_TYPE, "digest": "", "size": 0},
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": sha256(layer),
                "size": len(layer),
            }
        ],
    }
    return config, manifest, [layer]


def _oci(config: Any, manifest: Any, layers: list[bytes], annotations: Any, nest: bool) -> bytes:
    config_bytes = json_of(config)
    if isinstance(manifest, dict) and isinstance(manifest.get("config"), dict):
        manifest = {
            **manifest,
            "config": {
                **manifest["config"],
                "digest": sha256(config_bytes),
                "size": len(config_bytes),
            },
        }
    manifest_bytes = json_of(manifest)
    descriptor: dict[str, Any] = {
        "mediaType": _MANIFEST_TYPE,
        "digest": sha256(manifest_bytes),
        "size": len(manifest_bytes),
        "annotations": annotations,
    }
    blobs = [config_bytes, manifest_bytes, *layers]
    if nest:
        inner = json_of({"schemaVersion": 2, "manifests": [descriptor]})
        blobs.append(inner)
        descriptor = {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": sha256(inner),
            "size": len(inner),
        }
    return oci_archive({"schemaVersion": 2, "manifests": [descriptor]}, blobs)


_path_and_value = st.tuples(st.lists(st.integers(0, 50), max_size=4), json_values)


@budget(150)
@given(
    which=st.sampled_from(["config", "manifest", "annotations", "none"]),
    change=_path_and_value,
    nest=st.booleans(),
    as_directory=st.booleans(),
)
@example(
    which="manifest", change=([2], ["x"]), nest=False, as_directory=False
)  # mediaType a list: unhashable
@example(
    which="manifest", change=([0, 1], {"a": 1}), nest=False, as_directory=True
)  # config mediaType a dict
@example(which="none", change=([], None), nest=True, as_directory=True)
def test_random_oci_documents_are_read_or_refused(
    which: str, change: tuple[list[int], Any], nest: bool, as_directory: bool
) -> None:
    """The same walk reads a layout archive and a layout directory (``oci:DIR``)."""
    config, manifest, layers = _oci_documents()
    annotations: Any = {"org.opencontainers.image.ref.name": "team/app:1.0"}
    if which == "config":
        config = _mutated(config, *change)
    elif which == "manifest":
        manifest = _mutated(manifest, *change)
    elif which == "annotations":
        annotations = _mutated(annotations, *change)
    with fresh_sandbox() as root:
        box = Sandbox(Path(root))
        archive = _oci(config, manifest, layers, annotations, nest)
        if as_directory:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(box.root / "layout", filter="data")  # our own, safe archive
            result = read_all(box.root / "layout", box.spool, layout=True)
        else:
            result = box.read(archive)
    if which == "none":
        assert isinstance(result, Read), result
        assert result.layout is Layout.OCI
        assert list(result.layers.values()) == layers
    else:
        assert isinstance(result, ArchiveError | Read)


# ---------------------------------------------------------------- round trip

_component = st.from_regex(r"[a-z0-9]{1,6}(?:[._-][a-z0-9]{1,4})?", fullmatch=True)
_repositories = st.builds("/".join, st.lists(_component, min_size=1, max_size=3)) | st.builds(
    lambda host, rest: f"{host}/{rest}",
    st.sampled_from(["reg.example:5000", "localhost:80", "a.b"]),
    _component,
)
_tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_files = st.dictionaries(
    st.from_regex(r"[a-z]{1,8}(?:/[a-z]{1,8})?", fullmatch=True),
    st.binary(max_size=600),
    max_size=3,
)
_layers = st.lists(
    st.tuples(_files, st.sampled_from(["plain", "gzip", "empty"])), min_size=1, max_size=4
)


@budget(40)
@given(repository=_repositories, tag=_tags, layers=_layers, seed=st.text(max_size=8))
def test_what_the_writer_writes_the_reader_reads_back(
    repository: str, tag: str, layers: list[tuple[dict[str, bytes], str]], seed: str
) -> None:
    plain = [b"" if how == "empty" else layer_tar(files) for files, how in layers]
    sent = [compressed(data, how) for data, (_files, how) in zip(plain, layers, strict=True)]
    chain = v1_chain(sent, seed, {"comment": seed})
    with fresh_sandbox() as root:
        box = Sandbox(Path(root))
        archive = saved_archive(repository, tag, chain, box.spool)
        result = box.read(archive)
    assert isinstance(result, Read), result
    assert result.layout is Layout.MANIFEST
    (read,) = result.chains
    familiar = repository.removeprefix("library/") if repository.count("/") == 1 else repository
    assert read.repo_tags == (RepoTag(familiar, tag),)
    assert [image.image_id for image in read.images] == [image.image_id for image in chain]
    assert [image.json_bytes for image in read.images] == [image.json_bytes for image in chain]
    empty_tar = bytes(1024)
    expected = [data or empty_tar for data in plain]
    assert [result.layers[image.image_id] for image in chain] == expected


def test_an_archive_without_any_layout_is_malformed(sandbox: Sandbox) -> None:
    """The property above would pass on a reader that accepts anything: this one cannot."""
    result = sandbox.read(layer_tar({"etc/passwd": b"root\n"}))
    assert isinstance(result, MalformedArchiveError)
    assert os.listdir(sandbox.spool) == []


# ---------------------------------------------------------------- links in a layout directory

_LINK_KINDS = ["outside copy", "inside copy", "dangling", "directory", "loop"]


@budget(60)
@given(
    links=st.dictionaries(st.integers(0, 5), st.sampled_from(_LINK_KINDS), min_size=1, max_size=3)
)
@example(links={2: "outside copy"})
@example(links={0: "outside copy"})
@example(links={4: "inside copy"})
@example(links={0: "loop"})  # a blob: resolve() raised RuntimeError
@example(links={3: "loop"})  # index.json
def test_links_in_a_layout_directory_never_reach_outside(links: dict[int, str]) -> None:
    """A file of an ``oci:DIR`` replaced by a symbolic link: one leading out of the
    directory is never read (even to bytes that would pass every digest check)."""
    config, manifest, layers = _oci_documents()
    archive = _oci(config, manifest, layers, {"org.opencontainers.image.ref.name": "t"}, False)
    with fresh_sandbox() as root:
        box = Sandbox(Path(root))
        layout = box.root / "layout"
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(layout, filter="data")  # our own, safe archive
        files = sorted(p for p in layout.rglob("*") if p.is_file())
        outside = False
        for position, kind in links.items():
            path = files[position % len(files)]
            if path.is_symlink() or not path.exists():
                continue
            data = path.read_bytes()
            path.unlink()
            if kind == "outside copy":
                target = box.outside / f"copy-{position}"
                target.write_bytes(data)
                path.symlink_to(target)
                outside = True
            elif kind == "inside copy":
                target = layout / f"copy-{position}"
                target.write_bytes(data)
                path.symlink_to(os.path.relpath(target, path.parent))
            elif kind == "dangling":
                path.symlink_to(layout / "nowhere")
            elif kind == "directory":
                path.symlink_to(layout / "blobs")
            else:
                path.symlink_to(path.name)
        result = read_all(layout, box.spool, layout=True)
    if outside:
        assert isinstance(result, ArchiveError), result
    else:
        assert isinstance(result, ArchiveError | Read)
