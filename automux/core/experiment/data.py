"""Data in, validated, with its task inferred and a content fingerprint: :func:`load_data`.

``load_data`` accepts a pandas DataFrame plus a target name, a CSV / TSV path (optionally
``.gz`` / ``.zip`` / ``.bz2`` / ``.xz`` / ``.zst``), a Parquet path, or a bundled source
such as ``sklearn:breast_cancer``. Every problem found is a ``DataError`` whose one-line
message says what was wrong and what to do. Infinite feature values are refused, not
imputed. ``drop=`` removes columns before anything else; ``drop_missing_target=True`` drops
rows whose target is missing (counted).

Its steps live one job per module: reading a source (:mod:`.sources`), checking the table
and inferring its task (:mod:`.validation`), one typed form for the features
(:mod:`.normalise`), dates expanded into numeric parts (:mod:`.dates`, recorded in
``Dataset.date_columns`` and the spec's ``data.dates``), the fingerprint (:mod:`.fingerprint`,
whose docstring gives the hashed layout ``automux-data-v2``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..capabilities import TASK_NAMES
from ..errors import DataError
from .dates import expand_dates
from .fingerprint import fingerprint_frame
from .normalise import normalise_features
from .sources import read_source
from .validation import check_columns, check_finite, detect_row_name_column, infer_task

TASKS = TASK_NAMES  # one list of tasks: automux.core.capabilities


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
    #: columns removed at load (``drop=``), before the fingerprint
    dropped_columns: Tuple[str, ...] = ()
    #: rows removed because their target was missing (``drop_missing_target=True``)
    dropped_rows: int = 0
    drop_missing_target: bool = False
    #: a leading unnamed column of row numbers / row names (R's ``write.csv``, pandas' ``Unnamed: 0``)
    row_name_column: Optional[str] = None
    #: columns read as dates and expanded into numeric parts: ``{column: {"format", "features"}}``
    date_columns: Dict[str, Dict[str, Any]] = field(default_factory=dict)

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
            # only when used, so specs of plain loads keep their shape
            **({"drop": list(self.dropped_columns)} if self.dropped_columns else {}),
            **({"drop_missing_target": True, "dropped_rows": int(self.dropped_rows)}
               if self.drop_missing_target else {}),
            **({"dates": {c: dict(v) for c, v in self.date_columns.items()}} if self.date_columns else {}),
        }


def _jsonable(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def load_data(
    data: Union[str, "os.PathLike[str]", pd.DataFrame],
    target: Optional[str] = None,
    task: Optional[str] = None,
    min_rows_per_class: int = 2,
    *,
    drop: Optional[Sequence[str]] = None,
    drop_missing_target: bool = False,
    fingerprint: bool = True,
    parse_dates: bool = True,
) -> Dataset:
    """Load, validate and fingerprint a dataset (the fingerprint is computed once, here).

    Args:
        data: a DataFrame, a CSV / Parquet path (``.csv``, ``.tsv``, ``.csv.gz`` ...,
            ``.parquet``), or a bundled source (``sklearn:iris``).
        target: the target column; a bundled source has a default.
        task: ``binary`` / ``multiclass`` / ``regression``; inferred when None.
        min_rows_per_class: fewer rows than this in any class is an error
            (the split passes its fold count here).
        drop: column names removed before anything else (and before the fingerprint);
            an unknown name, or the target, is a DataError naming it.
        drop_missing_target: drop the rows whose target is missing instead of refusing
            them; their count is ``Dataset.dropped_rows``.
        fingerprint: False skips the fingerprint (``Dataset.fingerprint`` is ``""``): for a
            caller that only profiles the data and never records it (the selector).
        parse_dates: read text columns holding ISO (or one fixed-format) dates as dates
            (:func:`~automux.core.experiment.dates.date_format`); False keeps them as
            categories. Datetime columns (Parquet) are dates either way. Every date column is
            replaced by its numeric parts (:func:`~automux.core.experiment.dates.expand_dates`),
            recorded in ``Dataset.date_columns``.

    Non-finite feature values (inf / -inf) are refused, not imputed: a DataError naming
    the column (NaN is a missing value and passes). ``Dataset.row_name_column`` names a
    leading column of row numbers / row names (see
    :func:`~automux.core.experiment.validation.detect_row_name_column`).

    Raises:
        DataError: with one message per problem (see the module docstring).
    """
    frame, source, target = _frame_and_target(data, target)
    frame, dropped = _drop_columns(_check_target_column(frame, source, target), drop, target, source)
    if task is not None and task not in TASKS:
        raise DataError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    row_names = detect_row_name_column(frame, target)
    frame, n_dropped = _drop_missing_target(frame, target, drop_missing_target)
    X, y_raw = _features(frame, target, source)
    task = task or infer_task(y_raw)
    X, dates = expand_dates(normalise_features(X), parse_text=parse_dates)
    y, classes = _encode_target(y_raw, target, task, min_rows_per_class)
    return Dataset(X=X, y=y, task=task, target=target, source=source, classes=classes,
                   fingerprint=fingerprint_frame(X, y, classes) if fingerprint else "", dropped_columns=dropped,
                   dropped_rows=n_dropped, drop_missing_target=bool(drop_missing_target),
                   row_name_column=row_names, date_columns=dates)


def _frame_and_target(data: Any, target: Optional[str]) -> Tuple[pd.DataFrame, str, str]:
    """(frame, source name, target): the frame read, the target defaulted for a bundled source."""
    if data is None:
        raise DataError("no data given: pass --data PATH (a CSV or Parquet file), a DataFrame, "
                        "or a bundled source such as sklearn:iris")
    if isinstance(data, pd.DataFrame):
        frame, source = data, "<dataframe>"
    elif isinstance(data, (str, os.PathLike)):
        source = os.fspath(data)
        if not isinstance(source, str):
            raise DataError(f"data path {source!r} is not text: pass it as a str")
        if not source.strip():
            raise DataError("empty data path: pass --data PATH (a CSV or Parquet file) or a bundled source")
        frame = read_source(source)
        if target is None:
            prefix = source.partition(":")[0]
            from .datasets import all_loaders
            loaders = all_loaders()
            if prefix in loaders and not os.path.exists(source):
                target = loaders[prefix](source.partition(":")[2])[1]
    else:
        raise DataError(f"data of type {type(data).__name__} is not supported: pass a DataFrame, "
                        "a CSV / Parquet path or a bundled source such as sklearn:iris")
    if target is None:
        raise DataError("no target column given: pass --target COLUMN")
    return frame, source, target


def _check_target_column(frame: pd.DataFrame, source: str, target: str) -> pd.DataFrame:
    """The frame, refused when empty or when its target column is missing or repeated."""
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{source} is empty: it has {frame.shape[0]} rows and {frame.shape[1]} columns")
    if list(frame.columns).count(target) > 1:
        raise DataError(f"duplicate column names: {target}: rename them so every column is unique")
    if target not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:12]))
        raise DataError(f"target column {target!r} not in {source}: its columns are {cols}")
    return frame


def _drop_columns(frame: pd.DataFrame, drop: Optional[Sequence[str]], target: str,
                  source: str) -> Tuple[pd.DataFrame, Tuple[str, ...]]:
    """``drop=``: the frame without those columns, and their names (each must exist and not be the target)."""
    if not drop:
        return frame, ()
    if isinstance(drop, str):
        drop = [drop]
    names = [str(c) for c in frame.columns]
    for d in drop:
        if str(d) == str(target):
            raise DataError(f"--drop {d!r} names the target column: drop a feature, or choose another --target")
        if str(d) not in names:
            cols = ", ".join(names[:12])
            raise DataError(f"--drop {d!r}: no such column in {source}: its columns are {cols}")
    dropped = tuple(dict.fromkeys(str(d) for d in drop))
    return frame.loc[:, [n not in dropped for n in names]], dropped


def _drop_missing_target(frame: pd.DataFrame, target: str, allowed: bool) -> Tuple[pd.DataFrame, int]:
    """The rows whose target is missing dropped (and counted) when ``allowed``, else refused."""
    y_raw = frame[target]
    n_nan = int(y_raw.isna().sum())
    if not n_nan:
        return frame, 0
    if not allowed:
        raise DataError(f"target column {target!r} has {n_nan} missing values: pass --drop-missing-target "
                        "to drop those rows, or fill them first")
    frame = frame.loc[y_raw.notna().to_numpy()].reset_index(drop=True)
    if len(frame) == 0:
        raise DataError(f"target column {target!r} is missing on every row: nothing is left to learn from")
    return frame, n_nan


def _features(frame: pd.DataFrame, target: str, source: str) -> Tuple[pd.DataFrame, pd.Series]:
    """(features, raw target): at least one feature, of supported types, with no infinite value."""
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise DataError(f"{source} has no feature columns besides the target {target!r}")
    check_columns(X)
    check_finite(X, source)
    return X, frame[target]


def _encode_target(y_raw: pd.Series, target: str, task: str, min_rows_per_class: int) -> Tuple[np.ndarray, List[Any]]:
    """(y, classes): floats for regression; class codes ``0..K-1`` and the sorted labels otherwise."""
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y_raw) or pd.api.types.is_bool_dtype(y_raw):
            raise DataError(f"target {target!r} is not numeric, so it cannot be a regression target")
        y = y_raw.to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            raise DataError(f"target {target!r} has {int(np.sum(~np.isfinite(y)))} infinite values: "
                            "replace or drop those rows")
        return y, []
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
    return y, classes
