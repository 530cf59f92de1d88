"""The immutable experiment spec, its id, and the candidate a backend proposes."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .budget import Budget

SPEC_SCHEMA = 1


def jsonable(obj: Any, path: str = "", nonfinite: Optional[List[str]] = None) -> Any:
    """``obj`` in plain JSON types: numpy scalars and arrays as numbers and lists, tuples as lists,
    NaN / infinity as ``None`` (their paths appended to ``nonfinite``), anything else as ``str``."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if math.isfinite(obj):
            return float(obj)
        if nonfinite is not None:
            nonfinite.append(path or "$")
        return None
    if isinstance(obj, dict):
        return {str(k): jsonable(v, f"{path}.{k}", nonfinite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, f"{path}[{i}]", nonfinite) for i, v in enumerate(obj)]
    item = getattr(obj, "item", None)  # numpy scalars
    if callable(item) and getattr(obj, "ndim", 1) == 0:
        return jsonable(item(), path, nonfinite)
    tolist = getattr(obj, "tolist", None)  # numpy arrays
    if callable(tolist):
        return jsonable(tolist(), path, nonfinite)
    return str(obj)


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, plain JSON (NaN becomes null): the form every hash in automux is taken over."""
    return json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Spec:
    """Everything fixed before a backend runs; the same for every backend.

    Invariants: ``data['fingerprint']`` identifies the content, ``split_fingerprint``
    the hold-out and folds, ``seeds`` records every seed derived from ``seed``,
    ``metric`` fits ``data['task']``. The spec id is the sha256 of its canonical
    JSON, so equal specs have equal ids on any machine. The backend is not part of
    the spec: one spec runs on many backends.
    """

    data: Dict[str, Any]
    split: Dict[str, Any]  # method, n_folds, test_size, fingerprint
    metric: str
    seed: int
    seeds: Dict[str, int]
    budget: Budget
    schema: int = SPEC_SCHEMA

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        d["budget"] = self.budget.to_json()
        return d

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Spec":
        d = dict(d)
        d["budget"] = Budget.from_json(d["budget"])
        return cls(**d)

    @property
    def spec_id(self) -> str:
        return sha256_text(canonical_json(self.to_json()))[:16]

    @property
    def task(self) -> str:
        return self.data["task"]


@dataclass(frozen=True)
class Candidate:
    """One proposal from a backend, scored on the spec's folds.

    ``fold_scores`` has one entry per fold, in fold order, in the spec's metric
    (``None`` where the backend did not report that fold, or where the score was
    not a finite number: such a fold counts as failed, is listed in
    ``info["failed_folds"]``, and the candidate ranks after every candidate
    scored on all folds). ``params`` are normalised to JSON types on creation,
    so a numpy ``5`` is recorded as the number 5, never the string ``"5"``.
    """

    index: int
    algorithm: str
    params: Dict[str, Any] = field(default_factory=dict)
    steps: List[str] = field(default_factory=list)
    fold_scores: List[Optional[float]] = field(default_factory=list)
    fit_time_s: Optional[float] = None
    info: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        scores: List[Optional[float]] = []
        failed = []
        for k, v in enumerate(self.fold_scores):
            f = None if v is None else float(v)
            if f is not None and not math.isfinite(f):
                failed.append(k)
                f = None
            scores.append(f)
        info = jsonable(dict(self.info))
        if failed:
            info["failed_folds"] = sorted(set(info.get("failed_folds") or []) | set(failed))
        object.__setattr__(self, "fold_scores", scores)
        object.__setattr__(self, "params", jsonable(dict(self.params)))
        object.__setattr__(self, "steps", [str(x) for x in self.steps])
        object.__setattr__(self, "info", info)

    @property
    def complete(self) -> bool:
        """Scored on every fold (no fold missing or failed)."""
        return bool(self.fold_scores) and all(s is not None for s in self.fold_scores)

    @property
    def cv_score(self) -> Optional[float]:
        vals = [s for s in self.fold_scores if s is not None]
        return sum(vals) / len(vals) if vals else None

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        d["cv_score"] = self.cv_score
        return json.loads(canonical_json(d))

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Candidate":
        d = {k: v for k, v in d.items() if k != "cv_score"}
        return cls(**d)


def candidates_identity(cands: List[Candidate]) -> List[Tuple[str, str]]:
    """What two runs must share to have proposed the same candidate sequence."""
    return [(c.algorithm, canonical_json(c.params)) for c in cands]
