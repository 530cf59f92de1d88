"""The worker: ``python -m automux.core.run.worker JOB_DIR``, the one entry point of every job.

``job.json`` names the job's ``kind``:

- ``search`` (the default): seed ``random`` and numpy from the spec, import the
  adapter by module and class (no entry-point scan), stream candidates to the
  job dir, save the model, predict the hold-out features, write the chosen
  candidate's out-of-fold predictions (``oof.arrow``, when available: see
  :mod:`automux.core.run.oof`), write ``result.json``;
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

    Exceptions from the adapter propagate (``main`` turns them into error.json).
    """
    job = jf.read_json(job_dir / jf.JOB)
    seed_everything(job["seeds"])
    adapter = adapter or load_adapter(job["adapter"])
    train = jf.read_arrow(job_dir / jf.TRAIN)
    y = train.pop(jf.TARGET_COL).to_numpy()
    fold_ids = train.pop(jf.FOLD_COL).to_numpy()
    folds = []
    for k in range(int(fold_ids.max()) + 1):
        folds.append((np.flatnonzero(fold_ids != k), np.flatnonzero(fold_ids == k)))
    budget = Budget.from_json(job["budget"])
    deadline = None
    if budget.seconds is not None:
        elapsed = time.time() - job["launched_at"]
        deadline = time.monotonic() + budget.seconds - elapsed
    workdir = job_dir / "scratch"
    workdir.mkdir(exist_ok=True)
    task = SearchTask(
        X=train, y=y, task=job["task"], classes=job["classes"], folds=folds,
        metric=get_metric(job["metric"], job["task"]), seed=int(job["seed"]), budget=budget,
        options=job.get("options") or {}, workdir=workdir, deadline=deadline,
        report=lambda c: jf.append_candidate(job_dir, c), log=_log,
        memory_mb=getattr(budget, "memory_mb", None),  # the spec's --memory, for the backend's own knob
    )
    adapter.validate(task)
    _log(f"search: {adapter.name} on {len(train)} rows, {len(folds)} folds, budget {budget.to_json()}")
    t0 = time.monotonic()
    result = adapter.search(task)
    search_s = time.monotonic() - t0
    model_dir = job_dir / jf.MODEL_DIR
    model_dir.mkdir(exist_ok=True)
    adapter.save(result.model, model_dir)
    holdout = jf.read_arrow(job_dir / jf.HOLDOUT)
    t1 = time.monotonic()
    pred = adapter.predict(result.model, holdout)
    predict_s = time.monotonic() - t1
    jf.write_arrow(jf.predictions_frame(pred, job["task"]), job_dir / jf.PREDICTIONS)
    oof_info = write_oof(job_dir, job, adapter, result, task, budget)
    out = {"chosen": result.chosen, "search_s": search_s, "predict_s": predict_s, "oof": oof_info,
           "info": result.info, "env": describe_env(), "n_candidates": len(task.candidates)}
    jf.write_json(job_dir / jf.RESULT, out)
    _log(f"done: {len(task.candidates)} candidates, search {search_s:.2f}s, predict {predict_s:.3f}s")
    return out


def write_oof(job_dir: Path, job: Dict[str, Any], adapter: Adapter, result: Any, task: SearchTask,
              budget: Budget) -> Dict[str, Any]:
    """``oof.arrow``: the chosen candidate's out-of-fold predictions, when available (:mod:`.oof`); their info.

    The refit must end before ``oof.hard_stop_s`` after launch: the budget cap plus at most half the grace,
    leaving ``oof.GRACE_KEPT_S`` of it (the parent kills the worker at the cap plus the grace).
    """
    if job.get("oof", True) is False:
        return {"available": False, "source": None, "reason": "out-of-fold predictions were not asked for"}
    hard_stop = time.monotonic() + (job["launched_at"] + oof_mod.hard_stop_s(budget) - time.time()) \
        if job.get("launched_at") is not None else None
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
