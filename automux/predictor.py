"""A stored run you can hold: ``Predictor`` (``automux.fit`` / ``automux.load``).

A run record says what happened; a :class:`Predictor` is what a data scientist
keeps afterwards, as AutoGluon's ``TabularPredictor`` or FLAML's ``AutoML``:

- ``predict(data)`` gives labels (classification) or values (regression) and
  ``predict_proba(data)`` one column per class label; both keep the index of
  ``data``, so rows match by index, not only by order;
- ``leaderboard()`` lists the candidates the backend proposed, best first, with
  their cross-validation score, its spread over the folds, fit time and which
  one was chosen;
- ``evaluate(data)`` scores labelled data with automux's own metrics;
- ``feature_importance()`` is permutation importance on the hold-out
  (:mod:`automux.governance.importance`).

Predictions run through the same path as ``automux predict``: the stored model,
in the environment that trained it, so isolated-env backends work too. The
object holds only the run id, the store and the record: it can be pickled or
rebuilt later with ``automux.load(run_id)``.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .core.errors import AutomuxError, DataError
from .core.experiment.metrics import get_metric, metrics_for
from .core.experiment.record import RunRecord
from .core.run import jobfiles as jf
from .core.run.store import RunStore


class PredictionFailed(AutomuxError, RuntimeError):
    """The stored model ran but gave no predictions (its worker failed); the message says why."""


class Predictor:
    """One stored run as an object: predict, predict_proba, leaderboard, evaluate, feature_importance.

    Build it with :func:`fit` (a new run) or :func:`load` (a stored one).
    ``record`` is the run record; ``task``, ``classes``, ``metric`` and
    ``score`` (hold-out, computed by automux) are read from it.
    """

    def __init__(self, record: RunRecord, store: Union[str, RunStore, None] = None) -> None:
        self.record = record
        self._store = store if isinstance(store, RunStore) else RunStore(store)

    # -- what the run is ---------------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def task(self) -> str:
        return self.record.spec.task

    @property
    def classes(self) -> List[Any]:
        """Class labels in the order of ``predict_proba``'s columns ([] for regression)."""
        return list(self.record.spec.data.get("classes") or [])

    @property
    def metric(self) -> str:
        return self.record.metric

    @property
    def score(self) -> Optional[float]:
        """The hold-out score in ``metric``, computed by automux."""
        return self.record.score

    def __repr__(self) -> str:
        return (f"Predictor(run_id={self.run_id!r}, backend={self.record.backend!r}, task={self.task!r}, "
                f"{self.metric}={self.score!r}, status={self.record.status!r})")

    # -- predictions -------------------------------------------------------------------------------------
    def _predict_array(self, data: Any, timeout_s: Optional[float]) -> np.ndarray:
        from .predicting import predict

        out = predict(self.run_id, data, store=self._store, timeout_s=timeout_s)
        if out.get("status") != "ok" or not out.get("predictions_arrow"):
            raise PredictionFailed(f"run {self.run_id} could not predict: {out.get('error') or out.get('status')}")
        return jf.predictions_array(jf.read_arrow(out["predictions_arrow"]), self.task)

    def predict_proba(self, data: Any, *, timeout_s: Optional[float] = None) -> pd.DataFrame:
        """Class probabilities, one column per label in ``classes`` order, indexed like ``data``.

        Raises:
            DataError: a regression run (it has no probabilities), or data the model cannot take.
        """
        if self.task == "regression":
            raise DataError(f"run {self.run_id} is a regression: it has no class probabilities; use predict()")
        pred = self._predict_array(data, timeout_s)
        return pd.DataFrame(pred, columns=self.classes, index=_index_of(data, len(pred)))

    def predict(self, data: Any, *, timeout_s: Optional[float] = None) -> pd.Series:
        """The predicted label (the most probable class) or value, indexed like ``data``."""
        pred = self._predict_array(data, timeout_s)
        index = _index_of(data, len(pred))
        target = self.record.spec.data.get("target")
        if self.task == "regression":
            return pd.Series(pred, index=index, name=target)
        labels = np.asarray(self.classes, dtype=object)[np.argmax(pred, axis=1)]
        return pd.Series(labels, index=index, name=target)

    def evaluate(self, data: Any, *, metrics: Optional[Sequence[str]] = None,
                 timeout_s: Optional[float] = None) -> Dict[str, float]:
        """Scores of the model on labelled ``data`` (it must hold the target column), by automux's metrics.

        ``metrics`` defaults to every metric that fits the task, the run's own first.

        Raises:
            DataError: the target column is missing, or holds a label the model never saw.
        """
        frame = _frame(data)
        target = self.record.spec.data["target"]
        if target not in frame.columns:
            raise DataError(f"evaluate needs the target column {target!r} in the data")
        y = _encode(frame[target], self.classes, self.task)
        pred = self._predict_array(frame, timeout_s)
        names = list(metrics) if metrics else [self.metric] + [m for m in metrics_for(self.task) if m != self.metric]
        return {name: float(get_metric(name, self.task)(y, pred)) for name in names}

    # -- what the search found ---------------------------------------------------------------------------
    def leaderboard(self) -> pd.DataFrame:
        """The run's candidates, best cross-validation score first (complete candidates before partial ones).

        Columns: ``candidate`` (index), ``algorithm``, ``cv_score`` (mean over folds, in ``metric``),
        ``cv_std`` (spread over folds), ``folds_scored``, ``fit_time_s``, ``chosen``, ``params``.
        """
        better = get_metric(self.metric, self.task).greater_is_better
        rows = []
        for c in self.record.candidates:
            scored = [s for s in c.fold_scores if s is not None]
            rows.append({"candidate": c.index, "algorithm": c.algorithm,
                         "cv_score": float(np.mean(scored)) if scored else math.nan,
                         "cv_std": float(np.std(scored)) if len(scored) > 1 else math.nan,
                         "folds_scored": f"{len(scored)}/{len(c.fold_scores)}",
                         "fit_time_s": c.fit_time_s, "chosen": c.index == self.record.chosen,
                         "complete": c.complete, "params": c.params})
        board = pd.DataFrame(rows, columns=["candidate", "algorithm", "cv_score", "cv_std", "folds_scored",
                                            "fit_time_s", "chosen", "complete", "params"])
        if board.empty:
            return board.drop(columns="complete")
        board = board.sort_values(["complete", "cv_score"], ascending=[False, not better], na_position="last",
                                  kind="stable")
        return board.drop(columns="complete").reset_index(drop=True)

    def feature_importance(self, *, n_repeats: Optional[int] = None, seed: Optional[int] = None,
                           data: Any = None) -> pd.DataFrame:
        """Permutation importance on the hold-out (``automux explain``): mean and std drop in ``metric`` per feature."""
        from .governance.importance import DEFAULT_REPEATS, importance

        result = importance(self.run_id, store=self._store, data=data, seed=seed,
                            n_repeats=DEFAULT_REPEATS if n_repeats is None else n_repeats)
        self.record = self._store.load(self.run_id)  # the importances are stored in the record now
        return pd.DataFrame(result.get("features") or [], columns=["feature", "mean", "std"])


