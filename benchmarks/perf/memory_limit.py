"""A heavy backend on a large mixed-type table under the default ``--memory`` (issue 22, item 7).

Usage::

    .venv/bin/python benchmarks/perf/memory_limit.py [--rows 300000] [--backend tpot] [--seconds 60]
        [--memory SIZE] [--out benchmarks/perf/results]

Generates (not committed) a CSV of ``--rows`` rows like the issue's real records: a date
column (as text), categoricals of 3 / 12 / 50 / 5000 levels (the last with missing
values), 8 floats with 5 % missing, 2 ints and a binary target, then runs
``automux run --backend B --budget-seconds S --no-check --json`` on it as a user would
(default memory unless ``--memory``). While it runs, the RSS of the CLI process and of
everything below it (the worker's group) is sampled every 0.5 s. Reported: the run's
status and error, the spec's ``memory_mb``, the candidates, wall time, the peaks, and the
kernel's OOM-kill counter (``/proc/vmstat`` ``oom_kill``) before and after: it must not move.
On a shared machine the default limit (a share of the whole machine) can be more than what
other work leaves free: ``--safety-mb`` (default 1024) ends the run's processes when the
machine's MemAvailable falls below it, and the row says so (``aborted``), rather than let
the kernel choose what to kill.
Writes ``OUT/memory_limit.md`` (appends a row per invocation).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def make_table(rows: int, path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 5 * 365, rows)
    df = pd.DataFrame({
        "date": (np.datetime64("2019-01-01") + days.astype("timedelta64[D]")).astype(str),
        "kind": rng.choice(["a", "b", "c"], rows),
        "month_name": rng.choice([f"m{i}" for i in range(12)], rows),
        "region": rng.choice([f"region_{i}" for i in range(50)], rows),
        "product": rng.choice([f"p{i:05d}" for i in range(5000)], rows).astype(object),
    })
    df.loc[rng.random(rows) < 0.03, "product"] = None
    for i in range(8):
        col = rng.normal(size=rows)
        col[rng.random(rows) < 0.05] = np.nan
        df[f"x{i}"] = col
    df["count_a"] = rng.poisson(3, rows)
    df["count_b"] = rng.integers(0, 1000, rows)
    logit = (np.nan_to_num(df["x0"].to_numpy()) - 0.5 * np.nan_to_num(df["x1"].to_numpy())
             + (df["kind"] == "a") * 0.8 + (days % 365 < 90) * 0.5 + rng.normal(scale=1.0, size=rows))
    df["target"] = np.where(logit > 0.3, "yes", "no")
    df.to_csv(path, index=False)


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    except OSError:
        return 0


def _available_mb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return float("inf")


def _oom_kills() -> int:
    try:
        with open("/proc/vmstat", encoding="ascii") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("oom_kill ")), -1)
    except OSError:
        return -1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--backend", default="tpot")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--memory")
    ap.add_argument("--safety-mb", type=int, default=1024)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "perf" / "results")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from automux.core.experiment.memory import default_mb, describe, effective_mb, machine_mb
    from automux.core.run import memory, processes

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mixed.csv"
        make_table(a.rows, data)
        cmd = [sys.executable, "-m", "automux", "run", "--data", str(data), "--target", "target",
               "--backend", a.backend, "--budget-seconds", str(a.seconds), "--no-check", "--json",
               "--store", str(Path(tmp) / "runs")] + (["--memory", a.memory] if a.memory else [])
        oom_before = _oom_kills()
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
        parent_peak = group_peak = 0
        aborted = ""
        while proc.poll() is None:
            parent_peak = max(parent_peak, _rss_kb(proc.pid))
            group_peak = max(group_peak, sum(_rss_kb(p) for p in processes.descendants(proc.pid)))
            if _available_mb() < a.safety_mb and not aborted:
                aborted = f"machine MemAvailable below {a.safety_mb} MB at {time.monotonic() - t0:.0f} s"
                for pid in [proc.pid] + processes.descendants(proc.pid):
                    try:
                        os.kill(pid, 9)
                    except OSError:
                        pass
            time.sleep(0.5)
        out, err = proc.communicate()
        wall = time.monotonic() - t0
        oom_after = _oom_kills()
        try:
            record = json.loads(Path(json.loads(out)["record"]).read_text())
        except (ValueError, KeyError, OSError):
            if not aborted:
                raise SystemExit(f"no record (exit {proc.returncode}): {err[-2000:]}")
            record = {"spec": {"budget": {}}, "status": "aborted", "candidates": [], "durations": {},
                      "error": aborted}
    row = {
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "rows": a.rows, "backend": a.backend,
        "seconds": a.seconds, "memory": describe(effective_mb(record["spec"]["budget"].get("memory_mb"))),  # the default is per run
        "guard": "cgroup v2" if memory.how()[0] else "watchdog", "status": record["status"],
        "candidates": len(record["candidates"]), "wall_s": round(wall, 1),
        "search_s": record["durations"].get("search"), "parent_peak": describe(parent_peak / 1024),
        "worker_group_peak": describe(group_peak / 1024), "oom_kills": oom_after - oom_before,
        "error": (record.get("error") or "").replace("|", "/")[:160], "exit": proc.returncode,
    }
    print(json.dumps(row, indent=1))
    chosen = record.get("chosen")
    cands = record.get("candidates") or []
    if chosen is not None and chosen < len(cands):  # what the run found, beside the table (not a column of it)
        print(f"chosen: {cands[chosen].get('algorithm')} cv {cands[chosen].get('cv_score')} "
              f"hold-out {record.get('scores')}")
    print("record log tail:\n" + (record.get("log") or "")[-3000:])
    a.out.mkdir(parents=True, exist_ok=True)
    md = a.out / "memory_limit.md"
    if not md.exists():
        md.write_text("# A heavy backend under the default --memory\n\n"
                      f"Machine: {describe(machine_mb())} (default limit {describe(default_mb())}), "
                      f"{os.cpu_count()} cores, shared with other work. Command: "
                      "`.venv/bin/python benchmarks/perf/memory_limit.py` (see its docstring). Peaks are "
                      "sampled every 0.5 s; oom_kills is the kernel's OOM-kill counter's change.\n\n"
                      "| " + " | ".join(row) + " |\n|" + "---|" * len(row) + "\n")
    with open(md, "a", encoding="utf-8") as f:
        f.write("| " + " | ".join(str(v) for v in row.values()) + " |\n")


if __name__ == "__main__":
    main()
