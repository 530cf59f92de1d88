"""Data in, validated, with its task inferred and a content fingerprint.

``load_data`` accepts a pandas DataFrame plus a target name, a CSV / TSV path (optionally
``.gz`` / ``.zip`` / ``.bz2`` / ``.xz`` / ``.zst``), a Parquet path, or a bundled source
such as ``sklearn:breast_cancer``. Every problem found is a ``DataError`` whose one-line
message says what was wrong and what to do, unreadable files included (binary, compressed
under a plain name, not UTF-8, a CSV named ``.parquet`` or the reverse, another delimiter).
Infinite feature values are refused, not imputed. ``drop=`` removes columns before
anything else; ``drop_missing_target=True`` drops rows whose target is missing (counted).

Dates (``parse_dates=True``, the default): a text column whose every value is an ISO date
or timestamp, or fits exactly one of :data:`DATE_FORMATS`, and every datetime column, is
replaced where it stood by float parts ``COL__year``, ``__month``, ``__day``,
``__dayofweek``, ``__dayofyear``, ``__hour`` / ``__minute`` (with a time of day),
``__epoch`` (seconds, UTC): :func:`expand_dates`, recorded in ``Dataset.date_columns`` and
the spec's ``data.dates``. The fingerprint covers the parts; a table without dates hashes
and describes itself as before.

The fingerprint (``Dataset.fingerprint``, computed once per load) is a sha256 over this
canonical layout, ``automux-data-v2``, of the normalised features and the target. The bytes hashed, in order (``blob`` = its length as int64 LE, then its bytes):

* the 15 bytes ``automux-data-v2`` and one NUL byte, the row count and the column count (features + target), int64 LE;
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
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..capabilities import TASK_NAMES
from ..errors import DataError

TASKS = TASK_NAMES  # one list of tasks: automux.core.capabilities
_PANDAS_MAJOR = int(pd.__version__.split(".")[0])
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


_MAGIC = {b"\x1f\x8b": ("gzip", ".csv.gz"), b"PK\x03\x04": ("zip", ".csv.zip"), b"BZh": ("bzip2", ".csv.bz2"),
          b"\xfd7zXZ": ("xz", ".csv.xz"), b"\x28\xb5\x2f\xfd": ("zstd", ".csv.zst")}
_COMPRESSED = (".gz", ".zip", ".bz2", ".xz", ".zst")
_CSV_EXT = (".csv", ".txt", ".tsv")
_PARQUET_EXT = (".parquet", ".pq")


def _head(src: str, n: int = 8192) -> bytes:
    try:
        with open(src, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise DataError(f"cannot open {src}: {e.strerror or e}") from e


def _compression(head: bytes) -> Optional[Tuple[str, str]]:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return what
    return None


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 4  # a character cut by the read, not bad text


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
    if os.path.isdir(src):
        raise DataError(f"{src} is a directory: give a CSV or Parquet file")
    from ..inputs import check_data_file
    check_data_file(src)  # a FIFO or a device would block the read below
    lower = src.lower()
    head = _head(src)
    packed = _compression(head)
    if lower.endswith(_PARQUET_EXT):
        if not head.startswith(b"PAR1"):
            if packed:
                raise DataError(f"{src} is {packed[0]}-compressed, not Parquet: decompress it or name it "
                                f"{packed[1]}")
            if _looks_like_text(head):
                raise DataError(f"{src} is named .parquet but holds text (CSV?): rename it to .csv")
            raise DataError(f"{src} is not a Parquet file (no PAR1 header): re-export it as Parquet or CSV")
        try:
            return _read_parquet(src)
        except Exception as e:  # pyarrow raises several types for a damaged file
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DataError(f"cannot read Parquet file {src} ({first}): it may be truncated or damaged; "
                            "re-export it") from e
    base = lower
    compression: Optional[str] = None
    for ext in _COMPRESSED:
        if lower.endswith(ext):
            base, compression = lower[: -len(ext)], "infer"
    if not base.endswith(_CSV_EXT):
        if head.startswith(b"PAR1"):
            raise DataError(f"{src} is a Parquet file with another extension: rename it to .parquet")
        raise DataError(f"unsupported file type: {src} (use .csv, .tsv, .csv.gz or .parquet)")
    if compression is None:
        if head.startswith(b"PAR1"):
            raise DataError(f"{src} is a Parquet file named {os.path.splitext(src)[1]}: rename it to .parquet")
        if packed:
            raise DataError(f"{src} is {packed[0]}-compressed: name it {packed[1]} (read as such) "
                            "or decompress it")
        if b"\x00" in head:
            raise DataError(f"{src} is a binary file, not CSV text: export the table as UTF-8 CSV or Parquet")
    delim = "\t" if base.endswith(".tsv") else ","
    if compression is None:
        _check_csv_header(src, delim, head)
    try:
        frame = pd.read_csv(src, sep=delim, encoding="utf-8-sig", compression=compression)
    except UnicodeDecodeError as e:
        raise DataError(f"{src} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at {e.start}; latin-1 or "
                        "cp1252?): re-save it with UTF-8 encoding") from e
    except (ValueError, OSError, EOFError, pd.errors.ParserError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, pd.errors.EmptyDataError):
            raise DataError(f"{src} is empty: it has no header line and no rows") from e
        hint = "check the delimiter (',' expected) and the quoting"
        if compression:
            hint = "check the file is a complete, valid compressed CSV"
        raise DataError(f"cannot read {src} as CSV ({first}): {hint}") from e
    if frame.shape[1] == 1:
        col = str(frame.columns[0])
        for other, name in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
            if other in col and other != delim:
                fix = "name it .tsv" if other == "\t" else "re-save it comma-separated"
                raise DataError(f"{src} reads as one column {col[:40]!r}: it looks {name}-separated; {fix}")
    return frame


def _read_parquet(src: str) -> pd.DataFrame:
    """``pd.read_parquet(src)``, column by column: about one copy of the frame at the peak.

    Each column becomes pandas on its own (with the file's pandas metadata, so nullable
    and categorical types come back as ``pd.read_parquet`` gives them) and the frame is
    assembled without consolidating its columns. A file that stores an index (not a
    plain range) or repeats a column name is read by ``pd.read_parquet`` itself.
    """
    import json as _json
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(src)
    names = list(pf.schema_arrow.names)
    meta = _json.loads((pf.schema_arrow.metadata or {}).get(b"pandas", b"{}") or b"{}")
    if not names or len(set(names)) != len(names) or \
            any(not isinstance(c, dict) for c in meta.get("index_columns") or []):
        return pd.read_parquet(src)
    columns = {}
    for name in names:
        part = pf.read(columns=[name], use_pandas_metadata=False)
        columns[name] = part.to_pandas(self_destruct=True, split_blocks=True)[name]
        del part
    return pd.DataFrame(columns, copy=False)


def _check_csv_header(src: str, sep: str, head: bytes) -> None:
    """pandas renames duplicate CSV headers (``a``, ``a.1``): catch them before it does."""
    import csv

    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    header = next(csv.reader(io.StringIO(text), delimiter=sep), []) if "\n" in text or len(head) < 8192 else None
    if header is None:  # a header line longer than the sniffed head
        with open(src, newline="", encoding="utf-8-sig", errors="replace") as f:
            header = next(csv.reader(f, delimiter=sep), [])
    from collections import Counter
    dups = sorted(h for h, n in Counter(header).items() if n > 1)  # linear: a header may have 100k columns
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


def _check_columns(X: pd.DataFrame) -> None:
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


def _check_finite(X: pd.DataFrame, source: str) -> None:
    """Infinite feature values are refused (not imputed): a one-line DataError naming the column."""
    for col in X.columns:
        dtype = X[col].dtype
        if pd.api.types.is_float_dtype(dtype):
            v = X[col].to_numpy(dtype=np.float64, na_value=np.nan)
            n_inf = int(np.isinf(v).sum())
            if n_inf:
                raise DataError(f"column {col!r} in {source} has {n_inf} infinite values (inf / -inf): "
                                "replace them with finite numbers, or with NaN to treat them as missing")


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


def _normalise_features(X: pd.DataFrame) -> pd.DataFrame:
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


#: Fixed (non-ISO) date formats tried on a text column; it must parse under exactly one on every value.
DATE_FORMATS = ("%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S",
                "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%d-%b-%Y", "%d %b %Y", "%b %d %Y",
                "%d-%b-%y")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?"
                       r"(?:Z|[+-]\d{2}(?::?\d{2})?)?")
_DATE_LIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b.*|\d{1,2}[ -][A-Za-z]{3}[ -]\d{2,4}\b.*|"
                        r"[A-Za-z]{3} \d{1,2},? \d{4}\b.*")
#: The numeric parts a date column becomes (``COL__year`` ...); ``hour`` / ``minute`` only with a time part.
DATE_PARTS = ("year", "month", "day", "dayofweek", "dayofyear")
TIME_PARTS = ("hour", "minute")
EPOCH_PART = "epoch"  # seconds since 1970-01-01 UTC


def _parse_dates(values: Sequence[str], fmt: str, strict: bool = True) -> Optional[pd.DatetimeIndex]:
    """``values`` as UTC-naive datetimes under ``fmt`` (``ISO8601`` or a strptime format); None if one fails."""
    try:
        kw = {"format": fmt} if fmt != "ISO8601" or _PANDAS_MAJOR >= 2 else {}
        out = pd.to_datetime(pd.Index(list(values), dtype=object), utc=True,
                             errors="raise" if strict else "coerce", **kw)
    except (ValueError, TypeError, OverflowError):
        return None
    return pd.DatetimeIndex(out).tz_convert(None)


def date_format(labels: Sequence[Any]) -> Optional[str]:
    """The date format every one of ``labels`` (distinct non-missing texts) parses under, else None.

    ``ISO8601`` when every label is an ISO date or timestamp (``2024-03-01``,
    ``2024-03-01T09:30:00Z``); else the one of :data:`DATE_FORMATS` under which every
    label parses (tried on a sample first, then checked on all); None when none or
    more than one fits (``01/02/2024``: month or day first is ambiguous). Numbers and
    free text are never dates (no dateutil guessing).
    """
    fits = _date_formats(labels)
    return fits[0] if len(fits) == 1 else None


def _date_formats(labels: Sequence[Any]) -> List[str]:
    """Every format (``ISO8601`` or of :data:`DATE_FORMATS`) that all ``labels`` parse under."""
    labels = [v for v in labels if isinstance(v, str)]
    if not labels or not any(c.isdigit() for c in labels[0]):
        return []
    if all(_ISO_DATE.fullmatch(v.strip()) for v in labels):
        return ["ISO8601"] if _parse_dates(labels, "ISO8601") is not None else []
    step = max(len(labels) // 200, 1)
    sample = labels[::step]
    if not all(_DATE_LIKE.fullmatch(v.strip()) for v in sample):
        return []
    fits = [f for f in DATE_FORMATS if _parse_dates(sample, f) is not None]
    return [f for f in fits if _parse_dates(labels, f) is not None]


def _date_parts(name: str, when: pd.DatetimeIndex, with_time: bool) -> Dict[str, np.ndarray]:
    """``{name__year: float64 ...}``: the numeric parts of ``when`` (NaN where missing)."""
    parts = DATE_PARTS + (TIME_PARTS if with_time else ())
    attr = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}
    out = {f"{name}__{p}": np.asarray(getattr(when, attr.get(p, p)), dtype=np.float64) for p in parts}
    secs = (when - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    out[f"{name}__{EPOCH_PART}"] = np.asarray(secs, dtype=np.float64)
    return out


def _column_dates(s: pd.Series, fmt: str, strict: bool = True) -> "tuple[Optional[pd.DatetimeIndex], int]":
    """A categorical or datetime column as UTC-naive datetimes (categories parsed once), and the count of
    non-missing values that did not parse (set missing; only with ``strict=False``)."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        when = pd.DatetimeIndex(s)
        return (when.tz_convert(None) if when.tz is not None else when), 0
    cats = [str(c) for c in s.cat.categories]
    parsed = _parse_dates(cats, "ISO8601" if fmt == "datetime64" else fmt, strict)
    if parsed is None:
        if strict:
            return None, 0
        parsed = pd.DatetimeIndex([pd.NaT] * len(cats))
    codes = s.cat.codes.to_numpy()
    when = pd.DatetimeIndex(np.where(codes >= 0, parsed.to_numpy()[codes], np.datetime64("NaT")))
    bad = int(((codes >= 0) & np.isnat(when.to_numpy())).sum())
    return when, bad


