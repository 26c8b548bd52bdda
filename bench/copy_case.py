"""Case 7: ``regv1 copy`` of a 4-layer plain-tar image from the emulator into a local
distribution 2.8, against the two-tool route (``regv1 pull`` to an archive, then
``skopeo copy docker-archive:… docker://…``); and the gzip throughput the copy rests on.

Every run is a separate process, measured from outside: wall time, peak RSS (``VmHWM``)
and the largest file under its temp and cache directories while it runs (polled), so
"nothing staged on disk" is a number. Every repetition gets a fresh distribution (on a
new port) and fresh blob caches, so every run moves every byte: skopeo keeps its own
blob-info cache (system-wide when run as root) and, told that a registry it has seen
holds a layer, mounts it instead of compressing and sending it. The registry's request
log confirms that each first copy and each baseline committed every blob.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.emulator.server import run_standalone

from .gzip_bench import compress, implementations, mixed_data
from .stats import Figure, absolute, compare

if TYPE_CHECKING:
    from v2registry import V2Registry  # tests/v2, put on the path by _registry

ROOT = Path(__file__).resolve().parent.parent
CASE = "7. copy to a v2 registry"
GZIP_CASE = "8. gzip throughput"
MIB = 1 << 20
REPO = "bench/copy"


def copy_tools_available() -> bool:
    """distribution (Debian's docker-registry) and skopeo: the case needs both."""
    return all(shutil.which(tool) for tool in ("docker-registry", "skopeo"))


@contextmanager
def _registry(root: Path) -> Iterator[V2Registry]:
    sys.path.insert(0, str(ROOT / "tests" / "v2"))
    sys.path.insert(0, str(ROOT / "tests"))
    from v2registry import run_registry  # noqa: PLC0415 - the test suite's launcher

    with run_registry("none", root) as registry:
        yield registry


def _largest(dirs: list[Path]) -> int:
    largest = 0
    for base in dirs:
        for dirpath, _, files in os.walk(base):
            for name in files:
                try:
                    largest = max(largest, os.stat(os.path.join(dirpath, name)).st_size)
                except OSError:
                    continue  # gone between listing and stat
    return largest


def _high_water(pid: int) -> int:
    """The process's peak resident set so far (``VmHWM``), 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class _Run(NamedTuple):
    seconds: float
    peak: int
    """Peak RSS, bytes."""
    largest: int
    """The largest file seen under the watched directories, bytes."""
    cpu: float
    """User + system seconds of the process."""
    registry_cpu: float
    """User + system seconds the destination registry spent meanwhile."""


def _cpu_seconds(pid: int) -> float:
    """User + system time of a running process, from ``/proc/PID/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(argv: list[str], scratch: Path, watch: list[Path], registry: V2Registry) -> _Run:
    """Wall time, peak RSS, the largest file seen under ``watch`` and the CPU time of one
    process, and the CPU time ``registry`` spent while it ran. Its temp, cache and state
    directories are under ``scratch`` (a migration's journal counts as a file too)."""
    env = {
        **os.environ,
        "TMPDIR": str(scratch / "tmp"),
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "XDG_STATE_HOME": str(scratch / "state"),
    }
    for directory in (scratch / "tmp", scratch / "cache", scratch / "state"):
        directory.mkdir(parents=True, exist_ok=True)
    largest = 0
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal largest, peak
        while not done.is_set():
            largest = max(largest, _largest(watch))
            peak = max(peak, _high_water(process.pid))
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    registry_before = _cpu_seconds(registry.process.pid)
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own tools, argv built here
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    poller.start()
    # wait4's ru_maxrss would count the pages the child had between fork and exec (this
    # process, image included); the kernel's VmHWM of the child is its own peak.
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    registry_cpu = _cpu_seconds(registry.process.pid) - registry_before
    process.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    poller.join()
    largest = max(largest, _largest(watch))
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} {argv[1]} failed: {error[-2000:]}")
    return _Run(seconds, peak, largest, usage.ru_utime + usage.ru_stime, registry_cpu)


def _committed(registry: V2Registry, since: int) -> int:
    """Blob uploads the registry completed (PUT …/blobs/uploads/… answered 201) since
    log line ``since``."""
    return sum(
        1
        for line in registry.log_lines()[since:]
        if "method=PUT" in line and "/blobs/uploads/" in line and "status=201" in line
    )


def _moved_everything(registry: V2Registry, since: int, blobs: int, what: str) -> None:
    committed = _committed(registry, since)
    if committed < blobs:
        raise RuntimeError(
            f"{what} committed {committed} of {blobs} blobs: it skipped some, so its time "
            "would not be that of a full copy"
        )


