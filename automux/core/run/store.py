"""The run store: a directory per run plus an SQLite index.

Records are written atomically (temp file + ``os.replace``); the index uses WAL
and a busy timeout so several processes can write at once. The directory is the
truth: ``reindex()`` rebuilds the index from the records on disk.
"""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import uuid
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ..errors import RunNotFound
from ..contract.record import RunRecord

DEFAULT_STORE = "automux-runs"
INDEX = "index.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, spec_id TEXT, backend TEXT, status TEXT, metric TEXT,
  score REAL, predictions_sha256 TEXT, created_utc TEXT, record_path TEXT,
  promoted INTEGER DEFAULT 0
)"""


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def new_run_id() -> str:
    """Sortable by time, unique across processes."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def default_store_path() -> Path:
    return Path(os.environ.get("AUTOMUX_STORE", DEFAULT_STORE))


class RunStore:
    """Runs under ``root``: ``root/RUN_ID/record.json`` + ``root/index.sqlite``."""

    def __init__(self, root: Union[str, Path, None] = None) -> None:
        self.root = Path(root) if root is not None else default_store_path()

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(self.root / INDEX), timeout=60.0)
        con.execute("PRAGMA busy_timeout=60000")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(_SCHEMA)
        return con

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def new_run_dir(self) -> "tuple[str, Path]":
        run_id = new_run_id()
        d = self.run_dir(run_id)
        d.mkdir(parents=True, exist_ok=False)
        return run_id, d

    def save(self, record: RunRecord) -> Path:
        """Write the record atomically, then index it."""
        path = self.run_dir(record.run_id) / "record.json"
        atomic_write_text(path, json.dumps(record.to_json(), indent=2, sort_keys=True, default=str))
        self._index(record, path)
        return path

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

    def set_promoted(self, run_id: str, promoted: bool) -> None:
        """Flag a run in the index as holding a promoted candidate (the decision file is the truth)."""
        with closing(self._connect()) as con, con:
            con.execute("UPDATE runs SET promoted = ? WHERE run_id = ?", (1 if promoted else 0, run_id))

    def load(self, run_id: str) -> RunRecord:
        path = self.run_dir(run_id) / "record.json"
        if not path.is_file():
            raise RunNotFound(f"no run {run_id!r} in the store {self.root} (see `automux runs list`)")
        return RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))

    def list(self, backend: Optional[str] = None, promoted: bool = False) -> List[Dict[str, Any]]:
        if not (self.root / INDEX).exists():
            return []
        q = "SELECT run_id, spec_id, backend, status, metric, score, predictions_sha256, created_utc FROM runs"
        where, args = [], []
        if backend:
            where.append("backend = ?")
            args.append(backend)
        if promoted:
            where.append("promoted = 1")
        if where:
            q += " WHERE " + " AND ".join(where)
        q += " ORDER BY created_utc, run_id"
        with closing(self._connect()) as con:
            cols = ["run_id", "spec_id", "backend", "status", "metric", "score", "predictions_sha256", "created_utc"]
            return [dict(zip(cols, row)) for row in con.execute(q, args)]

    def reindex(self) -> int:
        """Rebuild the index from every record (and promotion decision) on disk; returns how many."""
        n = 0
        for path in sorted(self.root.glob("*/record.json")):
            record = RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            self._index(record, path)
            decisions = sorted(path.parent.glob("promotion/candidate_*.json"))
            self.set_promoted(record.run_id, any(
                json.loads(d.read_text(encoding="utf-8")).get("status") == "promoted" for d in decisions))
            n += 1
        return n
