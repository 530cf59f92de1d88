"""The immutable experiment spec, its id, and the candidate a backend proposes."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .budget import Budget

SPEC_SCHEMA = 1


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces: the form every hash in automux is taken over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


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
    (``None`` where the backend did not report that fold).
    """

    index: int
    algorithm: str
    params: Dict[str, Any] = field(default_factory=dict)
    steps: List[str] = field(default_factory=list)
    fold_scores: List[Optional[float]] = field(default_factory=list)
    fit_time_s: Optional[float] = None
    info: Dict[str, Any] = field(default_factory=dict)

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
