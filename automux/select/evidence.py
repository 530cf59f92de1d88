"""Measured evidence from local benchmark results (AMLB-format results.csv files).

For datasets whose profile is similar to the problem's (same task, rows within
``ROWS_FACTOR`` either way), each backend's mean rank per dataset is turned into
soft-rule points with the figures in the reason. ``result`` is read as
higher-is-better, as AMLB writes it; a failed cell ranks last.
"""
from __future__ import annotations

import csv
import glob
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .profile import Profile, profile

ROWS_FACTOR = 10.0
#: Points for the best possible mean rank; the worst gets the negative.
MAX_POINTS = 2.0
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


def _suite_datasets(results_csv: str) -> Dict[str, Tuple[Optional[str], Optional[str]]]:
    """source -> (target, task) from the ``suite.json`` that ``automux bench`` writes beside results.csv."""
    import json

    path = Path(results_csv).with_name("suite.json")
    if not path.exists():
        return {}
    try:
        datasets = json.loads(path.read_text(encoding="utf-8")).get("datasets", [])
    except ValueError:
        return {}
    return {d["source"]: (d.get("target"), d.get("task")) for d in datasets if d.get("source")}


def read_rows(files: Sequence[str]) -> List[Dict[str, str]]:
    """Every results row; ``_target`` / ``_task`` added from the suite file where there is one."""
    rows: List[Dict[str, str]] = []
    for f in files:
        suite = _suite_datasets(f)
        with open(f, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                target, task = suite.get(dataset_of(row), (None, None))
                row["_target"], row["_task"] = target or "", task or ""
                rows.append(row)
    return rows


@lru_cache(maxsize=64)
def dataset_profile(name: str, target: Optional[str] = None, task: Optional[str] = None) -> Optional[Profile]:
    """The profile of a benchmark dataset by its source name, or None if it cannot be loaded here."""
    try:
        return profile(name, target or None, task=task or None)
    except Exception:
        return None


def profile_of_rows(rows: List[Dict[str, str]], name: str) -> Optional[Profile]:
    """The profile of dataset ``name`` using the target / task its rows carry."""
    row = next((r for r in rows if dataset_of(r) == name), {})
    return dataset_profile(name, row.get("_target") or None, row.get("_task") or None)


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


def evidence_points(p: Profile, files: Optional[Sequence[str]] = None,
                    exclude_datasets: Sequence[str] = ()) -> Dict[str, Tuple[float, str]]:
    """Points and a reason per backend from benchmark datasets similar to ``p``."""
    files = default_result_files() if files is None else list(files)
    rows = read_rows(files)
    if not rows:
        return {}
    names = sorted({dataset_of(r) for r in rows if dataset_of(r)} - set(exclude_datasets))
    close = [n for n in names if (dp := profile_of_rows(rows, n)) is not None and similar(p, dp)]
    if not close:
        return {}
    ranks, n = mean_ranks(rows, close)
    k = max(len(ranks), 2)
    mid = (k + 1) / 2
    out = {}
    for fw, r in ranks.items():
        points = MAX_POINTS * (mid - r) / (mid - 1)
        out[fw] = (points, f"measured: mean rank {r:.2f} of {k} on {n} similar benchmark dataset"
                           f"{'s' if n > 1 else ''} ({', '.join(Path(c).name for c in close[:4])})")
    return out
