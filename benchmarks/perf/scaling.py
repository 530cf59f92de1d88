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
* ``job files``: the run's job files (``automux.core.run.execute._write_job``, the
  reference adapter): the features stored once per fingerprint, ``train_rows.arrow``,
  ``job.json``.

Peak RSS is the measuring process's high-water mark after the stage (``ru_maxrss``, so it
only grows; the table is generated in another interpreter and is not in it).
Writes ``OUT/scaling.csv`` and ``OUT/scaling.md``.

**The scale bar** (``--end-to-end``, issue 22): one whole ``automux run`` per row count on
the table of the issue (20 float + 2 string columns + a binary target, Parquet),
``--backend reference --budget-trials 1 --no-check``, twice into one store (the second run
shows what a run on data the store already holds costs, and that the store keeps one copy).
Reported per run: wall, ``durations.search``, automux's own work (wall minus search), the
parent's peak RSS (the CLI runs in the measuring interpreter: ``ru_maxrss``), the worker's
(the largest child: ``RUSAGE_CHILDREN``), the worker's data path alone (reading the job's
training and hold-out rows, as the worker does before the backend, in a fresh interpreter:
the backend's own footprint is the worker peak minus this), the in-memory frame and training
data sizes, and the store's bytes. Writes ``OUT/scale_bar.csv`` and ``OUT/scale_bar.md``::

    .venv/bin/python benchmarks/perf/scaling.py --end-to-end --rows 1000000 5000000
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
    from automux.core.experiment.data import load_data
    from automux.core.experiment.fingerprint import fingerprint_frame
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
              lambda out, dt: f"{_du_mib(job.parent) - path.stat().st_size / 2 ** 20:.1f} MiB written")
        total = sum(x["seconds"] for x in rows if x["stage"] != "fingerprint alone")
        rows.append({"rows": n, "stage": "total (without 'fingerprint alone')", "seconds": round(total, 3),
                     "peak_rss_mib": round(_peak_mib(), 1), "note": ""})
        del r
    return rows


E2E_FIELDS = ["rows", "run", "wall_s", "search_s", "own_s", "parent_peak_mib", "worker_peak_mib",
              "worker_data_mib", "frame_mib", "train_mib", "store_mib", "parquet_mib"]


