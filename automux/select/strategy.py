"""What ``--backend auto`` runs: the strategy the committed evidence supports, and its pick.

``benchmarks/selector/regret.py`` scores, by nested leave-one-data-set-out regret on the
committed results, the strategies ``auto`` could follow within the user's one budget
(``benchmarks/selector/regret.md``, 36 data sets under 60 s): the selector's choice at its
calibrated point (0.254: the prior alone, pooled over every bench, so always the backend
with the best evidence), the best fixed backend for the budget chosen on that budget's
bench alone (0.363: unstable where two backends nearly tie, as optuna and flaml do there),
and a portfolio of the top two sharing the budget, finished by their ensemble (0.219 by mean,
not separated: +0.035, paired SE 0.078, against the selector's pick). :data:`STRATEGY` is
therefore ``selector``: ``auto`` runs the selector's top choice. :func:`best_fixed` is kept,
measured and tested, as the alternative the next evidence may favour.
"""
from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .constraint_evidence import budget_distance
from .evidence import PACKAGED_EVIDENCE, dataset_of, default_result_files, normalised_scores, read_rows

#: The strategy ``auto`` follows (measured: benchmarks/selector/regret.md).
STRATEGY = "selector"
#: A backend's mean counts once it stands on this many data sets (or on as many as the best-covered
#: backend has, when none has this many): a mean over a handful of data sets of another bench, where
#: other backends competed, is not comparable with one over dozens.
MIN_DATA_SETS = 10


def scores_by_constraint(files: Optional[Sequence[str]] = None) -> Dict[str, Dict[str, Dict[str, float]]]:
    """constraint -> data set -> backend -> normalised score: from ``files`` (default: the local results files),
    else from the packaged evidence (its ``by_constraint``)."""
    files = default_result_files() if files is None else list(files)
    out: Dict[str, Dict[str, Dict[str, float]]] = {}
    if files:
        rows = read_rows(files)
        for ds in sorted({dataset_of(r) for r in rows if dataset_of(r)}):
            for c in sorted({r.get("constraint", "") for r in rows if dataset_of(r) == ds}):
                sc = normalised_scores(rows, ds, c)
                if sc:
                    out.setdefault(c, {})[ds] = sc
        return out
    try:
        packed = json.loads(PACKAGED_EVIDENCE.read_text(encoding="utf-8"))["datasets"]
    except (OSError, ValueError, KeyError):
        return {}
    for ds, d in packed.items():
        for c, sc in (d.get("by_constraint") or {}).items():
            out.setdefault(c, {})[ds] = {fw: (math.nan if v is None else float(v)) for fw, v in sc.items()}
    return out


def nearest_constraint(constraints: Any, available: Sequence[str]) -> Optional[str]:
    """The bench constraint nearest the user's budget, of the same kind (a count budget reads trials ones)."""
    trials = getattr(constraints, "trials", None)
    seconds = getattr(constraints, "time_budget_s", None)
    kind, value = ("trials", float(trials)) if trials else ("seconds", float(seconds) if seconds else None)
    near = [(d, c) for c in available if (d := budget_distance(c, kind, value)) is not None]
    return min(near)[1] if near else None


def means(scores: Dict[str, Dict[str, float]]) -> Dict[str, Tuple[float, int]]:
    """backend -> (mean normalised score over the data sets where it has one, how many)."""
    acc: Dict[str, List[float]] = {}
    for per in scores.values():
        for fw, v in per.items():
            if not math.isnan(v):
                acc.setdefault(fw, []).append(v)
    return {fw: (sum(v) / len(v), len(v)) for fw, v in acc.items()}


def best_fixed(selection: Any, constraints: Any, files: Optional[Sequence[str]] = None) -> Tuple[str, Dict[str, Any]]:
    """The backend ``auto`` runs, and what to record of why: the best fixed one for this budget among the
    selector's kept backends; the selector's own choice where the evidence has no constraint of this kind."""
    kept = [r["backend"] for r in selection.ranking]
    table = scores_by_constraint(files)
    where = nearest_constraint(constraints, sorted(table))
    m = means(table.get(where, {})) if where else {}
    scored = [fw for fw in kept if fw in m]
    detail: Dict[str, Any] = {"strategy": "best_fixed", "evidence_constraint": where,
                              "means": {fw: {"mean": round(m[fw][0], 4), "data_sets": m[fw][1]} for fw in scored},
                              "selector_choice": selection.choice}
    if not scored:
        detail["fallback"] = "no benchmark constraint of this budget's kind covers a kept backend: the selector's choice"
        return selection.choice, detail
    floor = min(MIN_DATA_SETS, max(m[fw][1] for fw in scored))
    eligible = [fw for fw in scored if m[fw][1] >= floor]
    choice = max(eligible, key=lambda fw: (round(m[fw][0], 12), -kept.index(fw)))
    return choice, dict(detail, choice=choice, min_data_sets=floor)


def pick(selection: Any, constraints: Any, files: Optional[Sequence[str]] = None) -> Tuple[str, Dict[str, Any]]:
    """The backend ``auto`` runs under :data:`STRATEGY`, and what to record of why."""
    if STRATEGY == "best_fixed":
        return best_fixed(selection, constraints, files)
    return selection.choice, {"strategy": STRATEGY, "choice": selection.choice, "selector_choice": selection.choice}
