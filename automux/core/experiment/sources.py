"""Reading a data source into a DataFrame: a bundled source (``sklearn:iris``), a CSV / TSV file
(optionally ``.gz`` / ``.zip`` / ``.bz2`` / ``.xz`` / ``.zst``) or a Parquet file.

Every problem is a one-line ``DataError`` saying what was wrong and what to do, unreadable
files included (binary, compressed under a plain name, not UTF-8, a CSV named ``.parquet``
or the reverse, another delimiter, duplicate CSV headers).
"""
from __future__ import annotations

import io
import os
from typing import Any, Dict, Optional, Tuple

import pandas as pd

from ..errors import DataError

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


def read_source(src: str) -> pd.DataFrame:
    """The frame of a bundled source or a CSV / TSV / Parquet file, as read (no validation of its contents).

    Raises:
        DataError: the source is missing, not a regular file, damaged, misnamed or unreadable.
    """
    from .datasets import all_loaders

    prefix, sep, name = src.partition(":")
    loaders = all_loaders()
    if sep and prefix in loaders and not os.path.exists(src):
        frame, _default_target = loaders[prefix](name)
        return frame
    _check_file(src, loaders)
    lower = src.lower()
    head = _head(src)
    packed = _compression(head)
    if lower.endswith(_PARQUET_EXT):
        return _read_parquet_file(src, head, packed)
    return _read_csv_file(src, lower, head, packed)


def _check_file(src: str, loaders: Dict[str, Any]) -> None:
    """``src`` exists and is a regular file (a FIFO or a device would block the read)."""
    if not os.path.exists(src):
        known = ", ".join(f"{p}:NAME" for p in sorted(loaders))
        raise DataError(f"data file not found: {src} (give a CSV or Parquet path, or a bundled source: {known})")
    if os.path.isdir(src):
        raise DataError(f"{src} is a directory: give a CSV or Parquet file")
    from ..inputs import check_data_file
    check_data_file(src)


def _read_parquet_file(src: str, head: bytes, packed: Optional[Tuple[str, str]]) -> pd.DataFrame:
    """A file named ``.parquet`` / ``.pq``: refused unless it has the PAR1 header and reads."""
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


def _read_csv_file(src: str, lower: str, head: bytes, packed: Optional[Tuple[str, str]]) -> pd.DataFrame:
    """A CSV / TSV file (compressed when its name says so): its bytes checked against its name first."""
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
    frame = _parse_csv(src, delim, compression)
    _check_delimiter(src, frame, delim)
    return frame


def _parse_csv(src: str, delim: str, compression: Optional[str]) -> pd.DataFrame:
    """``pd.read_csv`` with its failures said in one line (encoding, empty file, parse error)."""
    try:
        return pd.read_csv(src, sep=delim, encoding="utf-8-sig", compression=compression)
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


def _check_delimiter(src: str, frame: pd.DataFrame, delim: str) -> None:
    """A frame of one column whose name holds another delimiter was written with that delimiter."""
    if frame.shape[1] == 1:
        col = str(frame.columns[0])
        for other, name in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
            if other in col and other != delim:
                fix = "name it .tsv" if other == "\t" else "re-save it comma-separated"
                raise DataError(f"{src} reads as one column {col[:40]!r}: it looks {name}-separated; {fix}")


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
