"""Measured evidence from local benchmark results (AMLB-format results.csv files).

The evidence model, per backend ``b`` and problem profile ``p``:

* **normalised score** of a backend on a benchmark data set: within each
  (fold, seed, constraint) instance with two or more backends, 1 = the best backend
  there, 0 = the worst, a failed cell 0; averaged over the instances
  (:func:`normalised_scores`). A unit comparable across metrics.
* **prior** = ``b``'s mean normalised score over every benchmark data set it ran on.
  The prior alone picks what "always use the best fixed backend" picks.
* **neighbour deviation** = the mean, over those of the ``k`` benchmark data sets
  nearest to ``p`` that ran ``b``, of (its normalised score there - its prior),
  *shrunk* by ``n / (n + shrink)`` (``n`` = how many of those neighbours ran ``b``;
  ``shrink = inf`` = prior only). Neighbours are of the same kind (classification
  or regression); distance: Euclidean over the profile features :data:`FEATURES`,
  standardised on the benchmark data sets that are evidence.
* **estimate** = prior + shrunk deviation, in normalised-score units.

``K_NEIGHBOURS`` and ``SHRINK`` (and the selector's soft-rule weights, see
:mod:`automux.select.selector`) are fitted on the committed benchmark results by
leave-one-dataset-out regret (one-standard-error rule; the honest figure for that
procedure is nested): ``benchmarks/selector/regret.py --calibrate``
(figures in ``benchmarks/selector/regret.md``). With fewer than :data:`THIN_EVIDENCE`
data sets behind a figure (benchmark data sets for the prior, neighbours for the
deviation) the reason says the evidence is thin. ``result`` is read as
higher-is-better, as AMLB writes it.
"""
from __future__ import annotations

import csv
import glob
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .profile import Profile, profile

#: How many nearest benchmark data sets give the neighbour deviation (fitted; see the module doc).
K_NEIGHBOURS = 40
#: Shrinkage of the neighbour deviation: it is weighted n / (n + SHRINK); inf = prior only (fitted).
#: Fitted by nested leave-one-data-set-out regret on the 36-data-set 60 s grid of all eight backends
#: (benchmarks/selector/regret.md): the prior alone; the neighbours were measured not to help.
SHRINK = math.inf
#: Fewer data sets than this behind a prior or a deviation: the reason says the evidence is thin.
THIN_EVIDENCE = 3
#: The estimate of a backend no benchmark data set ran: the middle of the normalised scale.
NEUTRAL_PRIOR = 0.5
#: The profile features of the distance (standardised on the benchmark data sets that are evidence).
FEATURES = ("log10 rows", "log10 features", "categorical share", "missing share", "log2 classes")
RESULTS_ENV = "AUTOMUX_BENCH_RESULTS"


#: The evidence shipped inside the package (``benchmarks/selector/pack_evidence.py`` writes it from the
#: committed results): what the selector uses when there are no local results, wherever it is run from.
PACKAGED_EVIDENCE = Path(__file__).with_name("evidence.json")


def default_result_files_under(root: str) -> List[str]:
    """Every ``results.csv`` under directory ``root``, sorted."""
    return sorted(glob.glob(os.path.join(root, "**", "results.csv"), recursive=True))


