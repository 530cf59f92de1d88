"""The transparent models every run is measured against: dummy, linear, random forest.

The reference adapter searches over them; the readiness check and the gain over
baselines fit ``dummy`` and ``linear`` on the spec's folds. They live here, in a
neutral module, so that governance never reaches into an adapter. scikit-learn
is imported on first use only.
"""
from __future__ import annotations

from typing import Any, Dict

import pandas as pd

#: The algorithms :func:`build_model` knows.
ALGORITHMS = ("dummy", "linear", "random_forest")


def build_model(algorithm: str, params: Dict[str, Any], task: str, X: pd.DataFrame, seed: int,
                n_jobs: int = 1) -> Any:
    """A scikit-learn pipeline for one candidate.

    ``X`` is automux's feature frame (categoricals as pandas categoricals): it
    only decides which columns are numeric and which categorical, and which have
    missing values (pass the rows it will be fitted on). Fit the pipeline on
    ``sklearn_kit.to_sklearn_frame(X)``. The ``dummy`` is the bare estimator: it
    ignores its inputs, so it fits no preprocessing.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline

    from .sklearn_kit import preprocessor

    reg = task == "regression"
    if algorithm == "dummy":
        return DummyRegressor() if reg else DummyClassifier(strategy="prior")
    if algorithm == "linear":
        est = Ridge(alpha=params.get("alpha", 1.0)) if reg else \
            LogisticRegression(C=params.get("C", 1.0), max_iter=2000)
    elif algorithm == "random_forest":
        cls = RandomForestRegressor if reg else RandomForestClassifier
        est = cls(n_estimators=params.get("n_estimators", 100), max_depth=params.get("max_depth"),
                  min_samples_leaf=params.get("min_samples_leaf", 1),
                  max_features=params.get("max_features", 1.0 if reg else "sqrt"), random_state=seed,
                  n_jobs=n_jobs)
    else:
        raise ValueError(f"unknown reference algorithm {algorithm!r}")
    return Pipeline([("prep", preprocessor(X)), ("model", est)])
