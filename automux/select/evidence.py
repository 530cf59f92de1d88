"""Measured evidence from local benchmark results (AMLB-format results.csv files).

Nearest-neighbour evidence over profiles: the ``K_NEIGHBOURS`` benchmark datasets
closest to the problem (same kind of task: classification or regression; distance
over log rows, log features, categorical share, missing share and binary / multiclass,
see :func:`profile_distance`) each give every backend that ran on them its mean
*normalised score* there (within each fold x seed x constraint: 1 = the best backend,
0 = the worst, a failed cell 0). The distance-weighted mean over the neighbours,
``s`` in [0, 1], becomes ``EVIDENCE_WEIGHT * (2 s - 1)`` soft-rule points, with the
figures and the neighbours in the reason. With fewer than ``THIN_EVIDENCE``
neighbours that ran the backend, the reason says the evidence is thin.

``K_NEIGHBOURS`` and ``EVIDENCE_WEIGHT`` were fitted on the committed benchmark
results by leave-one-dataset-out regret (``benchmarks/selector/regret.py
--calibrate``; see ``benchmarks/selector/regret.md`` for the figures). ``result`` is
read as higher-is-better, as AMLB writes it.
"""
from __future__ import annotations

import csv
import glob
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .profile import Profile, profile

ROWS_FACTOR = 10.0
#: Points for a backend that was the best on every neighbour; the worst everywhere gets the negative.
EVIDENCE_WEIGHT = 1.0
MAX_POINTS = EVIDENCE_WEIGHT  # the former name
#: How many nearest benchmark datasets are evidence.
K_NEIGHBOURS = 8
#: Fewer neighbours than this that ran a backend: its reason says the evidence is thin.
THIN_EVIDENCE = 3
RESULTS_ENV = "AUTOMUX_BENCH_RESULTS"


def default_result_files() -> List[str]:
    """``$AUTOMUX_BENCH_RESULTS`` (files or dirs, os.pathsep-separated), else ./benchmarks/results."""
    roots = os.environ.get(RESULTS_ENV, "").split(os.pathsep) if os.environ.get(RESULTS_ENV) else \
        ["benchmarks/results"]
    files: List[str] = []
    for root in roots:
        if os.path.isfile(root):
            files.append(root)
        elif os.path.isdir(root):
            files.extend(sorted(glob.glob(os.path.join(root, "**", "results.csv"), recursive=True)))
    return files


def dataset_of(row: Dict[str, str]) -> str:
    """The loadable source of a results row: AMLB's ``id`` (automux writes the source there), else ``task``."""
    return row.get("id") or row.get("task") or ""


def _suite_datasets(results_csv: str) -> Dict[str, Tuple[Any, ...]]:
    """source -> (target, task, drop, drop_missing_target) from the ``suite.json`` that ``automux bench`` writes beside results.csv."""
    import json

    path = Path(results_csv).with_name("suite.json")
    if not path.exists():
        return {}
    try:
        datasets = json.loads(path.read_text(encoding="utf-8")).get("datasets", [])
    except ValueError:
        return {}
    out = {}
    for d in datasets:
        if d.get("source"):
            out[d["source"]] = (d.get("target"), d.get("task"), tuple(d.get("drop") or ()),
                                bool(d.get("drop_missing_target")))
    return out