def generate_bar(n: int, path: Path) -> None:
    """The issue's scale-bar table: 20 float + 2 string columns and a binary target."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(n)
    cols = {f"x{i}": rng.normal(size=n) for i in range(20)}
    for i, k in enumerate((5, 200)):
        cols[f"s{i}"] = pd.Categorical.from_codes(rng.integers(0, k, size=n), [f"v{j}" for j in range(k)]).astype(str)
    cols["target"] = ((cols["x0"] + 0.5 * cols["x1"] + rng.normal(size=n)) > 0).astype(int)
    frame = pd.DataFrame(cols)
    frame.to_parquet(path, index=False)
    print(json.dumps({"frame_mib": float(frame.memory_usage(index=False, deep=True).sum()) / 2 ** 20}))


def _hwm_mib(pid: str = "self") -> float:
    """VmHWM of a process: its own peak RSS since exec (``ru_maxrss`` also keeps the spawning parent's)."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class WorkerPeak:
    """Polls the VmHWM of this process's worker children (``automux.core.run.worker``) every 50 ms."""

    def __init__(self) -> None:
        import threading
        self.peak = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        me = str(os.getpid())
        while not self.stop.wait(0.05):
            for d in Path("/proc").iterdir():
                if not d.name.isdigit():
                    continue
                try:
                    stat = (d / "stat").read_text()
                    if stat[stat.rindex(")") + 2:].split()[1] != me:
                        continue
                    if b"automux.core.run.worker" in (d / "cmdline").read_bytes():
                        self.peak = max(self.peak, _hwm_mib(d.name))
                except (OSError, ValueError, IndexError):
                    continue

    def done(self) -> float:
        self.stop.set()
        self.thread.join()
        return self.peak


def _du_mib(root: Path) -> float:
    seen, total = set(), 0
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total / 2 ** 20


def data_path_alone(run_dir: str) -> dict:
    """Read the job's training and hold-out rows as the worker does; this interpreter's peak RSS."""
    sys.path.insert(0, str(ROOT))
    import numpy as np  # noqa: F401  (imported before the baseline, as in the worker)
    import pandas as pd  # noqa: F401
    from automux.core.run import jobfiles as jf

    base = _hwm_mib()
    if hasattr(jf, "read_train"):
        X, y, folds = jf.read_train(Path(run_dir))
        train_bytes = X.memory_usage(index=False, deep=True).sum() + y.nbytes + folds.nbytes
        H = jf.read_holdout(Path(run_dir))
    else:
        X = jf.read_arrow(Path(run_dir) / jf.TRAIN)
        train_bytes = X.memory_usage(index=False, deep=True).sum()
        H = jf.read_arrow(Path(run_dir) / jf.HOLDOUT)
    return {"peak_mib": _hwm_mib(), "base_mib": base, "train_mib": train_bytes / 2 ** 20, "holdout_rows": len(H)}


def end_to_end(n: int, runs: int = 2) -> list:
    """``runs`` ``automux run`` calls on one generated table into one store, in this interpreter."""
    sys.path.insert(0, str(ROOT))
    from automux.cli import main as cli_main

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bar.parquet"
        gen = subprocess.run([sys.executable, __file__, "--generate-bar", str(n), str(path)], check=True,
                             cwd=str(ROOT), capture_output=True, text=True)
        frame_mib = json.loads(gen.stdout.strip().splitlines()[-1])["frame_mib"]
        store = Path(tmp) / "store"
        for k in range(1, runs + 1):
            out = Path(tmp) / f"run{k}.json"
            watch = WorkerPeak()
            t = time.perf_counter()
            with open(out, "w") as f:
                old, sys.stdout = sys.stdout, f
                try:
                    rc = cli_main(["run", "--data", str(path), "--target", "target", "--backend", "reference",
                                   "--budget-trials", "1", "--no-check", "--store", str(store), "--json"])
                finally:
                    sys.stdout = old
            wall = time.perf_counter() - t
            worker_peak = watch.done()
            if rc != 0:
                raise SystemExit(f"automux run exited {rc}")
            summary = json.loads(out.read_text())
            record = json.loads(Path(summary["record"]).read_text())
            search = record["durations"]["search"]
            alone = subprocess.run([sys.executable, __file__, "--data-path", str(Path(summary["record"]).parent)],
                                   capture_output=True, text=True, check=True, cwd=str(ROOT))
            dp = json.loads(alone.stdout.strip().splitlines()[-1])
            rows.append({"rows": n, "run": k, "wall_s": round(wall, 2), "search_s": round(search, 2),
                         "own_s": round(wall - search, 2), "parent_peak_mib": round(_hwm_mib(), 1),
                         "worker_peak_mib": round(worker_peak, 1),
                         "worker_data_mib": round(dp["peak_mib"], 1), "frame_mib": round(frame_mib, 1),
                         "train_mib": round(dp["train_mib"], 1), "store_mib": round(_du_mib(store), 1),
                         "parquet_mib": round(path.stat().st_size / 2 ** 20, 1)})
    return rows


def main_end_to_end(args: argparse.Namespace) -> None:
    rows = []
    for n in args.rows:
        proc = subprocess.run([sys.executable, __file__, "--one-e2e", str(n), "--runs", str(args.runs)],
                              capture_output=True, text=True, cwd=str(ROOT))
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit(f"{n} rows failed")
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        for x in got:
            print(json.dumps(x), flush=True)
        rows += got
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "scale_bar.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=E2E_FIELDS)
        w.writeheader()
        w.writerows(rows)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"# The scale bar: one `automux run` end to end ({date.today().isoformat()})", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs (load average at the end "
             f"{load}), Python {platform.python_version()}. Table: 20 float + 2 string columns + binary target, "
             "Parquet; `automux run --backend reference --budget-trials 1 --no-check`, "
             f"{args.runs} run(s) into one store. "
             "Command: `.venv/bin/python benchmarks/perf/scaling.py --end-to-end --rows "
             + " ".join(str(n) for n in args.rows) + f" --runs {args.runs}`.", "",
             "own = wall - durations.search (automux's own work: load, fingerprint, split, job files, worker "
             "start, imports, predict, scoring, record). worker data = peak RSS of a fresh interpreter reading the "
             "job's training and hold-out rows as the worker does (the backend's own footprint is worker peak "
             "minus it). store = bytes in the store after the run (hard links once).", "",
             "| rows | run | wall s | search s | own s | parent peak MiB | worker peak MiB | worker data MiB | "
             "frame MiB | train data MiB | store MiB | parquet MiB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(str(x[k]) for k in E2E_FIELDS) + " |" for x in rows]
    (out / "scale_bar.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--csv", action="store_true", help="load from CSV instead of Parquet")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "perf" / "results"))
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--end-to-end", action="store_true", help="the scale bar: whole `automux run`s (see above)")
    ap.add_argument("--runs", type=int, default=2, help="--end-to-end: runs per row count into one store")
    ap.add_argument("--one-e2e", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--generate-bar", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--data-path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_bar:
        generate_bar(int(args.generate_bar[0]), Path(args.generate_bar[1]))
        return
    if args.data_path:
        print(json.dumps(data_path_alone(args.data_path)))
        return
    if args.one_e2e:
        print(json.dumps(end_to_end(args.one_e2e, args.runs)))
        return
    if args.end_to_end:
        main_end_to_end(args)
        return
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
