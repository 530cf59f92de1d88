"""The split: a fixed hold-out plus k CV folds over the rest, with a fingerprint.

Derived from the split seed (stratified for classification) or given by the user.
Shuffling uses a splitmix64 hash of (seed, row) rather than numpy's generators, so
the same seed gives the same split under any numpy version in any env.
The hold-out rows never reach a backend: the worker only gets ``train`` rows.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError, SpecError

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
        return z ^ (z >> np.uint64(31))


def stable_permutation(idx: np.ndarray, seed: int, salt: int = 0) -> np.ndarray:
    """``idx`` reordered by a hash of (seed, salt, index): version-independent."""
    idx = np.asarray(idx, dtype=np.int64)
    with np.errstate(over="ignore"):
        key = _splitmix64(idx.astype(np.uint64) ^ _splitmix64(np.array([seed * 1000003 + salt], dtype=np.uint64)))
    return idx[np.argsort(key, kind="mergesort")]


@dataclass(frozen=True)
class Split:
    """Row indices into the full dataset.

    Invariants: ``holdout`` and ``train`` are disjoint, sorted and cover every row;
    ``folds`` are validation sets given as positions into ``train`` (not row ids),
    disjoint and covering every train position.
    """

    holdout: Tuple[int, ...]
    train: Tuple[int, ...]
    folds: Tuple[Tuple[int, ...], ...]
    method: str = "seeded"

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    def fold_pairs(self) -> List[Tuple[np.ndarray, np.ndarray]]:
        """(fit positions, validation positions) per fold, positions into ``train``."""
        n = len(self.train)
        out = []
        for valid in self.folds:
            v = np.asarray(valid, dtype=np.int64)
            mask = np.ones(n, dtype=bool)
            mask[v] = False
            out.append((np.flatnonzero(mask), v))
        return out

    def fold_ids(self) -> np.ndarray:
        """For each train position, the fold it validates in (0..k-1)."""
        ids = np.empty(len(self.train), dtype=np.int64)
        for k, valid in enumerate(self.folds):
            ids[np.asarray(valid, dtype=np.int64)] = k
        return ids

    def to_json(self) -> Dict[str, Any]:
        return {"method": self.method, "holdout": list(self.holdout), "train": list(self.train),
                "folds": [list(f) for f in self.folds]}

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Split":
        return cls(holdout=tuple(d["holdout"]), train=tuple(d["train"]),
                   folds=tuple(tuple(f) for f in d["folds"]), method=d.get("method", "seeded"))

    @property
    def fingerprint(self) -> str:
        body = json.dumps({"holdout": list(self.holdout), "folds": [list(f) for f in self.folds],
                           "train": list(self.train)}, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


def _assign_folds(positions: np.ndarray, k: int, offset: int) -> List[List[int]]:
    folds: List[List[int]] = [[] for _ in range(k)]
    for i, p in enumerate(positions):
        folds[(i + offset) % k].append(int(p))
    return folds


def make_split(y: np.ndarray, task: str, seed: int, n_folds: int = 5, test_size: float = 0.25) -> Split:
    """A seeded hold-out plus ``n_folds`` folds, stratified for classification.

    Raises:
        SpecError: bad ``n_folds`` / ``test_size``.
        DataError: a class has fewer train rows than folds.
    """
    if not isinstance(n_folds, int) or n_folds < 2:
        raise SpecError(f"--folds {n_folds}: need at least 2 folds")
    if not (0.0 < test_size < 1.0):
        raise SpecError(f"--test-size {test_size}: the hold-out share must be between 0 and 1")
    n = len(y)
    y = np.asarray(y)
    if task == "regression":
        groups = [np.arange(n)]
    else:
        groups = [np.flatnonzero(y == c) for c in np.unique(y)]
    holdout: List[int] = []
    train_by_group: List[np.ndarray] = []
    for g, idx in enumerate(groups):
        perm = stable_permutation(idx, seed, salt=g)
        n_test = int(round(test_size * len(idx)))
        n_test = min(max(n_test, 1), len(idx) - 1) if len(idx) > 1 else 0
        holdout.extend(perm[:n_test].tolist())
        train_by_group.append(perm[n_test:])
    if task != "regression":
        small = [(int(c), len(t)) for c, t in zip(np.unique(y), train_by_group) if len(t) < n_folds]
        if small:
            desc = ", ".join(f"class {c}: {m} rows" for c, m in small)
            raise DataError(f"fewer rows per class than folds after the hold-out ({desc}, {n_folds} folds): "
                            "use fewer --folds, a smaller --test-size, or more data")
    elif n - len(holdout) < n_folds * 2:
        raise DataError(f"only {n - len(holdout)} training rows for {n_folds} folds: use fewer --folds or more data")
    train = np.sort(np.concatenate(train_by_group))
    pos_of = {int(r): i for i, r in enumerate(train)}
    folds: List[List[int]] = [[] for _ in range(n_folds)]
    offset = 0
    for t in train_by_group:
        for k, members in enumerate(_assign_folds(np.array([pos_of[int(r)] for r in t]), n_folds, offset)):
            folds[k].extend(members)
        offset += len(t)
    return Split(holdout=tuple(sorted(holdout)), train=tuple(int(i) for i in train),
                 folds=tuple(tuple(sorted(f)) for f in folds), method="seeded")


def given_split(n_rows: int, holdout: Sequence[int], folds: Sequence[Sequence[int]]) -> Split:
    """A user-given split: hold-out row ids and validation row ids per fold.

    Every non-hold-out row must be in exactly one fold (group / time splits welcome).
    """
    hold = sorted(int(i) for i in holdout)
    hold_set = set(hold)
    train = [i for i in range(n_rows) if i not in hold_set]
    pos_of = {r: i for i, r in enumerate(train)}
    seen: Dict[int, int] = {}
    out = []
    if len(folds) < 2:
        raise SpecError("a given split needs at least 2 folds")
    for k, f in enumerate(folds):
        members = []
        for r in f:
            r = int(r)
            if r not in pos_of:
                raise SpecError(f"fold {k} names row {r}, which is in the hold-out or out of range")
            if r in seen:
                raise SpecError(f"row {r} is in folds {seen[r]} and {k}: folds must be disjoint")
            seen[r] = k
            members.append(pos_of[r])
        out.append(tuple(sorted(members)))
    missing = len(train) - len(seen)
    if missing:
        raise SpecError(f"{missing} training rows are in no fold: every non-hold-out row needs one")
    return Split(holdout=tuple(hold), train=tuple(train), folds=tuple(out), method="given")


def split_from_options(y: np.ndarray, task: str, seed: int, n_folds: int, test_size: float,
                       given: Optional[Dict[str, Any]] = None) -> Split:
    if given is not None:
        return given_split(len(y), given["holdout"], given["folds"])
    return make_split(y, task, seed, n_folds=n_folds, test_size=test_size)
