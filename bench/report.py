"""``benchmarks.md`` and ``benchmarks.json``: the same figures, for people and for tools."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .cases import curl_binary
from .nginx import nginx_available, nginx_version
from .stats import Figure


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / (1 << 20), 1)
    return 0.0


def _curl_version() -> str:
    argv = [curl_binary(), "--version"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    return done.stdout.split("\n", 1)[0].split(" (", 1)[0]


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "httpx": version("httpx"),
        "h11": version("h11"),
        "curl": _curl_version(),
        "nginx": nginx_version() if nginx_available() else None,
    }


LIMITS = [
    "## What limits the figures",
    "",
    "- Layer GET: httpx (httpcore + h11) reads the socket 64 KiB at a time and copies and "
    "parses every read in Python, the raw httpx loops' ceiling. The facade reads a body of "
    "32 MiB or more from the connection in 1 MiB reads once h11 has handed over what it "
    "buffered (`iter_body`), so at 1 GiB it passes the raw loops (sync and async alike, "
    "the async one reading its anyio stream); at 64 MiB it does not: such a read costs the "
    "connection, and each repetition's new one starts with small socket buffers (the raw "
    "loop reuses a grown one). What remains against curl is a Python call and a fresh "
    "1 MiB bytes object per read.",
    "- Layer PUT: the facade reads 1 MiB per read (and per thread hop for the async "
    "client); what remains is the socket send path of httpx.",
    "- Per-call time: both contenders run in one process, in 20 alternating blocks per "
    "repetition, and the ratio is the median of the paired ratios: measured in separate "
    "processes seconds apart (as before), the load of other work on the machine moved the "
    "ratio by 20 % from run to run, which is why a full run and a partial one disagreed. A "
    "call builds one request with the generated `build_request` and sends it with httpx's "
    "`send`, as the raw loop does; on top the facade checks its input and builds a typed "
    "result. Client CPU per call (mock transport, best of 5 runs of 1,000 calls): "
    "list_tags 118 µs against 91 µs raw, get_metadata 140 µs against 104 µs (the base "
    "URL's origin, asked up to three times a call for credentials and budgets, is no "
    "longer parsed each time: 13-14 µs less). What remains is spread thin: input checks, "
    "the per-host budget, the capped body read and, for get_metadata, decoding the 1.2 KB "
    "image JSON into its model (`json()` does not). On a loaded machine the client's CPU "
    "dominates a loopback call, so the ratio tends to that CPU ratio.",
    "- Whole-image pull: the token decision's `_ping` and the tag lookup go out together "
    "(the tag answer is dropped when the registry issues tokens), then ancestry; then the "
    "layer GETs go out while the image JSONs (four times as wide) are still on their way, "
    "so 10 layers on 4 workers take three round trips after the two serial ones. What "
    "keeps the measured ratio above 1/3 is the fixed part both pay: the first pull of a "
    "process imports the transfer and archive modules (65-145 ms on this shared machine, "
    "before the first request can go out), the first batch of 14 parallel requests opens "
    "14 connections (about 100 ms here for a 50 ms round trip), and writing the archive "
    "(diff_ids and the tar copy of 10 MiB; uncompressed layer files are now copied without "
    "a spool) takes 30-80 ms.",
    "- Registry migrate: the per-tag pipeline pays the 20 ms per source request for every "
    "layer of every tag's chain, writes each tag's archive and has skopeo read it back, so "
    "shared base layers are read once per tag; `regv1 migrate` reads each image once, keeps "
    "8 layers in flight, and uploads each blob once and mounts it elsewhere. What remains "
    "for it is the source's latency on the metadata, the gzip check of each layer and "
    "distribution's own write of every blob.",
    "- Registry inventory: the `_ping` and the first search page come first, one after "
    "the other; then 8 repositories are read at a time, each its tag list, image list, "
    "one ancestry and the image JSONs it claimed first, in turn. The first repositories "
    "on each base chain also fetch that chain's JSONs, so the waves are uneven and the "
    "speed-up stays below 8.",
    "- Registry scale: the client, the emulator (with the counting proxy, in the bench's "
    "process) and distribution share two cores; per tag, distribution spends about as much "
    "CPU as the client. Source requests are counted from the emulator's log, destination "
    "requests through the proxy, by kind (the figure's label gives each kind per tag); the "
    "proxy adds a little wall time, not client CPU. The kill -9 lands once half the tags' "
    "manifests are in; the figure is the rerun's time to its first POST to /blobs/uploads/.",
    "- Import: httpx alone imports its command-line module (click, rich, pygments) when the "
    "`cli` extra has installed them. The generated packages load endpoint modules, models "
    "and their own client on first use (8 generated modules at import, not 49); what "
    "remains is attrs (about 12 ms) and the package's own modules (about 45 ms of their "
    "own on this shared machine, most of it attrs generating the methods of 17 classes "
    "and compiling 12 regular expressions).",
    "- Copy to a v2 registry: on two shared cores both routes are bound by CPU, and much "
    "of the copy's is not the client's. Per GiB the destination (Debian's distribution "
    "2.8, built with Go 1.19, whose sha256 has no SHA-NI path) spends 3.5-5 s whoever "
    "sends, the emulator serving the source about 1.6 s, and the client 5-5.5 s: three "
    "sha256 passes (payload checksum, diff_id, blob digest) and ISA-L take 4.2-4.5 s of "
    "it. The layer bodies (255 MiB) are read off the connection in 1 MiB reads "
    "(`iter_body`, from 32 MiB on); httpx's 64 KiB read loop cost about 1.2 s more per GiB "
    "(1.49x the stages' sum then, 1.2x now). The baseline's own CPU (pull, then skopeo's "
    "Go gzip) is about 2.7 times the copy client's, but with the shared costs counted the "
    "copy needs more than half the baseline's CPU, so the wall ratio stays near 0.4.",
    "- v1 face over v2: the client, the face and distribution share two cores. A layer is "
    "one GET to the registry whose body (from 32 MiB on) is read from the connection in "
    "1 MiB reads by a read-ahead thread and handed to the event loop with no worker thread "
    "per chunk; at about 1,000 MiB/s the face takes about 58 % of a core, the bare relay "
    "36 %: the rest is the send side (uvicorn's h11 and asyncio's transport, which copies "
    "what the socket does not take at once). Read through httpx's 64 KiB parser events and "
    "handed over by a worker thread per chunk, it took 94 % of a core for half the "
    "throughput. Six runs of this case on 2026-12-05 gave the face 0.71-0.89x of direct "
    "(median 0.81x) and the bare relay 0.82-0.95x (median 0.87x): the 0.8x target sits "
    "within the run-to-run spread of what a Python process can relay here at all. Below "
    "32 MiB (the 8 MiB figure) the body takes httpx's path and a layer GET's fixed cost "
    "through the face weighs more: about half of direct. A plain-tar layer is bound by "
    "zlib's inflate, done in the read-ahead thread while the loop sends, so it takes no "
    "longer than the client's own GET and inflate of the blob.",
]


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _met(figure: Figure) -> str:
    return {True: "yes", False: "**no**", None: ""}[figure.met]


def markdown(data: dict[str, Any], figures: list[Figure]) -> str:
    m = data["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench`); do not edit by hand. The same data is",
        "in `benchmarks.json`.",
        "",
        f"- Date: {data['date']}",
        f"- Command: `{data['command']}` ({data['mode']} run, {data['elapsed_s']:.0f} s)",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, "
        f"Linux {m['kernel']}",
        f"- Software: Python {m['python']}, httpx {m['httpx']} (h11 {m['h11']}), {m['curl']}, "
        f"nginx {m['nginx'] or 'not installed'}",
        f"- Server for cases 1-4: {data['server']}; layer files on {data['storage']}; "
        "case 5 runs against the emulator with its latency fault switch.",
        "- Every client runs in its own process on loopback; downloads are written to "
        "`/dev/null` by every contender; `curl` times are its own `time_total`, the "
        "Python times exclude interpreter start and imports. Uploads send the file as is "
        "(no payload checksum is computed; `curl` without `Expect: 100-continue`).",
        "- Ratios come from medians of the same run. Throughput ratios: ours / curl "
        "(higher is better); time ratios: ours / baseline (lower is better).",
        "",
        "| Case | Measurement | Median | Spread (min-max) | Reps | Baseline | Baseline median "
        "| Ratio | Target | Met |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for f in figures:
        spread = f"{_number(min(f.values))}-{_number(max(f.values))}"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}x"
        lines.append(
            f"| {f.case} | {f.what} | {_number(f.median)} {f.unit} | {spread} | {len(f.values)} "
            f"| {f.baseline or ''} | {_number(f.baseline_median)} | {ratio} "
            f"| {f.target or ''} | {_met(f)} |"
        )
    lines += ["", *LIMITS]
    return "\n".join(lines) + "\n"


def write(out_dir: Path, data: dict[str, Any], figures: list[Figure]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {**data, "figures": [f.to_dict() for f in figures]}
    json_path = out_dir / "benchmarks.json"
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    md_path = out_dir / "benchmarks.md"
    md_path.write_text(markdown(data, figures))
    return md_path, json_path
