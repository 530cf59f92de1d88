"""Out-of-fold predictions of a search's chosen candidate, worker side (``oof.arrow`` in the job dir).

Row ``i`` of ``train.arrow`` is predicted by a model that never saw the fold
``i`` validates in. Sources, in order:

1. ``adapter`` — the adapter returned them (``SearchResult.oof``), shaped like
   its ``predict`` output on ``task.X``;
2. ``refit`` — the worker execs the adapter's ``candidate_source`` for the chosen
   candidate (given the safe column names the backend was trained on), calls its
   ``build_model()`` (with ``seed=`` when it takes one, else its ``random_state``
   knobs set to the backend seed) and fits it once per fold on the fold's fit rows;
3. none — recorded with the reason (no chosen candidate, the adapter declares no
   rebuild, no time left before the hard stop, the refit failed, ...).

Never fails the run: any problem is a reason. ``info`` (``available``, ``source``,
``reason``, ``fold_scores``, ``reproduces_fold_scores``, ``rows``, ``seconds``)
goes to ``result.json`` as ``oof`` and the parent records it in
``record.extra["oof"]``. Imports only numpy / pandas at module level (the worker
side stays light); scikit-learn is imported by the candidate's source, in the
backend's env.
"""
from __future__ import annotations

import inspect
import math
import time
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

#: Refit only when the estimate (the chosen candidate's recorded fit time, times this) fits before the hard stop.
TIME_SAFETY = 2.0
#: Seconds of the grace the OOF refit may never use (the worker still has to exit cleanly).
GRACE_KEPT_S = 5.0
#: How close recomputed fold scores must be to the recorded ones to count as reproducing them.
REPRODUCE_RTOL = 1e-6


def hard_stop_s(budget: Any) -> float:
    """Seconds after launch by which the OOF refit must end: the cap plus at most half the grace, keeping
    ``GRACE_KEPT_S`` of it for the worker to exit (the parent kills it at the cap plus the grace)."""
    grace = float(budget.grace_s)
    return float(budget.cap_s) + min(grace / 2.0, max(0.0, grace - GRACE_KEPT_S))


def expected_shape(task: str, n_rows: int, n_classes: int) -> Tuple[int, ...]:
    return (n_rows,) if task == "regression" else (n_rows, n_classes)


def shape_problem(pred: Any, task: str, n_rows: int, n_classes: int) -> Optional[str]:
    """Why ``pred`` is not a usable OOF array (its shape), or None."""
    arr = np.asarray(pred, dtype=np.float64)
    want = expected_shape(task, n_rows, n_classes)
    if arr.shape != want:
        return f"out-of-fold predictions have shape {arr.shape}, expected {want}"
    return None


def _build(namespace: Dict[str, Any], seed: int) -> Any:
    build = namespace.get("build_model")
    if not callable(build):
        raise ValueError("the candidate source defines no build_model()")
    if "seed" in inspect.signature(build).parameters:
        return build(seed=seed)
    model = build()
    if hasattr(model, "get_params"):
        keys = {k: seed for k in model.get_params(deep=True) if k.endswith("random_state")}
        if keys:
            model = model.set_params(**keys)
    return model


def refit_per_fold(source: str, X: Any, y: np.ndarray, folds: Any, task: str, n_classes: int,
                   seed: int, time_left: Callable[[], float] = lambda: float("inf")) -> np.ndarray:
    """Exec ``source``, fit ``build_model()`` on each fold's fit rows, predict its validation rows.

    Rows in no validation fold stay NaN. Raises ``TimeoutError`` when the time
    runs out between folds, and whatever the source raises.
    """
    from ..sklearn_kit import predict_output, to_sklearn_frame  # lazy: keeps the worker's imports light

    namespace: Dict[str, Any] = {"__name__": "automux_oof_candidate"}
    exec(compile(source, "<automux oof candidate>", "exec"), namespace)
    Xs = to_sklearn_frame(X.reset_index(drop=True))
    out = np.full(expected_shape(task, len(Xs), n_classes), np.nan, dtype=np.float64)
    for k, (fit_idx, valid_idx) in enumerate(folds):
        if time_left() <= 0:
            raise TimeoutError(f"no time left before the hard stop after {k} of {len(folds)} folds")
        model = _build(namespace, seed).fit(Xs.iloc[fit_idx], y[fit_idx])
        out[valid_idx] = predict_output(model, Xs.iloc[valid_idx], task, n_classes)
    return out


