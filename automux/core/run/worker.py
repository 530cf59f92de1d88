"""The worker: ``python -m automux.core.run.worker JOB_DIR``, the one entry point of every job.

``job.json`` names the job's ``kind``:

- ``search`` (the default): seed ``random`` and numpy from the spec, import the
  adapter by module and class (no entry-point scan), read the data, call the
  adapter's ``start_up``, start the budget clock (``started.json``: a seconds
  budget is search time only), stream candidates to the job dir, save the
  model, predict the hold-out features, ``shut_down``, write the chosen
  candidate's out-of-fold predictions (``oof.arrow``, when the adapter gave
  them or the job asked for a refit: see :func:`write_oof`), write
  ``result.json`` last (atomically: the parent treats the job as done then);
- ``predict``: load a saved model (``model_dir``) and predict ``input`` (default
  ``input.arrow`` in the job dir) into ``output`` (default ``predictions.arrow``):
  ``automux predict`` and the contracts' save/load probe.

On an exception it writes ``error.json`` and exits 1. The parent owns deadlines
and scoring. Imports on Python 3.9 with only pluggy, numpy, pandas and pyarrow,
and nothing of automux's API, store or CLI (``tests/test_layers.py`` checks).
"""
from __future__ import annotations

import importlib
import os
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from . import jobfiles as jf
from . import oof as oof_mod
from . import processes
from ..adapter import Adapter, SearchTask
from ..experiment.budget import Budget
from ..env.envinfo import describe_env
from ..experiment.metrics import get_metric

EXIT_ADAPTER_ERROR = 1


def load_adapter(ref: Dict[str, str]) -> Adapter:
    """Instantiate the adapter class named in the job (``module`` + ``class``)."""
    module = importlib.import_module(ref["module"])
    cls = getattr(module, ref["class"])
    return cls()


def seed_everything(seeds: Dict[str, int]) -> None:
    random.seed(seeds.get("python", 0))
    np.random.seed(seeds.get("numpy", 0) % (2 ** 32))


