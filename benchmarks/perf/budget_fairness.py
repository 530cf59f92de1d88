"""Budget fairness: does a 30 s seconds budget buy ~30 s of search on every backend?

Usage::

    nice -n 5 .venv/bin/python benchmarks/perf/budget_fairness.py [--seconds 30]
        [--backends reference,optuna,flaml,tpot,h2o,pycaret,autosklearn,autogluon]
        [--data sklearn:breast_cancer] [--out benchmarks/perf/results]

Each backend runs once, one after the other, as a user would run it::

    automux run --data sklearn:breast_cancer --backend B --budget-seconds 30 --no-check --json --store TMP

(isolated backends use their env already built under ~/.cache/automux). From the run's
``record.json``: ``durations.search`` (the budget's clock), ``durations.startup`` (imports,
JVM / Dask up: outside the budget since issue 22), ``durations.total`` (the worker), the
candidate count and the status; the wall time of the whole ``automux run`` command is timed
here. The 1-minute load average is read before and after each run. Writes
``OUT/budget_fairness.csv`` and ``OUT/budget_fairness.md``. Target: search >= 28 s each.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import short_commit, write_rows  # noqa: E402
BACKENDS = "reference,optuna,flaml,tpot,h2o,pycaret,autosklearn,autogluon"
FIELDS = ["backend", "status", "search_s", "startup_s", "worker_total_s", "wall_s", "candidates",
          "load1_before", "load1_after", "run_id", "error", "search_ended"]


def one(backend: str, data: str, seconds: float, store: Path) -> Dict[str, Any]:
    """Run one backend through the CLI and read its record; a failure is a row."""
    cmd = [sys.executable, "-m", "automux", "run", "--data", data, "--backend", backend,
           "--budget-seconds", f"{seconds:g}", "--no-check", "--json", "--store", str(store)]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 400)
    wall = time.perf_counter() - t0
    row: Dict[str, Any] = {"backend": backend, "wall_s": round(wall, 2), "load1_before": round(load0, 2),
                           "load1_after": round(os.getloadavg()[0], 2)}
    try:
        out = json.loads(p.stdout)
    except ValueError:
        row.update(status=f"exit {p.returncode}", error=(p.stderr.strip().splitlines() or [""])[-1][:200])
        return row
    rec = json.loads(Path(out["record"]).read_text())
    d = rec.get("durations") or {}
    row["search_ended"] = ((rec.get("extra") or {}).get("search_info") or {}).get("search_ended", "")
    row.update(status=rec.get("status"), run_id=rec.get("run_id"), candidates=len(rec.get("candidates") or []),
               search_s=d.get("search"), startup_s=d.get("startup"), worker_total_s=d.get("total"),
               error=(rec.get("error") or {}).get("message", "")[:200] if isinstance(rec.get("error"), dict)
               else (rec.get("error") or ""))
    return row


def _f(v: Any, digits: int = 1) -> str:
    return "-" if v in (None, "") else f"{float(v):.{digits}f}"


def report(rows: List[Dict[str, Any]], seconds: float, data: str, cmdline: str) -> str:
    lines = [f"# Budget fairness: `--budget-seconds {seconds:g}` on {data}", "",
             f"Made {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} ({os.cpu_count()} "
             f"cores, shared with other sessions and a background benchmark), Python {platform.python_version()}, "
             f"commit {short_commit(ROOT)}, by", "", f"    {cmdline}", "",
             "Backends ran one after the other, each once. search / start-up / worker total are the record's "
             "`durations`; wall is the whole `automux run` command (parent, env handshake, worker). load1 is "
             "the 1-minute load average before / after the run (2 cores).", "",
             f"| backend | status | search s | start-up s | worker total s | wall s | candidates | "
             f"search >= {0.9333 * seconds:.0f} s | load1 before / after | why search ended early (the adapter's "
             f"`search_info.search_ended`) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r.get("search_s")
        ok = "-" if s in (None, "") else ("yes" if float(s) >= 28.0 / 30.0 * seconds else "**no**")
        lines.append(f"| {r['backend']} | {r.get('status')} | {_f(s)} | {_f(r.get('startup_s'))} | "
                     f"{_f(r.get('worker_total_s'))} | {_f(r.get('wall_s'))} | {r.get('candidates', '-')} | {ok} | "
                     f"{_f(r.get('load1_before'), 2)} / {_f(r.get('load1_after'), 2)} | {r.get('search_ended') or '-'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default=BACKENDS)
    ap.add_argument("--data", default="sklearn:breast_cancer")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "perf" / "results"))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    store = Path(tempfile.mkdtemp(prefix="budget-fairness-"))
    rows: List[Dict[str, Any]] = []
    try:
        for b in a.backends.split(","):
            rows.append(one(b, a.data, a.seconds, store))
            print(rows[-1], flush=True)
            write_rows(out / "budget_fairness.csv", FIELDS, rows)
    finally:
        shutil.rmtree(store, ignore_errors=True)
    cmdline = "nice -n 5 .venv/bin/python benchmarks/perf/budget_fairness.py " + " ".join(sys.argv[1:])
    (out / "budget_fairness.md").write_text(report(rows, a.seconds, a.data, cmdline.strip()))
    print((out / "budget_fairness.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
