"""Call one backend directly, through its adapter's search + predict, without automux's harness.

Usage: ``python direct_call.py JOB_DIR`` where JOB_DIR holds the job files automux
itself writes for a run (``job.json``, ``train.arrow``, ``holdout.arrow``). The
backend gets exactly the settings it gets inside automux (seed, folds, budget,
options, the same random/numpy seeding); what is left out is the harness: no
candidate streaming to disk, no model save, no environment snapshot, no result
files, no parent polling, scoring, record or store. Prints one line
``AUTOMUX_DIRECT_RESULT {search_s, predict_s, n_candidates, predictions_sha256}``.

Runs on Python 3.9 (isolated backend envs), like the worker.
"""
from __future__ import annotations

import importlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

MARK = "AUTOMUX_DIRECT_RESULT "


def main(job_dir: Path) -> int:
    from automux.core.run import jobfiles as jf
    from automux.core.adapter import SearchTask
    from automux.core.experiment.budget import Budget
    from automux.core.experiment.metrics import get_metric

    job = json.loads((job_dir / "job.json").read_text())
    random.seed(job["seeds"].get("python", 0))
    np.random.seed(job["seeds"].get("numpy", 0) % (2 ** 32))
    ref = job["adapter"]
    adapter = getattr(importlib.import_module(ref["module"]), ref["class"])()
    train = jf.read_arrow(job_dir / jf.TRAIN)
    y = train.pop(jf.TARGET_COL).to_numpy()
    fold_ids = train.pop(jf.FOLD_COL).to_numpy()
    folds = [(np.flatnonzero(fold_ids != k), np.flatnonzero(fold_ids == k)) for k in range(int(fold_ids.max()) + 1)]
    budget = Budget.from_json(job["budget"])
    deadline = None if budget.seconds is None else time.monotonic() + budget.seconds
    workdir = job_dir / "scratch"
    workdir.mkdir(exist_ok=True)
    task = SearchTask(X=train, y=y, task=job["task"], classes=job["classes"], folds=folds,
                      metric=get_metric(job["metric"], job["task"]), seed=int(job["seed"]), budget=budget,
                      options=job.get("options") or {}, workdir=workdir, deadline=deadline,
                      log=lambda msg: None)
    adapter.validate(task)
    t0 = time.monotonic()
    result = adapter.search(task)
    search_s = time.monotonic() - t0
    holdout = jf.read_arrow(job_dir / jf.HOLDOUT)
    t1 = time.monotonic()
    pred = adapter.predict(result.model, holdout)
    predict_s = time.monotonic() - t1
    arr = jf.predictions_array(jf.predictions_frame(pred, job["task"]), job["task"])
    # Marked: a backend may print to stdout after us (H2O's exit hook does).
    print(MARK + json.dumps({"search_s": search_s, "predict_s": predict_s, "n_candidates": len(task.candidates),
                      "predictions_sha256": jf.predictions_sha256(arr)}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
