"""A bench of H2O cells with its JVM kept warm across cells, against the same bench with ``--no-warm``.

Usage::

    .venv/bin/python benchmarks/perf/warm_runtime.py [--seeds 3] [--trials 2] [--data sklearn:breast_cancer]
        [--warm-first] [--before TREE] [--out benchmarks/perf/results]

Writes a suite of ``--seeds`` H2O cells (one data set, one outer fold, a count budget), runs
``automux bench SUITE --no-warm`` (every cell starts its own JVM in its worker) and ``automux bench
SUITE`` (the bench's warm pool: the first cell's JVM is started by the parent and lent to the next
cells) once each, in that order, in fresh output directories, and reads every cell's record:
start-up (launch to ready), search, the run's total, whether it was warm and the JVM's pid. Both
benches must give the same predictions hashes per cell (a count budget: warm changes nothing but
time). The load average is written beside the figures: on a shared machine they move with it.
``--warm-first`` runs the warm bench first (the load drifts on a shared machine: run both orders).
``--before TREE`` also runs the warm bench on the automux of another checkout (e.g. ``git worktree add
/tmp/before HEAD~1``: PYTHONPATH=TREE), first, in the same run, labelled ``warm (before)``: a before/after
side by side; ``--repeat N`` runs N rounds of the benches, interleaved, and adds medians. Writes ``OUT/warm_runtime.csv`` and ``OUT/warm_runtime.md`` (``warm_runtime_warm_first.*``;
with ``--before``, ``warm_runtime_before_after.*``).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[2]


def _bench(suite: Path, out: Path, warm: bool, label: str, tree: Path = ROOT) -> Dict[str, Any]:
    cmd = [sys.executable, "-m", "automux", "bench", str(suite), "--out", str(out), "--no-progress"]
    if not warm:
        cmd.append("--no-warm")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    # cwd: ``python -m`` puts the working directory first on sys.path, before PYTHONPATH
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(tree)),
                          cwd=str(tree))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench failed ({proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    runs = []
    for rec_path in sorted(out.glob("runs/*/record.json")):
        rec = json.loads(rec_path.read_text())
        st = rec["extra"].get("startup") or {}
        runs.append({"mode": label, "created": rec["created_utc"],
                     "cell": rec["extra"].get("bench_cell"), "seed": rec["spec"]["seed"],
                     "startup_s": rec["durations"]["startup"], "search_s": rec["durations"]["search"],
                     "total_s": rec["durations"]["total"], "warm": st.get("warm"),
                     "jvm_pid": (st.get("runtime") or {}).get("pid"),
                     "runs_served": (st.get("runtime") or {}).get("runs_served"),
                     "sha": rec["predictions_sha256"]})
    runs.sort(key=lambda r: r["created"])
    return {"wall_s": wall, "runs": runs, "load_before": load0, "load_after": os.getloadavg()[0]}


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--data", default="sklearn:breast_cancer")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "perf" / "results"))
    ap.add_argument("--warm-first", action="store_true", help="run the warm bench first (load drifts)")
    ap.add_argument("--before", help="also run the warm bench, first, on this checkout's automux (before/after)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the benches, interleaved (medians shown)")
    return ap.parse_args()


def _command(a: argparse.Namespace) -> str:
    return (f".venv/bin/python benchmarks/perf/warm_runtime.py --seeds {a.seeds} --trials {a.trials} --data {a.data}"
            + (" --warm-first" if a.warm_first else "") + (f" --before {a.before}" if a.before else "")
            + (f" --repeat {a.repeat}" if a.repeat > 1 else ""))


def main() -> int:
    a = _args()
    work = Path(tempfile.mkdtemp(prefix="automux-warm-bench-"))
    suite = work / "suite.yaml"
    suite.write_text(f"name: warm-runtime\ndatasets: [{a.data}]\nfolds: 1\ncv_folds: 3\n"
                     f"seeds: {list(range(a.seeds))}\nconstraints: [trials{a.trials}]\nbackends: [h2o]\n")
    order = [("warm (before)", True, Path(a.before).resolve())] if a.before else []
    order += [("warm", True, ROOT), ("no-warm", False, ROOT)][::1 if a.warm_first else -1]
    benches: List[Dict[str, Any]] = []  # in the order they ran
    for k in range(a.repeat):
        for label, warm, tree in order:
            res = _bench(suite, work / f"{label.replace(' ', '_')}-{k}", warm, label, tree)
            benches.append(dict(res, mode=label, round=k))
    shas = [{r["seed"]: r["sha"] for r in b["runs"]} for b in benches]
    same = all(x == shas[0] for x in shas)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: List[Dict[str, Any]] = [dict(r, round=b["round"]) for b in benches for r in b["runs"]]
    stem = "warm_runtime_before_after" if a.before else "warm_runtime_warm_first" if a.warm_first else "warm_runtime"
    with open(out / f"{stem}.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = _markdown(a, benches, [label for label, _, _ in order], same)
    (out / f"{stem}.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0 if same else 1


def _markdown(a: argparse.Namespace, benches: List[Dict[str, Any]], modes: List[str], same: bool) -> List[str]:
    md = ["# H2O's JVM kept warm across a bench's cells, against --no-warm",
          "",
          f"Command: `{_command(a)}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). "
          f"{a.seeds} H2O cells ({a.data}, one outer fold, {a.seeds} seeds, `trials{a.trials}`) per bench; "
          f"{a.repeat} round(s) of {', '.join(modes)}, in the order of the table. On a shared 2-core machine: "
          "the load average (1 min) is given with each bench.",
          "",
          "| bench | round | wall s | load before / after | start-up s per cell | search s per cell | warm | JVM pid |",
          "|---|---|---|---|---|---|---|---|"]
    for b in benches:
        runs = b["runs"]
        md.append(f"| {b['mode']} | {b['round']} | {b['wall_s']:.1f} | {b['load_before']:.1f} / {b['load_after']:.1f} | "
                  + ", ".join(f"{r['startup_s']:.1f}" for r in runs) + " | "
                  + ", ".join(f"{r['search_s']:.1f}" for r in runs) + " | "
                  + ", ".join(str(r["warm"]).lower() for r in runs) + " | "
                  + ", ".join(str(r["jvm_pid"] or "own") for r in runs) + " |")
    md += ["", "| bench | median wall s | median start-up s of the first cell | of the later cells |",
           "|---|---|---|---|"]
    for mode in modes:
        mine = [b for b in benches if b["mode"] == mode]
        later = [r["startup_s"] for b in mine for r in b["runs"][1:]]
        md.append(f"| {mode} | {statistics.median(b['wall_s'] for b in mine):.1f} | "
                  f"{statistics.median(b['runs'][0]['startup_s'] for b in mine):.1f} | "
                  f"{statistics.median(later) if later else float('nan'):.1f} |")
    md += ["", f"Predictions hashes per cell identical across the benches: {'yes' if same else 'NO'}.",
           "",
           "Start-up is launch to ready (outside the budget either way): a warm cell's is its worker's "
           "interpreter, imports and the connect to the JVM; the first cell of the warm bench also waits for "
           "the JVM the parent starts, which overlaps the worker's interpreter, imports and data reading "
           "(`warm (before)`: the code before the overlap, where the parent started the JVM before launching the "
           "first cell's worker)."]
    return md


if __name__ == "__main__":
    sys.exit(main())
