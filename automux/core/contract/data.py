"""Data in, validated, with its task inferred and a content fingerprint.

``load_data`` accepts a pandas DataFrame plus a target name, a CSV / Parquet path,
or a bundled source such as ``sklearn:breast_cancer``. Every problem found is a
``DataError`` whose one-line message says what was wrong and what to do.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import numpy as np
import pandas as pd

from ..errors import DataError

TASKS = ("binary", "multiclass", "regression")
#: A numeric target with at most this many distinct integer values is classification.
MAX_CLASSES_INFERRED = 20


@dataclass(frozen=True)
class Dataset:
    """Features, target and task, fixed before any backend runs.

    ``y`` holds integer class codes ``0..K-1`` for classification (``classes``
    maps code -> original label) and floats for regression.
    """

    X: pd.DataFrame
    y: np.ndarray
    task: str
    target: str
    source: str
    classes: List[Any] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def n_rows(self) -> int:
        return len(self.X)

    def describe(self) -> Dict[str, Any]:
        """The JSON part of the spec that fixes the data."""
        return {
            "source": self.source,
            "target": self.target,
            "task": self.task,
            "classes": [_jsonable(c) for c in self.classes],
            "n_rows": int(self.n_rows),
            "features": {str(c): str(t) for c, t in self.X.dtypes.items()},
            "fingerprint": self.fingerprint,
        }


def _jsonable(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _read_source(src: str) -> pd.DataFrame:
    from .datasets import all_loaders

    prefix, sep, name = src.partition(":")
    loaders = all_loaders()
    if sep and prefix in loaders and not os.path.exists(src):
        frame, _default_target = loaders[prefix](name)
        return frame
    if not os.path.exists(src):
        known = ", ".join(f"{p}:NAME" for p in sorted(loaders))
        raise DataError(f"data file not found: {src} (give a CSV or Parquet path, or a bundled source: {known})")
    lower = src.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            return pd.read_parquet(src)
        if lower.endswith((".csv", ".txt", ".tsv")):
            sep = "\t" if lower.endswith(".tsv") else ","
            _check_csv_header(src, sep)
            return pd.read_csv(src, sep=sep)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise DataError(f"cannot read {src}: {e}") from e
    raise DataError(f"unsupported file type: {src} (use .csv or .parquet)")


def _check_csv_header(src: str, sep: str) -> None:
    """pandas renames duplicate CSV headers (``a``, ``a.1``): catch them before it does."""
    import csv

    with open(src, newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader(f, delimiter=sep), [])
    dups = sorted({h for h in header if header.count(h) > 1})
    if dups:
        raise DataError(f"duplicate column names in {src}: {', '.join(dups)}: rename them so every column is unique")


def _infer_task(y: pd.Series) -> str:
    if y.dtype == bool or not pd.api.types.is_numeric_dtype(y):
        return "binary" if y.nunique() == 2 else "multiclass"
    values = y.to_numpy(dtype=float)
    n_unique = y.nunique()
    if n_unique == 2:
        return "binary"
    if n_unique <= MAX_CLASSES_INFERRED and np.all(np.mod(values, 1) == 0):
        return "multiclass"
    return "regression"


def fingerprint_frame(X: pd.DataFrame, y: np.ndarray) -> str:
    """sha256 of a canonical serialisation: column names, dtypes, values, target.

    Same data => same id on any machine: values are written as CSV text with a
    fixed float format, independent of pandas' and numpy's binary layouts.
    """
    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in X.dtypes.items()]).encode())
    buf = io.StringIO()
    frame = X.copy()
    frame["__target__"] = y
    frame.to_csv(buf, index=False, float_format="%.17g", lineterminator="\n")
    h.update(buf.getvalue().encode())
    return h.hexdigest()


def _check_columns(X: pd.DataFrame) -> None:
    dups = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
    if dups:
        raise DataError(f"duplicate column names: {', '.join(dups)}: rename them so every column is unique")
    for col, dtype in X.dtypes.items():
        ok = (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
              or isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype)
              or pd.api.types.is_string_dtype(dtype))
        if not ok or pd.api.types.is_complex_dtype(dtype):
            raise DataError(f"column {col!r} has unsupported type {dtype}: convert it to numbers, "
                            "strings or categories, or drop it")
        if pd.api.types.is_object_dtype(dtype):
            kinds = {type(v) for v in X[col].dropna().head(1000)}
            if not kinds <= {str}:
                raise DataError(f"column {col!r} mixes value types ({', '.join(sorted(k.__name__ for k in kinds))}): "
                                "make it all strings or all numbers")


def _normalise_features(X: pd.DataFrame) -> pd.DataFrame:
    """Strings become pandas categoricals with sorted categories: one typed form for all envs."""
    X = X.copy()
    for col in X.columns:
        dtype = X[col].dtype
        if pd.api.types.is_bool_dtype(dtype):
            X[col] = X[col].astype("int8")
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            cats = sorted(X[col].dropna().astype(str).unique())
            X[col] = pd.Categorical(X[col].astype(object).where(X[col].notna(), None), categories=cats)
        elif isinstance(dtype, pd.CategoricalDtype):
            cats = sorted(str(c) for c in dtype.categories)
            X[col] = pd.Categorical(X[col].astype(object).map(lambda v: None if pd.isna(v) else str(v)),
                                    categories=cats)
    X.columns = [str(c) for c in X.columns]
    return X.reset_index(drop=True)


def load_data(
    data: Union[str, "os.PathLike[str]", pd.DataFrame],
    target: Optional[str] = None,
    task: Optional[str] = None,
    min_rows_per_class: int = 2,
) -> Dataset:
    """Load, validate and fingerprint a dataset.

    Args:
        data: a DataFrame, a CSV / Parquet path, or a bundled source (``sklearn:iris``).
        target: the target column; a bundled source has a default.
        task: ``binary`` / ``multiclass`` / ``regression``; inferred when None.
        min_rows_per_class: fewer rows than this in any class is an error
            (the split passes its fold count here).

    Raises:
        DataError: with one message per problem (see the module docstring).
    """
    if isinstance(data, pd.DataFrame):
        frame, source = data, "<dataframe>"
    else:
        source = os.fspath(data)
        frame = _read_source(source)
        if target is None:
            prefix = source.partition(":")[0]
            from .datasets import all_loaders
            loaders = all_loaders()
            if prefix in loaders and not os.path.exists(source):
                target = loaders[prefix](source.partition(":")[2])[1]
    if target is None:
        raise DataError("no target column given: pass --target COLUMN")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{source} is empty: it has {frame.shape[0]} rows and {frame.shape[1]} columns")
    if list(frame.columns).count(target) > 1:
        raise DataError(f"duplicate column names: {target}: rename them so every column is unique")
    if target not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:12]))
        raise DataError(f"target column {target!r} not in {source}: its columns are {cols}")
    if task is not None and task not in TASKS:
        raise DataError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    y_raw = frame[target]
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise DataError(f"{source} has no feature columns besides the target {target!r}")
    _check_columns(X)
    n_nan = int(y_raw.isna().sum())
    if n_nan:
        raise DataError(f"target column {target!r} has {n_nan} missing values: drop or fill those rows first")
    task = task or _infer_task(y_raw)
    X = _normalise_features(X)
    classes: List[Any] = []
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y_raw):
            raise DataError(f"target {target!r} is not numeric, so it cannot be a regression target")
        y = y_raw.to_numpy(dtype=float)
    else:
        classes = sorted(y_raw.unique().tolist(), key=lambda v: (str(type(v)), v))
        if len(classes) < 2:
            raise DataError(f"target {target!r} has a single class ({classes[0]!r}): "
                            "classification needs at least two")
        if task == "binary" and len(classes) != 2:
            raise DataError(f"task binary but target {target!r} has {len(classes)} classes: use --task multiclass")
        codes = {c: i for i, c in enumerate(classes)}
        y = y_raw.map(codes).to_numpy(dtype=np.int64)
        counts = np.bincount(y, minlength=len(classes))
        small = [(classes[i], int(n)) for i, n in enumerate(counts) if n < min_rows_per_class]
        if small:
            desc = ", ".join(f"{c!r}: {n}" for c, n in small)
            raise DataError(f"too few rows per class for {min_rows_per_class} folds ({desc}): "
                            "use fewer folds (--folds) or gather more rows")
    return Dataset(X=X, y=y, task=task, target=target, source=source, classes=classes,
                   fingerprint=fingerprint_frame(X, y))
