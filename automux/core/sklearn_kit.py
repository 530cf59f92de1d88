"""Shared scikit-learn plumbing for sklearn-based adapters (not an adapter itself).

Imported only inside adapter methods, so listing adapters never imports sklearn.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import pandas as pd

MODEL_FILE = "model.pkl"


class FixedFolds:
    """A scikit-learn style splitter that yields automux's (fit, valid) index pairs, in order.

    Backends that take a splitter (FLAML's ``split_type``, TPOT's ``cv``) get
    exactly the spec's folds. ``shuffle = False`` tells FLAML not to permute the
    fit indices; a backend that changed the number of training rows is an error.
    """

    shuffle = False

    def __init__(self, folds: List[Tuple[np.ndarray, np.ndarray]], n_rows: int, backend: str = "the backend") -> None:
        self.folds = [(np.asarray(f, dtype=np.int64), np.asarray(v, dtype=np.int64)) for f, v in folds]
        self.n_rows = n_rows
        self.backend = backend

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return len(self.folds)

    def split(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        if X is not None and len(X) != self.n_rows:
            raise RuntimeError(f"{self.backend} split {len(X)} rows, automux's folds cover {self.n_rows}: "
                               "the backend changed the training rows")
        for fit_idx, valid_idx in self.folds:
            yield fit_idx, valid_idx


#: One-hot columns per categorical at most: the rarer levels share one "infrequent" column, so a
#: 4,000-level column costs 100 columns (sparse output), not 4,000.
MAX_ONEHOT_LEVELS = 100


def preprocessor(X: pd.DataFrame) -> Any:
    """Scale numeric columns and one-hot categorical ones, imputing only the columns ``X`` has missing values in.

    ``X`` is the frame the pipeline will be fitted on (categoricals as pandas categoricals): it decides the
    numeric / categorical split and which columns get an imputer (numeric: median, categorical: most
    frequent). A numeric column complete in ``X`` is scaled, then a value missing at predict time becomes 0
    (the training mean): no median imputer on it, whose fit sorts the column through ``numpy.ma``. A
    categorical one complete in ``X`` is one-hot encoded directly (an unseen or missing level: all zeros),
    keeping its ``MAX_ONEHOT_LEVELS - 1`` most frequent levels and grouping the rest in one column.
    Output columns keep the order of impute-everything (all numeric columns, then the one-hot blocks, each in
    ``X``'s order) and, on the fit rows, its values: :func:`pipeline_source`'s stand-alone form gives the same.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    isna = X.isna().to_numpy()
    missing = set(X.columns[isna.any(axis=0)]) if len(X.columns) else set()
    # Columns with no value at all are dropped, as the imputers of impute-everything drop them.
    empty = set(X.columns[isna.all(axis=0)]) if len(X) and len(X.columns) else set()
    cats: List[str] = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype) and c not in empty]
    nums = [c for c in X.columns if c not in cats and c not in empty]

    def num_step(gaps: bool) -> Any:
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler()) if gaps else \
            make_pipeline(StandardScaler(), SimpleImputer(strategy="constant", fill_value=0.0))

    def cat_step(gaps: bool) -> Any:
        enc = OneHotEncoder(handle_unknown="ignore", max_categories=MAX_ONEHOT_LEVELS)
        return make_pipeline(SimpleImputer(strategy="most_frequent"), enc) if gaps else enc

    parts = []
    for kind, cols, step in (("num", nums, num_step), ("cat", cats, cat_step)):
        for i, (gaps, run) in enumerate(_runs(cols, missing)):
            parts.append((kind if i == 0 else f"{kind}{i}", step(gaps), run))
    return ColumnTransformer(parts)


def _runs(cols: List[str], missing: Any) -> List[Tuple[bool, List[str]]]:
    """``cols`` cut into consecutive runs of equal ``col in missing``: (has missing values, columns)."""
    runs: List[Tuple[bool, List[str]]] = []
    for c in cols:
        gaps = c in missing
        if runs and runs[-1][0] == gaps:
            runs[-1][1].append(c)
        else:
            runs.append((gaps, [c]))
    return runs


def pipeline_source(title: str, imports: str, model: str, columns: Dict[str, str], seed: int) -> str:
    """Stand-alone source of the pipeline :func:`preprocessor` builds, ending in ``model``.

    ``imports`` imports the model's class; ``model`` is its constructor call and
    may use ``seed``. The file defines ``build_model(seed=SEED)`` and needs
    scikit-learn (plus the model's own library) only: what promotion rebuilds.
    """
    nums = [c for c, kind in columns.items() if kind != "categorical"]
    cats = [c for c, kind in columns.items() if kind == "categorical"]
    parts = []
    if nums:
        parts.append('        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),')
    if cats:
        parts.append('        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),\n'
                     '                              OneHotEncoder(handle_unknown="ignore", '
                     f'max_categories={MAX_ONEHOT_LEVELS})), CATEGORICAL),')
    return "\n".join([
        f'"""{title}"""',
        "from sklearn.compose import ColumnTransformer",
        "from sklearn.impute import SimpleImputer",
        "from sklearn.pipeline import Pipeline, make_pipeline",
        "from sklearn.preprocessing import OneHotEncoder, StandardScaler",
        imports,
        "",
        f"NUMERIC = {nums!r}",
        f"CATEGORICAL = {cats!r}",
        f"SEED = {int(seed)!r}",
        "",
        "",
        "def build_model(seed=SEED):",
        '    """The unfitted pipeline: impute + scale numbers, impute + one-hot categories, then the model."""',
        "    prep = ColumnTransformer([",
        *parts,
        "    ])",
        f"    model = {model}",
        '    return Pipeline([("prep", prep), ("model", model)])',
        "",
    ])


def to_sklearn_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as object columns with NaN for missing: what sklearn's imputers expect.

    ``X`` itself (no copy) when it has no categorical column: treat the result as read-only."""
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return X
    X = X.copy(deep=False)
    for c in cats:
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


class PickledModel:
    """Mixin for adapters whose model is a picklable object (loaded in the env that saved it)."""

    def save(self, model: Any, path: Path) -> None:
        save_pickle(model, path)

    def load(self, path: Path) -> Any:
        return load_pickle(path)


def save_pickle(model: Any, path: Path) -> None:
    with open(path / MODEL_FILE, "wb") as f:
        pickle.dump(model, f, protocol=4)


def load_pickle(path: Path) -> Any:
    with open(path / MODEL_FILE, "rb") as f:
        return pickle.load(f)