def default_result_files() -> List[str]:
    """``$AUTOMUX_BENCH_RESULTS`` (files or dirs, os.pathsep-separated), else ./benchmarks/results.

    Empty when neither holds a results.csv: :func:`estimates_for` then uses :data:`PACKAGED_EVIDENCE`.
    """
    roots = os.environ.get(RESULTS_ENV, "").split(os.pathsep) if os.environ.get(RESULTS_ENV) else \
        ["benchmarks/results"]
    files: List[str] = []
    for root in roots:
        if os.path.isfile(root):
            files.append(root)
        elif os.path.isdir(root):
            files.extend(default_result_files_under(root))
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
    """Every backend's results row; ``_target`` / ``_task`` added from the suite file where there is one.

    The bench's ``ensemble`` rows are left out: an ensemble is built over backends' runs, it is
    not a backend the selector can choose.
    """
    rows: List[Dict[str, str]] = []
    for f in files:
        suite = _suite_datasets(f)
        with open(f, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("framework") == "ensemble":
                    continue
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
        from ..core.experiment.data import load_data

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


def profile_features(p: Profile) -> np.ndarray:
    """The raw (unstandardised) :data:`FEATURES` of a profile."""
    return np.array([
        math.log10(max(p.rows, 1)), math.log10(p.features + 1), p.categorical / max(p.features, 1),
        p.missing_share, 0.0 if p.task == "regression" else math.log2(max(p.classes, 2))])


def same_kind(a: Profile, b: Profile) -> bool:
    """Both regression, or both classification: only those are comparable as neighbours."""
    return (a.task == "regression") == (b.task == "regression")


def profile_distance(a: Profile, b: Profile, scale: Optional[np.ndarray] = None) -> float:
    """Euclidean distance over :data:`FEATURES` divided by ``scale`` (default 1 each); ``inf`` between kinds."""
    if not same_kind(a, b):
        return math.inf
    scale = np.ones(len(FEATURES)) if scale is None else scale
    return float(np.sqrt((((profile_features(a) - profile_features(b)) / scale) ** 2).sum()))


def normalised_scores(rows: List[Dict[str, str]], dataset: str,
                      constraint: Optional[str] = None) -> Dict[str, float]:
    """Per framework, its mean normalised score on ``dataset`` (1 = best, 0 = worst or failed).

    Normalised within each (fold, seed, constraint) instance with 2+ frameworks; an
    instance where all finished frameworks tie gives each of them 0.5 (1.0 when alone).
    ``constraint`` restricts to that constraint's instances.
    """
    groups: Dict[Tuple[str, str, str], Dict[str, List[float]]] = {}
    for r in rows:
        if dataset_of(r) != dataset or (constraint is not None and r.get("constraint") != constraint):
            continue
        try:
            value = float(r.get("result") or "nan")
        except ValueError:
            value = float("nan")
        if r.get("status") not in (None, "", "ok"):
            value = float("nan")
        key = (str(r.get("fold", "")), str(r.get("seed", "")), str(r.get("constraint", "")))
        groups.setdefault(key, {}).setdefault(r["framework"], []).append(value)
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


@dataclass
class EvidenceTable:
    """The benchmark data sets that can be profiled here: raw features ``X`` (N x F) and
    mean normalised scores ``S`` (N x B; NaN where a backend did not run)."""

    datasets: List[str]
    backends: List[str]
    X: np.ndarray
    S: np.ndarray
    regression: np.ndarray  # bool per data set
    unprofiled: List[str] = field(default_factory=list)

    @classmethod
    def from_scores(cls, scores: Dict[str, Dict[str, float]], profiles: Dict[str, Profile],
                    unprofiled: Sequence[str] = ()) -> "EvidenceTable":
        names = sorted(n for n in scores if n in profiles and scores[n])
        backends = sorted({fw for n in names for fw in scores[n]})
        X = np.array([profile_features(profiles[n]) for n in names]).reshape(len(names), len(FEATURES))
        S = np.array([[scores[n].get(fw, np.nan) for fw in backends] for n in names]).reshape(len(names), len(backends))
        reg = np.array([profiles[n].task == "regression" for n in names], dtype=bool)
        return cls(names, backends, X, S, reg, list(unprofiled))

    def mask(self, exclude: Sequence[str] = ()) -> np.ndarray:
        ex = set(exclude)
        return np.array([n not in ex for n in self.datasets], dtype=bool)


@lru_cache(maxsize=8)
def evidence_table(files: Tuple[str, ...]) -> EvidenceTable:
    """The table of ``files``, read and profiled once per set of files."""
    rows = read_rows(files)
    names = sorted({dataset_of(r) for r in rows if dataset_of(r)})
    scores = {n: normalised_scores(rows, n) for n in names}
    profiles, unprofiled = {}, []
    shipped = packaged_profiles()
    for n in names:
        p = shipped.get(n) or profile_of_rows(rows, n)  # loading and profiling a data set takes seconds
        if p is None:
            unprofiled.append(n)
        else:
            profiles[n] = p
    return EvidenceTable.from_scores(scores, profiles, unprofiled)


@dataclass(frozen=True)
class Estimate:
    """One backend's evidence: ``score`` = ``prior`` + ``deviation`` (already shrunk)."""

    backend: str
    score: float
    prior: float
    prior_datasets: int
    deviation: float
    shrink_factor: float
    neighbours: Tuple[Tuple[str, float, float], ...]  # (dataset, distance, its normalised score there)
    raw_deviation: float = 0.0  # the neighbours' mean minus the prior, before shrinking

    @property
    def thin(self) -> bool:
        return self.prior_datasets < THIN_EVIDENCE or len(self.neighbours) < THIN_EVIDENCE

    def reasons(self) -> List[Tuple[float, str]]:
        """``(points, reason)`` pairs that sum to ``score``: the prior, then the neighbour deviation."""
        if self.prior_datasets == 0:
            return [(self.score, f"no benchmark data set ran it: neutral prior {NEUTRAL_PRIOR:.2f}; "
                                 "thin evidence")]
        why = (f"prior: mean normalised score {self.prior:.3f} (1 = best of the backends benchmarked there) over "
               f"{self.prior_datasets} benchmark data set{'s' if self.prior_datasets != 1 else ''}")
        if self.prior_datasets < THIN_EVIDENCE:
            why += f"; thin evidence: fewer than {THIN_EVIDENCE} data sets ran it"
        out = [(self.prior, why)]
        if not self.neighbours:
            out.append((0.0, "neighbours: no comparable benchmark data set ran it; thin evidence: the prior alone"))
            return out
        names = ", ".join(f"{Path(n).name} {s:.2f}" for n, _, s in self.neighbours)
        why = (f"neighbours: on the {len(self.neighbours)} nearest benchmark data sets of the same kind that ran it "
               f"({names}) it scores {self.raw_deviation:+.3f} against its prior, shrunk x{self.shrink_factor:.2f}")
        if self.shrink_factor == 0:
            why += " (SHRINK = inf: neighbour deviations measured not to lower regret, so the prior decides)"
        if len(self.neighbours) < THIN_EVIDENCE:
            why += f"; thin evidence: fewer than {THIN_EVIDENCE} comparable data sets ran it"
        out.append((self.deviation, why))
        return out


def estimate(table: EvidenceTable, x: np.ndarray, regression: bool, train: Optional[np.ndarray] = None, *,
             k: Optional[int] = None, shrink: Optional[float] = None) -> Dict[str, Estimate]:
    """Per backend in ``table``, its :class:`Estimate` for a problem with raw features ``x``.

    ``regression`` is the problem's kind (neighbours are of the same kind); ``train`` (bool
    per table row) says which benchmark data sets are evidence; ``k`` / ``shrink`` default
    to :data:`K_NEIGHBOURS` / :data:`SHRINK`.
    """
    k = K_NEIGHBOURS if k is None else k
    shrink = SHRINK if shrink is None else shrink
    train = np.ones(len(table.datasets), dtype=bool) if train is None else train
    idx = np.flatnonzero(train)
    if not len(idx):
        return {}
    X, S = table.X[idx], table.S[idx]
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    dist = np.sqrt((((X - x) / scale) ** 2).sum(axis=1))
    dist[table.regression[idx] != regression] = np.inf
    order = [i for i in np.lexsort((np.array([table.datasets[i] for i in idx]), dist))
             if np.isfinite(dist[i])][:max(k, 0)]
    out = {}
    for j, fw in enumerate(table.backends):
        ran = ~np.isnan(S[:, j])
        n_prior = int(ran.sum())
        if not n_prior:
            out[fw] = Estimate(fw, NEUTRAL_PRIOR, NEUTRAL_PRIOR, 0, 0.0, 0.0, ())
            continue
        prior = float(S[ran, j].mean())
        near = [i for i in order if ran[i]]
        n = len(near)
        factor = 0.0 if (not n or math.isinf(shrink)) else n / (n + shrink)
        raw = float(np.mean(S[near, j]) - prior) if n else 0.0
        nb = tuple((table.datasets[idx[i]], float(dist[i]), float(S[i, j])) for i in near)
        out[fw] = Estimate(fw, prior + raw * factor, prior, n_prior, raw * factor, factor, nb, raw)
    return out


def pack(files: Sequence[str]) -> Dict[str, Any]:
    """The evidence of ``files`` as JSON: per data set its profile and each backend's mean normalised score,
    pooled (``scores``) and per bench constraint (``by_constraint``, what :mod:`automux.select.strategy` reads)."""
    table = evidence_table(tuple(files))
    rows = read_rows(files)
    out = {}
    for name in table.datasets:
        prof = profile_of_rows(rows, name)
        scores = normalised_scores(rows, name)
        by_constraint = {c: normalised_scores(rows, name, c)
                         for c in sorted({r.get("constraint", "") for r in rows if dataset_of(r) == name})}
        out[name] = {"profile": prof.to_json() if prof else None,
                     "scores": {fw: (None if math.isnan(v) else round(v, 6)) for fw, v in sorted(scores.items())},
                     "by_constraint": {c: {fw: (None if math.isnan(v) else round(v, 6)) for fw, v in sorted(sc.items())}
                                       for c, sc in by_constraint.items() if sc}}
    return {"files": [str(Path(f)) for f in files], "datasets": out}


@lru_cache(maxsize=1)
def packaged_profiles() -> Dict[str, Profile]:
    """The profiles in the packaged evidence, by data set source: the same the suite's target and drops give."""
    import json

    try:
        packed = json.loads(PACKAGED_EVIDENCE.read_text(encoding="utf-8"))["datasets"]
    except (OSError, ValueError, KeyError):
        return {}
    return {n: Profile(**d["profile"]) for n, d in packed.items() if d.get("profile")}


@lru_cache(maxsize=2)
def packaged_table(path: str = str(PACKAGED_EVIDENCE)) -> EvidenceTable:
    """The :class:`EvidenceTable` of the evidence shipped in the package (empty when the file is absent)."""
    import json

    try:
        packed = json.loads(Path(path).read_text(encoding="utf-8"))["datasets"]
    except (OSError, ValueError, KeyError):
        return EvidenceTable.from_scores({}, {})
    scores = {n: {fw: (math.nan if v is None else float(v)) for fw, v in d["scores"].items()}
              for n, d in packed.items()}
    profiles = {n: Profile(**d["profile"]) for n, d in packed.items() if d.get("profile")}
    return EvidenceTable.from_scores(scores, profiles, [n for n in packed if n not in profiles])


def evidence_source(files: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Where the selector's evidence comes from: the given or local results files, else the packaged evidence."""
    given = files is not None
    files = list(files) if given else default_result_files()
    if files:
        return {"source": "results files", "files": [str(f) for f in files],
                "datasets": len(evidence_table(tuple(files)).datasets)}
    if given:  # an explicit empty list: declared points only
        return {"source": "none", "files": [], "datasets": 0}
    return {"source": "packaged", "files": [str(PACKAGED_EVIDENCE)], "datasets": len(packaged_table().datasets)}


def estimates_for(p: Profile, files: Optional[Sequence[str]] = None, exclude_datasets: Sequence[str] = (), *,
                  k: Optional[int] = None, shrink: Optional[float] = None) -> Dict[str, Estimate]:
    """:func:`estimate` for profile ``p`` over the benchmark results ``files`` (default :func:`default_result_files`,
    and the packaged evidence when there are none: the choice does not depend on the working directory).

    An explicit empty ``files`` means no evidence (declared points only). Empty when there is no evidence
    (or none that can be profiled here, or all of it is excluded).
    """
    if files is None:
        files = default_result_files()
        table = evidence_table(tuple(files)) if files else packaged_table()
    elif not files:
        return {}
    else:
        table = evidence_table(tuple(files))
    if not table.datasets:
        return {}
    return estimate(table, profile_features(p), p.task == "regression", table.mask(exclude_datasets),
                    k=k, shrink=shrink)
