"""Safe feature names: what every backend is handed instead of the user's column names.

LightGBM refuses JSON special characters (``:[]{}",``), XGBoost ``[``, ``]`` and
``<``, H2O and PyCaret have rules of their own; duplicates after any cleaning
break them all. So the worker never passes the user's names on: column ``i``
becomes ``f{i}_{cleaned}`` (ASCII letters, digits and ``_`` only, at most
``MAX_LEN`` characters of the original), unique by construction and still
readable in a backend's log. The job records both lists; everything the user
sees (records, predictions, ``predict`` input, promotion code) uses the user's
own names.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Sequence

MAX_LEN = 32
_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def safe_names(columns: Sequence[Any]) -> List[str]:
    """``f{i}_{cleaned}`` for each column, in order: unique, ASCII, no character any backend refuses."""
    out = []
    for i, c in enumerate(columns):
        cleaned = _UNSAFE.sub("_", str(c)).strip("_")[:MAX_LEN].rstrip("_")
        out.append(f"f{i}_{cleaned}" if cleaned else f"f{i}")
    return out


def mapping(columns: Sequence[Any]) -> Dict[str, List[str]]:
    """``{"original": [...], "safe": [...]}``, as a job and a record hold it."""
    return {"original": [str(c) for c in columns], "safe": safe_names(columns)}


def to_original(value: Any, safe_to_original: Dict[str, str]) -> Any:
    """``value`` with every string that is exactly a safe name replaced by the user's name (lists and dicts too)."""
    if isinstance(value, str):
        return safe_to_original.get(value, value)
    if isinstance(value, list):
        return [to_original(v, safe_to_original) for v in value]
    if isinstance(value, dict):
        return {safe_to_original.get(k, k): to_original(v, safe_to_original) for k, v in value.items()}
    return value
