"""Bounds seen from the command line (issue 19): ``regv1`` as a real process against hostile
servers. An endless or bombed body on the OCI side ends in one ``error:`` line with the
process's peak RSS (VmHWM, polled from /proc) under 200 MiB; a layer served at 1 byte/s
gives up within a few times ``--speed-limit/--speed-time``; a push archive whose layer
does not match its config's diff_id fails before any request reaches the registry."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from bounds_support import EndlessV2, SlowSink, Trickle, gzip_bomb, peak_rss_mib, running
from docker_registry_v1 import Client, RetryPolicy, TransferStalled
from docker_registry_v1.emulator import MessyRegistry, Standalone
from docker_registry_v1.transfer import pull
from reliability_support import save_archive, seed_chain, settled

RSS_LIMIT_MIB = 200
REGV1 = str(Path(sys.executable).with_name("regv1"))


def _run(*args: str, timeout: float = 120) -> tuple[int, str, float, float]:
    """``regv1 ARGS`` as a process: exit code, stderr, peak RSS (MiB), seconds."""
    started = time.monotonic()
    process = subprocess.Popen(
        [REGV1, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0.0
    try:
        while process.poll() is None:
            # the process may exit between poll() and the read
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, AssertionError):
                peak = max(peak, peak_rss_mib(process.pid))
            if time.monotonic() - started > timeout:
                process.kill()
                raise AssertionError(f"regv1 {' '.join(args)} still running after {timeout} s")
            time.sleep(0.05)
        assert process.stderr is not None
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    return process.returncode, stderr, peak, time.monotonic() - started


def _one_error(code: int, stderr: str, *fragments: str) -> str:
    assert code != 0, stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return Path(save_archive(tmp_path / "app.tar", "team/app", "1.0", seed_chain(1)))


# ---------------------------------------------------------------- bodies on the OCI side


@pytest.mark.parametrize(
    ("server", "repository", "fragment"),
    [
        (lambda: EndlessV2(token=True), "team/app", "body_limits.token"),
        (lambda: EndlessV2(challenge=True), "team/app", "body_limits.error"),
        (EndlessV2, "team/app", "500"),  # an endless error body: only its start is read
    ],
    ids=["token", "challenge", "error-body"],
)
def test_copy_to_a_hostile_registry_stays_small(
    archive: Path, server: type[EndlessV2], repository: str, fragment: str
) -> None:
    with running(server()) as v2:
        code, stderr, peak, seconds = _run(
            "copy", f"docker-archive:{archive}", f"docker://{v2.netloc}/{repository}:1.0"
        )
    line = _one_error(code, stderr, fragment)
    assert "?" not in line.split("127.0.0.1")[-1].split(" ")[0]  # no query in the URL named
    assert peak < RSS_LIMIT_MIB, f"{peak:.0f} MiB peak RSS"
    print(f"copy into {fragment}: peak RSS {peak:.0f} MiB, {seconds:.1f} s")


@pytest.mark.parametrize("prefix", ["endless", "bomb"])
def test_migrate_past_an_endless_destination_tag_list_stays_small(
    standalone: Standalone, prefix: str
) -> None:
    standalone.store.seed("ns/r", "t", seed_chain(1))
    gzip_bomb()  # built before regv1 starts waiting for it
    with running(EndlessV2()) as v2:
        code, stderr, peak, seconds = _run(
            "migrate", "--dry-run", standalone.url, f"docker://{v2.netloc}/{prefix}"
        )
    assert code != 0, stderr
    assert "Traceback" not in stderr
    assert "body_limits.listing" in stderr, stderr
    assert peak < RSS_LIMIT_MIB, f"{peak:.0f} MiB peak RSS"
    print(f"migrate past a {prefix} tag list: peak RSS {peak:.0f} MiB, {seconds:.1f} s")


# ---------------------------------------------------------------- stalls


def test_a_one_byte_a_second_layer_gives_up_within_its_limits(
    standalone: Standalone, tmp_path: Path
) -> None:
    image = seed_chain(1, size=64 * 1024)[0]
    standalone.store.seed("ns/r", "t", [image])
    with running(Trickle(image.layer_bytes, every=1.0)) as trickle:
        standalone.faults.redirect("/v1/images/*/layer", trickle.url)
        code, stderr, _, seconds = _run(
            "pull",
            "--speed-limit",
            "1000",
            "--speed-time",
            "2",
            f"{standalone.url.removeprefix('http://')}/ns/r:t",
            "-o",
            str(tmp_path / "out.tar"),
        )
        attempts = len(trickle.seen)
    _one_error(code, stderr, "stalled", "1000 bytes/s")
    # four attempts (the default policy) of about --speed-time each, plus its backoff
    # (0.5 + 1 + 2 s at most): each attempt gave up within 3 x --speed-time
    assert attempts == RetryPolicy().attempts
    assert seconds < attempts * 3 * 2 + 3.5 + 5, f"{seconds:.1f} s"
    assert not (tmp_path / "out.tar").exists()
    print(f"1 byte/s layer: gave up after {attempts} attempts in {seconds:.1f} s")


def test_an_upload_into_a_sink_that_stopped_reading_gives_up(tmp_path: Path) -> None:
    big = seed_chain(1, size=32 * 1024 * 1024)  # more than the socket buffers hold
    archive = Path(save_archive(tmp_path / "big.tar", "team/app", "1.0", big))
    with running(SlowSink(rate=1024)) as sink:
        code, stderr, peak, seconds = _run(
            "copy",
            "--speed-limit",
            "100000",
            "--speed-time",
            "2",
            f"docker-archive:{archive}",
            f"docker://{sink.netloc}/team/app:1.0",
        )
    _one_error(code, stderr, "stalled", "PATCH")
    assert seconds < 30, f"{seconds:.1f} s"
    print(f"upload into a stopped sink: gave up in {seconds:.1f} s, peak RSS {peak:.0f} MiB")


# A large layer is read from the connection itself after what h11 buffered
# (`core.http.iter_body`; from 1 MiB on here, `small_direct_body`): the stall guard and
# the resume must hold on that path too.
BIG = (2 * 1024 * 1024, 1536 * 1024)
"""A layer's size and the bytes sent at once before it trickles or falls silent."""


