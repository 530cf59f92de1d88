"""A bench of H2O cells with its JVM kept warm across cells, against the same bench with ``--no-warm``.

Usage::

    .venv/bin/python benchmarks/perf/warm_runtime.py [--seeds 3] [--trials 2] [--data sklearn:breast_cancer]
        [--warm-first] [--out benchmarks/perf/results]

Writes a suite of ``--seeds`` H2O cells (one data set, one outer fold, a count budget), runs
``automux bench SUITE --no-warm`` (every cell starts its own JVM in its worker) and ``automux bench
SUITE`` (the bench's warm pool: the first cell's JVM is started by the parent and lent to the next
cells) once each, in that order, in fresh output directories, and reads every cell's record:
start-up (launch to ready), search, the run's total, whether it was warm and the JVM's pid. Both
benches must give the same predictions hashes per cell (a count budget: warm changes nothing but
time). The load average is written beside the figures: on a shared machine they move with it.
``--warm-first`` runs the warm bench first (the load drifts on a shared machine: run both orders).
Writes ``OUT/warm_runtime.csv`` and ``OUT/warm_runtime.md`` (``warm_runtime_warm_first.*``).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[2]


def _bench(suite: Path, out: Path, warm: bool) -> Dict[str, Any]:
    cmd = [sys.executable, "-m", "automux", "bench", str(suite), "--out", str(out), "--no-progress"]
    if not warm:
        cmd.append("--no-warm")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench failed ({proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    runs = []
    for rec_path in sorted(out.glob("runs/*/record.json")):
        rec = json.loads(rec_path.read_text())
        st = rec["extra"].get("startup") or {}
        runs.append({"mode": "warm" if warm else "no-warm", "created": rec["created_utc"],
                     "cell": rec["extra"].get("bench_cell"), "seed": rec["spec"]["seed"],
                     "startup_s": rec["durations"]["startup"], "search_s": rec["durations"]["search"],
                     "total_s": rec["durations"]["total"], "warm": st.get("warm"),
                     "jvm_pid": (st.get("runtime") or {}).get("pid"),
                     "runs_served": (st.get("runtime") or {}).get("runs_served"),
                     "sha": rec["predictions_sha256"]})
    runs.sort(key=lambda r: r["created"])
    return {"wall_s": wall, "runs": runs, "load_before": load0, "load_after": os.getloadavg()[0]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--data", default="sklearn:breast_cancer")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "perf" / "results"))
    ap.add_argument("--warm-first", action="store_true", help="run the warm bench first (load drifts)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="automux-warm-bench-"))
    suite = work / "suite.yaml"
    suite.write_text(f"name: warm-runtime\ndatasets: [{a.data}]\nfolds: 1\ncv_folds: 3\n"
                     f"seeds: {list(range(a.seeds))}\nconstraints: [trials{a.trials}]\nbackends: [h2o]\n")
    order = [True, False] if a.warm_first else [False, True]
    results = {("warm" if w else "no-warm"): _bench(suite, work / ("warm" if w else "cold"), warm=w) for w in order}
    by_seed = {mode: {r["seed"]: r["sha"] for r in res["runs"]} for mode, res in results.items()}
    same = by_seed["no-warm"] == by_seed["warm"]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: List[Dict[str, Any]] = [r for res in results.values() for r in res["runs"]]
    stem = "warm_runtime_warm_first" if a.warm_first else "warm_runtime"
    with open(out / f"{stem}.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = ["# H2O's JVM kept warm across a bench's cells, against --no-warm",
          "",
          f"Command: `.venv/bin/python benchmarks/perf/warm_runtime.py --seeds {a.seeds} --trials {a.trials} "
          f"--data {a.data}{' --warm-first' if a.warm_first else ''}` "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). "
          f"{a.seeds} H2O cells ({a.data}, one outer fold, {a.seeds} seeds, `trials{a.trials}`), one bench "
          f"of each, {'warm' if a.warm_first else '--no-warm'} first. On a shared 2-core machine: one measurement each, the load average "
          "(1 min) is given with it.",
          "",
          "| bench | wall s | load before / after | start-up s per cell | search s per cell | warm | JVM pid |",
          "|---|---|---|---|---|---|---|"]
    for mode, res in results.items():
        runs = res["runs"]
        md.append(f"| {mode} | {res['wall_s']:.1f} | {res['load_before']:.1f} / {res['load_after']:.1f} | "
                  + ", ".join(f"{r['startup_s']:.1f}" for r in runs) + " | "
                  + ", ".join(f"{r['search_s']:.1f}" for r in runs) + " | "
                  + ", ".join(str(r["warm"]).lower() for r in runs) + " | "
                  + ", ".join(str(r["jvm_pid"] or "own") for r in runs) + " |")
    saved = results["no-warm"]["wall_s"] - results["warm"]["wall_s"]
    md += ["", f"Wall time saved by the warm JVM: {saved:.1f} s of {results['no-warm']['wall_s']:.1f} s. "
           f"Predictions hashes per cell identical between the two benches: {'yes' if same else 'NO'}.",
           "",
           "Start-up is launch to ready (outside the budget either way): a warm cell's is its worker's "
           "interpreter, imports and the connect to the JVM; the first cell of the warm bench also pays the "
           "JVM's start, in the parent, before its worker launches (not overlapped with the worker's imports "
           "as a cold run's is)."]
    (out / f"{stem}.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