def read_rows(files: Sequence[str]) -> List[Dict[str, str]]:
    """Every results row; ``_target`` / ``_task`` added from the suite file where there is one."""
    rows: List[Dict[str, str]] = []
    for f in files:
        suite = _suite_datasets(f)
        with open(f, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                target, task, drop, dmt = suite.get(dataset_of(row), (None, None, (), False))
                row["_target"], row["_task"] = target or "", task or ""
                row["_drop"], row["_dmt"] = "\t".join(drop), "1" if dmt else ""
                rows.append(row)
    return rows


@lru_cache(maxsize=256)
def dataset_profile(name: str, target: Optional[str] = None, task: Optional[str] = None,
                    drop: Tuple[str, ...] = (), drop_missing_target: bool = False) -> Optional[Profile]:
    """The profile of a benchmark dataset by its source name, or None if it cannot be loaded here.

    ``drop`` / ``drop_missing_target`` are the suite's (ids removed, rows without a target dropped).
    """
    try:
        if not drop and not drop_missing_target:
            return profile(name, target or None, task=task or None)
        from ..core.contract.data import load_data

        ds = load_data(name, target or None, task=task or None, drop=list(drop) or None,
                       drop_missing_target=drop_missing_target, fingerprint=False)
        frame = ds.X.assign(**{ds.target: ds.y})
        return profile(frame, ds.target, task=ds.task)
    except Exception:
        return None


def profile_of_rows(rows: List[Dict[str, str]], name: str) -> Optional[Profile]:
    """The profile of dataset ``name`` using the target / task (and drops) its rows carry."""
    row = next((r for r in rows if dataset_of(r) == name), {})
    drop = tuple(c for c in (row.get("_drop") or "").split("\t") if c)
    return dataset_profile(name, row.get("_target") or None, row.get("_task") or None, drop,
                           bool(row.get("_dmt")))


def similar(a: Profile, b: Profile) -> bool:
    same_kind = (a.task == "regression") == (b.task == "regression")
    return same_kind and 1 / ROWS_FACTOR <= max(a.rows, 1) / max(b.rows, 1) <= ROWS_FACTOR


def mean_ranks(rows: List[Dict[str, str]], datasets: Sequence[str]) -> Tuple[Dict[str, float], int]:
    """Mean rank per framework over ``datasets`` (rank 1 = best; averaged over folds and seeds)."""
    ranks: Dict[str, List[float]] = {}
    for ds in datasets:
        groups: Dict[Tuple[str, str, str], Dict[str, float]] = {}
        for r in rows:
            if dataset_of(r) != ds:
                continue
            key = (r.get("fold", ""), r.get("seed", ""), r.get("constraint", ""))
            try:
                value = float(r.get("result") or "nan")
            except ValueError:
                value = float("nan")
            groups.setdefault(key, {})[r["framework"]] = value if not math.isnan(value) else -math.inf
        for scores in groups.values():
            ordered = sorted(scores, key=lambda fw: -scores[fw])
            for i, fw in enumerate(ordered):
                ranks.setdefault(fw, []).append(i + 1.0)
    return {fw: sum(v) / len(v) for fw, v in ranks.items()}, len(datasets)


def profile_distance(a: Profile, b: Profile) -> float:
    """How far apart two problems are; ``inf`` between classification and regression.

    Sum of: |log10 rows| difference, half the |log10 (features + 1)| difference, the
    categorical-share difference, twice the missing-share difference, and 0.5 between
    binary and multiclass.
    """
    if (a.task == "regression") != (b.task == "regression"):
        return math.inf

    def cat_share(p: Profile) -> float:
        return p.categorical / max(p.features, 1)

    d = abs(math.log10(max(a.rows, 1)) - math.log10(max(b.rows, 1)))
    d += 0.5 * abs(math.log10(a.features + 1) - math.log10(b.features + 1))
    d += abs(cat_share(a) - cat_share(b)) + 2.0 * abs(a.missing_share - b.missing_share)
    d += 0.5 * float((a.task == "multiclass") != (b.task == "multiclass"))
    return d


def normalised_scores(rows: List[Dict[str, str]], dataset: str,
                      constraint: Optional[str] = None) -> Dict[str, float]:
    """Per framework, its mean normalised score on ``dataset`` (1 = best, 0 = worst or failed).

    Normalised within each (fold, seed, constraint) instance with 2+ frameworks; an
    instance where all finished frameworks tie gives each of them 0.5 (1.0 when alone).
    ``constraint`` restricts to that constraint's instances.
    """
    groups: Dict[Tuple[str, str, str], Dict[str, float]] = {}
    for r in rows:
        if dataset_of(r) != dataset or (constraint is not None and r.get("constraint") != constraint):
            continue
        try:
            value = float(r.get("result") or "nan")
        except ValueError:
            value = float("nan")
        if r.get("status") not in (None, "", "ok"):
            value = float("nan")
        key = (r.get("fold", ""), r.get("seed", ""), r.get("constraint", ""))
        groups.setdefault(key, {}).setdefault(r["framework"], []).append(value)  # type: ignore[arg-type]
    acc: Dict[str, List[float]] = {}
    for scores in groups.values():
        if len(scores) < 2:
            continue
        mean = {fw: (sum(v for v in vs if not math.isnan(v)) / len([v for v in vs if not math.isnan(v)])
                     if any(not math.isnan(v) for v in vs) else math.nan) for fw, vs in scores.items()}
        finite = [v for v in mean.values() if not math.isnan(v)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
        for fw, v in mean.items():
            if math.isnan(v):
                n = 0.0
            elif hi > lo:
                n = (v - lo) / (hi - lo)
            else:
                n = 0.5 if len(finite) > 1 else 1.0
            acc.setdefault(fw, []).append(n)
    return {fw: sum(v) / len(v) for fw, v in acc.items()}


@lru_cache(maxsize=8)
def _table(files: Tuple[str, ...]) -> Tuple[List[Dict[str, str]], Dict[str, Dict[str, float]]]:
    """(rows, dataset -> framework -> mean normalised score), read once per set of files."""
    rows = read_rows(files)
    names = sorted({dataset_of(r) for r in rows if dataset_of(r)})
    return rows, {n: normalised_scores(rows, n) for n in names}


def neighbours(p: Profile, files: Sequence[str], exclude_datasets: Sequence[str] = (),
               k: Optional[int] = None) -> List[Tuple[str, float]]:
    """The ``k`` benchmark datasets nearest to ``p`` (name, distance), nearest first."""
    rows, table = _table(tuple(files))
    k = K_NEIGHBOURS if k is None else k
    cands = []
    for name in sorted(set(table) - set(exclude_datasets)):
        dp = profile_of_rows(rows, name)
        if dp is None or not table[name]:
            continue
        d = profile_distance(p, dp)
        if math.isfinite(d):
            cands.append((name, d))
    cands.sort(key=lambda x: (x[1], x[0]))
    return cands[:k]


def evidence_points(p: Profile, files: Optional[Sequence[str]] = None,
                    exclude_datasets: Sequence[str] = (), *, k: Optional[int] = None,
                    weight: Optional[float] = None) -> Dict[str, Tuple[float, str]]:
    """Points and a reason per backend from the benchmark datasets nearest to ``p``.

    ``k`` and ``weight`` default to :data:`K_NEIGHBOURS` and :data:`EVIDENCE_WEIGHT`.
    """
    files = default_result_files() if files is None else list(files)
    if not files:
        return {}
    weight = EVIDENCE_WEIGHT if weight is None else weight
    _, table = _table(tuple(files))
    near = neighbours(p, files, exclude_datasets, k)
    if not near:
        return {}
    sums: Dict[str, float] = {}
    wsum: Dict[str, float] = {}
    seen: Dict[str, List[str]] = {}
    for name, d in near:
        w = 1.0 / (1.0 + d)
        for fw, s in table[name].items():
            sums[fw] = sums.get(fw, 0.0) + w * s
            wsum[fw] = wsum.get(fw, 0.0) + w
            seen.setdefault(fw, []).append(name)
    out = {}
    for fw in sums:
        s = sums[fw] / wsum[fw]
        n = len(seen[fw])
        names = ", ".join(Path(c).name for c in seen[fw][:4]) + (", ..." if n > 4 else "")
        why = (f"measured: normalised score {s:.2f} (1 = best of the backends benchmarked there) on the {n} "
               f"nearest benchmark dataset{'s' if n > 1 else ''} ({names})")
        if n < THIN_EVIDENCE:
            why += f"; thin evidence: fewer than {THIN_EVIDENCE} comparable datasets ran it"
        out[fw] = (weight * (2.0 * s - 1.0), why)
    return out