def expand_dates(X: pd.DataFrame, parse_text: bool = True,
                 recorded: Optional[Dict[str, Dict[str, Any]]] = None) -> "tuple[pd.DataFrame, Dict[str, Any]]":
    """Date columns of a normalised frame replaced, in place, by their numeric parts.

    At load (``recorded`` None): datetime columns, and with ``parse_text`` categorical
    columns whose every level is a date (:func:`date_format`). For new data
    (``recorded``: a spec's ``data.dates``) exactly the recorded columns, formats and
    parts; a value that does not parse becomes missing and is counted in
    ``X.attrs["unparsed_dates"]``. Returns the frame and ``{column: {"format", "features"}}``.

    Raises:
        DataError: a part's name is already a column.
    """
    found: Dict[str, Dict[str, Any]] = {}
    new: Dict[str, Any] = {}
    unparsed: Dict[str, int] = {}
    for col in X.columns:
        s = X[col]
        if recorded is not None:
            if col not in recorded:
                new[col] = s
                continue
            fmt = recorded[col]["format"]
            when, bad = _column_dates(s if fmt == "datetime64" or isinstance(s.dtype, pd.CategoricalDtype)
                                      else s.astype("category"), fmt, strict=False)
            if bad:
                unparsed[col] = bad
            parts = _date_parts(col, when, any(f.endswith("__hour") for f in recorded[col]["features"]))
        else:
            if pd.api.types.is_datetime64_any_dtype(s.dtype):
                fmt = "datetime64"
            elif parse_text and isinstance(s.dtype, pd.CategoricalDtype) and len(s.cat.categories):
                fmt = date_format(list(s.cat.categories))
            else:
                fmt = None
            if fmt is None:
                new[col] = s
                continue
            when, _ = _column_dates(s, fmt)
            valid = when[~when.isna()]
            parts = _date_parts(col, when, bool(len(valid)) and bool((valid != valid.normalize()).any()))
            found[col] = {"format": fmt, "features": list(parts)}
        clash = [p for p in parts if p in X.columns]
        if clash:
            raise DataError(f"column {clash[0]!r} clashes with a part of date column {col!r}: rename it")
        new.update(parts)
    if not found and recorded is None:
        return X, found
    out = pd.DataFrame(new, index=X.index)
    out.attrs["unparsed_dates"] = unparsed
    return out, found


