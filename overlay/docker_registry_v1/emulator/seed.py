"""Deterministic v1 image chains for tests and demos: real tar layers, realistic image JSON."""

from __future__ import annotations

import datetime as dt
import gzip as gzip_module
import hashlib
import io
import json
import random
import tarfile

import attrs

#: Seconds since the epoch of the first image's ``created`` time (2014-10-13T21:19:18Z).
BASE_TIME = 1413235158
DOCKER_VERSION = "1.3.0"


@attrs.frozen(repr=False)
class SeedImage:
    """One image of a chain: the exact bytes to upload and their payload checksum."""

    id: str
    parent: str | None
    json_bytes: bytes
    layer_bytes: bytes
    checksum: str

    def __repr__(self) -> str:
        return f"SeedImage(id={self.id[:12]}…, layer={len(self.layer_bytes)} bytes)"


def payload_checksum(json_bytes: bytes, layer_bytes: bytes) -> str:
    """``sha256:`` + hex(SHA-256(json + ``\\n`` + layer)), the v1 payload checksum."""
    return "sha256:" + hashlib.sha256(json_bytes + b"\n" + layer_bytes).hexdigest()


def _tar_member(
    archive: tarfile.TarFile, name: str, mtime: int, data: bytes | None = None, mode: int = 0o644
) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uname = info.gname = "root"
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        archive.addfile(info)
    else:
        info.size = len(data)
        info.mode = mode
        archive.addfile(info, io.BytesIO(data))


def _layer(index: int, rng: random.Random, size: int, mtime: int, compress: bool) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as archive:
        _tar_member(archive, "./", mtime)
        _tar_member(archive, "etc/", mtime)
        _tar_member(archive, f"etc/layer-{index}.conf", mtime, f"layer={index}\n".encode())
        _tar_member(archive, "data/", mtime)
        _tar_member(archive, f"data/blob-{index}.bin", mtime, rng.randbytes(size))
        if index > 0:
            _tar_member(archive, f"etc/.wh.layer-{index - 1}.conf", mtime, b"")
    tar_bytes = raw.getvalue()
    if not compress:
        return tar_bytes
    return gzip_module.compress(tar_bytes, mtime=0)


def _config(cmd: list[str], image: str) -> dict[str, object]:
    return {
        "Hostname": "c0ffee000000",
        "Domainname": "",
        "User": "",
        "Memory": 0,
        "MemorySwap": 0,
        "CpuShares": 0,
        "Cpuset": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "PortSpecs": None,
        "ExposedPorts": None,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": cmd,
        "Image": image,
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "NetworkDisabled": False,
        "MacAddress": "",
        "OnBuild": [],
    }


def build_image_chain(
    layers: int, *, seed: int = 0, layer_size: int = 1024, gzip: bool = True
) -> list[SeedImage]:
    """``layers`` images, base first, each the parent of the next.

    The same arguments always give the same bytes (ids, JSON, layers,
    checksums); a different ``seed`` gives a disjoint chain. ``layer_size`` is
    the size of the random file in each layer (the tar is a little larger).
    """
    if layers < 1:
        raise ValueError("layers must be at least 1")
    if layer_size < 0:
        raise ValueError("layer_size must not be negative")
    rng = random.Random(f"regv1-seed-{seed}")  # noqa: S311 - reproducible data, not secrets
    chain: list[SeedImage] = []
    parent: str | None = None
    for index in range(layers):
        image_id = hashlib.sha256(f"regv1-seed:{seed}:{index}".encode()).hexdigest()
        mtime = BASE_TIME + index * 60
        layer = _layer(index, rng, layer_size, mtime, gzip)
        step = (
            ["/bin/sh", "-c", '#(nop) CMD ["bash"]']
            if index == layers - 1
            else ["/bin/sh", "-c", f"#(nop) ADD file:{image_id[:12]} in /"]
        )
        document: dict[str, object] = {"id": image_id}
        if parent is not None:
            document["parent"] = parent
        created = _time_text(mtime, index)
        document.update(
            {
                "created": created,
                "container": hashlib.sha256(f"container:{image_id}".encode()).hexdigest(),
                "container_config": _config(step, parent or ""),
                "docker_version": DOCKER_VERSION,
                "config": _config(["bash"], parent or ""),
                "architecture": "amd64",
                "os": "linux",
                "Size": layer_size,
            }
        )
        json_bytes = json.dumps(document, separators=(",", ":")).encode()
        chain.append(
            SeedImage(
                id=image_id,
                parent=parent,
                json_bytes=json_bytes,
                layer_bytes=layer,
                checksum=payload_checksum(json_bytes, layer),
            )
        )
        parent = image_id
    return chain


def _time_text(epoch: int, index: int) -> str:
    """An RFC 3339 time with nine fractional digits, as docker wrote them."""
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{674353812 + index:09d}Z"
