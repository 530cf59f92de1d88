"""The out-of-fold check: the chosen candidate's OOF predictions are well formed and never saw their fold.

On the suite's base run (the worker wrote ``oof.arrow``, :mod:`automux.core.run.oof`):

- shape: one row per training row, ``(n, n_classes)`` probabilities in [0, 1]
  summing to 1 (or ``(n,)`` finite values for regression), every row covered
  (each training row is in one validation fold);
- recorded: ``extra["oof"]`` says available, names its source, and ``oof.arrow``
  is hashed in the record's artifacts;
- never saw the fold, two ways: (1) the OOF predictions must not equal the
  predictions the refit-on-all model (the stored model, which saw every training
  row) gives on the training rows, and (2) their per-fold scores must not beat the
  chosen candidate's recorded fold scores (made by models fitted without the fold)
  by more than ``LEAK_MARGIN``: a model that saw its fold scores better on it.

Skipped (with the reason) when the adapter gives no OOF predictions and declares
why (no rebuild, no source); failed when it should have (the refit failed).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import numpy as np

from ..core.adapter import Adapter
from ..core.run import jobfiles as jf
from ._common import completed, ctx_for
from .context import ContractContext
from .results import CheckFailed, CheckSkipped

#: OOF predictions closer than this (max absolute difference) to the in-sample predictions count as in-sample.
SAME_AS_IN_SAMPLE_ATOL = 1e-9
#: How much better than the recorded fold score an OOF fold score may be (absolute, plus relative) before it leaks.
LEAK_MARGIN = (0.02, 0.02)
PROBE_TIMEOUT_S = 300.0


def in_sample_predictions(ctx: ContractContext, run: Any) -> np.ndarray:
    """The stored (refit-on-all) model's predictions on the training rows, in the worker's interpreter."""
    job_dir = ctx.root / "oof-probe" / run.record.run_id
    job_dir.mkdir(parents=True, exist_ok=True)
    features = jf.read_arrow(run.run_dir / jf.TRAIN).drop(columns=[jf.TARGET_COL, jf.FOLD_COL])
    jf.write_arrow(features, job_dir / jf.PREDICT_INPUT)
    job = jf.read_json(run.run_dir / jf.JOB)
    jf.write_json(job_dir / jf.JOB, {"kind": "predict", "adapter": job["adapter"], "task": job["task"],
                                     "seeds": job["seeds"], "model_dir": str(run.run_dir / jf.MODEL_DIR)})
    try:
        out = ctx.run_probe(run, job_dir, PROBE_TIMEOUT_S)
    except RuntimeError as e:
        raise CheckFailed(f"predicting the training rows with the stored model failed {e}"[:600]) from None
    return jf.predictions_array(jf.read_arrow(out), job["task"])


def _shape_problems(oof: np.ndarray, task: str, n: int, k: int) -> Optional[str]:
    want = (n,) if task == "regression" else (n, k)
    if oof.shape != want:
        return f"oof.arrow has shape {oof.shape}, expected {want} (one row per training row)"
    if not np.all(np.isfinite(oof)):
        rows = int((~np.isfinite(oof if oof.ndim == 1 else oof.min(axis=1))).sum())
        return f"{rows} training row(s) have no finite out-of-fold prediction"
    if task != "regression":
        if oof.min() < 0 or oof.max() > 1:
            return "out-of-fold class probabilities outside [0, 1]"
        if not np.allclose(oof.sum(axis=1), 1.0, atol=1e-6):
            return "out-of-fold class probabilities do not sum to 1"
    return None


def check_oof_never_saw_the_fold(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """The base run's out-of-fold predictions have one well-formed row per training row, are recorded and
    hashed, differ from the refit-on-all model's in-sample predictions, and do not beat the chosen
    candidate's recorded fold scores (no model saw the fold it predicts)."""
    from ..core.experiment.metrics import get_metric

    ctx = ctx_for(adapter, ctx)
    run = ctx.base_run()
    completed(run, "out-of-fold")
    rec = run.record
    info = (rec.extra or {}).get("oof") or {}
    if not info.get("available"):
        reason = str(info.get("reason") or "no reason recorded")
        if "failed" in reason or "shape" in reason or not info:
            raise CheckFailed(f"no out-of-fold predictions: {reason}")
        raise CheckSkipped(f"the adapter gives no out-of-fold predictions: {reason}")
    if jf.OOF not in (rec.artifacts or {}):
        raise CheckFailed("extra['oof'] says available but oof.arrow is not hashed in the record's artifacts")
    if info.get("source") not in ("adapter", "refit"):
        raise CheckFailed(f"extra['oof'] names no known source ({info.get('source')!r})")
    task = rec.spec.task
    train = jf.read_arrow(run.run_dir / jf.TRAIN)
    y = train[jf.TARGET_COL].to_numpy()
    fold_ids = train[jf.FOLD_COL].to_numpy()
    folds = [np.flatnonzero(fold_ids == f) for f in range(int(fold_ids.max()) + 1)]
    oof = jf.predictions_array(jf.read_arrow(run.run_dir / jf.OOF), task)
    problem = _shape_problems(oof, task, len(y), len(run.experiment.dataset.classes))
    if problem:
        raise CheckFailed(problem)
    inside = in_sample_predictions(ctx, run)
    if inside.shape == oof.shape and float(np.max(np.abs(inside - oof))) <= SAME_AS_IN_SAMPLE_ATOL:
        raise CheckFailed("the out-of-fold predictions equal the refit-on-all model's predictions on the training "
                          "rows: they come from a model that saw every fold")
    metric = get_metric(rec.metric, task)
    chosen = rec.candidates[rec.chosen] if rec.chosen is not None else None
    leaks = []
    if chosen is not None:
        for k, (valid, recorded) in enumerate(zip(folds, chosen.fold_scores)):
            if recorded is None:
                continue
            s = float(metric(y[valid], oof[valid]))
            margin = LEAK_MARGIN[0] + LEAK_MARGIN[1] * abs(recorded)
            if metric.better(s, recorded) and abs(s - recorded) > margin:
                leaks.append(f"fold {k}: {s:.4g} out-of-fold vs {recorded:.4g} recorded")
    if leaks:
        raise CheckFailed("the out-of-fold predictions score better than the chosen candidate's fold models did, "
                          "as a model that saw the fold would: " + "; ".join(leaks[:3]))
    same = info.get("reproduces_fold_scores")
    return (f"{len(y)} rows of out-of-fold predictions from {info['source']}, unlike the in-sample predictions"
            + ("" if same is None else f"; they {'reproduce' if same else 'do not exactly reproduce'} the chosen "
                                       "candidate's recorded fold scores"))


def oof_checks(adapter: Adapter) -> Iterator[Callable[..., Optional[str]]]:
    """The out-of-fold checks (every adapter: one that gives none is skipped with its reason)."""
    yield check_oof_never_saw_the_fold
