"""The run store: a directory per run plus an SQLite index, and the checks that keep it honest.

Records are written atomically (temp file + ``os.replace``); the index uses WAL
and a busy timeout so several processes can write at once. The directory is the
truth: the index is a cache of it. A missing or corrupt index is rebuilt from
the run directories (with a one-line notice), and ``reindex()`` /
``automux runs reindex`` rebuild it on demand, skipping and naming unreadable
records instead of aborting. Run ids are validated (a fixed pattern, and the
resolved path must stay inside the store) for every lookup. Read-only stores can
be listed and shown (the index is opened read-only, or the directories are read).
Artifacts are checked against the sha256 their record holds before they are
trusted (:meth:`RunStore.check_artifacts`).

Data is stored once per data fingerprint (:func:`store_features`):
``root/_data/FINGERPRINT/features.SCHEMA.arrow`` (every row, safe column names, no
target) plus ``data.json`` (its sha256, computed once while it is written). Runs keep a
reference to it and its hash (``job.json``'s ``data``, ``record.extra["data"]``);
:meth:`RunStore.delete` removes a run and then only the data no remaining run uses.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import uuid
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ..experiment.record import RunRecord
from ..errors import ArtifactTampered, RunNotFound, StoreError
from . import jobfiles as jf
from .jobfiles import sha256_file

DEFAULT_STORE = "automux-runs"
INDEX = "index.sqlite"
RECORD = "record.json"
#: What a run id may look like: no separators, no leading dot, so it always names one directory in the store.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
COLUMNS = ["run_id", "spec_id", "backend", "status", "metric", "score", "predictions_sha256", "created_utc"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, spec_id TEXT, backend TEXT, status TEXT, metric TEXT,
  score REAL, predictions_sha256 TEXT, created_utc TEXT, record_path TEXT,
  promoted INTEGER DEFAULT 0
)"""


def atomic_write(path: Path, write: Callable[[Any], Any], binary: bool = False) -> Any:
    """Call ``write(f)`` on a temporary file beside ``path``, sync it, then rename it over ``path``:
    readers see the old file or the new one, never half. Returns what ``write`` returned."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as f:
            result = write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return result


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` so that readers see the old file or the new one, never half."""
    atomic_write(path, lambda f: f.write(text))


class _HashingSink:
    """A write-only file that hashes what passes through it (for ``pa.PythonFile``)."""

    def __init__(self, f: Any) -> None:
        self.f, self.sha, self.closed = f, hashlib.sha256(), False

    def write(self, b: Any) -> int:
        self.sha.update(b)
        return self.f.write(b)

    def flush(self) -> None:
        self.f.flush()

    def close(self) -> None:
        self.closed = True


def store_features(X: Any, safe_names: List[str], fingerprint: str, data_root: Path) -> Dict[str, Any]:
    """Write ``X`` (renamed to ``safe_names``) once per fingerprint and Arrow schema under ``data_root``.

    Returns the reference a job and a record keep: ``path`` (relative to ``data_root``'s parent,
    the store root), ``sha256`` of the file, ``fingerprint``, ``n_rows``, ``bytes``, ``reused``.
    The frame's buffers are handed to Arrow without a pandas copy; the file is hashed while
    written. Concurrent writers of one fingerprint each write a temp file and rename it.
    """
    import pyarrow as pa
    import pyarrow.ipc as ipc

    frame = X.copy(deep=False)
    frame.columns = list(safe_names)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    del frame
    schema_id = hashlib.sha256(table.schema.remove_metadata().to_string().encode()).hexdigest()[:12]
    d = Path(data_root) / fingerprint
    path, meta_path = d / f"features.{schema_id}.arrow", d / f"{jf.DATA_META}.{schema_id}"
    rel = str(path.relative_to(Path(data_root).parent))
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if path.is_file() and path.stat().st_size == meta["bytes"]:
            os.utime(path)  # fresh: collect_data leaves it to the run about to name it
            return dict(meta, path=rel, reused=True)
    except (OSError, ValueError, KeyError):
        pass
    def write(f: Any) -> "_HashingSink":
        sink = _HashingSink(f)
        with pa.PythonFile(sink, mode="w") as out, ipc.new_file(out, table.schema) as writer:
            writer.write_table(table)
        return sink

    sink = atomic_write(path, write, binary=True)
    meta = {"fingerprint": fingerprint, "sha256": sink.sha.hexdigest(), "n_rows": int(table.num_rows),
            "bytes": path.stat().st_size}
    atomic_write_text(meta_path, json.dumps(meta, sort_keys=True))
    return dict(meta, path=rel, reused=False)


