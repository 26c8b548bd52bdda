"""Case 11: ``regv1 migrate`` at registry scale: the emulator's scale seed (``regv1 serve
--seed scale:N``: N repositories x 4 tags, every tag its own small image on one of 8
shared 3-image base chains) into a fresh local distribution 2.8, the CLI as a subprocess.

What grows with the registry is measured per tag, at N=500 and N=2,000: the client's CPU
(user + system of its process, over the tags), its peak RSS (``VmHWM``), the requests each
side answered (the source's from the emulator's request log, the destination's through a
counting proxy in front of distribution, both by kind) and the wall time. Then, at 2,000:
a rerun with nothing to do (its source requests against the N + 2 a rerun needs: the
ping, the search, one tag list per repository; its wall against the first run's), and a
run killed with ``SIGKILL`` once half the tags' manifests reached the destination,
followed by a rerun: the seconds from the rerun's start to its first blob upload at the
destination (the first POST to ``/blobs/uploads/`` the proxy sees), which is what a
rerun's bookkeeping costs before it moves anything.

Each size also runs once more into a fresh registry with ``--no-provenance``: moving the
images alone, so the provenance artifacts' own cost (on distribution 2.8, without the
referrers API: the document's upload, the artifact manifest, the fallback index's GET
and PUT per tag) shows as the difference, and the per-tag CPU, memory and request
targets set before provenance existed are checked on what they were set for.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import httpx
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.scale import ScaleRegistry, count_source_requests, seed_scale
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.formats.provenance import is_fallback_tag

from .copy_case import MIB, _high_water, copy_tools_available
from .stats import Figure, absolute, compare

if TYPE_CHECKING:
    from counting_proxy import CountingProxy  # tests/v2, put on the path by _destination

ROOT = Path(__file__).resolve().parent.parent
CASE = "11. registry scale"
SIZES = (500, 2000)
SMOKE_SIZES = (2, 4)
NO_PROVENANCE = "--no-provenance"
#: Source latency in smoke mode: enough that the kill lands before a tiny run ends.
SMOKE_LATENCY = 0.005


class _Run(NamedTuple):
    seconds: float
    cpu: float
    peak: int
    source: Counter[str]
    dest: Counter[str]


@contextmanager
def _destination(root: Path) -> Iterator[tuple[str, CountingProxy]]:
    """A fresh distribution under ``root`` and a counting proxy in front of it."""
    sys.path.insert(0, str(ROOT / "tests" / "v2"))
    sys.path.insert(0, str(ROOT / "tests"))
    from counting_proxy import counting_proxy  # noqa: PLC0415 - the test suite's proxy
    from v2registry import run_registry  # noqa: PLC0415 - the test suite's launcher

    with run_registry("none", root) as registry, counting_proxy(registry.host) as proxy:
        yield registry.host, proxy
    shutil.rmtree(root, ignore_errors=True)


def _check_destination(host: str, scale: ScaleRegistry) -> None:
    """Every repository is there, and every 25th has all its tags (asked directly, not
    through the proxy, so the counts stay the client's)."""
    with httpx.Client(base_url=f"http://{host}", timeout=60) as v2:
        names: list[str] = []
        while True:  # distribution answers at most 1,000 names a page
            params: dict[str, str | int] = {"n": 1000, **({"last": names[-1]} if names else {})}
            page = v2.get("/v2/_catalog", params=params).json().get("repositories") or []
            names += page
            if len(page) < 1000:
                break
        if sorted(names) != sorted(scale.names):
            raise RuntimeError("the destination does not hold every repository")
        for name in scale.names[::25]:
            listed = v2.get(f"/v2/{name}/tags/list").json()["tags"]
            tags = [tag for tag in listed if not is_fallback_tag(tag)]  # the v1 provenance's
            if sorted(tags) != sorted(scale.tag_names):
                raise RuntimeError(f"{name} at the destination has tags {tags}")


def _start(
    emulator: Standalone, proxy: CountingProxy, scratch: Path, *extra: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TMPDIR": str(scratch / "tmp"),
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "XDG_STATE_HOME": str(scratch / "state"),
    }
    for directory in (scratch / "tmp", scratch / "cache", scratch / "state"):
        directory.mkdir(parents=True, exist_ok=True)
    regv1 = str(Path(sys.executable).parent / "regv1")
    source = emulator.url.removeprefix("http://").rstrip("/")
    argv = [regv1, "migrate", source, f"docker://{proxy.host}"]
    argv += ["--journal", str(scratch / "journal.sqlite"), *extra]
    return subprocess.Popen(  # noqa: S603 - our own command, argv built here
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _migrate(emulator: Standalone, proxy: CountingProxy, scratch: Path, *extra: str) -> _Run:
    """One whole run: wall, CPU and peak RSS of the client, each side's requests by kind."""
    emulator.log.clear()
    mark = proxy.mark()
    peak = 0
    done = threading.Event()
    started = time.perf_counter()
    process = _start(emulator, proxy, scratch, *extra)

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _high_water(process.pid))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    poller.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    _check(process)
    return _Run(
        seconds,
        usage.ru_utime + usage.ru_stime,
        peak,
        count_source_requests(emulator.log.entries),
        proxy.counts(mark),
    )


def _check(process: subprocess.Popen[bytes]) -> None:
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"regv1 migrate failed ({process.returncode}): {error[-2000:]}")


