"""The ``sklearn_halving`` adapter: successive-halving random search over histogram gradient boosting.

A third-party automux plugin in one module. It follows the adapter contract
(``automux.Adapter``): it searches on ``task.X`` with ``task.folds`` only, scores
every candidate with ``task.metric`` on each given fold, seeds everything from
``task.seed``, stays within ``task.budget.trials`` candidates, and predicts
probabilities in ``task.classes`` order. scikit-learn is imported inside the
methods, never at module level, so ``automux backends`` stays fast.

Budget: ``trials`` is the number of distinct hyperparameter sets halving starts
with (``n_candidates``); each is reported once, with its per-fold scores from
the last halving round it reached.
"""
from __future__ import annotations

import importlib.util
import pickle
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from automux import Adapter, Capabilities, Environment, SearchResult, SearchTask, hookimpl

MODEL_FILE = "halving_model.pkl"
#: The search space: every value halving may sample.
SPACE: Dict[str, List[Any]] = {
    "learning_rate": [0.03, 0.1, 0.3],
    "max_iter": [30, 60, 120],
    "max_leaf_nodes": [7, 15, 31],
    "min_samples_leaf": [5, 10, 20],
    "l2_regularization": [0.0, 0.1, 1.0],
}
#: Halving keeps 1/FACTOR of the candidates per round.
FACTOR = 2


def _estimator(task_kind: str, params: Dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if task_kind == "regression" else HistGradientBoostingClassifier
    return cls(random_state=seed, early_stopping=False, **params)


def _features(X: pd.DataFrame) -> np.ndarray:
    """Numeric features as float64 (categorical columns are refused by ``validate``)."""
    return X.to_numpy(dtype=np.float64)


def _output(model: Any, X: np.ndarray, task_kind: str, n_classes: int) -> np.ndarray:
    """Regression values, or probabilities with one column per class code 0..K-1."""
    if task_kind == "regression":
        return np.asarray(model.predict(X), dtype=np.float64).ravel()
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    out = np.zeros((len(X), n_classes), dtype=np.float64)
    for j, code in enumerate(model.classes_):
        out[:, int(code)] = proba[:, j]
    return out


class HalvingAdapter(Adapter):
    """scikit-learn's ``HalvingRandomSearchCV`` on the given folds, scored with automux's metric."""

    name = "sklearn_halving"
    capabilities = Capabilities(
        tasks=("binary", "multiclass", "regression"),
        budget_modes=("trials",),
        deterministic={"trials": True},
        custom_folds=True,
        categorical=False,
        missing_values=True,
        produces="single",
        interpretable=False,
        min_budget={"trials": 3},
        seeded=True,
        strengths=("rapid",),
    )
    environment = Environment(name="main", python=">=3.9", requirements=("scikit-learn>=1.3",),
                              import_names=("sklearn",))

    def unavailable_reason(self) -> Optional[str]:
        if importlib.util.find_spec("sklearn") is None:
            return "not installed: scikit-learn (pip install 'scikit-learn>=1.3')"
        return None

    def search(self, task: SearchTask) -> SearchResult:
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401 - enables the import below
        from sklearn.model_selection import HalvingRandomSearchCV

        X = _features(task.X)
        sign = 1.0 if task.metric.greater_is_better else -1.0

        def scorer(estimator: Any, X_valid: np.ndarray, y_valid: np.ndarray) -> float:
            # automux's metric on automux's prediction format; scikit-learn maximises.
            return sign * task.metric(y_valid, _output(estimator, X_valid, task.task, task.n_classes))

        n_candidates = int(task.budget.trials) if task.budget.trials is not None else 8
        t0 = time.monotonic()
        search = HalvingRandomSearchCV(
            _estimator(task.task, {}, task.seed), SPACE, n_candidates=n_candidates, factor=FACTOR,
            resource="n_samples", min_resources="exhaust", cv=[(f, v) for f, v in task.folds],
            scoring=scorer, refit=False, random_state=task.seed, error_score=np.nan,
            n_jobs=1,  # one process, no joblib workers to outlive the run; HGB threads follow --cores (OMP)
        )
        search.fit(X, task.y)
        elapsed = time.monotonic() - t0
        chosen: Optional[int] = None
        for first_row, last_row in _per_candidate(search.cv_results_):
            res = search.cv_results_
            # a fold scikit-learn could not fit scores NaN (error_score): kept as NaN, automux records it as a
            # failed fold; a candidate with no fold fitted says why (error=), as a failed candidate must
            scores = [sign * float(res[f"split{k}_test_score"][last_row]) for k in range(len(task.folds))]
            failed = {"error": "scikit-learn failed to fit it on every fold"} if all(np.isnan(scores)) else {}
            cand = task.add_candidate(
                "hist_gradient_boosting", dict(res["params"][first_row]), scores,
                steps=["HistGradientBoosting"], fit_time_s=elapsed / max(len(res["params"]), 1),
                halving_round=int(res["iter"][last_row]), n_resources=int(res["n_resources"][last_row]), **failed)
            if last_row == search.best_index_:
                chosen = cand.index
        if chosen is None:
            raise RuntimeError("successive halving found no candidate it could score")
        params = task.candidates[chosen].params
        model = _estimator(task.task, params, task.seed).fit(X, task.y)
        return SearchResult(model={"model": model, "task": task.task, "n_classes": task.n_classes},
                            chosen=chosen, info={"halving_rounds": int(search.n_iterations_)})

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        return _output(model["model"], _features(X), model["task"], model["n_classes"])

    def save(self, model: Any, path: Path) -> None:
        with open(Path(path) / MODEL_FILE, "wb") as f:
            pickle.dump(model, f, protocol=4)

    def load(self, path: Path) -> Any:
        with open(Path(path) / MODEL_FILE, "rb") as f:
            return pickle.load(f)


def _per_candidate(results: Dict[str, Any]) -> List[Tuple[int, int]]:
    """(first row, last row) in ``cv_results_`` of each distinct parameter set, in sampling order."""
    first: Dict[str, int] = {}
    last: Dict[str, int] = {}
    for row, params in enumerate(results["params"]):
        key = repr(sorted(params.items()))
        first.setdefault(key, row)
        last[key] = row
    return [(first[k], last[k]) for k in first]


@hookimpl
def automux_adapters() -> List[Adapter]:
    """The plugin's one hook: contribute the adapter (called when automux loads plugins)."""
    return [HalvingAdapter()]
