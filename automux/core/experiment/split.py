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


def _json_ints(a: np.ndarray) -> bytes:
    """``json.dumps(a.tolist(), separators=(",", ":"))`` as bytes.

    Sorted non-negative arrays (every index array here) are written with numpy, one
    block per digit count; anything else falls back to ``json.dumps``.
    """
    a = np.asarray(a, dtype=np.int64)
    if len(a) == 0:
        return b"[]"
    if a[0] < 0 or (len(a) > 1 and bool((np.diff(a) < 0).any())):
        return json.dumps(a.tolist(), separators=(",", ":")).encode()
    parts = [b"["]
    lo, d, p = 0, 1, 10
    while lo < len(a):
        hi = int(np.searchsorted(a, p, side="left"))  # a[lo:hi] all have d digits
        if hi > lo:  # digits right to left, by division by 10 (uint32 where the values fit: faster)
            x = a[lo:hi].astype(np.uint64 if p > 2 ** 32 else np.uint32)
            block = np.empty((hi - lo, d + 1), dtype=np.uint8)
            block[:, d] = ord(",")
            for j in range(d - 1, -1, -1):
                q = x // 10
                block[:, j] = x - q * 10 + ord("0")
                x = q
            parts.append(block.tobytes())
        lo, d, p = hi, d + 1, p * 10
    parts[-1] = parts[-1][:-1]  # no comma after the last number
    parts.append(b"]")
    return b"".join(parts)