def _killed_then_resumed(
    emulator: Standalone, proxy: CountingProxy, scratch: Path, tags: int
) -> tuple[float, float]:
    """Kill -9 a run once half the manifests are in, rerun: (seconds to the rerun's first
    blob upload, the rerun's wall)."""
    process = _start(emulator, proxy, scratch)
    while proxy.total("PUT manifests") < tags // 2:
        if process.poll() is not None:
            raise RuntimeError("the run ended before half its tags were in: nothing to kill")
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.stderr is not None
    process.stderr.close()
    mark = proxy.mark()
    started = time.monotonic()
    rerun = _start(emulator, proxy, scratch)
    rerun.wait()
    wall = time.monotonic() - started
    _check(rerun)
    firsts = [proxy.first(kind, mark) for kind in ("POST uploads", "POST mount")]
    first = min((t for t in firsts if t is not None), default=None)
    if first is None:
        raise RuntimeError("the rerun after kill -9 uploaded nothing")
    return first - started, wall


def _kinds(counts: Counter[str], tags: int) -> str:
    return ", ".join(f"{kind} {n / tags:.3g}" for kind, n in sorted(counts.items()))


def _report(label: str, scale: ScaleRegistry, run: _Run) -> None:
    """One measured run on stderr as soon as it ends (a later failure keeps it)."""
    tags = scale.tag_count
    print(
        f"{CASE}: {label}: {run.seconds:.1f} s, {run.cpu / tags * 1000:.1f} ms CPU/tag, "
        f"{run.peak / MIB:.0f} MiB; source {dict(run.source)} "
        f"({_per_tag(run.source, tags):.3g}/tag); destination {dict(run.dest)} "
        f"({_per_tag(run.dest, tags):.3g}/tag)",
        file=sys.stderr,
        flush=True,
    )


def _per_tag(counts: Counter[str], tags: int) -> float:
    return sum(counts.values()) / tags