@pytest.mark.usefixtures("small_direct_body")
@pytest.mark.parametrize(("size", "burst"), [(64 * 1024, 0), BIG], ids=["small", "direct"])
def test_a_stalled_read_resumes_where_it_stopped(
    standalone: Standalone, tmp_path: Path, size: int, burst: int
) -> None:
    image = seed_chain(1, size=size)[0]
    standalone.store.seed("ns/r", "t", [image])
    policy = RetryPolicy(attempts=3, base_delay=0.01, jitter=0.0, speed_limit=100, speed_time=1)
    with running(Trickle(image.layer_bytes, every=0.2, burst=burst)) as trickle:
        standalone.faults.redirect("/v1/images/*/layer", trickle.url, times=1)
        with Client(standalone.url) as client:
            started = time.monotonic()
            pull(client, "ns/r", "t", tmp_path / "out.tar", retry=policy)
            seconds = time.monotonic() - started
    assert len(trickle.seen) == 1
    ranged = [
        entry
        for entry in settled(standalone)
        if entry.path.endswith("/layer") and entry.headers.get("range", "").startswith("bytes=")
    ]
    assert len(ranged) == 1
    start = int(ranged[0].headers["range"].removeprefix("bytes=").partition("-")[0])
    assert start > burst  # the burst and the trickled bytes were kept
    assert seconds < 5
    with tarfile.open(tmp_path / "out.tar") as loaded:
        assert f"{image.id}/layer.tar" in loaded.getnames()


@pytest.mark.usefixtures("small_direct_body")
@pytest.mark.parametrize(("size", "burst"), [(None, 0), BIG], ids=["small", "direct"])
def test_a_silent_layer_host_is_a_stall_too(
    standalone: Standalone, tmp_path: Path, size: int | None, burst: int
) -> None:
    image = seed_chain(1)[0] if size is None else seed_chain(1, size=size)[0]
    standalone.store.seed("ns/r", "t", [image])
    policy = RetryPolicy(attempts=1, speed_limit=1, speed_time=1)
    with running(Trickle(image.layer_bytes, every=None, burst=burst)) as trickle:
        standalone.faults.redirect("/v1/images/*/layer", trickle.url)
        with Client(standalone.url) as client:
            started = time.monotonic()
            with pytest.raises(TransferStalled, match="stalled: no progress for 1 s"):
                pull(client, "ns/r", "t", tmp_path / "out.tar", retry=policy)
    assert time.monotonic() - started < 3


