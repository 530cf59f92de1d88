"""The job directory: the one interface between the parent and a worker.

Inputs: ``job.json`` (adapter, task, metric, seed, budget, options), ``train.arrow``
(features + ``__target__`` + ``__fold__``), ``holdout.arrow`` (features only: the
hold-out target never enters the job dir). Outputs: ``candidates.jsonl`` (one line
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
OOF = "oof.arrow"  # the chosen candidate's out-of-fold predictions on train.arrow's rows (when available)
RESULT = "result.json"
ERROR = "error.json"
LOG = "worker.log"
MODEL_DIR = "model"
TARGET_COL = "__target__"
FOLD_COL = "__fold__"


def write_arrow(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_arrow(path: Path) -> pd.DataFrame:
    with pa.memory_map(str(path), "r") as source:
        return ipc.open_file(source).read_all().to_pandas()


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