def scale_cases(workdir: Path, *, smoke: bool) -> list[Figure]:
    sizes = SMOKE_SIZES if smoke else SIZES
    runs: dict[int, tuple[ScaleRegistry, _Run]] = {}
    bare: dict[int, _Run] = {}
    rerun: _Run | None = None
    first_upload = resumed_wall = 0.0
    for size in sizes:
        with run_standalone() as emulator:
            scale = seed_scale(emulator.store, repositories=size)
            if smoke:
                emulator.faults.latency("*", SMOKE_LATENCY)
            with _destination(workdir / f"v2-{size}") as (host, proxy):
                runs[size] = scale, _migrate(emulator, proxy, workdir / f"run-{size}")
                _report(f"N={size}", scale, runs[size][1])
                _check_destination(host, scale)
                if size == sizes[-1]:
                    rerun = _migrate(emulator, proxy, workdir / f"run-{size}")
                    _report(f"rerun N={size}", scale, rerun)
            # The same migration without the provenance artifacts: what moving the images
            # costs by itself (the issue-20 figures), the artifacts' share by difference.
            with _destination(workdir / f"v2-bare-{size}") as (host, proxy):
                bare[size] = _migrate(emulator, proxy, workdir / f"bare-{size}", NO_PROVENANCE)
                _report(f"N={size} {NO_PROVENANCE}", scale, bare[size])
                _check_destination(host, scale)
            if size == sizes[-1]:
                with _destination(workdir / f"v2-kill-{size}") as (host, proxy):
                    first_upload, resumed_wall = _killed_then_resumed(
                        emulator, proxy, workdir / f"kill-{size}", scale.tag_count
                    )
                    _check_destination(host, scale)
                print(
                    f"{CASE}: kill -9 at half, rerun: first upload after {first_upload:.2f} s, "
                    f"done after {resumed_wall:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
        shutil.rmtree(workdir / f"run-{size}", ignore_errors=True)
        shutil.rmtree(workdir / f"bare-{size}", ignore_errors=True)
        shutil.rmtree(workdir / f"kill-{size}", ignore_errors=True)
    assert rerun is not None
    small, large = sizes
    (small_scale, small_run), (scale, run) = runs[small], runs[large]
    tags, small_tags = scale.tag_count, small_scale.tag_count
    cpu, small_cpu = run.cpu / tags * 1000, small_run.cpu / small_tags * 1000
    src, dest = _per_tag(run.source, tags), _per_tag(run.dest, tags)
    needed = scale.repositories + 2
    what = f"{large} repositories x 4 tags ({tags} images on 8 shared 3-image bases)"
    bare_run, small_bare = bare[large], bare[small]
    bare_cpu = bare_run.cpu / tags * 1000
    small_bare_cpu = small_bare.cpu / small_tags * 1000
    bare_dest = _per_tag(bare_run.dest, tags)
    images = f"image migration alone ({NO_PROVENANCE})"
    return [
        absolute(CASE, f"regv1 migrate, {what}: wall", "s", [run.seconds]),
        absolute(
            CASE, f"regv1 migrate, {small} repositories x 4 tags: wall", "s", [small_run.seconds]
        ),
        absolute(CASE, f"{images}, N={large}: wall", "s", [bare_run.seconds]),
        compare(
            CASE,
            f"client CPU per tag, N={large}",
            "ms",
            [cpu],
            f"N={small}",
            [small_cpu],
            higher_is_better=False,
            target=("<= 1.1x", 1.1),
        ),
        compare(
            CASE,
            f"client CPU per tag, N={large}, with provenance (the default)",
            "ms",
            [cpu],
            images,
            [bare_cpu],
            higher_is_better=False,
        ),
        absolute(
            CASE,
            f"client CPU (user + sys) per tag, N={large}, {images}",
            "ms",
            [bare_cpu],
            15,
            "<= 15 ms",
        ),
        compare(
            CASE,
            f"client CPU per tag, N={large}, {images}",
            "ms",
            [bare_cpu],
            f"N={small}",
            [small_bare_cpu],
            higher_is_better=False,
            target=("<= 1.1x", 1.1),
        ),
        compare(
            CASE,
            f"client peak RSS, N={large}",
            "MiB",
            [run.peak / MIB],
            f"N={small}",
            [small_run.peak / MIB],
            higher_is_better=False,
            target=("<= 1.2x", 1.2),
        ),
        compare(
            CASE,
            f"client peak RSS, N={large}, {images}",
            "MiB",
            [bare_run.peak / MIB],
            f"N={small}",
            [small_bare.peak / MIB],
            higher_is_better=False,
            target=("<= 1.2x", 1.2),
        ),
        absolute(
            CASE,
            f"source requests per tag, N={large} ({_kinds(run.source, tags)})",
            "req",
            [src],
            3.1,
            "<= 3.1",
        ),
        absolute(
            CASE,
            f"destination requests per tag, N={large}, {images} ({_kinds(bare_run.dest, tags)})",
            "req",
            [bare_dest],
            8,
            "<= 8",
        ),
        compare(
            CASE,
            f"destination requests per tag, N={large}, with provenance ({_kinds(run.dest, tags)})",
            "req",
            [dest],
            images,
            [bare_dest],
            higher_is_better=False,
        ),
        compare(
            CASE,
            f"rerun with nothing to do, N={large}: source requests",
            "req",
            [float(sum(rerun.source.values()))],
            "N + 2 (ping, search, tag lists)",
            [float(needed)],
            higher_is_better=False,
            target=("<= 1x", 1.0),
        ),
        absolute(
            CASE,
            f"rerun with nothing to do, N={large}: wall / first run's",
            "x",
            [rerun.seconds / run.seconds],
            0.10,
            "<= 0.10",
        ),
        absolute(
            CASE,
            f"kill -9 half-way at N={large}, rerun: seconds to its first blob upload",
            "s",
            [first_upload],
            5,
            "<= 5 s",
        ),
    ]


def run(*, smoke: bool) -> list[Figure]:
    """Each size once (N=2,000 takes minutes), then the rerun and the kill -9 at the larger."""
    if not copy_tools_available():
        return []
    with tempfile.TemporaryDirectory(prefix="regv1-scale-case-") as scratch:
        return scale_cases(Path(scratch), smoke=smoke)
