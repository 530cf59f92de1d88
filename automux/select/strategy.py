"""What ``--backend auto`` runs: the strategy the committed evidence supports, and its pick.

``benchmarks/selector/regret.py`` scores, by nested leave-one-data-set-out regret on the
committed results, the strategies ``auto`` could follow within the user's one budget: the
selector's per-data-set choice, the best fixed backend for the budget, and a portfolio of
the top backends sharing the budget and finished by their ensemble
(``benchmarks/selector/regret.md``). None beats the best fixed backend on that evidence
(the selector's per-data-set choice is measured worse, not significantly; see the figures
there), so :data:`STRATEGY` is ``best_fixed``: among the backends the selector keeps (its
hard rules and ``installed_only`` still apply), the one with the best mean normalised score
under the benchmark constraint nearest the user's budget (same kind: seconds or trials, on a
log scale), counting only backends whose mean stands on :data:`MIN_DATA_SETS` data sets. The
selector's ranking is still recorded beside it, as the explanation of the
alternatives, and ``automux select`` still shows it.
"""
from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .constraint_evidence import _budget
from .evidence import PACKAGED_EVIDENCE, dataset_of, default_result_files, normalised_scores, read_rows

#: The strategy ``auto`` follows (measured: benchmarks/selector/regret.md).
STRATEGY = "best_fixed"
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
    best: Optional[Tuple[float, str]] = None
    for c in available:
        k, v = _budget(c)
        if k != kind or not v:
            continue
        key = (round(abs(math.log(v / value)), 9) if value else 0.0, c)
        best = key if best is None or key < best else best
    return best[1] if best else None


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
    detail: Dict[str, Any] = {"strategy": STRATEGY, "evidence_constraint": where,
                              "means": {fw: {"mean": round(m[fw][0], 4), "data_sets": m[fw][1]} for fw in scored},
                              "selector_choice": selection.choice}
    if not scored:
        detail["fallback"] = "no benchmark constraint of this budget's kind covers a kept backend: the selector's choice"
        return selection.choice, detail
    floor = min(MIN_DATA_SETS, max(m[fw][1] for fw in scored))
    eligible = [fw for fw in scored if m[fw][1] >= floor]
    choice = max(eligible, key=lambda fw: (round(m[fw][0], 12), -kept.index(fw)))
    return choice, dict(detail, choice=choice, min_data_sets=floor)
