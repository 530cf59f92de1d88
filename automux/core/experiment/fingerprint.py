"""The data fingerprint: a sha256 over the values of the normalised features and the target.

The fingerprint (``Dataset.fingerprint``, computed once per load) is a sha256 over this
canonical layout, ``automux-data-v2``, of the normalised features and the target. The bytes
hashed, in order (``blob`` = its length as int64 LE, then its bytes):

* the 15 bytes ``automux-data-v2`` and one NUL byte, the row count and the column count
  (features + target), int64 LE;
* per feature column in frame order, then the target as a column named ``__target__``:
  ``blob(name as UTF-8)``, ``blob(type tag)``, then by tag:

  - ``int64`` (every signed / unsigned integer width but uint64, nullable too):
    ``blob(validity)``, ``blob(values as int64 LE, missing as 0)``; ``uint64`` likewise as uint64 LE;
  - ``float64`` (float16/32/64, nullable too): ``blob(values as float64 LE)`` with every NaN or
    missing value as the bit pattern 0x7FF8000000000000 and -0.0 as 0.0;
  - ``bool``: ``blob(validity)``, ``blob(one uint8 0/1 per row)``;
  - ``category``: the dictionary sorted by code point (its labels as text), as
    ``blob(int64 LE offsets from 0)``, ``blob(UTF-8 data)``, then ``blob(codes into that sorted
    dictionary as int32 LE, -1 = missing)``;
  - ``string`` (text, and any other type as its ``str``): ``blob(validity)``,
    ``blob(int64 LE offsets from 0)``, ``blob(UTF-8 data)``;

  ``validity`` is one uint8 per row (1 = present), or empty when nothing is missing, so a
  nullable column without missing values hashes like its plain twin;
* for classification, the class labels (as text, in code order) as a ``category``-style
  dictionary: ``blob(b"classes")``, ``blob(offsets)``, ``blob(data)``.

Only values and their canonical types enter, never pandas' or numpy's own layouts or
dtype names, so the same table read from CSV or Parquet, under any pandas version, on
any machine, has the same id. Cost: one pass over each column's buffer (hundreds of MB/s).
"""
from __future__ import annotations

import hashlib
import io
import struct
from typing import Any, List, Optional

import numpy as np
import pandas as pd

FINGERPRINT_LAYOUT = b"automux-data-v2\x00"
_CANON_NAN = np.uint64(0x7FF8000000000000)


def _blob(h: Any, data: Any) -> None:
    """One length-prefixed piece: its byte length as int64 LE, then the bytes."""
    mv = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    h.update(struct.pack("<q", len(mv)))
    h.update(mv)


def _validity(mask: np.ndarray) -> bytes:
    """Missing-value mask as one uint8 per row (1 = present), or empty when nothing is missing."""
    return b"" if mask.all() else np.ascontiguousarray(mask, dtype=np.uint8).tobytes()


def _string_pieces(values: Any) -> "tuple[bytes, np.ndarray, Any]":
    """UTF-8 strings as (validity, int64 LE offsets from 0, concatenated UTF-8 data), via Arrow."""
    import pyarrow as pa

    arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    if arr.null_count:
        present = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    else:
        present = np.ones(len(arr), dtype=bool)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype="<i8")[arr.offset:arr.offset + len(arr) + 1] if len(arr) else \
        np.zeros(1, dtype="<i8")
    start, stop = int(offsets[0]), int(offsets[-1])
    data = memoryview(bufs[2])[start:stop] if bufs[2] is not None and stop > start else b""
    return _validity(present), np.ascontiguousarray(offsets - start, dtype="<i8"), data


def _float_payload(v: np.ndarray) -> np.ndarray:
    """float64 LE with every NaN as 0x7FF8000000000000 and -0.0 as 0.0."""
    out = np.asarray(v, dtype="<f8") + 0.0  # a copy; -0.0 + 0.0 == +0.0
    nan = np.isnan(out)
    if nan.any():
        out.view("<u8")[nan] = _CANON_NAN
    return out


def _hash_column(h: Any, name: str, s: pd.Series) -> None:
    dtype = s.dtype
    _blob(h, name.encode("utf-8"))
    if isinstance(dtype, pd.CategoricalDtype):
        cats = [str(c) for c in dtype.categories]
        codes = np.asarray(s.cat.codes.to_numpy(), dtype=np.int64)
        order = sorted(range(len(cats)), key=lambda i: cats[i])
        if order != list(range(len(cats))):  # re-code onto the sorted dictionary
            remap = np.empty(len(cats) + 1, dtype=np.int64)
            remap[np.asarray(order, dtype=np.int64)] = np.arange(len(cats))
            remap[-1] = -1
            codes = remap[codes]
            cats = [cats[i] for i in order]
        _blob(h, b"category")
        _, offsets, data = _string_pieces(cats)
        _blob(h, offsets)
        _blob(h, data)
        _blob(h, np.ascontiguousarray(codes, dtype="<i4"))
    elif pd.api.types.is_bool_dtype(dtype):
        present = s.notna().to_numpy()
        _blob(h, b"bool")
        _blob(h, _validity(present))
        _blob(h, np.ascontiguousarray(s.to_numpy(dtype=bool, na_value=False), dtype=np.uint8))
    elif pd.api.types.is_integer_dtype(dtype):
        present = s.notna().to_numpy()
        if dtype == np.uint64 or str(dtype) == "UInt64":
            tag, width = b"uint64", "<u8"
        else:
            tag, width = b"int64", "<i8"
        _blob(h, tag)
        _blob(h, _validity(present))
        _blob(h, np.ascontiguousarray(s.to_numpy(dtype=width, na_value=0)))
    elif pd.api.types.is_float_dtype(dtype):
        _blob(h, b"float64")
        _blob(h, _float_payload(s.to_numpy(dtype="<f8", na_value=np.nan)))
    else:  # strings, or anything else as its text
        values = s.to_numpy(dtype=object)
        if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)) \
                or not all(isinstance(v, str) for v in values[pd.notna(values)]):
            values = np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)
        validity, offsets, data = _string_pieces(values)
        _blob(h, b"string")
        _blob(h, validity)
        _blob(h, offsets)
        _blob(h, data)


def fingerprint_frame(X: pd.DataFrame, y: np.ndarray, classes: Optional[List[Any]] = None) -> str:
    """sha256 over the canonical little-endian layout ``automux-data-v2`` (see the module docstring).

    ``classes``: the class labels in code order (classification), hashed as text.
    """
    h = hashlib.sha256()
    h.update(FINGERPRINT_LAYOUT)
    h.update(struct.pack("<qq", len(X), X.shape[1] + 1))
    for col in X.columns:
        _hash_column(h, str(col), X[col])
    y = np.asarray(y)
    _hash_column(h, "__target__", pd.Series(y))
    if classes:
        _blob(h, b"classes")
        _, offsets, data = _string_pieces([str(c) for c in classes])
        _blob(h, offsets)
        _blob(h, data)
    return h.hexdigest()


def legacy_fingerprint(X: pd.DataFrame, y: np.ndarray) -> str:
    """The layout-v1 id (``%.17g`` CSV text) that records made before ``automux-data-v2`` hold.

    For ``verify`` of an old record only: compare with it when the v2 id differs. Slow
    (it writes the frame as text); never used for new records.
    """
    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in X.dtypes.items()]).encode())
    buf = io.StringIO()
    frame = X.copy()
    frame["__target__"] = y
    frame.to_csv(buf, index=False, float_format="%.17g", lineterminator="\n")
    h.update(buf.getvalue().encode())
    return h.hexdigest()