def _stage_seconds(chain: list[SeedImage], reps: int) -> list[float]:
    """CPU seconds of the copy's unavoidable stages over ``chain``'s layers, each stage
    alone in this one thread, the best of ``reps``: the v1 payload sha256 (JSON, a newline,
    the layer), the diff_id sha256 (the layer), ISA-L gzip at level 1 (what the copy
    writes) and the blob sha256 (the gzip output). The bytes go through in 1 MiB blocks,
    as the copy reads them; nothing else the copy does (HTTP, threads, bookkeeping) counts
    here, so the copy's CPU over this sum is what the rest costs."""
    from isal import isal_zlib  # noqa: PLC0415 - the copy extra, as the copy itself

    def blocks(data: bytes) -> Iterator[memoryview]:
        view = memoryview(data)
        for start in range(0, len(data), MIB):
            yield view[start : start + MIB]

    def timed(stage: Callable[[SeedImage], object]) -> float:
        best = float("inf")
        for _ in range(reps):
            started = time.thread_time()
            for image in chain:
                stage(image)
            best = min(best, time.thread_time() - started)
        return best

    def payload(image: SeedImage) -> object:
        digest = hashlib.sha256(image.json_bytes + b"\n")
        for block in blocks(image.layer_bytes):
            digest.update(block)
        return digest.digest()

    def diff_id(image: SeedImage) -> object:
        digest = hashlib.sha256()
        for block in blocks(image.layer_bytes):
            digest.update(block)
        return digest.digest()

    def gzip(image: SeedImage) -> bytes:
        deflate = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS)
        out = [deflate.compress(block) for block in blocks(image.layer_bytes)]
        return b"".join([*out, deflate.flush()])

    compressed = {image.id: gzip(image) for image in chain}

    def blob(image: SeedImage) -> object:
        digest = hashlib.sha256()
        for block in blocks(compressed[image.id]):
            digest.update(block)
        return digest.digest()

    return [timed(payload), timed(diff_id), timed(gzip), timed(blob)]


