"""The six cases of the issue, each measured against its baseline in the same run.

Repetitions are interleaved (one round runs every variant once) so that drift in
the machine's speed hits the client and its baseline alike.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from .stats import Figure, absolute, compare
from .targets import MIB, PULL_REPO, TAGS_REPO, Target, image_id

ROOT = Path(__file__).resolve().parent.parent
Sample = dict[str, float]


@attrs.frozen
class Settings:
    """Sizes and repetition counts: the full run, or the smoke run's tiny version."""

    layer_sizes: tuple[int, ...]
    reps_by_size: dict[int, int]
    rss_only_sizes: tuple[int, ...]
    calls: int
    call_reps: int
    pull_layers: int
    pull_layer_size: int
    pull_latency: float
    pull_reps: int
    import_reps: int
    generate_reps: int

    @property
    def all_sizes(self) -> list[int]:
        return sorted({*self.layer_sizes, *self.rss_only_sizes})


FULL = Settings(
    layer_sizes=(64 * MIB, 1024 * MIB),
    reps_by_size={64 * MIB: 7, 1024 * MIB: 3, 4096 * MIB: 1},
    rss_only_sizes=(4096 * MIB,),
    calls=2000,
    call_reps=5,
    pull_layers=10,
    pull_layer_size=1 * MIB,
    pull_latency=0.05,
    pull_reps=3,
    import_reps=10,
    generate_reps=3,
)
SMOKE = Settings(
    layer_sizes=(256 * 1024,),
    reps_by_size={256 * 1024: 1, 1 * MIB: 1},
    rss_only_sizes=(1 * MIB,),
    calls=20,
    call_reps=1,
    pull_layers=10,
    pull_layer_size=4096,
    pull_latency=0.005,
    pull_reps=1,
    import_reps=1,
    generate_reps=1,
)


def size_label(size: int) -> str:
    if size >= 1 << 30:
        return f"{size >> 30} GiB"
    if size >= MIB:
        return f"{size // MIB} MiB"
    return f"{size // 1024} KiB"


