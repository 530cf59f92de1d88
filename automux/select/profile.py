"""The problem profile: what the data looks like, measured, before choosing a backend."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Union

import numpy as np
import pandas as pd

#: A string column with more distinct values than this share of rows, and long
#: values, is free text rather than a category.
TEXT_MIN_UNIQUE_SHARE = 0.5
TEXT_MIN_MEAN_LENGTH = 20


@dataclass(frozen=True)
class Profile:
    """Measured facts about a dataset; ``memory_mb`` is the in-memory size of the frame."""

    rows: int
    features: int
    numeric: int
    categorical: int
    text: int
    datetime: int
    missing_share: float
    task: str
    classes: int
    imbalance: float  # majority / minority class count; 1.0 for regression
    memory_mb: float
    source: str = ""

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @property
    def size(self) -> str:
        """``tiny`` (< 1k rows), ``small`` (< 50k), ``medium`` (< 1M) or ``large``."""
        if self.rows < 1_000:
            return "tiny"
        if self.rows < 50_000:
            return "small"
        return "medium" if self.rows < 1_000_000 else "large"


def _column_kind(s: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
        return "datetime"
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return "numeric"
    values = s.dropna().astype(str)
    if len(values) and values.nunique() > TEXT_MIN_UNIQUE_SHARE * len(values) \
            and values.str.len().mean() > TEXT_MIN_MEAN_LENGTH:
        return "text"
    return "categorical"


def _raw_frame(data: Union[str, "os.PathLike[str]", pd.DataFrame], target: Optional[str]) -> "tuple[pd.DataFrame, str, str]":
    if isinstance(data, pd.DataFrame):
        frame, source = data, "<dataframe>"
    else:
        from ..core.experiment.sources import read_source
        from ..core.experiment.datasets import all_loaders as dataset_loaders

        source = os.fspath(data)
        frame = read_source(source)
        prefix, sep, name = source.partition(":")
        if target is None and sep and prefix in dataset_loaders() and not os.path.exists(source):
            target = dataset_loaders()[prefix](name)[1]
    if target is None:
        from ..core.errors import DataError
        raise DataError("no target column given: pass --target COLUMN")
    return frame, target, source


def profile(data: Union[str, pd.DataFrame], target: Optional[str] = None, task: Optional[str] = None) -> Profile:
    """Measure rows, column kinds, missing share, classes, imbalance and memory.

    Raises:
        DataError: the data cannot be loaded or the target is unusable (the same
            checks as :func:`automux.load_data`).
    """
    from ..core.experiment.data import load_data

    frame, target, source = _raw_frame(data, target)
    X = frame.drop(columns=[target]) if target in frame.columns else frame
    kinds = [_column_kind(X[c]) for c in X.columns]
    usable = X.drop(columns=[c for c, k in zip(X.columns, kinds) if k in ("datetime", "text")])
    ds = load_data(pd.concat([usable, frame[[target]]], axis=1) if target in frame.columns else frame,
                   target, task=task, fingerprint=False)  # the profile needs no id: the run fingerprints once
    if ds.task == "regression":
        n_classes, imbalance = 0, 1.0
    else:
        counts = np.bincount(ds.y)
        n_classes, imbalance = len(counts), float(counts.max() / max(counts.min(), 1))
    cells = X.shape[0] * max(X.shape[1], 1)
    return Profile(
        rows=int(len(frame)), features=int(X.shape[1]), numeric=kinds.count("numeric"),
        categorical=kinds.count("categorical"), text=kinds.count("text"), datetime=kinds.count("datetime"),
        missing_share=float(X.isna().to_numpy().sum() / cells) if cells else 0.0, task=ds.task,
        classes=n_classes, imbalance=round(imbalance, 4),
        memory_mb=round(float(frame.memory_usage(deep=True).sum()) / 2 ** 20, 3), source=source,
    )
