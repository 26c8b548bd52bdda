"""`regv1 copy` over the engine's source-by-destination matrix, checked by skopeo and by
each destination's own answers.

Sources: a v1 registry (the emulator), a docker-archive written by skopeo, an OCI
layout written by skopeo. Destinations: docker:// (distribution 2.8), oci:,
docker-archive:, a v1 registry (standalone emulator, and a hub with tokens). The v1
source's pairs with every destination are covered in test_copy_cli.py; here each
other pair runs at least once.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import system_tools
from docker_registry_v1.emulator import Hub, Standalone
from docker_registry_v1.emulator.seed import build_image_chain
from oci_images import one_layer_manifest
from regv1_runner import document, regv1
from v2registry import PASSWORD, USER, V2Registry


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("REGV1_REGISTRY", "REGV1_USERNAME", "REGV1_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "docker-config").mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def skopeo(*args: str) -> str:
    return system_tools.skopeo(*args, timeout=180)  # the big-layer copies take longer


def inspect(reference: str, *options: str) -> dict[str, Any]:
    """skopeo's view of an image: its manifest digest and its config's diff_ids."""
    tls = ["--tls-verify=false"] if reference.startswith("docker://") else []
    raw = json.loads(skopeo("inspect", *tls, *options, reference))
    config = json.loads(skopeo("inspect", "--config", *tls, *options, reference))
    return {"digest": raw["Digest"], "diff_ids": config["rootfs"]["diff_ids"]}


def archive_tags(path: Path) -> list[str]:
    """The names a ``docker load`` of the archive gives the image (its manifest.json)."""
    with tarfile.open(path) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return [tag for entry in json.load(member) for tag in entry["RepoTags"]]


def settled(emulator: Hub, timeout: float = 2.0) -> list[Any]:
    """The request log once it stops growing (a response may arrive before its entry)."""
    deadline = time.monotonic() + timeout
    previous = -1
    while True:
        entries = emulator.log.entries
        if (entries and len(entries) == previous) or time.monotonic() > deadline:
            return entries
        previous = len(entries)
        time.sleep(0.05)


def netloc(url: str) -> str:
    return url.removeprefix("http://").rstrip("/")


@pytest.fixture
def layout(standalone: Standalone, tmp_path: Path) -> str:
    """An OCI layout written by skopeo (from one regv1 wrote from a v1 image), tagged
    ``acme/app:1`` as migrate names refs."""
    standalone.store.seed("acme/app", "1", build_image_chain(3, seed=71, layer_size=120_000))
    ours = tmp_path / "ours"
    document(regv1("copy", f"{netloc(standalone.url)}/acme/app:1", f"oci:{ours}:app", "--json"))
    theirs = tmp_path / "layout"
    skopeo("copy", f"oci:{ours}:app", f"oci:{theirs}:acme/app:1")
    return str(theirs)


@pytest.fixture
def archive(layout: str, tmp_path: Path) -> Path:
    """A docker-archive (manifest.json, plain tar layers) written by skopeo."""
    path = tmp_path / "saved.tar"
    skopeo("copy", f"oci:{layout}:acme/app:1", f"docker-archive:{path}:acme/app:1")
    return path


def test_archive_to_docker_keeps_the_layers_and_a_second_copy_sends_nothing(
    archive: Path, v2_open: V2Registry
) -> None:
    wanted = inspect(f"docker-archive:{archive}")
    dst = f"docker://{v2_open.host}/engine/archive:1"
    first = document(regv1("copy", f"docker-archive:{archive}", dst, "--json"))
    assert len(first["uploaded"]) == 3
    seen = inspect(dst)
    assert seen["diff_ids"] == wanted["diff_ids"]
    assert seen["digest"] == first["digest"]
    second = document(regv1("copy", f"docker-archive:{archive}", dst, "--json"))
    assert second["uploaded"] == []
    assert sorted(second["skipped"]) == sorted(first["layers"])
    assert second["bytes"] == 0


def test_archive_to_oci_and_to_another_archive(archive: Path, tmp_path: Path) -> None:
    wanted = inspect(f"docker-archive:{archive}")["diff_ids"]
    target = tmp_path / "out-layout"
    done = document(
        regv1("copy", f"docker-archive:{archive}", f"oci:{target}:acme/app:2", "--json")
    )
    assert done["tags"] == ["acme/app:2"]
    assert inspect(f"oci:{target}:acme/app:2")["diff_ids"] == wanted
    copied = tmp_path / "copied.tar"
    result = document(
        regv1("copy", f"docker-archive:{archive}", f"docker-archive:{copied}:team/app:3", "--json")
    )
    assert result["path"] == str(copied)
    assert inspect(f"docker-archive:{copied}")["diff_ids"] == wanted
    assert archive_tags(copied) == ["team/app:3"]


def test_archive_to_v1_is_read_back_by_pull(
    archive: Path, standalone: Standalone, tmp_path: Path
) -> None:
    wanted = inspect(f"docker-archive:{archive}")["diff_ids"]
    dst = f"{netloc(standalone.url)}/acme/fromarchive:5"
    done = document(regv1("copy", f"docker-archive:{archive}", dst, "--json"))
    assert len(done["uploaded"]) == 3
    assert standalone.store.tags("acme/fromarchive") == {"5": done["layers"][-1]}
    pulled = tmp_path / "pulled.tar"
    assert regv1("pull", dst, "-o", str(pulled)).exit_code == 0
    assert inspect(f"docker-archive:{pulled}")["diff_ids"] == wanted
    again = document(regv1("copy", f"docker-archive:{archive}", dst, "--json"))
    assert again["uploaded"] == []


def test_oci_to_docker_keeps_the_manifest_digest_with_logins_on_both_sides(
    layout: str, v2_basic: V2Registry, tmp_path: Path
) -> None:
    """OCI → OCI: no re-compression, the manifest as it was; the destination's login."""
    wanted = inspect(f"oci:{layout}:acme/app:1")
    dst = f"docker://{v2_basic.host}/engine/oci:1"
    creds = ["--dest-creds", f"{USER}:{PASSWORD}"]
    done = document(regv1("copy", f"oci:{layout}:acme/app:1", dst, *creds, "--json"))
    assert done["digest"] == wanted["digest"]
    seen = inspect(dst, "--creds", f"{USER}:{PASSWORD}")
    assert seen == wanted
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        f"{USER}:{PASSWORD}",
        dst,
        f"oci:{tmp_path / 'back'}:x",
    )
    assert inspect(f"oci:{tmp_path / 'back'}:x") == wanted


