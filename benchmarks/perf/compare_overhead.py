"""Harness overhead of ``automux compare``, before (an old checkout) and after (this tree), interleaved.

Usage::

    git worktree add /tmp/before4c80 4c80c37
    nice -n 5 .venv/bin/python benchmarks/perf/compare_overhead.py --before /tmp/before4c80 [--reps 5]
        [--out benchmarks/perf/results]
    git worktree remove /tmp/before4c80

Each repetition runs, before then after (the order alternates every repetition so machine
load hits both alike), in a fresh store::

    PYTHONPATH=TREE .venv/bin/python -m automux compare --data sklearn:breast_cancer --target target \\
        --backends reference,optuna,flaml --budget-trials 5 --no-check --store TMP

and times the whole command. The harness overhead is that wall time minus the sum of the
three runs' ``durations.search`` read from their ``record.json``: everything automux does
outside the backends' searches (parent, data, split, store, worker launch, imports, start-up,
refits, scoring). The imported ``automux`` is checked to come from TREE. Writes
``OUT/compare_overhead.csv`` (one row per command) and ``OUT/compare_overhead.md`` (medians,
ratio after / before, 1-minute load average around each command).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import short_commit, write_rows  # noqa: E402
ARGS = ["compare", "--data", "sklearn:breast_cancer", "--target", "target", "--backends", "reference,optuna,flaml",
        "--budget-trials", "5", "--no-check"]
FIELDS = ["rep", "tree", "wall_s", "search_sum_s", "overhead_s", "startup_sum_s", "overhead_less_startup_s", "runs",
          "statuses", "searches_s", "load1_before", "load1_after"]


def _env(tree: Path) -> Dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(tree))


def check_import(tree: Path) -> str:
    """The ``automux`` package this tree's PYTHONPATH imports (must lie inside the tree)."""
    out = subprocess.run([sys.executable, "-c", "import automux; print(automux.__file__)"], capture_output=True,
                         text=True, env=_env(tree), cwd=str(tree), check=True).stdout.strip()
    if not Path(out).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"PYTHONPATH={tree} imports automux from {out}, not from that tree")
    return out


def one(tree: Path, label: str, rep: int, timeout: float) -> Dict[str, Any]:
    store = Path(tempfile.mkdtemp(prefix=f"compare-overhead-{label}-"))
    try:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "automux", *ARGS, "--store", str(store)], capture_output=True,
                           text=True, env=_env(tree), cwd=str(tree), timeout=timeout)
        wall = time.perf_counter() - t0
        load1 = os.getloadavg()[0]
        recs = [json.loads(f.read_text()) for f in sorted(store.glob("*/record.json"))]
    finally:
        shutil.rmtree(store, ignore_errors=True)
    if p.returncode != 0 or len(recs) != 3:
        print(p.stdout[-2000:], p.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{label} rep {rep}: exit {p.returncode}, {len(recs)} records")
    searches = {r["backend"]: float((r.get("durations") or {}).get("search") or 0.0) for r in recs}
    total = sum(searches.values())
    # before issue 22 there is no durations.startup: imports and start-up were inside durations.search
    startup = sum(float((r.get("durations") or {}).get("startup") or 0.0) for r in recs)
    return {"rep": rep, "tree": label, "wall_s": round(wall, 3), "search_sum_s": round(total, 3),
            "overhead_s": round(wall - total, 3), "startup_sum_s": round(startup, 3),
            "overhead_less_startup_s": round(wall - total - startup, 3), "runs": len(recs),
            "statuses": " ".join(sorted(r["status"] for r in recs)),
            "searches_s": " ".join(f"{k}={v:.2f}" for k, v in sorted(searches.items())),
            "load1_before": round(load0, 2), "load1_after": round(load1, 2)}


def report(rows: List[Dict[str, Any]], before: Path, imports: Dict[str, str], cmdline: str) -> str:
    def med(label: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in rows if r["tree"] == label)

    commit, old = short_commit(ROOT), short_commit(before)
    n = sum(r["tree"] == "after" for r in rows)
    loads = [float(r[k]) for r in rows for k in ("load1_before", "load1_after")]
    lines = [f"# Harness overhead of `automux compare` (3 backends, 5 trials each), before vs after", "",
             f"Made {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} ({os.cpu_count()} "
             f"cores, shared with other sessions and a background benchmark; 1-minute load average "
             f"{min(loads):.2f}-{max(loads):.2f} over the run), Python {platform.python_version()}, by", "",
             f"    {cmdline}", "",
             f"before = {old} ({imports['before']}), after = {commit} ({imports['after']}); {n} repetitions each, "
             "interleaved (before/after, then after/before, ...), each in a fresh store. Command: "
             f"`python -m automux {' '.join(ARGS)} --store TMP`. overhead = wall of the whole command minus the "
             "sum of the three records' `durations.search`. Caution: before issue 22 the search clock started "
             "at worker launch, so `durations.search` there includes the backend's import and start-up; after, "
             "start-up is `durations.startup`, outside the search, hence in the overhead. `overhead less start-up` "
             "takes it out again (after only; before has no start-up figure, it is 0 there), the like-for-like "
             "figure; `wall` itself is like for like too.", "",
             "| median | before | after | after / before |", "|---|---|---|---|"]
    for key, name in (("wall_s", "wall s"), ("search_sum_s", "sum of searches s"), ("overhead_s", "overhead s"),
                      ("startup_sum_s", "sum of start-ups s"),
                      ("overhead_less_startup_s", "overhead less start-up s")):
        b, a = med("before", key), med("after", key)
        lines.append(f"| {name} | {b:.2f} | {a:.2f} | {a / b:.2f} |" if b else f"| {name} | {b:.2f} | {a:.2f} | - |")
    lines += ["", "| rep | tree | wall s | searches s | start-ups s | overhead s | statuses | load1 before / after |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['rep']} | {r['tree']} | {r['wall_s']:.2f} | {r['searches_s']} | {r['startup_sum_s']:.2f} | "
                     f"{r['overhead_s']:.2f} | "
                     f"{r['statuses']} | {r['load1_before']:.2f} / {r['load1_after']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="checkout of the old commit (a git worktree)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=600.0, help="cap of one compare command, seconds")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "perf" / "results"))
    a = ap.parse_args()
    trees = {"before": Path(a.before).resolve(), "after": ROOT}
    imports = {k: check_import(v) for k, v in trees.items()}
    print(imports, flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: List[Dict[str, Any]] = []
    for rep in range(a.reps):
        for label in (("before", "after") if rep % 2 == 0 else ("after", "before")):
            rows.append(one(trees[label], label, rep, a.timeout))
            print(rows[-1], flush=True)
            write_rows(out / "compare_overhead.csv", FIELDS, rows)
    cmdline = "nice -n 5 .venv/bin/python benchmarks/perf/compare_overhead.py " + " ".join(sys.argv[1:])
    (out / "compare_overhead.md").write_text(report(rows, trees["before"], imports, cmdline.strip()))
    print((out / "compare_overhead.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