class Split:
    """Row indices into the full dataset, held as integer arrays.

    The one stored fact is ``fold_of_row``: per row of the dataset, ``-1`` (hold-out)
    or the fold that row validates in. ``holdout`` / ``train`` (sorted row ids) and
    ``folds`` (validation sets as positions into ``train``, sorted, disjoint, covering
    every train position) derive from it. The arrays (``holdout_idx``, ``train_idx``,
    ``fold_ids()``) are what automux itself uses; ``holdout`` / ``train`` / ``folds``
    are the same as tuples, built only when asked for. Immutable by convention.
    """

    def __init__(self, holdout: Sequence[int], train: Sequence[int], folds: Sequence[Sequence[int]],
                 method: str = "seeded") -> None:
        hold = np.asarray(holdout, dtype=np.int64).reshape(-1)
        train_arr = np.asarray(train, dtype=np.int64).reshape(-1)
        ids = np.full(len(hold) + len(train_arr), -1, dtype=np.int64)
        fold_ids = np.full(len(train_arr), -1, dtype=np.int64)
        for k, f in enumerate(folds):
            fold_ids[np.asarray(f, dtype=np.int64).reshape(-1)] = k
        ids[train_arr] = fold_ids
        self._init(ids, len(folds), method)

    def _init(self, fold_of_row: np.ndarray, n_folds: int, method: str) -> None:
        self._fold_of_row = fold_of_row
        self._fold_of_row.setflags(write=False)
        self._n_folds = int(n_folds)
        self.method = method
        self._cache: Dict[str, Any] = {}

    def _cached(self, key: str, make: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @classmethod
    def from_row_fold_ids(cls, ids: np.ndarray, n_folds: int, method: str = "seeded") -> "Split":
        """From ``fold_of_row`` (``-1`` = hold-out, else the row's fold); the array is copied."""
        out = cls.__new__(cls)
        out._init(np.array(ids, dtype=np.int64), n_folds, method)
        return out

    @property
    def n_folds(self) -> int:
        return self._n_folds

    @property
    def n_rows(self) -> int:
        return len(self._fold_of_row)

    @property
    def train_idx(self) -> np.ndarray:
        """Sorted row ids of the training rows (int64, read-only)."""
        return self._cached("train_idx", lambda: _frozen(np.flatnonzero(self._fold_of_row >= 0)))

    @property
    def holdout_idx(self) -> np.ndarray:
        """Sorted row ids of the hold-out rows (int64, read-only)."""
        return self._cached("holdout_idx", lambda: _frozen(np.flatnonzero(self._fold_of_row < 0)))

    def fold_ids(self) -> np.ndarray:
        """For each train position, the fold it validates in (0..k-1)."""
        return self._fold_of_row[self.train_idx]

    def row_fold_ids(self) -> np.ndarray:
        """For each row of the dataset, ``-1`` (hold-out) or the fold it validates in."""
        return self._fold_of_row

    def fold_positions(self) -> List[np.ndarray]:
        """Validation positions into ``train`` per fold (sorted int64 arrays)."""
        def make() -> List[np.ndarray]:
            f = self.fold_ids()
            return [_frozen(np.flatnonzero(f == k)) for k in range(self._n_folds)]
        return self._cached("fold_positions", make)

    def fold_pairs(self) -> List[Tuple[np.ndarray, np.ndarray]]:
        """(fit positions, validation positions) per fold, positions into ``train``."""
        f = self.fold_ids()
        return [(np.flatnonzero(f != k), v) for k, v in enumerate(self.fold_positions())]

    @property
    def holdout(self) -> Tuple[int, ...]:
        return self._cached("holdout", lambda: tuple(self.holdout_idx.tolist()))

    @property
    def train(self) -> Tuple[int, ...]:
        return self._cached("train", lambda: tuple(self.train_idx.tolist()))

    @property
    def folds(self) -> Tuple[Tuple[int, ...], ...]:
        return self._cached("folds", lambda: tuple(tuple(v.tolist()) for v in self.fold_positions()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Split):
            return NotImplemented
        return (self.method == other.method and self._n_folds == other._n_folds
                and np.array_equal(self._fold_of_row, other._fold_of_row))

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return (f"Split(method={self.method!r}, rows={self.n_rows}, holdout={len(self.holdout_idx)}, "
                f"folds={self._n_folds}, fingerprint={self.fingerprint[:12]})")

    def to_json(self) -> Dict[str, Any]:
        """The compact ``fold-ids-v1`` form (see the module docstring)."""
        ids = self._fold_of_row
        k = self.n_folds
        dtype = "<i1" if k < 127 else ("<i2" if k < 32767 else "<i4")
        raw = np.ascontiguousarray(ids, dtype=dtype).tobytes()
        return {"format": "fold-ids-v1", "method": self.method, "n_rows": int(len(ids)), "n_folds": int(k),
                "fold_of_row": {"dtype": np.dtype(dtype).str, "encoding": "zlib+base64",
                                "data": base64.b64encode(zlib.compress(raw, 1)).decode("ascii")},
                "fingerprint": self.fingerprint}

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
        return cls(holdout=d["holdout"], train=d["train"], folds=d["folds"], method=d.get("method", "seeded"))

    @property
    def fingerprint(self) -> str:
        """sha256 of ``{"holdout":[...],"folds":[[...],...],"train":[...]}`` (compact JSON), computed once.

        The text is built from the index arrays with numpy (no Python ints), so it costs a
        few numpy passes per row; the value is the one older versions computed from tuples.
        """
        def make() -> str:
            h = hashlib.sha256(b'{"holdout":')
            h.update(_json_ints(self.holdout_idx))
            h.update(b',"folds":[')
            for k, v in enumerate(self.fold_positions()):
                h.update(b"," if k else b"")
                h.update(_json_ints(v))
            h.update(b'],"train":')
            h.update(_json_ints(self.train_idx))
            h.update(b"}")
            return h.hexdigest()
        return self._cached("fingerprint", make)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _labels(y: np.ndarray) -> np.ndarray:
    """``np.unique(y)``; for class codes (small non-negative ints) by counting, not sorting."""
    if y.dtype.kind in "iu" and len(y) and y.min() >= 0 and y.max() < 1 << 20:
        return np.flatnonzero(np.bincount(y)).astype(y.dtype)
    return np.unique(y)


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
        labels, groups = None, [np.arange(n)]
    else:
        labels = _labels(y)
        groups = [np.flatnonzero(y == c) for c in labels]  # sorted row ids per class
    fold_of_row = np.full(n, -1, dtype=np.int64)
    n_train = []
    offset = 0
    for g, idx in enumerate(groups):
        perm = stable_permutation(idx, seed, salt=g)
        n_test = int(round(test_size * len(idx)))
        n_test = min(max(n_test, 1), len(idx) - 1) if len(idx) > 1 else 0
        t = perm[n_test:]  # this group's train rows, in permuted order
        fold_of_row[t] = (np.arange(len(t)) + offset) % n_folds
        offset += len(t)
        n_train.append(len(t))
    if labels is not None:
        small = [(int(c), m) for c, m in zip(labels, n_train) if m < n_folds]
        if small:
            desc = ", ".join(f"class {c}: {m} rows" for c, m in small)
            raise DataError(f"fewer rows per class than folds after the hold-out ({desc}, {n_folds} folds): "
                            "use fewer --folds, a smaller --test-size, or more data")
    elif offset < n_folds * 2:
        raise DataError(f"only {offset} training rows for {n_folds} folds: use fewer --folds or more data")
    return Split.from_row_fold_ids(fold_of_row, n_folds, method="seeded")


def given_split(n_rows: int, holdout: Sequence[int], folds: Sequence[Sequence[int]]) -> Split:
    """A user-given split: hold-out row ids and validation row ids per fold.

    Every non-hold-out row must be in exactly one fold (group / time splits welcome).
    """
    fold_of_row = np.full(n_rows, -2, dtype=np.int64)  # -2: not yet placed
    hold = np.asarray([int(i) for i in holdout], dtype=np.int64)
    in_range = hold[(hold >= 0) & (hold < n_rows)]
    fold_of_row[in_range] = -1
    if len(folds) < 2:
        raise SpecError("a given split needs at least 2 folds")
    for k, f in enumerate(folds):
        rows = np.asarray([int(r) for r in f], dtype=np.int64)
        bad = rows[(rows < 0) | (rows >= n_rows)]
        if len(bad) == 0:
            here = fold_of_row[rows]
            bad = rows[here == -1]
        if len(bad):
            raise SpecError(f"fold {k} names row {int(bad[0])}, which is in the hold-out or out of range")
        taken = rows[here >= 0]
        if len(taken):
            raise SpecError(f"row {int(taken[0])} is in folds {int(fold_of_row[taken[0]])} and {k}: "
                            "folds must be disjoint")
        uniq, counts = np.unique(rows, return_counts=True)
        if (counts > 1).any():
            raise SpecError(f"row {int(uniq[counts > 1][0])} is in folds {k} and {k}: folds must be disjoint")
        fold_of_row[rows] = k
    missing = int((fold_of_row == -2).sum())
    if missing:
        raise SpecError(f"{missing} training rows are in no fold: every non-hold-out row needs one")
    return Split.from_row_fold_ids(fold_of_row, len(folds), method="given")


def split_from_options(y: np.ndarray, task: str, seed: int, n_folds: int, test_size: float,
                       given: Optional[Dict[str, Any]] = None) -> Split:
    if given is not None:
        return given_split(len(y), given["holdout"], given["folds"])
    return make_split(y, task, seed, n_folds=n_folds, test_size=test_size)
