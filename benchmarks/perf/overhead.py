"""automux's overhead per backend, worker start-up cost and budget adherence (rerunnable).

Usage::

    .venv/bin/python benchmarks/perf/overhead.py [--backends reference,optuna,...]
        [--reps 3] [--trials 5] [--seconds 30] [--data sklearn:breast_cancer] [--out benchmarks/perf/results]

Three measurements, each repeated ``--reps`` times, medians reported:

1. **overhead**: the same experiment (data, split, seed, trial budget, options)
   run (a) through automux (``automux.core.run.execute.execute``: env check and
   handshake, job files, worker process, candidate streaming, model save,
   environment snapshot, scoring, run record, store) and (b) by calling the
   backend directly, through its adapter's ``search`` + ``predict`` in a bare
   interpreter of the same environment with the same seeding and thread settings
   (``direct_call.py``). Both include interpreter start and imports. Reported:
   wall times, the ratio automux / direct, and whether the hold-out predictions
   are bitwise the same (they should be, under a trial budget). The two are
   run alternately so drifting machine load hits both.
2. **start-up**: ``python -c pass``; importing the worker side of automux; importing
   each backend's modules in its interpreter; ``prepare_worker`` (env lookup +
   handshake for isolated envs); and, from the run records, the worker's own
   overhead ``total - search - predict`` (interpreter, imports, data, model save).
3. **budget adherence**: a seconds-only budget; wall time of the worker against
   the budget, ``overrun = max(0, wall - budget)``, status (a run past budget +
   grace is killed: ``timeout``).

Writes ``OUT/raw.csv`` (every measurement), ``OUT/summary.csv`` and
``OUT/summary.md`` (medians and ratios), and ``OUT/machine.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results"
MARK = "AUTOMUX_DIRECT_RESULT "  # the line direct_call.py prints its result on


def _median(xs: List[float]) -> Optional[float]:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _timed(cmd: List[str], env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
           timeout: float = 900) -> "tuple[float, subprocess.CompletedProcess]":
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    return time.monotonic() - t0, proc


def run_automux(exp: Any, backend: str, store: Any, options: Dict[str, Any]) -> Dict[str, Any]:
    from automux.core.run.execute import execute

    t0 = time.monotonic()
    rec = execute(exp, backend, options=options, store=store)
    wall = time.monotonic() - t0
    d = rec.durations
    worker_overhead = None
    if d.get("total") is not None and d.get("search") is not None and d.get("predict") is not None:
        worker_overhead = d["total"] - d["search"] - d["predict"]
    return {"wall_s": wall, "worker_s": d.get("total"), "search_s": d.get("search"), "predict_s": d.get("predict"),
            "worker_overhead_s": worker_overhead, "status": rec.status, "sha": rec.predictions_sha256,
            "n_candidates": len(rec.candidates), "error": rec.error, "run_id": rec.run_id}


def run_direct(exp: Any, backend: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """The backend through its adapter in a bare interpreter of its env (see direct_call.py)."""
    from automux.core.env.worker_env import prepare_worker
    from automux.core.run.launcher import worker_env
    from automux.core.registry import get_adapter
    from automux.core.run.execute import _write_job

    adapter = get_adapter(backend)
    worker = prepare_worker(adapter)  # not timed: the env must exist for both sides
    with tempfile.TemporaryDirectory(prefix="automux-direct-") as tmp:
        job_dir = Path(tmp) / "job"  # the features go to its parent's _data/, as in a store
        job_dir.mkdir()
        _write_job(exp, adapter, options, job_dir)
        env = worker_env(exp.spec.seeds, worker.env_extra)
        wall, proc = _timed([worker.python, str(HERE / "direct_call.py"), str(job_dir)], env=env,
                            cwd=str(job_dir))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        return {"wall_s": wall, "status": "failed", "error": (proc.stderr or proc.stdout)[-800:]}
    out = json.loads(lines[-1][len(MARK):])
    return {"wall_s": wall, "search_s": out["search_s"], "predict_s": out["predict_s"], "status": "ok",
            "sha": out["predictions_sha256"], "n_candidates": out["n_candidates"]}


def startup(backend: str, reps: int) -> List[Dict[str, Any]]:
    from automux.core.env.worker_env import prepare_worker
    from automux.core.run.launcher import worker_env
    from automux.core.registry import get_adapter

    adapter = get_adapter(backend)
    rows = []
    for rep in range(reps):
        t0 = time.monotonic()
        worker = prepare_worker(adapter)
        rows.append({"kind": "startup", "backend": backend, "what": "prepare_worker", "rep": rep,
                     "seconds": time.monotonic() - t0})
        env = worker_env({}, worker.env_extra)
        mods = "; ".join(f"import {m}" for m in adapter.environment.import_names) or "pass"
        wall, proc = _timed([worker.python, "-c", mods], env=env)
        rows.append({"kind": "startup", "backend": backend, "what": "import backend", "rep": rep,
                     "seconds": wall if proc.returncode == 0 else None, "error": proc.stderr[-300:] or None})
    return rows


def _guard(fn: Any) -> Dict[str, Any]:
    """One measurement; an exception is a failed measurement, not the end of the script."""
    try:
        return fn()
    except Exception as e:
        return {"wall_s": None, "status": "failed", "error": f"{type(e).__name__}: {e}"[:800]}


def _write_raw(out: Path, raw: List[Dict[str, Any]]) -> None:
    import csv

    out.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in raw for k in r})
    with open(out / "raw.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(raw)


def machine() -> Dict[str, Any]:
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "python": platform.python_version(),
            "platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": load}


def summarise(raw: List[Dict[str, Any]], backends: List[str], seconds: float) -> List[Dict[str, Any]]:
    out = []
    for b in backends:
        am = [r for r in raw if r["kind"] == "automux" and r["backend"] == b]
        di = [r for r in raw if r["kind"] == "direct" and r["backend"] == b]
        ok_pairs = [(a, d) for a, d in zip(am, di) if a.get("status") == "ok" and d.get("status") == "ok"]
        ratios = [a["wall_s"] / d["wall_s"] for a, d in ok_pairs]
        same = sum(1 for a, d in ok_pairs if a["sha"] == d["sha"])
        ad = [r for r in raw if r["kind"] == "budget" and r["backend"] == b]
        st = [r for r in raw if r["kind"] == "startup" and r["backend"] == b]
        med_a = _median([a["wall_s"] for a, _ in ok_pairs])
        med_d = _median([d["wall_s"] for _, d in ok_pairs])
        out.append({
            "backend": b, "pairs_ok": len(ok_pairs), "pairs": len(am),
            "automux_wall_s": med_a, "direct_wall_s": med_d,
            "overhead_s": None if med_a is None or med_d is None else med_a - med_d,
            "ratio_median": _median(ratios), "ratio_min": min(ratios) if ratios else None,
            "ratio_max": max(ratios) if ratios else None,
            "same_predictions": f"{same}/{len(ok_pairs)}",
            "automux_search_s": _median([a.get("search_s") for a, _ in ok_pairs]),
            "direct_search_s": _median([d.get("search_s") for _, d in ok_pairs]),
            "worker_overhead_s": _median([a.get("worker_overhead_s") for a, _ in ok_pairs]),
            "prepare_worker_s": _median([r["seconds"] for r in st if r["what"] == "prepare_worker"]),
            "import_backend_s": _median([r["seconds"] for r in st if r["what"] == "import backend"]),
            "budget_s": seconds, "budget_runs": len(ad),
            "budget_worker_s": _median([r.get("worker_s") for r in ad]),
            "budget_search_s": _median([r.get("search_s") for r in ad]),
            "budget_overrun_s": _median([max(0.0, r["worker_s"] - seconds) for r in ad if r.get("worker_s")]),
            "budget_overrun_max_s": max([max(0.0, r["worker_s"] - seconds) for r in ad if r.get("worker_s")],
                                        default=None),
            "budget_statuses": ",".join(sorted({r["status"] for r in ad})) or "n/a (no seconds budget)",
        })
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def _load(m: Dict[str, Any]) -> str:
    la = m.get("loadavg")
    return "/".join(f"{x:.1f}" for x in la) + " (1/5/15 min)" if la else "?"


def write_outputs(out: Path, raw: List[Dict[str, Any]], summary: List[Dict[str, Any]], info: Dict[str, Any],
                  base: Dict[str, Any]) -> None:
    import csv

    _write_raw(out, raw)
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0]))
        w.writeheader()
        w.writerows(summary)
    (out / "machine.json").write_text(json.dumps(info, indent=2) + "\n")
    lines = [
        "# automux overhead, start-up cost and budget adherence",
        "",
        f"Data {info['data']}, {info['cv_folds']} CV folds, seed {info['seed']}; overhead under a "
        f"{info['trials']}-trial budget, adherence under a {info['seconds']:g} s budget; {info['reps']} repetitions, "
        f"medians. Machine: {info['machine_start']['platform']}, {info['machine_start']['cpus']} CPUs, load average "
        f"{_load(info['machine_start'])} at the start and {_load(info['machine_end'])} at the end "
        "(a shared machine: other work ran at the same time). Made by `benchmarks/perf/overhead.py`.",
        "",
        f"Interpreter start (`python -c pass`): {_fmt(base['python_s'])} s; importing automux's worker side: "
        f"{_fmt(base['import_worker_s'])} s (medians).",
        "",
        "## Overhead: automux against calling the backend directly",
        "",
        "`direct` = the backend called through its adapter's search + predict in a bare interpreter of its env, "
        "same seed, folds, budget, options and seeding (`direct_call.py`). `ratio` = automux wall / direct wall "
        "(median of paired runs; both include interpreter start and imports). `same predictions` = bitwise-equal "
        "hold-out predictions.",
        "",
        "| backend | automux s | direct s | overhead s | ratio (median) | ratio min-max | same predictions |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(f"| {s['backend']} | {_fmt(s['automux_wall_s'])} | {_fmt(s['direct_wall_s'])} | "
                     f"{_fmt(s['overhead_s'])} | {_fmt(s['ratio_median'])} | {_fmt(s['ratio_min'])}-"
                     f"{_fmt(s['ratio_max'])} | {s['same_predictions']} |")
    lines += [
        "",
        "## Worker start-up cost",
        "",
        "`prepare worker` = env lookup plus, for an isolated env, the handshake process. `import backend` = a "
        "fresh interpreter of the backend's env importing the adapter's declared import names (a light top-level "
        "package, as PyCaret's and auto-sklearn's are, defers the heavy imports to the search). `worker overhead` = the worker's wall time "
        "minus search and predict (interpreter start, imports, reading the data, saving the model, the env "
        "snapshot).",
        "",
        "| backend | prepare worker s | import backend s | worker overhead s | search s (automux / direct) |",
        "|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(f"| {s['backend']} | {_fmt(s['prepare_worker_s'])} | {_fmt(s['import_backend_s'])} | "
                     f"{_fmt(s['worker_overhead_s'])} | {_fmt(s['automux_search_s'])} / {_fmt(s['direct_search_s'])} |")
    lines += [
        "",
        "## Budget adherence",
        "",
        f"Seconds-only budget of {info['seconds']:g} s (hard deadline = budget + grace "
        f"{info['grace']:g} s). `worker s` = the worker's wall time (start-up included), `search s` = the "
        "adapter's search alone, `overrun` = max(0, worker s - budget).",
        "",
        "| backend | runs | worker s | search s | overrun s (median) | overrun s (max) | statuses |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(f"| {s['backend']} | {s['budget_runs']} | {_fmt(s['budget_worker_s'])} | "
                     f"{_fmt(s['budget_search_s'])} | {_fmt(s['budget_overrun_s'])} | "
                     f"{_fmt(s['budget_overrun_max_s'])} | {s['budget_statuses'] or '-'} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def _num(v: str) -> Any:
    if v == "":
        return None
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def resummarise(out: Path) -> int:
    """Summary files again from a previous run's raw.csv (e.g. after changing how they are written)."""
    import csv

    info = json.loads((out / "machine.json").read_text())
    with open(out / "raw.csv", newline="") as f:
        raw = [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f)]
    # Budget runs a trial-only backend refused are not measurements.
    raw = [r for r in raw if not (r["kind"] == "budget" and "does not support a seconds budget" in str(r.get("error")))]
    base = {"python_s": _median([r["seconds"] for r in raw if r.get("what") == "python -c pass"]),
            "import_worker_s": _median([r["seconds"] for r in raw if r.get("what") == "import automux.core.run.worker"])}
    write_outputs(out, raw, summarise(raw, info["backends"], info["seconds"]), info, base)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", help="comma list (default: every available backend)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--grace", type=float, default=None)
    p.add_argument("--data", default="sklearn:breast_cancer")
    p.add_argument("--cv-folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-budget", action="store_true", help="leave out the budget adherence runs")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--summarise-only", action="store_true",
                   help="rewrite summary.csv / summary.md from OUT/raw.csv and OUT/machine.json, run nothing")
    a = p.parse_args(argv)
    if a.summarise_only:
        return resummarise(Path(a.out))

    import automux
    from automux.core.experiment.budget import DEFAULT_GRACE_S
    from automux.core.registry import get_adapter
    from automux.core.run.store import RunStore

    names = a.backends.split(",") if a.backends else [b["name"] for b in automux.backends() if b["available"]]
    info: Dict[str, Any] = {"data": a.data, "cv_folds": a.cv_folds, "seed": a.seed, "trials": a.trials,
                            "seconds": a.seconds, "grace": DEFAULT_GRACE_S if a.grace is None else a.grace,
                            "reps": a.reps, "backends": names, "machine_start": machine()}
    raw: List[Dict[str, Any]] = []
    py = [_timed([sys.executable, "-c", "pass"])[0] for _ in range(a.reps)]
    imp = [_timed([sys.executable, "-c", "import automux.core.run.worker"])[0] for _ in range(a.reps)]
    raw += [{"kind": "startup", "backend": "-", "what": "python -c pass", "rep": i, "seconds": s}
            for i, s in enumerate(py)]
    raw += [{"kind": "startup", "backend": "-", "what": "import automux.core.run.worker", "rep": i, "seconds": s}
            for i, s in enumerate(imp)]
    base = {"python_s": _median(py), "import_worker_s": _median(imp)}
    exp = automux.experiment(a.data, budget_trials=a.trials, seed=a.seed, folds=a.cv_folds)
    exp_s = automux.experiment(a.data, budget_seconds=a.seconds, seed=a.seed, folds=a.cv_folds, grace_s=a.grace)
    with tempfile.TemporaryDirectory(prefix="automux-perf-") as tmp:
        store = RunStore(Path(tmp) / "runs")
        for b in names:
            sys.stderr.write(f"[perf] {b}: start-up\n")
            raw += startup(b, a.reps)
            for rep in range(a.reps):
                order = ("automux", "direct") if rep % 2 == 0 else ("direct", "automux")
                for kind in order:
                    r = _guard(lambda: run_automux(exp, b, store, {}) if kind == "automux" else
                               run_direct(exp, b, {}))
                    raw.append({"kind": kind, "backend": b, "rep": rep, **r})
                    sys.stderr.write(f"[perf] {b} {kind} rep {rep}: {r['status']} {r.get('wall_s') or 0:.1f}s\n")
            if not a.skip_budget and "seconds" in get_adapter(b).capabilities.budget_modes:
                for rep in range(a.reps):
                    r = _guard(lambda: run_automux(exp_s, b, store, {}))
                    raw.append({"kind": "budget", "backend": b, "rep": rep, **r})
                    sys.stderr.write(f"[perf] {b} budget rep {rep}: {r['status']} worker "
                                     f"{r.get('worker_s') or 0:.1f}s\n")
            _write_raw(Path(a.out), raw)  # progress survives a crash of a later backend
    info["machine_end"] = machine()
    summary = summarise(raw, names, a.seconds)
    write_outputs(Path(a.out), raw, summary, info, base)
    sys.stderr.write(f"[perf] wrote {a.out}/summary.md\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
