"""Degenerate results are named: a chosen model no better than a constant one is not a success to celebrate.

:func:`degenerate_reason` compares the hold-out predictions with the constant
model fitted on the training rows (class frequencies, or the mean), scored by
the spec's metric on the same hold-out rows. A run whose predictions are the
same for every row, or whose score does not beat the constant model's, is
flagged in its record (``extra["degenerate"]``), in ``compare``'s leaderboard
and in the bench results (``degenerate`` column). The run keeps status ``ok``:
it did run; the flag says what it is worth.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from ..experiment.metrics import get_metric

#: Predictions closer than this to constant count as constant.
CONSTANT_ATOL = 1e-12


def constant_predictions(task: str, y_train: np.ndarray, n_classes: int, n: int) -> np.ndarray:
    """What the constant model predicts for ``n`` rows: training class frequencies, or the training mean."""
    if task == "regression":
        return np.full(n, float(np.mean(y_train.astype(float))))
    prior = np.bincount(y_train.astype(int), minlength=n_classes) / max(len(y_train), 1)
    return np.tile(prior, (n, 1))


def degenerate_reason(task: str, metric_name: str, y_train: np.ndarray, y_holdout: np.ndarray,
                      pred: np.ndarray, n_classes: int) -> Optional[Dict[str, Any]]:
    """``{"reason", "score", "constant_score"}`` when the predictions are degenerate, else None."""
    if len(y_holdout) == 0:
        return None
    metric = get_metric(metric_name, task)
    base = constant_predictions(task, y_train, n_classes, len(y_holdout))
    score, constant = float(metric(y_holdout, pred)), float(metric(y_holdout, base))
    if np.allclose(pred, pred[:1], atol=CONSTANT_ATOL, rtol=0):
        why = "the chosen model predicts the same for every hold-out row (a constant model, e.g. a dummy fallback)"
    elif not metric.better(score, constant):
        why = (f"the chosen model's hold-out {metric_name} {score:.6g} is no better than the constant model's "
               f"{constant:.6g} (training class frequencies / mean)")
    else:
        return None
    return {"reason": why, "score": score, "constant_score": constant}