def _frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    from .core.experiment.sources import read_source

    return read_source(data)


def _index_of(data: Any, n: int) -> pd.Index:
    """The index of ``data`` when it is a frame of ``n`` rows (rows match by index), else 0..n-1."""
    if isinstance(data, pd.DataFrame) and len(data) == n:
        return data.index
    return pd.RangeIndex(n)


def _encode(y: pd.Series, classes: List[Any], task: str) -> np.ndarray:
    """The target as the metric expects it: floats for regression, class codes in ``classes`` order otherwise."""
    if task == "regression":
        return pd.to_numeric(y, errors="raise").to_numpy(dtype=np.float64)
    codes = {str(c): k for k, c in enumerate(classes)}
    unknown = sorted({str(v) for v in y if str(v) not in codes})
    if unknown:
        raise DataError(f"the target holds label(s) the model never saw: {', '.join(unknown[:5])} "
                        f"(known: {', '.join(codes)})")
    return np.array([codes[str(v)] for v in y], dtype=np.int64)


def fit(data: Any, target: Optional[str] = None, backend: str = "reference", *,
        store: Union[str, RunStore, None] = None, **run_kwargs: Any) -> Predictor:
    """Run ``backend`` under the contract (:func:`automux.run`, same keywords) and hold the result.

    Raises:
        PredictionFailed: the run ended without a model (its record is stored; the message names its status).
    """
    from .api import run

    record = run(data, target, backend, store=store, **run_kwargs)
    if record.status != "ok":
        raise PredictionFailed(f"run {record.run_id} ended {record.status}: {record.error or 'no model'} "
                               f"(its record is stored: automux runs show {record.run_id})")
    return Predictor(record, store)


def load(run_id: str, store: Union[str, RunStore, None] = None) -> Predictor:
    """The stored run ``run_id`` as a :class:`Predictor` (``RunNotFound`` when there is none)."""
    the_store = store if isinstance(store, RunStore) else RunStore(store)
    return Predictor(the_store.load(run_id), the_store)