def test_v1_to_docker_with_logins_on_both_sides(
    private_registry: Standalone, v2_basic: V2Registry
) -> None:
    private_registry.store.seed("alice/app", "1", build_image_chain(2, seed=72, layer_size=50_000))
    done = document(
        regv1(
            "copy",
            f"{netloc(private_registry.url)}/alice/app:1",
            f"docker://{v2_basic.host}/engine/private:1",
            "--src-creds",
            "alice:s3cret",
            "--dest-creds",
            f"{USER}:{PASSWORD}",
            "--json",
        )
    )
    assert len(done["uploaded"]) == 2
    seen = inspect(f"docker://{v2_basic.host}/engine/private:1", "--creds", f"{USER}:{PASSWORD}")
    assert seen["digest"] == done["digest"]
    sent = [e for e in private_registry.log.entries if e.authorization is not None]
    assert sent  # the source's own login reached the source


def test_oci_to_oci_keeps_every_digest_and_writes_nothing_twice(
    layout: str, tmp_path: Path
) -> None:
    wanted = inspect(f"oci:{layout}:acme/app:1")
    target = tmp_path / "target"
    first = document(regv1("copy", f"oci:{layout}:acme/app:1", f"oci:{target}:copy", "--json"))
    assert first["digest"] == wanted["digest"]
    assert inspect(f"oci:{target}:copy") == wanted
    source_blobs = {p.name for p in (Path(layout) / "blobs" / "sha256").iterdir()}
    target_blobs = {p.name for p in (target / "blobs" / "sha256").iterdir()}
    assert target_blobs == source_blobs
    second = document(regv1("copy", f"oci:{layout}:acme/app:1", f"oci:{target}:copy", "--json"))
    assert second["uploaded"] == []
    assert second["bytes"] == 0


