"""automux's own data path at 10k / 100k / 1M rows, stage by stage: seconds and peak RSS.

Usage::

    .venv/bin/python benchmarks/perf/scaling.py [--rows 10000 100000 1000000] [--csv]
        [--out benchmarks/perf/results]

Each row count runs in a fresh interpreter (so peak RSS is its own). The table is
generated (not committed): 20 mixed columns (12 float with some NaN, 4 int, 3 string
categories of 3 / 50 / 1000 values, 1 bool) plus a binary target, written as Parquet
(``--csv``: CSV) to a temp dir; generating it is not timed. Stages, all through the
library:

* ``load+fingerprint``: :func:`automux.load_data` on the file (read, validate,
  normalise, fingerprint once);
* ``fingerprint alone``: :func:`fingerprint_frame` again on the loaded frame (gives MB/s
  over the in-memory size of the frame);
* ``split+spec``: :func:`prepare` on the loaded Dataset (seeded split, seeds, spec);
* ``split.json``: the compact split written as the run would write it (size reported);
* ``import scikit-learn``: the modules the readiness check uses, imported once (apart,
  so that ``readiness`` is its own work);
* ``readiness``: :func:`automux.governance.readiness.check` (sampled above
  ``SAMPLE_ROWS`` training rows);
* ``job files``: the run's ``train.arrow`` / ``holdout.arrow`` / ``job.json``
  (``automux.core.run.execute._write_job``, the reference adapter).

Peak RSS is the measuring process's high-water mark after the stage (``ru_maxrss``, so it
only grows; the table is generated in another interpreter and is not in it).
Writes ``OUT/scaling.csv`` and ``OUT/scaling.md``.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKLEARN_MODULES = ("sklearn.pipeline", "sklearn.compose", "sklearn.preprocessing", "sklearn.impute",
                   "sklearn.linear_model", "sklearn.dummy", "sklearn.tree")
FIELDS = ["rows", "stage", "seconds", "peak_rss_mib", "note"]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generate(n: int, path: Path, as_csv: bool) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(n)
    cols = {}
    for i in range(12):
        v = rng.normal(size=n)
        if i % 3 == 0:
            v[rng.random(n) < 0.05] = np.nan
        cols[f"num{i}"] = v
    for i in range(4):
        cols[f"int{i}"] = rng.integers(0, 10 ** (i + 1), size=n)
    for i, k in enumerate((3, 50, 1000)):
        cols[f"cat{i}"] = pd.Categorical.from_codes(rng.integers(0, k, size=n), [f"v{j}" for j in range(k)]) \
            .astype(str)
    cols["flag"] = rng.random(n) < 0.3
    logit = cols["num1"] + 0.5 * cols["num2"] - 0.3 * (cols["cat0"] == "v1")
    cols["target"] = (logit + rng.normal(size=n) > 0).astype(int)
    frame = pd.DataFrame(cols)
    if as_csv:
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


def one(n: int, as_csv: bool) -> list:
    sys.path.insert(0, str(ROOT))
    from automux.core.experiment.data import fingerprint_frame, load_data
    from automux.core.experiment.prepare import make_budget, prepare
    from automux.core.registry import get_adapter
    from automux.core.run.execute import _write_job
    from automux.governance.readiness import check

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("data.csv" if as_csv else "data.parquet")
        # generated in its own interpreter, so that its memory is not in this one's peak RSS
        subprocess.run([sys.executable, __file__, "--generate", str(n), str(path)] + (["--csv"] if as_csv else []),
                       check=True, cwd=str(ROOT))
        size_mb = path.stat().st_size / 2 ** 20
        base = _peak_mib()

        def stage(name, fn, note=""):
            t = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t
            rows.append({"rows": n, "stage": name, "seconds": round(dt, 3), "peak_rss_mib": round(_peak_mib(), 1),
                         "note": note(out, dt) if callable(note) else note})
            return out

        ds = stage("load+fingerprint", lambda: load_data(str(path), "target"),
                   f"{path.suffix[1:]} file {size_mb:.1f} MiB; RSS before load {base:.0f} MiB")
        mem = ds.X.memory_usage(index=False).sum() + ds.y.nbytes
        stage("fingerprint alone", lambda: fingerprint_frame(ds.X, ds.y, ds.classes),
              lambda out, dt: f"frame {mem / 2 ** 20:.1f} MiB in memory: {mem / 1e6 / dt:.0f} MB/s")
        exp = stage("split+spec", lambda: prepare(ds, budget=make_budget(trials=3), seed=0))
        stage("split.json", lambda: json.dumps(exp.split.to_json()),
              lambda out, dt: f"{len(out) / 1e6:.2f} MB")
        stage("import scikit-learn", lambda: [__import__(m) for m in SKLEARN_MODULES],
              "once per command, before the readiness check: counted apart")
        r = stage("readiness", lambda: check(exp),
                  lambda out, dt: f"verdict {out.verdict!r}; sample_rows {out.stats.get('sample_rows')}; "
                  f"baselines {out.stats['seconds']['baselines']:.2f} s, leakage {out.stats['seconds']['leakage']:.2f} s")
        job = Path(tmp) / "job"
        job.mkdir()
        stage("job files", lambda: _write_job(exp, get_adapter("reference"), {}, job),
              lambda out, dt: f"{sum(p.stat().st_size for p in job.iterdir()) / 2 ** 20:.1f} MiB written")
        total = sum(x["seconds"] for x in rows if x["stage"] != "fingerprint alone")
        rows.append({"rows": n, "stage": "total (without 'fingerprint alone')", "seconds": round(total, 3),
                     "peak_rss_mib": round(_peak_mib(), 1), "note": ""})
        del r
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--csv", action="store_true", help="load from CSV instead of Parquet")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "perf" / "results"))
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        generate(int(args.generate[0]), Path(args.generate[1]), args.csv)
        return
    if args.one:
        print(json.dumps(one(args.one, args.csv)))
        return
    rows = []
    for n in args.rows:
        cmd = [sys.executable, __file__, "--one", str(n)] + (["--csv"] if args.csv else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"{n} rows failed")
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        for x in got:
            print(f"{x['rows']:>9} {x['stage']:<38} {x['seconds']:>8.3f} s {x['peak_rss_mib']:>8.1f} MiB  {x['note']}",
                  flush=True)
        rows += got
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "scaling.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = (f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs (load average at the end "
               f"{load}), Python {platform.python_version()}, {platform.system()} {platform.release()}")
    lines = [f"# automux data path by rows ({date.today().isoformat()})", "",
             f"Machine: {machine}. Input: {'CSV' if args.csv else 'Parquet'}, 20 generated mixed columns + "
             "binary target. Command: `.venv/bin/python benchmarks/perf/scaling.py --rows "
             + " ".join(str(n) for n in args.rows) + (" --csv" if args.csv else "") + "`.", "",
             "| rows | stage | seconds | peak RSS MiB | note |", "|---:|---|---:|---:|---|"]
    lines += [f"| {x['rows']} | {x['stage']} | {x['seconds']:.3f} | {x['peak_rss_mib']:.1f} | {x['note']} |"
              for x in rows]
    (out / "scaling.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
