"""The job directory: the one interface between the parent and a worker.

Inputs: ``job.json`` (adapter, task, metric, seed, budget, options, ``data``) and the
rows. A run's features are stored once per data fingerprint in the run store
(``STORE/_data/FINGERPRINT/features.arrow``: every row, safe column names, no target)
and shared by every run on that data; ``job.json``'s ``data`` names that file (path,
sha256, fingerprint) and ``train_rows.arrow`` holds, per training row, its row id
into it, ``__target__`` and ``__fold__`` (the hold-out rows are the others; the
hold-out target is in neither file). :func:`read_train` / :func:`read_holdout` read
them column by column from the memory-mapped file, so the worker holds one copy of
its rows. Older job dirs (``train.arrow`` with features + ``__target__`` +
``__fold__``, ``holdout.arrow`` with features) still read, and :func:`read_arrow`
of ``train.arrow`` / ``holdout.arrow`` in a new job dir returns the same frames
(so callers written for the old layout keep working). Outputs: ``candidates.jsonl`` (one line
per candidate, flushed as found), ``predictions.arrow``, ``oof.arrow`` (out-of-fold
predictions on the CV folds, when available), ``model/``,
``result.json`` or ``error.json``. Arrow IPC, never pickle: envs differ in numpy.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from ..experiment.spec import Candidate

JOB = "job.json"
TRAIN = "train.arrow"
HOLDOUT = "holdout.arrow"
PREDICT_INPUT = "input.arrow"  # a predict job's rows
CANDIDATES = "candidates.jsonl"
PREDICTIONS = "predictions.arrow"
OOF = "oof.arrow"  # the chosen candidate's out-of-fold predictions on the training rows (when available)
RESULT = "result.json"
STARTED = "started.json"  # the worker is ready: when its budget clock started, start-up seconds and facts
OOF_REFIT = "oof_refit.json"  # the worker started an out-of-fold refit (outside the budget): when, its cap
ERROR = "error.json"
LOG = "worker.log"
MODEL_DIR = "model"
TARGET_COL = "__target__"
FOLD_COL = "__fold__"
ROW_COL = "__row__"
TRAIN_ROWS = "train_rows.arrow"  # per training row: ROW_COL (into the stored features), TARGET_COL, FOLD_COL
DATA_DIR = "_data"  # in the run store: one directory per data fingerprint (never a run id: ids start alnum)
FEATURES = "features.arrow"
DATA_META = "data.json"


def write_arrow(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_arrow(path: Path) -> pd.DataFrame:
    """An Arrow IPC file as a frame; ``train.arrow`` / ``holdout.arrow`` of a job dir whose rows are
    referenced from the store (``train_rows.arrow``) are assembled as the old files held them."""
    path = Path(path)
    if path.name in (TRAIN, HOLDOUT) and not path.exists() and (path.parent / TRAIN_ROWS).exists():
        if path.name == HOLDOUT:
            return read_holdout(path.parent)
        X, y, folds = read_train(path.parent)
        X[TARGET_COL] = y
        X[FOLD_COL] = folds
        return X
    with pa.memory_map(str(path), "r") as source:
        return ipc.open_file(source).read_all().to_pandas()


def _take_features(features: Path, rows: np.ndarray) -> pd.DataFrame:
    """``rows`` of the stored features file, one column at a time from a fresh memory map.

    Each taken column is a new buffer, so the map is closed (its pages leave this
    process) before the next column; the Arrow columns become pandas one by one
    (``self_destruct``), so the peak is about one copy of the rows taken.
    """
    with pa.memory_map(str(features), "r") as source:
        schema = ipc.open_file(source).schema
    idx = pa.array(np.asarray(rows, dtype=np.int64))
    cols = []
    for i in range(len(schema)):
        with pa.memory_map(str(features), "r") as source:
            reader = ipc.open_file(source)
            chunks = [reader.get_batch(b).column(i) for b in range(reader.num_record_batches)]
            col = pa.chunked_array(chunks, type=schema.field(i).type).take(idx)
            del chunks, reader
        cols.append(col)
    table = pa.Table.from_arrays(cols, schema=schema)
    del cols
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _stored(job_dir: Path) -> "tuple[Path, pa.Table]":
    job = read_json(Path(job_dir) / JOB)
    ref = job.get("data") or {}
    features = Path(job_dir).parent / ref.get("path", "")  # the job dir is STORE/RUN_ID, the path is from STORE
    if not ref.get("path") or not features.is_file():
        raise FileNotFoundError(f"the job's data {features} is missing from the store (was its directory removed?)")
    with pa.memory_map(str(Path(job_dir) / TRAIN_ROWS), "r") as source:
        rows = ipc.open_file(source).read_all()
    return features, rows


def read_train(job_dir: Path) -> "tuple[pd.DataFrame, np.ndarray, np.ndarray]":
    """The job's training rows: (features with safe names, target, fold ids), either layout."""
    job_dir = Path(job_dir)
    if (job_dir / TRAIN).exists():
        train = read_arrow(job_dir / TRAIN)
        return train, train.pop(TARGET_COL).to_numpy(), train.pop(FOLD_COL).to_numpy()
    features, rows = _stored(job_dir)
    X = _take_features(features, rows.column(ROW_COL).to_numpy())
    return X, rows.column(TARGET_COL).to_numpy(), rows.column(FOLD_COL).to_numpy().astype(np.int64)