# ---------------------------------------------------------------- diff_ids


def _with_wrong_diff_id(archive: Path) -> Path:
    """``archive`` with its config's first diff_id replaced: the layer's bytes stay."""
    members: list[tuple[tarfile.TarInfo, bytes]] = []
    with tarfile.open(archive) as source:
        manifest = json.loads(source.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config_name = manifest[0]["Config"]
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name == config_name:
                config = json.loads(data)
                config["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
                data = json.dumps(config).encode()
                member.size = len(data)
            members.append((member, data))
    tampered = archive.with_name("tampered.tar")
    with tarfile.open(tampered, "w") as target:
        for member, data in members:
            target.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return tampered


def test_push_refuses_a_layer_that_is_not_its_diff_id_before_any_request(
    standalone: Standalone, archive: Path
) -> None:
    tampered = _with_wrong_diff_id(archive)
    netloc = standalone.url.removeprefix("http://")
    code, stderr, _, _ = _run("push", str(tampered), f"{netloc}/team/app:1.0")
    line = _one_error(code, stderr, "layer 1", "diff_id is sha256:" + "0" * 64)
    assert code == 1, line
    assert settled(standalone) == []  # not even a ping: the archive is judged first
    code, stderr, _, _ = _run("push", str(archive), f"{netloc}/team/app:1.0")
    assert code == 0, stderr  # the genuine archive goes up


def test_copy_from_a_tampered_archive_writes_nothing(archive: Path, tmp_path: Path) -> None:
    tampered = _with_wrong_diff_id(archive)
    layout = tmp_path / "layout"
    code, stderr, _, _ = _run("copy", f"docker-archive:{tampered}", f"oci:{layout}:app")
    _one_error(code, stderr, "diff_id")
    written = [path for path in layout.rglob("blobs/**/*") if path.is_file()]
    assert written == []  # the layout may be laid out, but no layer went in


# ---------------------------------------------------------------- decompression bombs


@pytest.mark.parametrize("bomb", ["bzip2-bomb", "gzip-bomb"])
def test_a_bomb_layer_fails_its_copy_in_bounded_memory(
    messy_registry: tuple[Standalone, MessyRegistry], bomb: str, tmp_path: Path
) -> None:
    """The messy registry's bombs: a few KB (bzip2) or MB (gzip) with a valid v1 checksum
    that expand to 8 GiB. The copy converts the layer (v1 → OCI), so only the bound on
    decompression stops it: one ``error:`` line, small peak RSS, nothing written."""
    source, messy = messy_registry
    host = source.url.removeprefix("http://").rstrip("/")
    code, stderr, peak, seconds = _run(
        "copy", f"{host}/legacy/bombs:{bomb}", f"oci:{tmp_path / 'out'}:x"
    )
    _one_error(code, stderr, "decompression bomb")
    assert peak < RSS_LIMIT_MIB, f"{peak:.0f} MiB peak RSS"
    assert not (tmp_path / "out" / "index.json").exists()
    print(f"copy of the {bomb} ({messy.bomb_size} bytes out): {peak:.0f} MiB, {seconds:.1f} s")


def test_a_migration_past_bombs_moves_the_rest_in_bounded_memory(
    messy_registry: tuple[Standalone, MessyRegistry], tmp_path: Path
) -> None:
    source, _ = messy_registry
    host = source.url.removeprefix("http://").rstrip("/")
    code, stderr, peak, seconds = _run(
        "migrate",
        f"{host}/legacy/bombs",
        f"oci:{tmp_path / 'out'}",
        "--journal",
        str(tmp_path / "j.sqlite"),
        "--format",
        "plain",
    )
    assert code == 2, stderr  # the bombs' tags failed; the healthy one moved
    assert peak < RSS_LIMIT_MIB, f"{peak:.0f} MiB peak RSS"
    refs = json.loads((tmp_path / "out" / "index.json").read_text())["manifests"]
    names = {
        m["annotations"]["org.opencontainers.image.ref.name"]
        for m in refs
        if "artifactType" not in m  # the v1 provenance: untagged
    }
    assert names == {"legacy/bombs:latest"}
    print(f"migrate past two bombs: {peak:.0f} MiB, {seconds:.1f} s")
