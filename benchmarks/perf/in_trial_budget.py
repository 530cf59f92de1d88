"""Budgets honoured inside a trial (issue 22, item 5): long trials on large tables end ok with the best so far.

Usage::

    .venv/bin/python benchmarks/perf/in_trial_budget.py [--seconds 60] [--out benchmarks/perf/results]

Two cases from the issue, each run once as a user would run it
(``automux run --data FILE --backend B --budget-seconds S --cores C --no-check --json``):

* **optuna** on a generated 200k x 20 float table (binary target), at ``--cores 1`` and
  ``--cores 2``: before issue 22 the one-core run was killed at 75 s with no result;
* **reference** on a generated 336k-row mixed table (the generator of ``memory_limit.py``:
  a date column, categoricals of 3 / 12 / 50 / 5000 levels, floats with missing values),
  one core: before, it ended ``timeout`` with no model although a linear candidate had been
  scored after 20 s.

Reported per run: status, candidates, ``durations.search`` and ``startup``, the worker's
total, the wall time of the command, how far past the budget the search ran, and the
1-minute load average before / after. Target: ``ok`` with >= 1 candidate, search within
the budget plus the grace. Writes ``OUT/in_trial_budget.md`` and ``.csv``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_limit import make_table  # noqa: E402  (the mixed-table generator, shared)
from perf_common import short_commit, write_rows  # noqa: E402

FIELDS = ["case", "backend", "rows", "cores", "status", "candidates", "search_s", "startup_s", "worker_total_s",
          "wall_s", "search_over_budget_s", "load1_before", "load1_after", "error"]


def float_table(rows: int, path: Path, seed: int = 0) -> None:
    """``rows`` x 20 standard-normal floats and a binary target that depends on five of them."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, 20))
    logit = X[:, :5] @ np.array([1.0, -0.8, 0.6, 0.4, -0.3]) + 0.3 * X[:, 5] * X[:, 6]
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
    df["target"] = (logit + rng.logistic(size=rows) > 0).astype(int)
    df.to_parquet(path, index=False)


def run_case(case: str, backend: str, data: Path, rows: int, cores: int, seconds: float,
             store: Path) -> Dict[str, Any]:
    """One ``automux run``; a run without a record is a row with its exit code and last stderr line."""
    cmd = [sys.executable, "-m", "automux", "run", "--data", str(data), "--target", "target", "--backend", backend,
           "--budget-seconds", f"{seconds:g}", "--cores", str(cores), "--no-check", "--json", "--store", str(store)]
    row: Dict[str, Any] = {"case": case, "backend": backend, "rows": rows, "cores": cores,
                           "load1_before": round(os.getloadavg()[0], 2)}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 600)
    row.update(wall_s=round(time.perf_counter() - t0, 1), load1_after=round(os.getloadavg()[0], 2))
    try:
        rec = json.loads(Path(json.loads(p.stdout)["record"]).read_text())
    except (ValueError, KeyError, OSError):
        row.update(status=f"exit {p.returncode}", error=(p.stderr.strip().splitlines() or [""])[-1][:200])
        return row
    d = rec.get("durations") or {}
    err = rec.get("error")
    search = d.get("search")
    row.update(status=rec.get("status"), candidates=len(rec.get("candidates") or []),
               search_s=None if search is None else round(search, 1),
               startup_s=None if d.get("startup") is None else round(d["startup"], 1),
               worker_total_s=None if d.get("total") is None else round(d["total"], 1),
               search_over_budget_s=None if search is None else round(search - seconds, 1),
               error=(err.get("message", "") if isinstance(err, dict) else (err or ""))[:200])
    return row


def report(rows: List[Dict[str, Any]], seconds: float, cmdline: str) -> str:
    def f(v: Any) -> str:
        return "-" if v in (None, "") else str(v)
    lines = [f"# Budgets honoured inside a trial: `--budget-seconds {seconds:g}` on large tables", "",
             f"Made {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} ({os.cpu_count()} "
             f"cores, shared), Python {platform.python_version()}, commit {short_commit(ROOT)}, by", "", f"    {cmdline}", "",
             "One run per row, one after the other. search / start-up / worker total are the record's `durations` "
             "(start-up is outside the budget); wall is the whole command; over = search - budget.", "",
             "| case | backend | rows | cores | status | candidates | search s | over s | start-up s | worker total s "
             "| wall s | load1 before / after | error |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(" | ".join(["", r["case"], r["backend"], f(r["rows"]), f(r["cores"]), f(r.get("status")),
                                 f(r.get("candidates")), f(r.get("search_s")), f(r.get("search_over_budget_s")),
                                 f(r.get("startup_s")), f(r.get("worker_total_s")), f(r.get("wall_s")),
                                 f"{r['load1_before']} / {r.get('load1_after')}", f(r.get("error")), ""]).strip())
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "perf" / "results"))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="in-trial-budget-") as tmp:
        tmpd = Path(tmp)
        floats, mixed = tmpd / "floats_200k.parquet", tmpd / "mixed_336k.csv"
        float_table(200_000, floats)
        make_table(336_000, mixed)
        cases = [("200k x 20 floats", "optuna", floats, 200_000, 1), ("200k x 20 floats", "optuna", floats, 200_000, 2),
                 ("336k mixed", "reference", mixed, 336_000, 1)]
        for case, backend, data, n, cores in cases:
            rows.append(run_case(case, backend, data, n, cores, a.seconds, tmpd / "store"))
            print(rows[-1], flush=True)
    write_rows(out / "in_trial_budget.csv", FIELDS, rows)
    cmdline = ".venv/bin/python benchmarks/perf/in_trial_budget.py " + " ".join(sys.argv[1:])
    (out / "in_trial_budget.md").write_text(report(rows, a.seconds, cmdline.strip()))
    print((out / "in_trial_budget.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
