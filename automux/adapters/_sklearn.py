"""Shared scikit-learn plumbing for sklearn-based adapters (not an adapter itself).

Imported only inside adapter methods, so listing adapters never imports sklearn.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, List

import numpy as np
import pandas as pd

MODEL_FILE = "model.pkl"


def preprocessor(X: pd.DataFrame) -> Any:
    """Impute + scale numeric columns; impute + one-hot categorical ones."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cats: List[str] = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    nums = [c for c in X.columns if c not in cats]
    parts = []
    if nums:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums))
    if cats:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                           OneHotEncoder(handle_unknown="ignore")), cats))
    return ColumnTransformer(parts)


def to_sklearn_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as object columns with NaN for missing: what sklearn's imputers expect."""
    X = X.copy()
    for c in X.columns:
        if isinstance(X[c].dtype, pd.CategoricalDtype):
            X[c] = X[c].astype(object).where(X[c].notna(), np.nan)
    return X


def predict_output(model: Any, X: pd.DataFrame, task: str, n_classes: int) -> np.ndarray:
    """Probabilities in class-code order, or regression values, as float64."""
    X = to_sklearn_frame(X)
    if task == "regression":
        return np.asarray(model.predict(X), dtype=np.float64).ravel()
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    out = np.zeros((len(X), n_classes), dtype=np.float64)
    for j, cls in enumerate(model.classes_):
        out[:, int(cls)] = proba[:, j]
    return out


def pipeline_steps(model: Any) -> List[str]:
    return [type(step).__name__ for _, step in getattr(model, "steps", [("model", model)])]


def save_pickle(model: Any, path: Path) -> None:
    with open(path / MODEL_FILE, "wb") as f:
        pickle.dump(model, f, protocol=4)


def load_pickle(path: Path) -> Any:
    with open(path / MODEL_FILE, "rb") as f:
        return pickle.load(f)
