"""Features in one typed form for every env: text and categories as pandas categoricals with sorted categories."""
from __future__ import annotations

import numpy as np
import pandas as pd

_PANDAS_MAJOR = int(pd.__version__.split(".")[0])


def _sorted_categorical(s: pd.Series) -> pd.Categorical:
    """Text as a categorical whose categories are its distinct values sorted by code point."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:  # Arrow's dictionary encoding: one hashing pass in C++, then a re-code onto the sorted dictionary
        arr = pa.array(s, type=pa.large_string(), from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        enc = pc.dictionary_encode(arr)
        labels = enc.dictionary.to_pylist()
        codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    except (TypeError, ValueError, AttributeError, pa.ArrowException):
        cats = sorted(s.dropna().astype(str).unique())
        return pd.Categorical(s.astype(object).where(s.notna(), None), categories=cats)
    cats = sorted(labels)
    pos = {c: i for i, c in enumerate(cats)}
    remap = np.array([pos[c] for c in labels] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes], categories=cats)


def normalise_features(X: pd.DataFrame) -> pd.DataFrame:
    """Strings become pandas categoricals with sorted categories: one typed form for all envs.

    The caller's frame is never changed; its untouched columns are shared, not copied
    (pandas >= 2 replaces a column on assignment instead of writing into it).
    """
    X = X.copy(deep=_PANDAS_MAJOR < 2)
    for col in X.columns:
        dtype = X[col].dtype
        if pd.api.types.is_bool_dtype(dtype):
            X[col] = X[col].astype("int8")
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            X[col] = _sorted_categorical(X[col])
        elif isinstance(dtype, pd.CategoricalDtype):
            labels = [str(c) for c in dtype.categories]
            cats = sorted(set(labels))
            if len(cats) == len(labels):  # re-code through the dictionary, not row by row
                pos = {c: i for i, c in enumerate(cats)}
                remap = np.array([pos[c] for c in labels] + [-1], dtype=np.int64)
                codes = remap[X[col].cat.codes.to_numpy().astype(np.int64)]
                X[col] = pd.Categorical.from_codes(codes, categories=cats)
            else:
                X[col] = pd.Categorical(X[col].astype(object).map(lambda v: None if pd.isna(v) else str(v)),
                                        categories=cats)
    X.columns = [str(c) for c in X.columns]
    return X.reset_index(drop=True)
