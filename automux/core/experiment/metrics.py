"""Metrics computed by automux itself, in plain numpy, identically in every env.

Classification predictions are class-probability matrices ``(n, n_classes)`` in
the order of the dataset's ``classes``; labels are integer codes ``0..K-1``.
Regression predictions are 1-d float arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List

import numpy as np

from ..errors import SpecError


def _labels(proba: np.ndarray) -> np.ndarray:
    return np.asarray(proba).argmax(axis=1)


def tie_ranks(score: np.ndarray) -> np.ndarray:
    """1-based ranks of ``score``, ties sharing their average rank (a plain loop: NaN and ties ranked
    alike under the numpy of every env the worker runs in)."""
    order = np.argsort(score, kind="mergesort")
    s = np.asarray(score)[order]
    ranks = np.empty(len(s), dtype=float)
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i : j + 1] = (i + j) / 2.0 + 1.0
        i = j + 1
    r = np.empty_like(ranks)
    r[order] = ranks
    return r


def binary_auc(y: np.ndarray, score: np.ndarray, ranks: Callable[[np.ndarray], np.ndarray] = tie_ranks) -> float:
    """Mann-Whitney AUC with average ranks for ties (``ranks`` computes them); nan when one class is absent."""
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = ranks(score)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc(y: np.ndarray, proba: np.ndarray, ranks: Callable[[np.ndarray], np.ndarray] = tie_ranks) -> float:
    """Binary AUC of the positive class; multiclass: macro one-vs-rest AUC (nan when no class has both)."""
    proba = np.asarray(proba, dtype=float)
    if proba.shape[1] == 2:
        return binary_auc(y == 1, proba[:, 1], ranks)
    aucs = [binary_auc(y == k, proba[:, k], ranks) for k in range(proba.shape[1])]
    if all(np.isnan(aucs)):
        return float("nan")
    return float(np.nanmean(aucs))


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    proba = np.clip(np.asarray(proba, dtype=float), 1e-15, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(proba[np.arange(len(y)), np.asarray(y, dtype=int)])))


def accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(_labels(proba) == np.asarray(y)))


def balanced_accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    y = np.asarray(y)
    pred = _labels(proba)
    recalls = [np.mean(pred[y == k] == k) for k in np.unique(y)]
    return float(np.mean(recalls))


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y, float) - np.asarray(pred, float).ravel()) ** 2)))


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(pred, float).ravel())))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    y = np.asarray(y, float)
    ss_res = np.sum((y - np.asarray(pred, float).ravel()) ** 2)
    ss_tot = np.sum((y - y.mean()) ** 2)
    return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else 0.0


@dataclass(frozen=True)
class Metric:
    """A named metric: how to compute it, its direction, and which tasks it fits."""

    name: str
    func: Callable[[np.ndarray, np.ndarray], float]
    greater_is_better: bool
    kind: str  # "classification" or "regression"

    def __call__(self, y_true: np.ndarray, pred: np.ndarray) -> float:
        return self.func(np.asarray(y_true), np.asarray(pred))

    def better(self, a: float, b: float) -> bool:
        """True when score ``a`` beats ``b``."""
        return a > b if self.greater_is_better else a < b

    def loss(self, score: float) -> float:
        """The score as a quantity to minimise (for backends that only minimise)."""
        return -score if self.greater_is_better else score


METRICS: Dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", roc_auc, True, "classification"),
        Metric("log_loss", log_loss, False, "classification"),
        Metric("accuracy", accuracy, True, "classification"),
        Metric("balanced_accuracy", balanced_accuracy, True, "classification"),
        Metric("rmse", rmse, False, "regression"),
        Metric("mae", mae, False, "regression"),
        Metric("r2", r2, True, "regression"),
    )
}

DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def task_kind(task: str) -> str:
    return "regression" if task == "regression" else "classification"


def get_metric(name: str, task: str) -> Metric:
    """The metric ``name`` for ``task``; ``SpecError`` if unknown or unfit for the task."""
    if name not in METRICS:
        raise SpecError(f"unknown metric {name!r}: choose one of {', '.join(sorted(METRICS))}")
    metric = METRICS[name]
    if metric.kind != task_kind(task):
        fits = [m for m, v in METRICS.items() if v.kind == task_kind(task)]
        raise SpecError(f"metric {name!r} does not fit a {task} task: choose one of {', '.join(fits)}")
    return metric


def metrics_for(task: str) -> List[str]:
    """Every metric name that fits ``task``, the default first."""
    rest = [m for m, v in METRICS.items() if v.kind == task_kind(task) and m != DEFAULT_METRIC[task]]
    return [DEFAULT_METRIC[task]] + rest


def score_all(task: str, y_true: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
    """Every metric that fits ``task``: the hold-out scores in a run record."""
    return {name: METRICS[name](y_true, pred) for name in metrics_for(task)}
