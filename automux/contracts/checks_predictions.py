"""Checks on what a run returns: well-formed predictions, a model that loads back, the chosen candidate's model."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from ..core.adapter import Adapter
from . import data
from ._common import completed, ctx_for, fail_if
from .context import ContractContext
from .results import CheckFailed, CheckSkipped

PROBA_SUM_ATOL = 1e-6
#: How close the chosen candidate's refit must predict to the returned model.
CHOSEN_RTOL, CHOSEN_ATOL = 1e-5, 1e-6


def _prediction_problems(pred: Optional[np.ndarray], y: np.ndarray, task: str, n_classes: int,
                         train_freq: np.ndarray) -> List[str]:
    n = len(y)
    if pred is None:
        return ["no predictions were written"]
    if task == "regression":
        if pred.shape != (n,):
            return [f"shape {pred.shape}, expected ({n},)"]
        return [] if np.all(np.isfinite(pred)) else [f"{int(np.sum(~np.isfinite(pred)))} values are not finite"]
    if pred.shape != (n, n_classes):
        return [f"shape {pred.shape}, expected ({n}, {n_classes})"]
    problems = []
    if not np.all(np.isfinite(pred)):
        return [f"{int(np.sum(~np.isfinite(pred)))} probabilities are not finite"]
    if pred.min() < 0.0 or pred.max() > 1.0:
        problems.append(f"probabilities outside [0, 1] (min {pred.min():.3g}, max {pred.max():.3g})")
    sums = pred.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=PROBA_SUM_ATOL):
        problems.append(f"rows sum to between {sums.min():.6g} and {sums.max():.6g}, not 1")
    if problems:
        return problems
    # Class order: the suite's data have distinct class shares, so the columns' mean
    # probabilities must rank the classes as their training frequencies do.
    means = pred.mean(axis=0)
    want = np.argsort(-train_freq, kind="mergesort")
    got = np.argsort(-means, kind="mergesort")
    if not np.array_equal(want, got):
        shares = ", ".join(f"{f:.2f}" for f in train_freq)
        seen = ", ".join(f"{m:.2f}" for m in means)
        return [f"mean probability per column [{seen}] does not rank the classes as their training shares "
                f"[{shares}] do: probabilities are not in task.classes order"]
    return []


def check_predictions_well_formed(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Per declared task: shape, class order, probabilities in [0, 1] summing to 1, finite values."""
    ctx = ctx_for(adapter, ctx)
    notes = []
    for task in ctx.declared_tasks():
        if task == ctx.main_task():
            run = ctx.base_run()
        else:
            frame, split = data.plain(task)
            run = ctx.side_run("predict", task, frame, split)
        completed(run, f"{task} prediction")
        ds = run.experiment.dataset
        k = len(ds.classes)
        freq = np.bincount(ds.y[list(run.experiment.split.train)], minlength=k) / len(run.experiment.split.train) \
            if k else np.zeros(0)
        problems = _prediction_problems(run.predictions(), run.holdout_y(), task, k, freq)
        fail_if(problems, f"malformed {task} predictions")
        notes.append(task)
    return f"well-formed predictions for {', '.join(notes)}"


def check_save_load_round_trip(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """``save`` then ``load`` (in a fresh process) gives bitwise-identical hold-out predictions."""
    ctx = ctx_for(adapter, ctx)
    run = ctx.base_run()
    completed(run, "save/load")
    before = run.predictions()
    try:
        after = ctx.reload_predictions(run)
    except Exception as e:  # noqa: BLE001 - the probe's failure is the finding
        raise CheckFailed(str(e)) from e
    if before is None or after.shape != before.shape:
        raise CheckFailed(f"the loaded model predicts shape {after.shape}, the saved one "
                          f"{None if before is None else before.shape}")
    if not np.array_equal(before, after, equal_nan=True):
        diff = float(np.nanmax(np.abs(before - after)))
        raise CheckFailed(f"the loaded model's predictions differ from the saved model's (max difference {diff:.3g})")
    return f"identical predictions after load ({before.size} values)"


def _refit_predictions(source: str, X: Any, y: np.ndarray, X_hold: Any, task: str, n_classes: int) -> np.ndarray:
    namespace: Dict[str, Any] = {"__name__": "automux_contracts_candidate"}
    exec(compile(source, "<candidate_source>", "exec"), namespace)  # noqa: S102 - the adapter's own source
    model = namespace["build_model"]().fit(X, y)
    if task == "regression":
        return np.asarray(model.predict(X_hold), dtype=np.float64).ravel()
    proba = np.asarray(model.predict_proba(X_hold), dtype=np.float64)
    out = np.zeros((len(X_hold), n_classes), dtype=np.float64)
    for j, cls in enumerate(getattr(model, "classes_", range(proba.shape[1]))):
        out[:, int(cls)] = proba[:, j]
    return out


def check_chosen_matches_returned_model(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """The chosen candidate, rebuilt from ``candidate_source`` and refit on the training rows, predicts the
    hold-out like the returned model (within 1e-5 relative, 1e-6 absolute).

    Applies to adapters that override ``candidate_source``. Catches a ``chosen``
    index that names the backend's own pick while another model is returned.
    """
    import pandas as pd

    from ..core.sklearn_kit import to_sklearn_frame

    ctx = ctx_for(adapter, ctx)
    run = ctx.base_run()
    completed(run, "chosen-model")
    rec, exp = run.record, run.experiment
    if rec.chosen is None:
        raise CheckFailed("the run returned a model but no chosen candidate")
    returned = run.predictions()
    ds, split = exp.dataset, exp.split
    columns = {str(c): ("categorical" if isinstance(t, pd.CategoricalDtype) else "numeric")
               for c, t in ds.X.dtypes.items()}
    train, hold = list(split.train), list(split.holdout)
    X = to_sklearn_frame(ds.X.iloc[train].reset_index(drop=True))
    X_hold = to_sklearn_frame(ds.X.iloc[hold].reset_index(drop=True))
    seed = exp.spec.seeds["backend"]

    def refit(index: int) -> Optional[np.ndarray]:
        source = adapter.candidate_source(rec.candidates[index], ds.task, columns, seed)
        if source is None:
            return None
        return _refit_predictions(source, X, ds.y[train], X_hold, ds.task, len(ds.classes))

    try:
        mine = refit(rec.chosen)
    except ImportError as e:
        raise CheckSkipped(f"the chosen candidate's source does not import here: {e}") from e
    if mine is None:
        raise CheckSkipped(f"candidate_source gives no source for the chosen candidate {rec.chosen}")
    if returned is not None and mine.shape == returned.shape and \
            np.allclose(mine, returned, rtol=CHOSEN_RTOL, atol=CHOSEN_ATOL):
        return f"candidate {rec.chosen} refit predicts what the returned model predicts ({mine.size} values)"
    matches = []
    for i in range(len(rec.candidates)):
        if i == rec.chosen:
            continue
        try:
            other = refit(i)
        except Exception:  # noqa: BLE001 - only looking for the model that was returned
            continue
        if other is not None and returned is not None and other.shape == returned.shape and \
                np.allclose(other, returned, rtol=CHOSEN_RTOL, atol=CHOSEN_ATOL):
            matches.append(i)
    diff = float(np.nanmax(np.abs(mine - returned))) if returned is not None and mine.shape == returned.shape \
        else float("nan")
    raise CheckFailed(f"chosen={rec.chosen}, but that candidate refit predicts differently from the returned model "
                      f"(max difference {diff:.3g})" + (f"; candidate {matches[0]} matches it" if matches else ""))
