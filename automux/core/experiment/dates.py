"""Date columns read as dates and expanded into numeric parts (at load, and again for new data).

A text column whose every value is an ISO date or timestamp, or fits exactly one of
:data:`DATE_FORMATS`, and every datetime column, is replaced where it stood by float parts
``COL__year``, ``__month``, ``__day``, ``__dayofweek``, ``__dayofyear``, ``__hour`` /
``__minute`` (with a time of day), ``__epoch`` (seconds, UTC): :func:`expand_dates`, recorded
in ``Dataset.date_columns`` and the spec's ``data.dates``, and applied again to new data by
predict and verify. The fingerprint covers the parts; a table without dates hashes and
describes itself as before.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError

_PANDAS_MAJOR = int(pd.__version__.split(".")[0])

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