def _log(msg: str) -> None:
    sys.stdout.write(f"[automux worker {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stdout.flush()


def run_job(job_dir: Path, adapter: Optional[Adapter] = None) -> Dict[str, Any]:
    """Run the job in ``job_dir`` in this process; returns what it wrote to result.json.

    Order: load the adapter and the data, ``adapter.start_up`` (timed, outside the
    budget), then the budget clock starts (``started.json`` tells the parent), then
    search, save, predict, ``adapter.shut_down`` (always), the out-of-fold
    predictions (:func:`write_oof`), and ``result.json`` last. Exceptions from the
    adapter propagate (``main`` turns them into error.json).
    """
    job = jf.read_json(job_dir / jf.JOB)
    seed_everything(job["seeds"])
    adapter = adapter or load_adapter(job["adapter"])
    train, y, fold_ids = jf.read_train(job_dir)  # either job layout (rows referenced from the store, or a file)
    folds = []
    for k in range(int(fold_ids.max()) + 1):
        folds.append((np.flatnonzero(fold_ids != k), np.flatnonzero(fold_ids == k)))
    budget = Budget.from_json(job["budget"])
    workdir = job_dir / "scratch"
    workdir.mkdir(exist_ok=True)
    task = SearchTask(
        X=train, y=y, task=job["task"], classes=job["classes"], folds=folds,
        metric=get_metric(job["metric"], job["task"]), seed=int(job["seed"]), budget=budget,
        options=job.get("options") or {}, workdir=workdir, deadline=None,
        report=lambda c: jf.append_candidate(job_dir, c), log=_log,
        memory_mb=getattr(budget, "memory_mb", None),  # the spec's --memory, for the backend's own knob
        warm=job.get("warm"),  # a runtime the parent keeps warm across a compare / bench (core/run/warm.py)
    )
    adapter.validate(task)
    try:
        startup = start_clock(job_dir, job, adapter, task)
        _log(f"search: {adapter.name} on {len(train)} rows, {len(folds)} folds, budget {budget.to_json()} "
             f"(start-up {startup['startup_s']:.2f}s, outside the budget)")
        t0 = time.monotonic()
        result = adapter.search(task)
        search_s = time.monotonic() - t0
        model_dir = job_dir / jf.MODEL_DIR
        model_dir.mkdir(exist_ok=True)
        adapter.save(result.model, model_dir)
        holdout = jf.read_holdout(job_dir)
        t1 = time.monotonic()
        pred = adapter.predict(result.model, holdout)
        predict_s = time.monotonic() - t1
        jf.write_arrow(jf.predictions_frame(pred, job["task"]), job_dir / jf.PREDICTIONS)
    finally:
        adapter.shut_down()
    oof_info = write_oof(job_dir, job, adapter, result, task, budget)
    out = {"chosen": result.chosen, "search_s": search_s, "predict_s": predict_s, "oof": oof_info,
           "oof_refit_s": oof_info.get("seconds") if oof_info.get("source") == "refit" else None,
           "startup": startup, "info": result.info, "env": describe_env(), "n_candidates": len(task.candidates)}
    jf.write_json(job_dir / jf.RESULT, out)
    _log(f"done: {len(task.candidates)} candidates, search {search_s:.2f}s, predict {predict_s:.3f}s")
    return out


def start_clock(job_dir: Path, job: Dict[str, Any], adapter: Adapter, task: SearchTask) -> Dict[str, Any]:
    """Call ``adapter.start_up(task)``, then start the budget clock (``task.deadline``); write ``started.json``.

    Returns (and writes) ``clock_started_at`` (wall time), ``startup_s`` (launch to ready: interpreter,
    imports, job data, the hook; from the job's ``launched_at`` when set), ``hook_s`` (the hook alone),
    ``facts`` (what the hook returned) and, apart, its ``warm`` / ``runtime`` (a runtime the parent kept
    warm: whether it had served runs before, its identity). The parent moves its hard stop on it.
    """
    t0 = time.monotonic()
    facts = adapter.start_up(task) or {}
    hook_s = time.monotonic() - t0
    if task.budget.seconds is not None:
        task.deadline = time.monotonic() + task.budget.seconds
    now = time.time()
    launched = job.get("launched_at")
    startup = {"clock_started_at": now, "hook_s": round(hook_s, 4),
               # a runtime kept warm by the parent (core/run/warm.py): whether it had served runs, and which
               "warm": bool(facts.get("warm", False)), "runtime": facts.get("runtime"), "facts": dict(facts),
               "startup_s": round(max(0.0, now - launched) if launched is not None else hook_s, 4)}
    jf.write_json(job_dir / jf.STARTED, startup)
    return startup


def write_oof(job_dir: Path, job: Dict[str, Any], adapter: Adapter, result: Any, task: SearchTask,
              budget: Budget) -> Dict[str, Any]:
    """``oof.arrow``: the chosen candidate's out-of-fold predictions, when available (:mod:`.oof`); their info.

    The adapter's own (``SearchResult.oof``, from the search's fold fits) are always written: they
    cost nothing. A per-fold refit happens only when the job asks for it (``job["oof"]`` true:
    ``compare --ensemble``, a bench with an ensemble row, the contracts' oof check), after the search
    and outside its budget: announced in ``oof_refit.json`` (the parent's hard stop becomes its start
    + ``budget.cap_s`` + the grace) and bounded by ``budget.cap_s`` itself.
    """
    if getattr(result, "oof", None) is None and not job.get("oof"):
        return {"available": False, "source": None,
                "reason": f"{adapter.name} gives no out-of-fold predictions from its search, and this run did not "
                          "ask for a refit (compare --ensemble and bench suites with an ensemble row do: re-run it "
                          "that way)"}
    hard_stop = None
    if getattr(result, "oof", None) is None:
        jf.write_json(job_dir / jf.OOF_REFIT, {"started_at": time.time(), "cap_s": budget.cap_s})
        hard_stop = time.monotonic() + budget.cap_s
    pred, info = oof_mod.compute(adapter, result, task, hard_stop=hard_stop)
    if pred is not None:
        jf.write_arrow(jf.predictions_frame(pred, job["task"]), job_dir / jf.OOF)
    _log(f"out-of-fold predictions: {info.get('source') or 'none'}"
         f"{'' if info.get('available') else ' (' + str(info.get('reason')) + ')'}")
    return info


def run_predict_job(job_dir: Path) -> Dict[str, Any]:
    """Load the model named in ``job.json`` and predict its input (in this process)."""
    job = jf.read_json(job_dir / jf.JOB)
    seed_everything(job.get("seeds") or {})
    adapter = load_adapter(job["adapter"])
    model = adapter.load(Path(job["model_dir"]))
    X = jf.read_arrow(Path(job.get("input") or job_dir / jf.PREDICT_INPUT))
    t0 = time.monotonic()
    pred = adapter.predict(model, X)
    predict_s = time.monotonic() - t0
    jf.write_arrow(jf.predictions_frame(pred, job["task"]), Path(job.get("output") or job_dir / jf.PREDICTIONS))
    out = {"predict_s": predict_s, "rows": int(len(X)), "env": describe_env()}
    jf.write_json(job_dir / jf.RESULT, out)
    return out


#: What each job kind runs.
JOB_KINDS = {"search": run_job, "predict": run_predict_job}


def write_error(job_dir: Path, e: BaseException) -> None:
    """Record an exception for the parent as ``error.json`` (type, message, traceback, env)."""
    jf.write_json(job_dir / jf.ERROR, {"type": type(e).__name__, "message": str(e),
                                       "traceback": traceback.format_exc(), "env": describe_env()})


def main(argv: Optional[list] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m automux.core.run.worker JOB_DIR\n")
        return 2
    job_dir = Path(argv[0])
    if os.environ.get(processes.PARENT_PID_ENV):
        processes.die_with_parent()
    try:
        kind = jf.read_json(job_dir / jf.JOB).get("kind", "search")
        if kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {kind!r} (known: {', '.join(JOB_KINDS)})")
        JOB_KINDS[kind](job_dir)
    except BaseException as e:  # recorded for the parent, then a non-zero exit
        write_error(job_dir, e)
        traceback.print_exc()
        return EXIT_ADAPTER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
