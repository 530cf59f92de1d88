"""Checks and facts about a loaded table: its task inferred, column types, infinite values, a row-name column."""
from __future__ import annotations

import re
from typing import Optional

import numpy as np
import pandas as pd

from ..errors import DataError

#: A numeric target with at most this many distinct integer values is classification.
MAX_CLASSES_INFERRED = 20


def infer_task(y: pd.Series) -> str:
    """binary / multiclass for text, booleans and few distinct integers, else regression."""
    if y.dtype == bool or not pd.api.types.is_numeric_dtype(y):
        return "binary" if y.nunique() == 2 else "multiclass"
    values = y.to_numpy(dtype=float)
    n_unique = y.nunique()
    if n_unique == 2:
        return "binary"
    if n_unique <= MAX_CLASSES_INFERRED and np.all(np.mod(values, 1) == 0):
        return "multiclass"
    return "regression"


def check_columns(X: pd.DataFrame) -> None:
    """Unique column names, and types automux can carry (numbers, booleans, text, categories, dates).

    Raises:
        DataError: naming the column and what to do.
    """
    dups = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
    if dups:
        raise DataError(f"duplicate column names: {', '.join(dups)}: rename them so every column is unique")
    for col, dtype in X.dtypes.items():
        ok = (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
              or isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_datetime64_any_dtype(dtype)
              or pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype))
        if not ok or pd.api.types.is_complex_dtype(dtype):
            raise DataError(f"column {col!r} has unsupported type {dtype}: convert it to numbers, "
                            "strings or categories, or drop it")
        if pd.api.types.is_object_dtype(dtype):
            kinds = {type(v) for v in X[col].dropna().head(1000)}
            if not kinds <= {str}:
                names = ", ".join(sorted(k.__name__ for k in kinds))
                if len(kinds - {str}) == 1 and not (kinds - {str}) <= {int, float, bool}:  # say what it is
                    raise DataError(f"column {col!r} holds {names} values, not numbers or text (a Parquet list, "
                                    "struct or decimal column?): convert it (decimal to float, list or struct to "
                                    "separate columns) or drop it")
                raise DataError(f"column {col!r} mixes value types ({names}): make it all strings or all numbers")


#: Names a leading row-number column gets: R's ``write.csv`` (empty header), pandas' ``Unnamed: 0``.
ROW_NAME_HEADER = re.compile(r"^(|unnamed:?\s*\d+|\.\.\.1|x1|row\.?names?|rownames?)$", re.IGNORECASE)


def detect_row_name_column(frame: pd.DataFrame, target: Optional[str] = None) -> Optional[str]:
    """The first column when it is an unnamed run of row numbers or unique row names, else None.

    Recognised: an empty header, ``Unnamed: 0`` (pandas), ``...1`` (readr), ``rownames``,
    holding distinct integers that form a dense run (``0..n-1``, ``1..n``, or any contiguous
    range) or distinct strings (R row names such as ``Mazda RX4``). Not dropped: the caller
    decides (``drop=[name]``); readiness names it in its warning.
    """
    if frame.shape[1] < 2 or len(frame) < 2:
        return None
    col = frame.columns[0]
    name = "" if col is None else str(col)
    if name == target or not ROW_NAME_HEADER.match(name.strip()):
        return None
    s = frame.iloc[:, 0]
    if s.isna().any():
        return None
    n = len(s)
    if pd.api.types.is_integer_dtype(s.dtype) or (pd.api.types.is_float_dtype(s.dtype)
                                                   and bool(np.all(np.mod(s.to_numpy(), 1) == 0))):
        v = s.to_numpy(dtype=np.float64)
        ok = v.max() - v.min() + 1 == n and len(np.unique(v)) == n
        return name if ok else None
    if pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype) \
            or isinstance(s.dtype, pd.CategoricalDtype):
        return name if s.nunique() == n else None
    return None


def check_finite(X: pd.DataFrame, source: str) -> None:
    """Infinite feature values are refused (not imputed): a one-line DataError naming the column."""
    for col in X.columns:
        dtype = X[col].dtype
        if pd.api.types.is_float_dtype(dtype):
            v = X[col].to_numpy(dtype=np.float64, na_value=np.nan)
            n_inf = int(np.isinf(v).sum())
            if n_inf:
                raise DataError(f"column {col!r} in {source} has {n_inf} infinite values (inf / -inf): "
                                "replace them with finite numbers, or with NaN to treat them as missing")