def looks_like_dates(s: pd.Series) -> bool:
    """A text / categorical column whose levels (the first 2,000) all parse as dates under some format,
    ambiguous ones included (it was kept as text)."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        if not (pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype)):
            return False
        s = s.astype("category")
    cats = [str(c) for c in s.cat.categories[:2000]]
    return bool(_date_formats(cats))


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
            (:func:`date_format`); False keeps them as categories. Datetime columns
            (Parquet) are dates either way. Every date column is replaced by its numeric
            parts (:func:`expand_dates`), recorded in ``Dataset.date_columns``.

    Non-finite feature values (inf / -inf) are refused, not imputed: a DataError naming
    the column (NaN is a missing value and passes). ``Dataset.row_name_column`` names a
    leading column of row numbers / row names (see :func:`detect_row_name_column`).

    Raises:
        DataError: with one message per problem (see the module docstring).
    """
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
        frame = _read_source(source)
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
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{source} is empty: it has {frame.shape[0]} rows and {frame.shape[1]} columns")
    if list(frame.columns).count(target) > 1:
        raise DataError(f"duplicate column names: {target}: rename them so every column is unique")
    if target not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:12]))
        raise DataError(f"target column {target!r} not in {source}: its columns are {cols}")
    dropped: Tuple[str, ...] = ()
    if drop:
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
        frame = frame.loc[:, [n not in dropped for n in names]]
    if task is not None and task not in TASKS:
        raise DataError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    row_names = detect_row_name_column(frame, target)
    y_raw = frame[target]
    n_nan = int(y_raw.isna().sum())
    n_dropped = 0
    if n_nan:
        if not drop_missing_target:
            raise DataError(f"target column {target!r} has {n_nan} missing values: pass --drop-missing-target "
                            "to drop those rows, or fill them first")
        keep = y_raw.notna().to_numpy()
        frame = frame.loc[keep].reset_index(drop=True)
        n_dropped = n_nan
        if len(frame) == 0:
            raise DataError(f"target column {target!r} is missing on every row: nothing is left to learn from")
        y_raw = frame[target]
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise DataError(f"{source} has no feature columns besides the target {target!r}")
    _check_columns(X)
    _check_finite(X, source)
    task = task or _infer_task(y_raw)
    X = _normalise_features(X)
    X, dates = expand_dates(X, parse_text=parse_dates)
    classes: List[Any] = []
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y_raw) or pd.api.types.is_bool_dtype(y_raw):
            raise DataError(f"target {target!r} is not numeric, so it cannot be a regression target")
        y = y_raw.to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            raise DataError(f"target {target!r} has {int(np.sum(~np.isfinite(y)))} infinite values: "
                            "replace or drop those rows")
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
                   fingerprint=fingerprint_frame(X, y, classes) if fingerprint else "", dropped_columns=dropped,
                   dropped_rows=n_dropped, drop_missing_target=bool(drop_missing_target),
                   row_name_column=row_names, date_columns=dates)
