"""Fail when generated/ differs from what the spec and pinned tools produce.

Regenerates into a scratch directory (never touching the work tree) and compares
every file byte for byte, so a hand edit, a stale file or an unpinned tool shows
up as drift.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"


def tree(base: Path) -> dict[str, bytes]:
    return {
        p.relative_to(base).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="regv1-generated-") as scratch:
        subprocess.run(
            [sys.executable, str(ROOT / "tools" / "generate.py"), "--out", scratch], check=True
        )
        fresh, committed = tree(Path(scratch)), tree(GENERATED)
    drift = sorted(set(fresh) ^ set(committed))
    changed = sorted(name for name in set(fresh) & set(committed) if fresh[name] != committed[name])
    for name in drift:
        where = "only in a fresh generation" if name in fresh else "only in generated/"
        print(f"drift: {name} ({where})")
    for name in changed:
        print(f"drift: {name} differs")
        diff = difflib.unified_diff(
            committed[name].decode(errors="replace").splitlines(),
            fresh[name].decode(errors="replace").splitlines(),
            "generated/" + name,
            "fresh/" + name,
            lineterm="",
        )
        print("\n".join(list(diff)[:40]))
    if drift or changed:
        print("generated/ is out of date: run `make generate` and commit the result.")
        return 1
    print(f"generated/ matches the spec ({len(fresh)} files).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