def worker(spec: dict[str, Any]) -> list[Sample]:
    """Run one measurement in a fresh interpreter (see ``bench.worker``)."""
    done = subprocess.run(  # noqa: S603 - fixed argv: this interpreter, curl, nginx
        [sys.executable, "-m", "bench.worker", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {spec['action']} failed:\n{done.stderr[-4000:]}")
    result: list[Sample] = json.loads(done.stdout)
    return result


def curl_binary() -> str:
    found = shutil.which("curl")
    if found is None:
        raise RuntimeError("the bench compares against curl; install it (apt-get install curl)")
    return found


def _curl(argv: list[str]) -> Sample:
    done = subprocess.run(  # noqa: S603 - fixed argv: this interpreter, curl, nginx
        [
            curl_binary(),
            "-sS",
            "--fail",
            "-o",
            "/dev/null",
            "-w",
            "%{time_total} %{size_download} %{size_upload}",
            *argv,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, down, up = done.stdout.split()
    return {"seconds": float(seconds), "bytes": float(down) + float(up), "rss_growth_mib": 0.0}


def _mib_s(samples: list[Sample]) -> list[float]:
    return [s["bytes"] / MIB / s["seconds"] for s in samples]


def _fresh_id(label: str) -> str:
    return image_id(f"{label}-{time.monotonic_ns()}")


# ---------------------------------------------------------------- 1, 2, 3: layers


def _get_variants(target: Target, size: int) -> dict[str, Callable[[], Sample]]:
    base = {"base": target.base, "image_id": target.layers[size], "reps": 1}

    def run(action: str) -> Callable[[], Sample]:
        return lambda: worker({**base, "action": action})[0]

    return {
        "curl -o": lambda: _curl([target.layer_url(target.layers[size])]),
        "get_layer sync": run("get-facade-sync"),
        "get_layer async": run("get-facade-async"),
        "raw httpx sync": run("get-httpx-sync"),
        "raw httpx async": run("get-httpx-async"),
    }


def _put_variants(target: Target, size: int) -> dict[str, Callable[[], Sample]]:
    source = str(target.sources[size])

    def run(action: str) -> Callable[[], Sample]:
        def once() -> Sample:
            image = _fresh_id(action)
            spec = {
                "action": action,
                "base": target.base,
                "source": source,
                "ids": [image],
                "put_json": target.put_json,
            }
            try:
                return worker(spec)[0]
            finally:
                target.forget(image)

        return once

    def curl() -> Sample:
        image = _fresh_id("curl")
        target.announce(image)
        try:
            return _curl(
                [
                    "-T",
                    source,
                    "-H",
                    "Expect:",
                    "-H",
                    "Content-Type: application/octet-stream",
                    target.layer_url(image),
                ]
            )
        finally:
            target.forget(image)

    return {
        "curl -T": curl,
        "add_layer sync": run("put-facade-sync"),
        "add_layer async": run("put-facade-async"),
        "raw httpx sync": run("put-httpx-sync"),
        "raw httpx async": run("put-httpx-async"),
    }


def _rounds(variants: dict[str, Callable[[], Sample]], reps: int) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {name: [] for name in variants}
    for _ in range(reps):
        for name, measure in variants.items():
            samples[name].append(measure())
    return samples


def layer_cases(target: Target, settings: Settings) -> list[Figure]:
    """Cases 1 and 2 (throughput against curl), and case 3 (peak RSS) from the same runs."""
    figures: list[Figure] = []
    rss: dict[int, dict[str, list[float]]] = {}
    for case, variants_of, baseline in (
        ("1. layer GET", _get_variants, "curl -o"),
        ("2. layer PUT", _put_variants, "curl -T"),
    ):
        for size in settings.all_sizes:
            variants = variants_of(target, size)
            if size not in settings.layer_sizes:  # RSS only: the facade alone
                variants = {k: v for k, v in variants.items() if "layer" in k}
            samples = _rounds(variants, settings.reps_by_size[size])
            for name, got in samples.items():
                if "layer" in name:
                    rss.setdefault(size, {})[name] = [s["rss_growth_mib"] for s in got]
            if size not in settings.layer_sizes:
                continue
            curl = _mib_s(samples[baseline])
            label = size_label(size)
            for name, got in samples.items():
                if name == baseline:
                    continue
                facade = "layer" in name
                figures.append(
                    compare(
                        case,
                        f"{name}, {label}",
                        "MiB/s",
                        _mib_s(got),
                        baseline,
                        curl,
                        target=(">= 0.9x curl", 0.9) if facade else None,
                    )
                )
            figures.append(absolute(case, f"{baseline}, {label}", "MiB/s", curl))
    for size, by_variant in sorted(rss.items()):
        for name, growth in by_variant.items():
            figures.append(
                absolute(
                    "3. client peak RSS growth",
                    f"{name}, {size_label(size)}",
                    "MiB",
                    growth,
                    64.0,
                    "<= 64 MiB",
                    worst=True,
                )
            )
    return figures


# ---------------------------------------------------------------- 4: per-call overhead


def call_cases(target: Target, settings: Settings) -> list[Figure]:
    spec = {
        "action": "calls",
        "base": target.base,
        "repo": TAGS_REPO,
        "image_id": target.meta_id,
        "calls": settings.calls,
        "reps": settings.call_reps,
    }
    samples = worker(spec)
    figures = []
    for call in ("list_tags", "get_metadata"):
        ours = [s[f"facade {call}"] / settings.calls * 1e6 for s in samples]
        raw = [s[f"raw httpx {call}"] / settings.calls * 1e6 for s in samples]
        figures.append(
            compare(
                "4. per-call time",
                f"{call} x{settings.calls}, keep-alive",
                "µs/call",
                ours,
                "raw httpx get + json()",
                raw,
                higher_is_better=False,
                target=("<= 1.10x raw httpx", 1.10),
                paired=True,
            )
        )
    return figures


# ---------------------------------------------------------------- 5: pull with latency


def pull_case(base: str, settings: Settings, workdir: Path) -> list[Figure]:
    def run(concurrency: int) -> Callable[[], Sample]:
        spec = {
            "action": "pull-sync",
            "base": base,
            "repo": PULL_REPO,
            "tag": "latest",
            "concurrency": concurrency,
            "reps": 1,
            "workdir": str(workdir / f"pull-{concurrency}"),
        }
        return lambda: worker(spec)[0]

    # Concurrency 8 is not the default; it shows how far the fixed serial requests
    # (read token, tag, ancestry) and the metadata-then-layers phases let the pull scale.
    variants = {"default": run(4), "sequential": run(1), "wide": run(8)}
    samples = _rounds(variants, settings.pull_reps)
    default, sequential, wide = (
        [s["seconds"] for s in samples[name]] for name in ("default", "sequential", "wide")
    )
    what = (
        f"client.pull, {settings.pull_layers} layers x {size_label(settings.pull_layer_size)}"
        f", {settings.pull_latency * 1000:g} ms per request"
    )
    return [
        compare(
            "5. whole-image pull",
            f"{what}, concurrency 4 (default)",
            "s",
            default,
            "concurrency 1 (v1 clients)",
            sequential,
            higher_is_better=False,
            target=(">= 3x faster (ratio <= 0.333)", 1 / 3),
        ),
        absolute("5. whole-image pull", f"{what}, concurrency 1", "s", sequential),
        compare(
            "5. whole-image pull",
            f"{what}, concurrency 8 (for comparison)",
            "s",
            wide,
            "concurrency 1 (v1 clients)",
            sequential,
            higher_is_better=False,
        ),
    ]


# ---------------------------------------------------------------- 6: import, generate

_IMPORT = (
    "import sys, time\n{prelude}t = time.perf_counter()\nimport {module}\n"
    "print((time.perf_counter() - t) * 1000)"
)


def _import_ms(module: str, prelude: str = "") -> float:
    code = _IMPORT.format(module=module, prelude=prelude)
    done = subprocess.run(  # noqa: S603 - fixed argv: this interpreter, curl, nginx
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return float(done.stdout)


def startup_cases(settings: Settings) -> list[Figure]:
    # httpx imports its CLI (click, rich, pygments) whenever they are installed, as the
    # package's `cli` extra does; blocking that module shows the runtime-deps-only cost.
    no_cli = "sys.modules['httpx._main'] = None\n"
    # Interleaved, so that a load drift on the machine weighs on ours and httpx alike.
    ours, httpx_only, ours_no_cli, httpx_no_cli = [], [], [], []
    for _ in range(settings.import_reps):
        ours.append(_import_ms("docker_registry_v1"))
        httpx_only.append(_import_ms("httpx"))
        ours_no_cli.append(_import_ms("docker_registry_v1", no_cli))
        httpx_no_cli.append(_import_ms("httpx", no_cli))
    generate = []
    for _ in range(settings.generate_reps):
        with tempfile.TemporaryDirectory(prefix="regv1-bench-generate-") as out:
            started = time.perf_counter()
            subprocess.run(  # noqa: S603 - fixed argv: this interpreter, curl, nginx
                [sys.executable, "tools/generate.py", "--out", out],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            generate.append(time.perf_counter() - started)
    case = "6. startup"
    return [
        compare(
            case,
            "import docker_registry_v1 (cold process, extras installed)",
            "ms",
            ours,
            "import httpx",
            httpx_only,
            higher_is_better=False,
        ),
        absolute(
            case,
            "import docker_registry_v1 (cold process, extras installed)",
            "ms",
            ours,
            150.0,
            "<= 150 ms",
        ),
        compare(
            case,
            "import docker_registry_v1 (httpx without its CLI: runtime deps only)",
            "ms",
            ours_no_cli,
            "import httpx (same)",
            httpx_no_cli,
            higher_is_better=False,
        ),
        absolute(
            case,
            "import docker_registry_v1 (httpx without its CLI: runtime deps only)",
            "ms",
            ours_no_cli,
            120.0,
            "<= 120 ms",
        ),
        absolute(case, "make generate (tools/generate.py into a scratch dir)", "s", generate),
    ]
