"""The split: a fixed hold-out plus k CV folds over the rest, with a fingerprint.

Derived from the split seed (stratified for classification) or given by the user.
Shuffling uses a splitmix64 hash of (seed, row) rather than numpy's generators, so
the same seed gives the same split under any numpy version in any env.
The hold-out rows never reach a backend: the worker only gets ``train`` rows.

``split.json`` (format ``fold-ids-v1``) stores one small integer per row: ``-1`` for a
hold-out row, else the fold that row validates in; the array is int8 (int16 / int32 for
many folds) little-endian, zlib-compressed and base64-encoded. That array alone fixes
``holdout``, ``train`` (the other rows, sorted) and ``folds`` (positions into ``train``).
Files in the older format (JSON index lists) are still read. The split's fingerprint
is unchanged in meaning and value: sha256 of the canonical JSON of the index lists.
"""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass
from functools import cached_property
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
            ids[np.fromiter(valid, dtype=np.int64, count=len(valid))] = k
        return ids

    def row_fold_ids(self) -> np.ndarray:
        """For each row of the dataset, ``-1`` (hold-out) or the fold it validates in."""
        n = len(self.holdout) + len(self.train)
        out = np.full(n, -1, dtype=np.int64)
        out[self.train_idx] = self.fold_ids() if len(self.train) else 0
        return out

    def to_json(self) -> Dict[str, Any]:
        """The compact ``fold-ids-v1`` form (see the module docstring)."""
        ids = self.row_fold_ids()
        k = self.n_folds
        dtype = "<i1" if k < 127 else ("<i2" if k < 32767 else "<i4")
        raw = np.ascontiguousarray(ids, dtype=dtype).tobytes()
        return {"format": "fold-ids-v1", "method": self.method, "n_rows": int(len(ids)), "n_folds": int(k),
                "fold_of_row": {"dtype": np.dtype(dtype).str, "encoding": "zlib+base64",
                                "data": base64.b64encode(zlib.compress(raw, 6)).decode("ascii")},
                "fingerprint": self.fingerprint}

    @classmethod
    def from_row_fold_ids(cls, ids: np.ndarray, n_folds: int, method: str = "seeded") -> "Split":
        ids = np.asarray(ids, dtype=np.int64)
        hold = np.flatnonzero(ids < 0)
        train = np.flatnonzero(ids >= 0)
        fold_of_pos = ids[train]
        order = np.argsort(fold_of_pos, kind="stable")  # positions grouped by fold, sorted within
        bounds = np.searchsorted(fold_of_pos[order], np.arange(n_folds + 1))
        folds = tuple(tuple(order[bounds[k]:bounds[k + 1]].tolist()) for k in range(n_folds))
        return cls(holdout=tuple(hold.tolist()), train=tuple(train.tolist()), folds=folds, method=method)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Split":
        """Either format: ``fold-ids-v1`` or the older JSON index lists."""
        if d.get("format") == "fold-ids-v1":
            enc = d["fold_of_row"]
            if enc.get("encoding") != "zlib+base64":
                raise DataError(f"split.json: unknown encoding {enc.get('encoding')!r}")
            ids = np.frombuffer(zlib.decompress(base64.b64decode(enc["data"])), dtype=np.dtype(enc["dtype"]))
            if len(ids) != int(d["n_rows"]):
                raise DataError(f"split.json holds {len(ids)} rows, it says {d['n_rows']}: the file is damaged")
            return cls.from_row_fold_ids(ids, int(d["n_folds"]), method=d.get("method", "seeded"))
        return cls(holdout=tuple(d["holdout"]), train=tuple(d["train"]),
                   folds=tuple(tuple(f) for f in d["folds"]), method=d.get("method", "seeded"))

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of ``{"holdout":[...],"folds":[[...],...],"train":[...]}`` (compact JSON), computed once."""
        body = json.dumps({"holdout": self.holdout, "folds": self.folds, "train": self.train},
                          separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()

    @cached_property
    def train_idx(self) -> np.ndarray:
        """``train`` as an int64 array (computed once)."""
        return np.fromiter(self.train, dtype=np.int64, count=len(self.train))

    @cached_property
    def holdout_idx(self) -> np.ndarray:
        """``holdout`` as an int64 array (computed once)."""
        return np.fromiter(self.holdout, dtype=np.int64, count=len(self.holdout))


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
    holdout: List[int] = []  # row ids, extended group by group
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
    pos_of = np.full(n, -1, dtype=np.int64)
    pos_of[train] = np.arange(len(train))
    parts: List[List[np.ndarray]] = [[] for _ in range(n_folds)]
    offset = 0
    for t in train_by_group:
        pos = pos_of[t]  # train positions of these rows, in permuted order
        which = (np.arange(len(t)) + offset) % n_folds
        for k in range(n_folds):
            parts[k].append(pos[which == k])
        offset += len(t)
    folds = [np.sort(np.concatenate(p)) if p else np.empty(0, dtype=np.int64) for p in parts]
    return Split(holdout=tuple(np.sort(np.asarray(holdout, dtype=np.int64)).tolist()), train=tuple(train.tolist()),
                 folds=tuple(tuple(f.tolist()) for f in folds), method="seeded")


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
