"""The small, generated datasets the contract checks run on (nothing is downloaded).

The central one is the *fold plan*: 240 rows, a 40-row hold-out and three
interleaved CV folds of unequal size (90 / 80 / 30 training rows). Rows of fold 2
break the pattern the other rows follow (classification: the label is rotated to
the next class; regression: the target is shifted far up). So a model fitted on
folds 0 + 1 is badly wrong on fold 2, while a model fitted with fold 2 among its
training rows is still mostly right elsewhere: every candidate scored on *these*
folds shows fold 2 as its clearly worst fold. A backend that made its own folds
mixes the odd rows into every fold and shows no such fold.

Classes are imbalanced with distinct shares (binary 80 / 20, multiclass
70 / 20 / 10) so that even a prior-only model reveals both the fold plan and the
column order of its probabilities.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np
import pandas as pd

N_ROWS = 240
TARGET = "target"
#: Position pattern (per 20 training rows) of the three folds: 9 / 8 / 3 rows.
FOLD_PATTERN = (0,) * 9 + (1,) * 8 + (2,) * 3
ODD_FOLD = 2
N_FOLDS = 3
#: Metric the fold plan is scored with, per task: a loss that is positive and lower-better.
FOLD_PLAN_METRIC = {"binary": "log_loss", "multiclass": "log_loss", "regression": "rmse"}
N_CLASSES = {"binary": 2, "multiclass": 3}
REGRESSION_SHIFT = 60.0
_DATA_SEED = 20240917


def _holdout_rows(n: int) -> List[int]:
    return [i for i in range(n) if i % 6 == 5]


def _base(task: str, n: int = N_ROWS) -> Tuple[pd.DataFrame, np.ndarray, Dict[str, Any]]:
    """Features, the pattern target (before fold 2 is made odd) and the given split."""
    rng = np.random.RandomState(_DATA_SEED)
    u = (rng.permutation(n) + 0.5) / n  # exact quantiles: class shares are exact
    X = pd.DataFrame({
        "x0": np.round(4.0 * u - 2.0, 6),
        "x1": np.round(rng.normal(size=n), 6),
        "x2": np.round(rng.normal(size=n), 6),
        "x3": np.round(rng.uniform(-1, 1, size=n), 6),
    })
    if task == "regression":
        y = np.round(3.0 * X["x0"].to_numpy() + 0.5 * X["x1"].to_numpy() + rng.normal(scale=0.2, size=n), 6)
    else:
        k = N_CLASSES[task]
        cuts = [0.8] if k == 2 else [0.7, 0.9]
        y = np.searchsorted(np.asarray(cuts), u, side="right").astype(np.int64)
    holdout = _holdout_rows(n)
    hold = set(holdout)
    train = [i for i in range(n) if i not in hold]
    folds: List[List[int]] = [[] for _ in range(N_FOLDS)]
    for pos, row in enumerate(train):
        folds[FOLD_PATTERN[pos % len(FOLD_PATTERN)]].append(row)
    return X, y, {"holdout": holdout, "folds": folds}


def fold_plan(task: str) -> Tuple[pd.DataFrame, Dict[str, Any]]:
    """The fold-plan frame (features + ``target``) and its given split (row ids).

    Rows of fold ``ODD_FOLD`` break the pattern; hold-out rows follow it.
    """
    X, y, split = _base(task)
    odd = np.asarray(split["folds"][ODD_FOLD])
    y = y.copy()
    if task == "regression":
        y = y.astype(float)
        y[odd] = y[odd] + REGRESSION_SHIFT
    else:
        y[odd] = (y[odd] + 1) % N_CLASSES[task]
    frame = X.copy()
    frame[TARGET] = y
    return frame, split


def plain(task: str) -> Tuple[pd.DataFrame, Dict[str, Any]]:
    """The same features with the pattern target everywhere (no odd fold)."""
    X, y, split = _base(task)
    frame = X.copy()
    frame[TARGET] = y
    return frame, split


def with_categorical(task: str) -> Tuple[pd.DataFrame, Dict[str, Any]]:
    """``plain`` plus a string column ``colour`` (three levels, one tied to the target)."""
    frame, split = plain(task)
    n = len(frame)
    rng = np.random.RandomState(_DATA_SEED + 1)
    levels = np.array(["blue", "green", "red"])
    colour = levels[rng.randint(0, 3, size=n)]
    if task != "regression":
        colour = np.where((frame[TARGET].to_numpy() > 0) & (rng.uniform(size=n) < 0.6), "red", colour)
    frame.insert(2, "colour", colour.astype(object))
    return frame, split


def with_missing(task: str) -> Tuple[pd.DataFrame, Dict[str, Any]]:
    """``plain`` with about 10 % of ``x1`` and ``x2`` missing (never the whole column)."""
    frame, split = plain(task)
    rng = np.random.RandomState(_DATA_SEED + 2)
    n = len(frame)
    for col in ("x1", "x2"):
        mask = rng.uniform(size=n) < 0.1
        frame.loc[mask, col] = np.nan
    return frame, split
