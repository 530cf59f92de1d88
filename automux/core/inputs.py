"""The checks of user-given values at the boundary, shared by the CLI and the API.

One validator per kind of value, so that every command and every public function
refuses the same bad value with the same one-line message, before any process
starts or any file is written: seeds (:func:`check_seed`), seconds (timeouts,
:func:`check_seconds`), shares (``test_size``, :func:`check_share`), output
paths (:func:`check_out_path`), store roots (:func:`check_store_root`), data
files (:func:`check_data_file`) and lists of names (:func:`name_list`). Each
returns the value (normalised) or raises a :class:`~automux.core.errors.UserError`
subclass that is also the matching built-in (``ValueError``, ``OSError``).
Standard library only.
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any, List, Optional, Union

from .errors import DataError, SpecError, StoreError

#: Seeds every backend and numpy accept: 0 <= seed < 2**32 (numpy's legacy seeding is 32-bit).
SEED_LIMIT = 2 ** 32


def check_seed(seed: Any, flag: str = "--seed") -> int:
    """``seed`` when it is an int in ``[0, 2**32)``; a :class:`SpecError` otherwise (bools and strings too)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise SpecError(f"{flag} {seed!r}: the seed must be an integer from 0 to {SEED_LIMIT - 1}")
    return seed


def check_seconds(value: Any, flag: str = "--timeout", *, allow_none: bool = True) -> Optional[float]:
    """``value`` as float seconds when positive and finite (``None`` passes when allowed); else a SpecError."""
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if not ok or not (0 < float(value) < math.inf):
        raise SpecError(f"{flag} {value!r}: give a positive, finite number of seconds")
    return float(value)


def check_share(value: Any, flag: str = "--test-size") -> float:
    """``value`` as a float strictly between 0 and 1 (a string such as ``"0.2"`` is refused, not iterated)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if not ok or not (0.0 < float(value) < 1.0):
        raise SpecError(f"{flag} {value!r}: give a number between 0 and 1 (the hold-out share), e.g. 0.25")
    return float(value)


def name_list(value: Any, what: str) -> List[str]:
    """A list of names given as a list / tuple of strings; a bare string is refused (it would be iterated
    per character)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or \
            not all(isinstance(v, str) for v in value):
        raise SpecError(f"{what} {value!r}: give a list of names, e.g. [{value!r}]" if isinstance(value, str)
                        else f"{what} {value!r}: give a list of names")
    return list(value)


def first_existing(path: Path) -> Path:
    p = path
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def check_out_path(path: Union[str, Path], flag: str = "--out") -> Path:
    """A file path we may write: not a directory, its folder exists and is writable. Returns it as a Path.

    Raises:
        StoreError: (an ``OSError`` too) saying what is wrong with the path and what to do.
    """
    if path is None or str(path) == "":
        raise StoreError(f"{flag} is empty: give a file path to write")
    p = Path(path)
    if p.is_dir():
        raise StoreError(f"{flag} {str(path)!r} is a directory: give a file path inside it")
    if os.path.lexists(p) and not p.is_file():
        raise StoreError(f"{flag} {str(path)!r} exists and is not a regular file: give another path")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise StoreError(f"{flag} {str(path)!r}: the folder {str(parent)!r} does not exist (create it first)")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise StoreError(f"{flag} {str(path)!r}: not writable here (choose a writable path)")
    return p


def check_store_root(root: Union[str, Path]) -> Path:
    """A run-store root that can be a directory: not empty, not a file, no file on its way.

    Writability is checked when a run is written (``RunStore.new_run_dir``).
    """
    if str(root).strip() == "":
        raise StoreError("the run store path is empty (is AUTOMUX_STORE set to ''?): pass --store DIR or set "
                         "AUTOMUX_STORE to a directory")
    p = Path(root)
    existing = first_existing(p)
    if os.path.lexists(existing) and not existing.is_dir():
        where = "" if existing == p else f" ({str(existing)!r} on its way is a file)"
        raise StoreError(f"the run store {str(root)!r} is not a directory{where}: pass --store DIR or set "
                         "AUTOMUX_STORE to a directory")
    return p


def check_data_file(path: Union[str, Path], flag: str = "--data") -> Path:
    """A data path that is a regular file (a FIFO, a device or a directory would hang or fail late)."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise DataError(f"{flag} {str(path)!r}: file not found") from None
    except OSError as e:
        raise DataError(f"{flag} {str(path)!r}: cannot be read ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{flag} {str(path)!r} is a directory: give a CSV or Parquet file")
    if not stat.S_ISREG(mode):
        raise DataError(f"{flag} {str(path)!r} is not a regular file (a pipe or a device): save the data to a "
                        "CSV or Parquet file and pass that")
    if not os.access(p, os.R_OK):
        raise DataError(f"{flag} {str(path)!r}: permission denied (make it readable)")
    return p


#: The columns every bench ``results.csv`` has (``automux bench`` writes them; the report and the selector read them).
BENCH_COLUMNS = ("id", "framework", "status", "result")


def check_bench_results(path: Union[str, Path], flag: str) -> Path:
    """``path`` when it is a bench's ``results.csv`` (a regular UTF-8 file whose header holds :data:`BENCH_COLUMNS`).

    Raises:
        DataError: missing, not a regular file, empty, not UTF-8, or not a bench's results (its header says why).
    """
    import csv

    p = check_data_file(path, flag)
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError:
        raise DataError(f"{flag} {str(path)!r} is not UTF-8 text: give the results.csv `automux bench` wrote") from None
    if not header:
        raise DataError(f"{flag} {str(path)!r} is empty: give the results.csv of a bench that ran "
                        "(`automux bench SUITE --out DIR`)")
    lacking = [c for c in BENCH_COLUMNS if c not in header]
    if lacking:
        raise DataError(f"{flag} {str(path)!r} is not a bench's results.csv (no column {', '.join(lacking)}): "
                        "give the results.csv `automux bench` wrote")
    return p