def copy_cases(workdir: Path, layer_size: int, reps: int, *, layers: int = 4) -> list[Figure]:
    regv1 = str(Path(sys.executable).parent / "regv1")
    skopeo = shutil.which("skopeo") or "skopeo"
    workdir.mkdir(parents=True, exist_ok=True)
    copy_s: list[float] = []
    copy_rss: list[float] = []
    copy_file: list[float] = []
    copy_cpu: list[float] = []
    copy_registry_cpu: list[float] = []
    again_s: list[float] = []
    base_s: list[float] = []
    base_rss: list[float] = []
    base_file: list[float] = []
    base_cpu: list[float] = []
    base_registry_cpu: list[float] = []
    blobs = layers + 1  # and the config
    with run_standalone(data_dir=workdir / "emulator") as emulator:
        chain = build_image_chain(layers, seed=71, layer_size=layer_size, gzip=False)
        emulator.store.seed(REPO, "1.0", chain)
        gib = sum(len(image.layer_bytes) for image in chain) / (1 << 30)
        stages = _stage_seconds(chain, max(reps, 2))
        source = emulator.url.removeprefix("http://").rstrip("/") + f"/{REPO}:1.0"
        for rep in range(reps):
            with _registry(workdir / f"v2-{rep}") as registry:
                host = registry.host
                scratch = workdir / f"copy-{rep}"
                argv = [regv1, "copy", source, f"docker://{host}/bench/copy:1.0"]
                since = len(registry.log_lines())
                copied = _measure(argv, scratch, [scratch], registry)
                _moved_everything(registry, since, blobs, "regv1 copy")
                copy_s.append(copied.seconds)
                copy_rss.append(copied.peak / MIB)
                copy_file.append(copied.largest / MIB)
                copy_cpu.append(copied.cpu)
                copy_registry_cpu.append(copied.registry_cpu)
                again_s.append(_measure(argv, scratch, [scratch], registry).seconds)

                scratch = workdir / f"base-{rep}"
                archive = scratch / "image.tar"
                pull = [regv1, "pull", source, "-o", str(archive)]
                pulled = _measure(pull, scratch, [scratch], registry)
                since = len(registry.log_lines())
                pushed = _measure(
                    [
                        skopeo,
                        "--insecure-policy",
                        "copy",
                        "--quiet",
                        "--dest-tls-verify=false",
                        f"docker-archive:{archive}",
                        f"docker://{host}/bench/base:1.0",
                    ],
                    scratch,
                    [scratch],
                    registry,
                )
                _moved_everything(registry, since, blobs, "skopeo copy")
                base_s.append(pulled.seconds + pushed.seconds)
                base_rss.append(max(pulled.peak, pushed.peak) / MIB)
                base_file.append(max(pulled.largest, pushed.largest) / MIB)
                base_cpu.append(pulled.cpu + pushed.cpu)
                base_registry_cpu.append(pushed.registry_cpu)
                shutil.rmtree(scratch, ignore_errors=True)
            shutil.rmtree(workdir / f"v2-{rep}", ignore_errors=True)
    what = (
        f"{layers} plain-tar layers x {layer_size // MIB if layer_size >= MIB else layer_size} "
        + ("MiB" if layer_size >= MIB else "B")
    )
    return [
        compare(
            CASE,
            f"regv1 copy, {what}",
            "s",
            copy_s,
            "regv1 pull + skopeo copy docker-archive:",
            base_s,
            higher_is_better=False,
            target=(">= 2x faster (ratio <= 0.5)", 0.5),
        ),
        absolute(CASE, f"regv1 copy again (every blob there), {what}", "s", again_s),
        absolute(CASE, f"regv1 copy client peak RSS, {what}", "MiB", copy_rss, 100, "<= 100 MiB"),
        absolute(CASE, f"regv1 copy largest temp file, {what}", "MiB", copy_file, 64, "<= 64 MiB"),
        absolute(CASE, f"pull + skopeo peak RSS, {what}", "MiB", base_rss),
        absolute(CASE, f"pull + skopeo largest staged file, {what}", "MiB", base_file),
        # Where the time goes on a shared machine: CPU seconds, not wall.
        compare(
            CASE,
            f"regv1 copy client CPU (user + sys), {what}",
            "s",
            copy_cpu,
            "regv1 pull + skopeo copy CPU",
            base_cpu,
            higher_is_better=False,
        ),
        # The floor: what any client must compute per GiB, each stage timed alone.
        compare(
            CASE,
            f"regv1 copy client CPU per GiB, {what}",
            "s/GiB",
            [cpu / gib for cpu in copy_cpu],
            "sum of its unavoidable stages alone (payload sha256 "
            f"{stages[0] / gib:.2f} + diff_id sha256 {stages[1] / gib:.2f} + ISA-L gzip "
            f"{stages[2] / gib:.2f} + blob sha256 {stages[3] / gib:.2f} s/GiB)",
            [sum(stages) / gib],
            higher_is_better=False,
            target=("<= 1.3x the stages' sum", 1.3),
        ),
        compare(
            CASE,
            f"destination registry CPU during regv1 copy, {what}",
            "s",
            copy_registry_cpu,
            "during skopeo copy",
            base_registry_cpu,
            higher_is_better=False,
        ),
    ]


def gzip_cases(mib: int, reps: int) -> list[Figure]:
    """isal (what copy uses) against stdlib zlib at level 1, and zlib 6 (the same ratio)."""
    data = mixed_data(mib * MIB)
    makers = implementations()

    def rate(name: str) -> list[float]:
        values = []
        for _ in range(reps):
            started = time.perf_counter()
            compress(makers[name][1], data)
            values.append(mib / (time.perf_counter() - started))
        return values

    isal, zlib1, zlib6 = rate("isal-1"), rate("zlib-1"), rate("zlib-6")
    what = f"{mib} MiB mixed data, gzip, one thread"
    return [
        compare(GZIP_CASE, f"isal level 1, {what}", "MiB/s", isal, "stdlib zlib level 1", zlib1),
        compare(
            GZIP_CASE,
            f"isal level 1 vs zlib level 6 (same ratio), {what}",
            "MiB/s",
            isal,
            "stdlib zlib level 6",
            zlib6,
        ),
    ]


def run(*, smoke: bool) -> list[Figure]:
    """Both cases at the full run's sizes (1 GiB image, 64 MiB gzip) or the smoke run's."""
    figures = gzip_cases(4 if smoke else 64, 1 if smoke else 3)
    if copy_tools_available():
        # On disk, not the run's tmpfs: the registries hold several copies of the image.
        with tempfile.TemporaryDirectory(prefix="regv1-copy-case-") as scratch:
            figures += copy_cases(
                # 4 x 255 MiB: the seeder's random.randbytes stops short of 256 MiB.
                Path(scratch),
                256 * 1024 if smoke else 255 * MIB,
                1 if smoke else 3,
            )
    return figures
