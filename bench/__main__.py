"""``python -m bench [--smoke] [--out DIR] [--server auto|nginx|emulator] [--only CASES]``."""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import shutil
import sys
import time
from pathlib import Path

from . import copy_case, face_case, inventory_case, migrate_case, scale_case
from .cases import FULL, ROOT, SMOKE, call_cases, layer_cases, pull_case, startup_cases
from .nginx import nginx_available
from .report import machine, write
from .stats import Figure
from .targets import GIB, emulator_target, nginx_target, pull_emulator, scratch_root

CASES = ("layers", "calls", "pull", "startup", "copy", "migrate", "inventory", "scale", "face")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="report directory")
    parser.add_argument(
        "--server",
        choices=["auto", "nginx", "emulator"],
        default="auto",
        help="server for cases 1-4 (auto: nginx when installed)",
    )
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        default=set(CASES),
        help=f"comma-separated subset of {','.join(CASES)} (a partial report)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse()
    settings = SMOKE if args.smoke else FULL
    server = args.server
    if server == "auto":
        server = "nginx" if nginx_available() else "emulator"
    started = time.monotonic()
    # Room for every layer once, plus one upload of the largest in flight.
    # Without the layer cases, the server only needs its smallest file.
    sizes = settings.all_sizes if "layers" in args.only else settings.all_sizes[:1]
    need = sum(sizes) + max(sizes) + GIB // 4
    root, storage = scratch_root(need)
    figures: list[Figure] = []
    try:
        serve = nginx_target if server == "nginx" else emulator_target
        if args.only & {"layers", "calls"}:
            with serve(root / "server", sizes) as target:
                if "layers" in args.only:
                    figures += layer_cases(target, settings)
                if "calls" in args.only:
                    figures += call_cases(target, settings)
        if "pull" in args.only:
            with pull_emulator(
                root, settings.pull_layers, settings.pull_layer_size, settings.pull_latency
            ) as base:
                figures += pull_case(base, settings, root / "pulls")
        if "startup" in args.only:
            figures += startup_cases(settings)
        if "copy" in args.only:
            figures += copy_case.run(smoke=args.smoke)
        if "migrate" in args.only:
            figures += migrate_case.run(smoke=args.smoke)
        if "inventory" in args.only:
            figures += inventory_case.run(smoke=args.smoke)
        if "scale" in args.only:
            figures += scale_case.run(smoke=args.smoke)
        if "face" in args.only:
            figures += face_case.run(smoke=args.smoke)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    data = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make bench"
        if not args.smoke
        else shlex.join(["python", "-m", "bench", *sys.argv[1:]]),
        "mode": ("smoke" if args.smoke else "full")
        + ("" if args.only == set(CASES) else " (only " + ",".join(sorted(args.only)) + ")"),
        "server": server,
        "storage": storage,
        "elapsed_s": time.monotonic() - started,
        "machine": machine(),
    }
    md, js = write(args.out, data, figures)
    missed = [f for f in figures if f.met is False]
    print(f"wrote {md} and {js} in {data['elapsed_s']:.0f} s; targets missed: {len(missed)}")
    for f in missed:
        print(f"  missed: {f.case}: {f.what} ({f.target})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