def new_run_id() -> str:
    """Sortable by time, unique across processes."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def default_store_path() -> Path:
    return Path(os.environ.get("AUTOMUX_STORE", DEFAULT_STORE))


def validate_run_id(run_id: Any) -> str:
    """``run_id`` when it is a well-formed id; a :class:`StoreError` naming the rule otherwise."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise StoreError(f"{run_id!r} is not a run id (ids look like 20261202T012651-708bba4e: letters, digits, "
                         "'-' and '_' only); see `automux runs list`")
    return run_id


def _notice(msg: str) -> None:
    sys.stderr.write(f"automux: {msg}\n")


class RunStore:
    """Runs under ``root``: ``root/RUN_ID/record.json`` + ``root/index.sqlite``."""

    def __init__(self, root: Union[str, Path, None] = None) -> None:
        from ..inputs import check_store_root  # '' / a file / a file on the way: StoreError
        self.root = check_store_root(root if root is not None else os.environ.get("AUTOMUX_STORE", DEFAULT_STORE))
        #: (run dir, reason) of records the last reindex could not read
        self.skipped: List[Tuple[str, str]] = []

    # -- paths -------------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        """The run's directory; the id is validated and must resolve inside the store.

        Raises:
            StoreError: a malformed id (``../other/ID``, a path, an empty string).
        """
        d = self.root / validate_run_id(run_id)
        root = self.root.resolve()
        if d.resolve().parent != root:  # e.g. a symlink pointing out of the store
            raise StoreError(f"run {run_id!r} resolves outside the store {self.root}: refusing to follow it")
        return d

    def new_run_dir(self) -> "tuple[str, Path]":
        run_id = new_run_id()
        d = self.root / run_id
        try:
            d.mkdir(parents=True, exist_ok=False)
        except PermissionError as e:
            raise StoreError(f"cannot create a run in {self.root}: {e.strerror} (pass --store DIR with a "
                             "writable directory)") from e
        return run_id, d

    # -- the index ---------------------------------------------------------------------------

    def _writable(self) -> bool:
        return os.access(self.root, os.W_OK) and (not (self.root / INDEX).exists()
                                                  or os.access(self.root / INDEX, os.W_OK))

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(self.root / INDEX), timeout=60.0)
        con.execute("PRAGMA busy_timeout=60000")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(_SCHEMA)
        return con

    def _connect_ro(self) -> sqlite3.Connection:
        con = sqlite3.connect(f"{(self.root / INDEX).resolve().as_uri()}?mode=ro", uri=True, timeout=60.0)
        con.execute("PRAGMA busy_timeout=60000")
        return con

    def _index(self, r: RunRecord, path: Path) -> None:
        with closing(self._connect()) as con, con:
            # An upsert, not INSERT OR REPLACE: re-saving a record keeps its promoted flag.
            con.execute(
                "INSERT INTO runs (run_id, spec_id, backend, status, metric, score, "
                "predictions_sha256, created_utc, record_path) VALUES (?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(run_id) DO UPDATE SET spec_id=excluded.spec_id, backend=excluded.backend, "
                "status=excluded.status, metric=excluded.metric, score=excluded.score, "
                "predictions_sha256=excluded.predictions_sha256, created_utc=excluded.created_utc, "
                "record_path=excluded.record_path",
                (r.run_id, r.spec_id, r.backend, r.status, r.metric, r.score, r.predictions_sha256,
                 r.created_utc, str(path)))

    def _rebuild_index(self, why: str) -> None:
        """Move a broken index aside and rebuild it from the run directories, with a one-line notice."""
        index = self.root / INDEX
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(index) + suffix)
            if p.exists():
                os.replace(p, Path(str(index) + suffix + ".corrupt"))
        n = self.reindex()
        extra = f"; skipped {len(self.skipped)} unreadable record(s)" if self.skipped else ""
        _notice(f"the run index in {self.root} was {why}: rebuilt it from {n} run director{'y' if n == 1 else 'ies'}"
                f"{extra}")

    def save(self, record: RunRecord) -> Path:
        """Write the record atomically, then index it (a corrupt index is rebuilt first)."""
        path = self.run_dir(record.run_id) / RECORD
        try:
            atomic_write_text(path, record.dumps())
        except PermissionError as e:
            raise StoreError(f"cannot write run {record.run_id} into {self.root}: {e.strerror} (pass --store DIR "
                             "with a writable directory)") from e
        try:
            self._index(record, path)
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and "readonly" in str(e):
                raise StoreError(f"the run index in {self.root} is read-only: the record is on disk at {path}; "
                                 "make the store writable and run `automux runs reindex`") from e
            self._rebuild_index(f"unreadable ({e})")
        return path

    def set_promoted(self, run_id: str, promoted: bool) -> None:
        """Flag a run in the index as holding a promoted candidate (the decision file is the truth)."""
        with closing(self._connect()) as con, con:
            con.execute("UPDATE runs SET promoted = ? WHERE run_id = ?", (1 if promoted else 0, run_id))

    # -- reading -----------------------------------------------------------------------------

    def read_record(self, path: Path) -> RunRecord:
        """The record at ``path``; :class:`StoreError` (one line) when it is truncated or not a record."""
        try:
            return RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError, OSError) as e:  # OSError: record.json is a directory, unreadable
            raise StoreError(f"the record {path} is unreadable ({type(e).__name__}: {str(e)[:120]}): restore it from "
                             "a backup or remove its run directory, then run `automux runs reindex`") from e

    def load(self, run_id: str) -> RunRecord:
        path = self.run_dir(run_id) / RECORD
        if os.path.lexists(path) and not path.is_file():  # e.g. a directory: named, not "no run"
            raise StoreError(f"the record {path} is not a file: restore it from a backup or remove its run "
                             "directory, then run `automux runs reindex`")
        if not path.is_file():
            raise RunNotFound(f"no run {run_id!r} in the store {self.root} (see `automux runs list`)")
        return self.read_record(path)

    def _scan(self) -> List[Tuple[Path, RunRecord]]:
        """Every readable record on disk (unreadable ones land in ``skipped``)."""
        self.skipped = []
        out = []
        for path in sorted(self.root.glob(f"*/{RECORD}")):
            try:
                out.append((path, self.read_record(path)))
            except StoreError as e:
                self.skipped.append((str(path.parent), str(e)))
        return out

    def list(self, backend: Optional[str] = None, promoted: bool = False, spec_id: Optional[str] = None,
             data: Optional[str] = None) -> List[Dict[str, Any]]:
        """Index rows, oldest first; rebuilds a missing or corrupt index (or reads the directories if read-only).

        ``spec_id`` keeps the runs of one spec; ``data`` those whose spec's data source or
        fingerprint (or its prefix) is ``data``.
        """
        rows = self._list(backend, promoted)
        if spec_id:
            rows = [r for r in rows if r["spec_id"] == spec_id]
        if data:
            rows = [r for r in rows if self._data_matches(r["run_id"], data)]
        return rows

    def _data_matches(self, run_id: str, data: str) -> bool:
        try:
            d = self.load(run_id).spec.data
        except Exception:  # an unreadable record matches nothing; `runs reindex` names it
            return False
        return data == d.get("source") or str(d.get("fingerprint") or "").startswith(data)

    def _list(self, backend: Optional[str], promoted: bool) -> List[Dict[str, Any]]:
        if not self.root.exists():
            return []
        if not (self.root / INDEX).exists():
            if not any(self.root.glob(f"*/{RECORD}")):  # only scanned when the index is missing
                return []
            if not self._writable():
                return self._list_from_disk(backend, promoted)
            self._rebuild_index("missing")
        q = f"SELECT {', '.join(COLUMNS)} FROM runs"
        where, args = [], []
        if backend:
            where.append("backend = ?")
            args.append(backend)
        if promoted:
            where.append("promoted = 1")
        if where:
            q += " WHERE " + " AND ".join(where)
        q += " ORDER BY created_utc, run_id"
        try:
            with closing(self._connect() if self._writable() else self._connect_ro()) as con:
                return [dict(zip(COLUMNS, row)) for row in con.execute(q, args)]
        except sqlite3.DatabaseError as e:
            if not self._writable():
                return self._list_from_disk(backend, promoted)
            self._rebuild_index(f"unreadable ({e})")
            with closing(self._connect()) as con:
                return [dict(zip(COLUMNS, row)) for row in con.execute(q, args)]

    def _list_from_disk(self, backend: Optional[str], promoted: bool) -> List[Dict[str, Any]]:
        rows = []
        for path, r in self._scan():
            if backend and r.backend != backend:
                continue
            if promoted and not self._promoted_on_disk(path):
                continue
            rows.append({c: getattr(r, c) for c in COLUMNS})
        return sorted(rows, key=lambda d: (d["created_utc"], d["run_id"]))

    @staticmethod
    def _promoted_on_disk(record_path: Path) -> bool:
        out = False
        for d in sorted(record_path.parent.glob("promotion/candidate_*.json")):
            try:
                out = out or json.loads(d.read_text(encoding="utf-8")).get("status") == "promoted"
            except (OSError, ValueError):
                continue
        return out

    def reindex(self) -> int:
        """Rebuild the index from every readable record (and promotion decision) on disk; returns how many.

        Unreadable records are skipped and named in ``self.skipped``, never fatal.
        """
        n = 0
        for path, record in self._scan():
            self._index(record, path)
            self.set_promoted(record.run_id, self._promoted_on_disk(path))
            n += 1
        return n

    # -- shared data -------------------------------------------------------------------------

    def data_in_use(self) -> Dict[str, List[str]]:
        """Stored data files (relative paths) -> the runs whose job names them."""
        out: Dict[str, List[str]] = {}
        for job in sorted(self.root.glob(f"*/{jf.JOB}")):
            try:
                ref = json.loads(job.read_text(encoding="utf-8")).get("data") or {}
            except (OSError, ValueError):
                continue
            if ref.get("path"):
                out.setdefault(ref["path"], []).append(job.parent.name)
        return out

    def delete(self, run_id: str, grace_s: float = 600.0) -> List[str]:
        """Remove a run's directory and its index row, then the stored data no remaining run uses.

        Returns the data files removed (see :meth:`collect_data` for ``grace_s``). Data another
        run references is never touched.
        """
        d = self.run_dir(run_id)
        if not d.is_dir():
            raise RunNotFound(f"no run {run_id!r} in the store {self.root} (see `automux runs list`)")
        shutil.rmtree(d)
        if (self.root / INDEX).exists():
            with closing(self._connect()) as con, con:
                con.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        return self.collect_data(grace_s)

    def collect_data(self, grace_s: float = 600.0) -> List[str]:
        """Remove stored data files that no run's job references; returns their relative paths.

        A file written or reused in the last ``grace_s`` seconds is kept: a run starting now
        stores (or reuses) its data just before it writes the job that names it.
        """
        used = set(self.data_in_use())
        removed = []
        now = datetime.now(timezone.utc).timestamp()
        for path in sorted((self.root / jf.DATA_DIR).glob("*/features.*.arrow")):
            rel = str(path.relative_to(self.root))
            if rel in used or now - path.stat().st_mtime < grace_s:
                continue
            schema_id = path.name.split(".")[1]
            for p in (path, path.parent / f"{jf.DATA_META}.{schema_id}"):
                if p.exists():
                    p.unlink()
            removed.append(rel)
            if not any(path.parent.iterdir()):
                path.parent.rmdir()
        return removed

    # -- artifacts ---------------------------------------------------------------------------

    def check_artifacts(self, record: RunRecord, prefix: str = "model") -> None:
        """Refuse stored files under ``prefix`` that differ from the sha256 the record holds.

        Raises:
            ArtifactTampered: a file changed, disappeared, or appeared after the run.
        """
        run_dir = self.run_dir(record.run_id)
        recorded = {k: v for k, v in (record.artifacts or {}).items()
                    if k == prefix or k.startswith(prefix.rstrip("/") + "/")}
        base = run_dir / prefix
        on_disk = [base] if base.is_file() else sorted(q for q in base.rglob("*") if q.is_file()) if base.exists() \
            else []
        found = {str(q.relative_to(run_dir)): q for q in on_disk}
        for rel, sha in sorted(recorded.items()):
            q = found.get(rel)
            if q is None:
                raise ArtifactTampered(f"run {record.run_id}: {rel} is missing although its record lists it: the "
                                       "stored model cannot be trusted; re-run the spec (`automux verify`)")
            if sha256_file(q) != sha:
                raise ArtifactTampered(f"run {record.run_id}: {rel} changed since the run (its sha256 no longer "
                                       "matches the record): refusing to load it; re-run the spec (`automux verify`)")
        extra = sorted(set(found) - set(recorded))
        if recorded and extra:
            raise ArtifactTampered(f"run {record.run_id}: {extra[0]} appeared in the model after the run: refusing "
                                   "to load it; re-run the spec (`automux verify`)")
