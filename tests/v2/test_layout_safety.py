"""An ``oci:DIR`` someone else prepared cannot be turned against the user (issue 19).

Every test runs ``regv1 copy`` from the v1 emulator (real sockets) into, or out of, a
layout directory with something planted in it: a symbolic link where ``blobs/``,
``blobs/sha256/``, ``index.json``, ``oci-layout``, the lock file or a blob goes; a
wrong file under a blob's name; a temporary file a killed writer left. It also checks
what the user's umask gives the files, and what Ctrl-C or a failed first copy leaves.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import interruptible
import pytest
from click.testing import Result
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.formats.errors import LayoutError
from docker_registry_v1.formats.layout import OCILayout
from regv1_runner import regv1
from system_tools import require_tool

REGV1 = Path(sys.executable).with_name("regv1")
PRECIOUS = b"the user's own file: nothing may write here\n"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("REGV1_REGISTRY", "REGV1_USERNAME", "REGV1_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, directory in (("DOCKER_CONFIG", "docker-config"), ("XDG_CACHE_HOME", "cache")):
        (tmp_path / directory).mkdir()
        monkeypatch.setenv(name, str(tmp_path / directory))


def netloc(standalone: Standalone) -> str:
    return standalone.url.removeprefix("http://").rstrip("/")


def seed(standalone: Standalone, repo: str = "acme/app", layers: int = 2) -> list[SeedImage]:
    chain = build_image_chain(layers, seed=19, layer_size=100_000)
    standalone.store.seed(repo, "1.0", chain)
    return chain


def assert_one_error(result: Result, *fragments: str) -> None:
    """Exit 1, exactly one ``error:`` line naming ``fragments``, no traceback."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (links not followed) → its bytes."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def layout_blobs(root: Path, tag: str) -> list[str]:
    """The digests ``index.json`` reaches for ``tag``: manifest, config, layers."""
    index = json.loads((root / "index.json").read_bytes())
    (entry,) = [
        e
        for e in index["manifests"]
        if (e.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag
    ]
    manifest = json.loads(blob(root, entry["digest"]))
    return [
        entry["digest"],
        manifest["config"]["digest"],
        *(layer["digest"] for layer in manifest["layers"]),
    ]


def blob(root: Path, digest: str) -> bytes:
    return (root / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def assert_complete(root: Path) -> None:
    """Every blob every entry of ``index.json`` reaches (a tag's image, an untagged
    provenance artifact) is there with the right bytes."""
    index = json.loads((root / "index.json").read_bytes())
    for entry in index["manifests"]:
        manifest = json.loads(blob(root, entry["digest"]))
        reached = [manifest["config"], *manifest["layers"]]
        for digest in [entry["digest"], *(d["digest"] for d in reached)]:
            data = blob(root, digest)
            assert "sha256:" + hashlib.sha256(data).hexdigest() == digest


def temporaries(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.name.endswith((".partial", ".tmp"))]


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A directory outside every layout holding one file of the user's; the test
    checks afterwards that nothing in it changed and nothing was added."""
    where = tmp_path / "outside"
    where.mkdir()
    (where / "precious").write_bytes(PRECIOUS)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in where.iterdir()}
    yield where
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in where.iterdir()} == before


def skeleton(root: Path) -> None:
    """An empty layout, as skopeo leaves one, to plant things in."""
    root.mkdir()
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "blobs" / "sha256").mkdir(parents=True)


def first_copy(standalone: Standalone, tmp_path: Path) -> tuple[str, list[str]]:
    """Copy the seeded image into a scratch layout; the source and the blob digests."""
    src = f"{netloc(standalone)}/acme/app:1.0"
    scratch = tmp_path / "scratch"
    result = regv1("copy", src, f"oci:{scratch}:app")
    assert result.exit_code == 0, result.stderr
    return src, layout_blobs(scratch, "app")


@pytest.mark.parametrize(
    "planted", ["blobs", "blobs/sha256", "index.json", "oci-layout", "index.json.lock", "blob"]
)
def test_a_planted_link_in_the_destination_is_refused_and_nothing_is_written_outside(
    standalone: Standalone, tmp_path: Path, outside: Path, planted: str
) -> None:
    seed(standalone)
    src, digests = first_copy(standalone, tmp_path)
    root = tmp_path / "layout"
    skeleton(root)
    target = outside / "precious"
    if planted == "blob":  # a layer's file pointing at the user's file
        planted = f"blobs/sha256/{digests[-1].removeprefix('sha256:')}"
    elif planted == "oci-layout":
        (root / planted).unlink()
    elif planted.startswith("blobs"):
        (root / "blobs" / "sha256").rmdir()
        if planted == "blobs":
            (root / "blobs").rmdir()
        target = outside
    (root / planted).symlink_to(target)
    before = files(root)

    result = regv1("copy", src, f"oci:{root}:app")

    assert_one_error(result, f"oci:{root}:app", str(root / planted), "symbolic link")
    assert (root / planted).is_symlink()
    assert temporaries(root) == []
    assert not (root / "index.json").is_file() or (root / "index.json").is_symlink()
    if not planted.startswith("blobs/sha256/"):  # refused before anything was written
        assert files(root) == before


@pytest.mark.parametrize("planted", ["blobs", "blobs/sha256", "index.json", "oci-layout"])
def test_a_planted_link_in_a_source_layout_is_refused(
    standalone: Standalone, tmp_path: Path, outside: Path, planted: str
) -> None:
    seed(standalone)
    first_copy(standalone, tmp_path)
    root = tmp_path / "scratch"
    real = tmp_path / "moved"
    (root / planted).rename(real)
    (root / planted).symlink_to(real)

    result = regv1("copy", f"oci:{root}:app", f"docker-archive:{outside / 'app.tar'}")

    assert_one_error(result, f"oci:{root}:app", str(root / planted), "symbolic link")


def test_a_wrong_file_under_a_blobs_name_is_replaced_and_the_copy_verifies(
    standalone: Standalone, tmp_path: Path
) -> None:
    """The same blob cache as the first copy: it knows which digest the v1 layer makes,
    so only the hash of the planted file can tell the copy to send the layer again."""
    skopeo = require_tool("skopeo")
    seed(standalone)
    src, digests = first_copy(standalone, tmp_path)
    root = tmp_path / "layout"
    skeleton(root)
    planted = [root / "blobs" / "sha256" / d.removeprefix("sha256:") for d in digests[1:]]
    for path in planted:  # the config and each layer: same size, other bytes
        path.write_bytes(b"x" * len(blob(tmp_path / "scratch", "sha256:" + path.name)))
    inodes = {path: path.stat().st_ino for path in planted}

    result = regv1("copy", src, f"oci:{root}:app", "--json")

    assert result.exit_code == 0, result.stderr
    assert sorted(json.loads(result.stdout)["uploaded"]) == sorted(digests[2:])
    assert layout_blobs(root, "app") == digests
    assert_complete(root)
    assert all(path.stat().st_ino != inodes[path] for path in planted)  # replaced, by rename
    assert temporaries(root) == []
    copied = tmp_path / "copied"
    done = subprocess.run(
        [skopeo, "copy", f"oci:{root}:app", f"dir:{copied}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr  # skopeo checks every blob against its digest
    assert (copied / "manifest.json").read_bytes() == blob(root, digests[0])


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]
)
def test_layout_files_get_the_users_umask_as_skopeo_gives_them(
    standalone: Standalone, tmp_path: Path, umask: int, file_mode: int, dir_mode: int
) -> None:
    seed(standalone)
    root = tmp_path / "layout"
    done = subprocess.run(
        [
            *("sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", str(REGV1), "copy"),
            *(f"{netloc(standalone)}/acme/app:1.0", f"oci:{root}:app"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    made = [root / "oci-layout", root / "index.json", root / "index.json.lock"]
    made += [
        root / "blobs" / "sha256" / d.removeprefix("sha256:") for d in layout_blobs(root, "app")
    ]
    assert {str(p): oct(p.stat().st_mode & 0o777) for p in made} == {
        str(p): oct(file_mode) for p in made
    }
    for directory in (root / "blobs", root / "blobs" / "sha256"):
        assert oct(directory.stat().st_mode & 0o777) == oct(dir_mode)


def interrupt_copy(
    standalone: Standalone, root: Path, tag: str
) -> subprocess.CompletedProcess[str]:
    """``regv1 copy`` into ``oci:ROOT:TAG``, SIGINT while its layers are in flight (held
    back by a latency fault) and their ``.blob-*.partial`` files open in the layout."""
    rule = standalone.faults.latency("/v1/images/*/layer", 30.0, method="GET")
    process = interruptible.popen(
        [str(REGV1), "copy", f"{netloc(standalone)}/acme/big:1.0", f"oci:{root}:{tag}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while rule.hits == 0 or not list(root.glob(".blob-*.partial")):
            assert time.monotonic() < deadline, "the copy never started writing a layer"
            time.sleep(0.02)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        stdout, stderr = process.communicate(timeout=20)
        # the cleanup must not make Ctrl-C wait (the bound of tests/cli/test_interrupt.py)
        assert time.monotonic() - sent < 2.0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        standalone.faults.remove(rule)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_ctrl_c_during_a_first_copy_into_a_new_layout_leaves_nothing(
    standalone: Standalone, tmp_path: Path
) -> None:
    """The layers are spooled into the layout as they come (a small one is done, the
    others are in flight): none of it may stay, and no half layout may look complete."""
    chain = build_image_chain(3, seed=23, layer_size=1 << 20, gzip=False)
    standalone.store.seed("acme/big", "1.0", chain)
    root = tmp_path / "new"

    done = interrupt_copy(standalone, root, "big")

    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == ["interrupted"]
    assert not root.exists(), sorted(p.name for p in root.rglob("*"))


def test_ctrl_c_during_a_copy_into_a_layout_keeps_its_index_whole(
    standalone: Standalone, tmp_path: Path
) -> None:
    seed(standalone)
    first_copy(standalone, tmp_path)
    root = tmp_path / "scratch"
    index = (root / "index.json").read_bytes()
    chain = build_image_chain(3, seed=29, layer_size=1 << 20, gzip=False)
    standalone.store.seed("acme/big", "1.0", chain)

    done = interrupt_copy(standalone, root, "big")

    assert done.returncode == 130, done.stderr
    assert temporaries(root) == []
    assert (root / "index.json").read_bytes() == index
    assert_complete(root)


def test_a_failed_first_copy_leaves_no_layout_and_a_failed_later_one_the_index_as_it_was(
    standalone: Standalone, tmp_path: Path
) -> None:
    chain = seed(standalone, layers=3)
    empty = tmp_path / "empty"
    empty.mkdir()
    src = f"{netloc(standalone)}/acme/app:1.0"
    standalone.faults.error(f"/v1/images/{chain[1].id}/layer", 404, method="GET", times=None)

    result = regv1("copy", src, f"oci:{empty}:app")

    assert result.exit_code == 1, result.stderr
    assert list(empty.iterdir()) == []  # the directory was the user's: it stays, empty
    result = regv1("copy", src, f"oci:{tmp_path / 'new'}:app")
    assert result.exit_code == 1, result.stderr
    assert not (tmp_path / "new").exists()

    standalone.faults.clear()
    first_copy(standalone, tmp_path)
    root = tmp_path / "scratch"
    index = (root / "index.json").read_bytes()
    other = build_image_chain(2, seed=31, layer_size=5000)
    standalone.store.seed("acme/other", "1.0", other)
    standalone.faults.error(f"/v1/images/{other[1].id}/layer", 404, method="GET", times=None)
    result = regv1("copy", f"{netloc(standalone)}/acme/other:1.0", f"oci:{root}:other")
    assert result.exit_code == 1, result.stderr
    assert (root / "index.json").read_bytes() == index
    assert_complete(root)
    assert temporaries(root) == []


def test_a_temporary_file_a_killed_writer_left_is_removed_and_a_live_ones_kept(
    tmp_path: Path,
) -> None:
    root = tmp_path / "layout"
    with OCILayout(root) as layout:
        layout.write_blob([b"kept"])
        layout.add_manifest(
            json.dumps({"schemaVersion": 2, "mediaType": "x/y", "layers": []}).encode(), ref="a"
        )
    dead = root / f".blob-{'0' * 16}.partial"
    dead.write_bytes(b"half a layer")
    old = time.time() - 60
    os.utime(dead, (old, old))
    live = root / f".blob-{'1' * 16}.partial"
    live.write_bytes(b"being written")
    os.utime(live, (old, old))
    young = root / f".index.json-{'2' * 16}.tmp"
    young.write_bytes(b"just made")
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        OCILayout(root).close()
        assert live.exists()
    assert not dead.exists()
    assert young.exists()  # too new to tell from a writer that has not locked it yet
    with OCILayout(root) as layout:
        assert list(layout.refs()) == ["a"]  # the layout itself is untouched


def test_a_layout_api_refuses_a_linked_blob_instead_of_reading_it(
    tmp_path: Path, outside: Path
) -> None:
    data = PRECIOUS
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    root = tmp_path / "layout"
    with OCILayout(root) as layout:
        layout.write_blob([b"keep the layout"])
        (root / "blobs" / "sha256" / digest.removeprefix("sha256:")).symlink_to(
            outside / "precious"
        )
        with pytest.raises(LayoutError) as refused:
            layout.has_blob(digest)
        assert refused.value.path == root / "blobs" / "sha256" / digest.removeprefix("sha256:")
        with pytest.raises(LayoutError):
            layout.write_blob([data], digest=digest)
        with pytest.raises(LayoutError):
            layout.read_blob(digest)


def test_migrate_into_a_layout_refuses_a_planted_link_and_replaces_a_wrong_blob(
    standalone: Standalone, tmp_path: Path, outside: Path
) -> None:
    seed(standalone)
    _, digests = first_copy(standalone, tmp_path)
    source = f"{netloc(standalone)}/acme/app"
    linked = tmp_path / "linked"
    skeleton(linked)
    (linked / "index.json").symlink_to(outside / "precious")

    refused = regv1("migrate", source, f"oci:{linked}", "--journal", str(tmp_path / "j1"))

    assert_one_error(refused, str(linked / "index.json"), "symbolic link")

    root = tmp_path / "layout"
    skeleton(root)
    wrong = root / "blobs" / "sha256" / digests[-1].removeprefix("sha256:")
    wrong.write_bytes(b"not the layer")
    done = regv1("migrate", source, f"oci:{root}", "--journal", str(tmp_path / "j2"))
    assert done.exit_code == 0, done.stderr
    assert layout_blobs(root, "acme/app:1.0")[2:] == digests[2:]
    assert_complete(root)
    assert temporaries(root) == []