def test_oci_to_archive(layout: str, tmp_path: Path) -> None:
    wanted = inspect(f"oci:{layout}:acme/app:1")["diff_ids"]
    out = tmp_path / "out.tar"
    document(regv1("copy", f"oci:{layout}:acme/app:1", f"docker-archive:{out}", "--json"))
    assert inspect(f"docker-archive:{out}")["diff_ids"] == wanted
    assert archive_tags(out) == ["acme/app:1"]


def test_oci_to_a_v1_index_with_tokens_is_read_back_by_pull(
    layout: str, hub: Hub, tmp_path: Path
) -> None:
    wanted = inspect(f"oci:{layout}:acme/app:1")["diff_ids"]
    dst = f"{netloc(hub.index_url)}/alice/fromoci:7"
    done = document(
        regv1("copy", f"oci:{layout}:acme/app:1", dst, "--dest-creds", "alice:s3cret", "--json")
    )
    assert len(done["uploaded"]) == 3
    assert hub.store.tags("alice/fromoci") == {"7": done["layers"][-1]}
    puts = [e.path for e in settled(hub) if e.method == "PUT" and "/repositories/" in e.path]
    assert puts[0].endswith("/alice/fromoci/")  # the image list before any image
    assert puts[-1].endswith("/alice/fromoci/images")  # and the final one after them
    pulled = tmp_path / "pulled.tar"
    result = regv1(
        "pull", dst, "-o", str(pulled), "-u", "alice", "--password-stdin", input="s3cret\n"
    )
    assert result.exit_code == 0, result.output
    assert inspect(f"docker-archive:{pulled}")["diff_ids"] == wanted


def test_a_missing_layout_ref_and_a_docker_source_fail_in_one_line(layout: str) -> None:
    missing = regv1("copy", f"oci:{layout}:nope", f"oci:{layout}-2:x")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: ")
    assert "no image named nope" in missing.stderr
    assert len(missing.stderr.splitlines()) == 1