def fold_scores(pred: np.ndarray, y: np.ndarray, folds: Any, metric: Any) -> list:
    return [float(metric(y[v], pred[v])) for _, v in folds]


def _declared_refusal(adapter: Any, candidate: Any, task: str, columns: Dict[str, str]) -> Optional[str]:
    declared = getattr(adapter, "rebuild_refusal", None)
    if callable(declared):
        declared = declared(candidate, task, columns)
    return str(declared) if declared else None


def _describe(info: Dict[str, Any], pred: Optional[np.ndarray], task: Any, result: Any,
              **kw: Any) -> Dict[str, Any]:
    """``info`` updated with ``kw`` and, when there are predictions, their coverage, fold scores and whether
    they reproduce the chosen candidate's own fold scores."""
    info.update(kw)
    if pred is not None:
        covered = ~np.isnan(pred if pred.ndim == 1 else pred[:, 0])
        info.update(available=True, covered_rows=int(covered.sum()),
                    fold_scores=fold_scores(pred, task.y, task.folds, task.metric))
        chosen = task.candidates[result.chosen] if result.chosen is not None and \
            0 <= result.chosen < len(task.candidates) else None
        if chosen is not None and chosen.complete:
            info["reproduces_fold_scores"] = all(
                math.isclose(a, b, rel_tol=REPRODUCE_RTOL, abs_tol=REPRODUCE_RTOL)
                for a, b in zip(info["fold_scores"], chosen.fold_scores))
    return info


def compute(adapter: Any, result: Any, task: Any, hard_stop: Optional[float] = None
            ) -> Tuple[Optional[np.ndarray], Dict[str, Any]]:
    """The chosen candidate's OOF predictions on ``task.folds`` and what the record says about them.

    ``hard_stop``: a ``time.monotonic()`` value the refit must finish before (the
    parent kills the worker soon after); None: no limit.
    """
    import pandas as pd

    t0 = time.monotonic()
    n, k = len(task.X), task.n_classes
    info: Dict[str, Any] = {"available": False, "source": None, "reason": None, "rows": n}

    def done(pred: Optional[np.ndarray], **kw: Any) -> Tuple[Optional[np.ndarray], Dict[str, Any]]:
        return pred, _describe(info, pred, task, result, seconds=round(time.monotonic() - t0, 3), **kw)

    if getattr(result, "oof", None) is not None:
        pred = np.asarray(result.oof, dtype=np.float64)
        problem = shape_problem(pred, task.task, n, k)
        if problem:
            return done(None, reason=f"the adapter's {problem}")
        return done(pred, source="adapter")
    if result.chosen is None or not (0 <= result.chosen < len(task.candidates)):
        return done(None, reason="the search named no chosen candidate to refit per fold")
    cand = task.candidates[result.chosen]
    columns = {str(c): ("categorical" if isinstance(t, pd.CategoricalDtype) else "numeric")
               for c, t in task.X.dtypes.items()}
    refusal = _declared_refusal(adapter, cand, task.task, columns)
    if refusal:
        return done(None, reason=f"{adapter.name} gives no explicit rebuild of candidate {cand.index}: {refusal}")
    source = adapter.candidate_source(cand, task.task, columns, int(task.seed))
    if source is None:
        return done(None, reason=f"{adapter.name} returns no out-of-fold predictions and no candidate_source "
                                 f"for candidate {cand.index} ({cand.algorithm})")
    if hard_stop is not None:
        left = hard_stop - time.monotonic()
        estimate = TIME_SAFETY * float(cand.fit_time_s or 0.0)
        if left <= estimate:
            return done(None, reason=f"no time left to refit candidate {cand.index} on {len(task.folds)} folds "
                                     f"before the hard stop ({left:.1f}s left, about {estimate:.1f}s needed)")
    try:
        pred = refit_per_fold(source, task.X, task.y, task.folds, task.task, k, int(task.seed),
                              time_left=(lambda: float("inf")) if hard_stop is None else
                              (lambda: hard_stop - time.monotonic()))
    except Exception as e:  # a reason, never a failed run
        return done(None, reason=f"refitting candidate {cand.index} per fold failed: {type(e).__name__}: "
                                 f"{str(e)[:300]}")
    problem = shape_problem(pred, task.task, n, k)
    if problem:
        return done(None, reason=f"the refit's {problem}")
    return done(pred, source="refit")