def read_feature_template(job_dir: Path) -> pd.DataFrame:
    """No rows, the job's feature columns (safe names) with their dtypes (categories included), either
    layout; in the store layout no row is read."""
    job_dir = Path(job_dir)
    if (job_dir / TRAIN).exists():  # the old layout: as before, the rows read and dropped
        return read_arrow(job_dir / TRAIN).drop(columns=[TARGET_COL, FOLD_COL]).iloc[:0]
    features, _rows = _stored(job_dir)
    return _take_features(features, np.empty(0, dtype=np.int64))


def read_holdout(job_dir: Path) -> pd.DataFrame:
    """The job's hold-out features (safe names, no target), either layout."""
    job_dir = Path(job_dir)
    if (job_dir / HOLDOUT).exists():
        return read_arrow(job_dir / HOLDOUT)
    features, rows = _stored(job_dir)
    mask = np.ones(int(read_json(job_dir / JOB)["data"]["n_rows"]), dtype=bool)
    mask[rows.column(ROW_COL).to_numpy()] = False
    return _take_features(features, np.flatnonzero(mask))


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def predictions_frame(pred: np.ndarray, task: str) -> pd.DataFrame:
    pred = np.asarray(pred, dtype=np.float64)
    if task == "regression":
        return pd.DataFrame({"prediction": pred.ravel()})
    return pd.DataFrame({f"p{k}": pred[:, k] for k in range(pred.shape[1])})


def predictions_array(frame: pd.DataFrame, task: str) -> np.ndarray:
    arr = frame.to_numpy(dtype=np.float64)
    return arr.ravel() if task == "regression" else arr


def predictions_sha256(pred: np.ndarray) -> str:
    """Bitwise hash of the predictions as little-endian float64 in C order."""
    arr = np.ascontiguousarray(np.asarray(pred, dtype="<f8"))
    h = hashlib.sha256()
    h.update(repr(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def append_candidate(job_dir: Path, cand: Candidate) -> None:
    with open(job_dir / CANDIDATES, "a", encoding="utf-8") as f:
        f.write(json.dumps(cand.to_json(), sort_keys=True) + "\n")
        f.flush()


def read_candidates(job_dir: Path) -> List[Candidate]:
    """Every complete candidate line; a half-written last line (killed worker) is skipped."""
    path = job_dir / CANDIDATES
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(Candidate.from_json(json.loads(line)))
        except (ValueError, TypeError):
            continue
    return out


class CandidateTail:
    """Reads ``candidates.jsonl`` incrementally: each :meth:`new` returns only lines completed since the last call.

    A half-written last line stays for the next call (the worker may be writing
    it); a line that does not parse is skipped, as :func:`read_candidates` does.
    """

    def __init__(self, job_dir: Path) -> None:
        self.path = Path(job_dir) / CANDIDATES
        self.offset = 0
        self.seen: List[Candidate] = []

    def new(self) -> List[Candidate]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        out = []
        for line in chunk[:end].decode("utf-8", errors="replace").splitlines():
            try:
                out.append(Candidate.from_json(json.loads(line)))
            except (ValueError, TypeError):
                continue
        self.seen.extend(out)
        return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def artifact_hashes(root: Path, names: List[str]) -> Dict[str, str]:
    """sha256 of every file under the named paths, keyed by path relative to ``root``."""
    out: Dict[str, str] = {}
    for name in names:
        p = root / name
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file()) if p.exists() else []
        for q in files:
            out[str(q.relative_to(root))] = sha256_file(q)
    return out
