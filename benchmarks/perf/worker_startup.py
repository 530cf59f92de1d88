"""The worker's start-up cost before any backend import, old tree against new, side by side.

Usage::

    .venv/bin/python benchmarks/perf/worker_startup.py --old /path/to/old/checkout [--reps 15]
        [--out benchmarks/perf/results]

Each repetition times, in a fresh interpreter of this venv, ``import
automux.core.run.worker`` (the new layout) and ``import automux.core.worker`` from the
old checkout (``--old``, e.g. a ``git worktree`` of an earlier commit), in
alternating order so machine load hits both; ``python -c pass`` is timed too,
as the floor. It also lists whether the worker import pulled in ``automux.api``,
the store or ``sqlite3``. Writes ``OUT/worker_startup.csv`` and ``.md`` (medians).
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("automux.api", "automux.core.store", "automux.core.run.store", "sqlite3")


def _time(code: str, path: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(path))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=str(path))
    return time.perf_counter() - t0


def _heavy(module: str, path: Path) -> list:
    code = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(path)), cwd=str(path))
    return out.stdout.split()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="checkout of the old layout (automux.core.worker)")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "perf" / "results"))
    a = ap.parse_args()
    old = Path(a.old).resolve()
    cases = {"python -c pass": ("pass", ROOT), "old: import automux.core.worker": ("import automux.core.worker", old),
             "new: import automux.core.run.worker": ("import automux.core.run.worker", ROOT)}
    times = {k: [] for k in cases}
    for rep in range(a.reps):
        order = list(cases) if rep % 2 == 0 else list(reversed(cases))
        for k in order:
            times[k].append(_time(*cases[k]))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "worker_startup.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "rep", "seconds"])
        for k, ts in times.items():
            for i, t in enumerate(ts):
                w.writerow([k, i, f"{t:.4f}"])
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["python -c pass"]
    lines = [f"# Worker start-up before the backend import ({platform.node()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}, {a.reps} alternating reps)", "",
             "| case | median s | above `python -c pass` s | heavy modules imported |", "|---|---|---|---|"]
    heavy = {"old: import automux.core.worker": _heavy("automux.core.worker", old),
             "new: import automux.core.run.worker": _heavy("automux.core.run.worker", ROOT)}
    for k, m in med.items():
        lines.append(f"| {k} | {m:.3f} | {m - floor:.3f} | {', '.join(heavy.get(k, [])) or '-'} |")
    o, n = med["old: import automux.core.worker"] - floor, med["new: import automux.core.run.worker"] - floor
    lines += ["", f"New / old cost above the bare interpreter: {n / o:.2f} ({o:.3f} s -> {n:.3f} s)."]
    (out / "worker_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