def test_a_layout_blob_that_does_not_match_its_digest_stops_the_copy(
    layout: str, tmp_path: Path
) -> None:
    """A blob is hashed as it is read: a changed one fails in one line and tags nothing."""
    index = json.loads((Path(layout) / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].removeprefix("sha256:")
    manifest = json.loads((Path(layout) / "blobs" / "sha256" / manifest_digest).read_text())
    blob = (
        Path(layout) / "blobs" / "sha256" / manifest["layers"][1]["digest"].removeprefix("sha256:")
    )
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    target = tmp_path / "target"
    result = regv1("copy", f"oci:{layout}:acme/app:1", f"oci:{target}:copy")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "expected sha256:" in lines[0]
    refs = (
        json.loads((target / "index.json").read_text())["manifests"]
        if (target / "index.json").exists()
        else []
    )
    assert refs == []


def test_an_archive_image_is_chosen_by_any_of_its_names(archive: Path, tmp_path: Path) -> None:
    two = tmp_path / "two.tar"
    skopeo(
        "copy",
        "--additional-tag",
        "acme/other:2",
        f"docker-archive:{archive}",
        f"docker-archive:{two}:acme/app:1",
    )
    named = document(
        regv1("copy", f"docker-archive:{two}:acme/other:2", f"oci:{tmp_path / 'o'}:x", "--json")
    )
    assert named["tags"] == ["x"]
    missing = regv1("copy", f"docker-archive:{two}:acme/nope:1", f"oci:{tmp_path / 'o'}:y")
    assert missing.exit_code == 1
    assert missing.stderr.splitlines() == ["error: no image tagged acme/nope:1 in the archive"], (
        missing.stderr
    )


PEAK_PROBE = """
import atexit, sys
from docker_registry_v1.cli import main

def report():
    status = open("/proc/self/status").read()
    print("VmHWM", status.split("VmHWM:")[1].split()[0], file=sys.stderr)

atexit.register(report)
sys.argv[0] = "regv1"
main()
"""


def big_layout(root: Path, size: int) -> str:
    """An OCI layout of one image whose one layer is ``size`` bytes of plain tar, written
    here by hand (a random member, so no compressor shrinks it)."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layer = root / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("data.bin")
        info.size = size
        with open(root / "data.bin", "wb") as data:
            for _ in range(size >> 20):
                data.write(os.urandom(1 << 20))
        with open(root / "data.bin", "rb") as data:
            tar.addfile(info, data)
    (root / "data.bin").unlink()
    digest = hashlib.sha256()
    with open(layer, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    layer_digest = "sha256:" + digest.hexdigest()
    layer.rename(blobs / digest.hexdigest())
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    ).encode()
    size = (blobs / digest.hexdigest()).stat().st_size
    manifest = one_layer_manifest(
        config, layer_digest, size, "application/vnd.oci.image.layer.v1.tar"
    )
    for blob in (config, manifest):
        (blobs / hashlib.sha256(blob).hexdigest()).write_bytes(blob)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "big"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return str(root)


def peak_rss_mib(*args: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]},
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def test_a_big_layer_moves_in_bounded_memory(
    v2_open: V2Registry, standalone: Standalone, tmp_path: Path
) -> None:
    """A 192 MiB layer as stored (OCI → docker://, OCI → v1), converted (OCI → v1 chain →
    archive → docker://): the copy's peak RSS stays far below the layer's size."""
    layout = big_layout(tmp_path / "big", 192 << 20)
    archive = tmp_path / "big.tar"
    peaks = {
        "oci to docker": peak_rss_mib(
            "copy", f"oci:{layout}:big", f"docker://{v2_open.host}/engine/big:1"
        ),
        "oci to v1": peak_rss_mib("copy", f"oci:{layout}:big", f"{netloc(standalone.url)}/a/big:1"),
        "oci to archive": peak_rss_mib(
            "copy", f"oci:{layout}:big", f"docker-archive:{archive}:a/big:1"
        ),
        "archive to docker": peak_rss_mib(
            "copy", f"docker-archive:{archive}", f"docker://{v2_open.host}/engine/big2:1"
        ),
    }
    for pair, peak in peaks.items():
        assert peak < 96, (pair, peaks)  # half the layer; about 45-55 MiB measured


def test_an_oci_image_is_not_converted_to_another_manifest_format(
    layout: str, tmp_path: Path
) -> None:
    target = tmp_path / "t"
    result = regv1(
        "copy", f"oci:{layout}:acme/app:1", f"oci:{target}:x", "--manifest-format", "docker"
    )
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "copied as it is" in lines[0]
    assert (
        not (target / "index.json").exists()
        or json.loads((target / "index.json").read_text())["manifests"] == []
    )
    same = regv1("copy", f"oci:{layout}:acme/app:1", f"oci:{target}:x", "--manifest-format", "oci")
    assert same.exit_code == 0, same.output


def test_v1_to_archive_and_to_oci_agree_on_the_layers(
    standalone: Standalone, tmp_path: Path
) -> None:
    """The v1 source into both file destinations: skopeo reads the same diff_ids."""
    standalone.store.seed("acme/both", "3", build_image_chain(3, seed=73, layer_size=40_000))
    src = f"{netloc(standalone.url)}/acme/both:3"
    out = tmp_path / "both.tar"
    done = document(regv1("copy", src, f"docker-archive:{out}", "--json"))
    assert len(done["uploaded"]) == 3
    assert archive_tags(out) == ["acme/both:3"]
    document(regv1("copy", src, f"oci:{tmp_path / 'both'}:b", "--json"))
    assert (
        inspect(f"docker-archive:{out}")["diff_ids"]
        == inspect(f"oci:{tmp_path / 'both'}:b")["diff_ids"]
    )
