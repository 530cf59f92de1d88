"""Profile + constraints -> a ranked, explained choice of backend. Never a silent choice.

With benchmark evidence (see :mod:`automux.select.evidence`), a backend's score is its
evidence estimate (prior + shrunk neighbour deviation, in normalised-score units) plus
each soft rule's points times that rule's fitted weight (:data:`RULE_WEIGHTS`; rules the
benchmark cannot measure get :data:`UNMEASURED_RULE_WEIGHT`). Without any evidence the
soft rules alone rank, at their declared points. Hard rules exclude either way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import pandas as pd

from .evidence import NEUTRAL_PRIOR, Estimate, estimates_for, evidence_source
from .profile import Profile, profile
from .rules import HARD_RULES, SOFT_RULES, Constraints, Rule

#: Weight of each soft rule's points when benchmark evidence exists (points x weight are added
#: to the evidence estimate). Fitted by nested leave-one-dataset-out regret
#: (``benchmarks/selector/regret.py --calibrate``); 0 = the evidence measured the rule not to help.
RULE_WEIGHTS: Dict[str, float] = {"data_size_fit": 0.0, "data_kind_fit": 0.0}
#: Weight, under evidence, of soft rules the benchmark cannot measure (they never fire on its
#: cases, e.g. ``budget_fit`` under trials budgets, or plugin rules): a judgement, not a fit;
#: a 2-point rule then moves a backend by 0.1 normalised score.
UNMEASURED_RULE_WEIGHT = 0.05


@dataclass(frozen=True)
class Selection:
    """The ranking (best first, each with its score and reasons) and every exclusion with its rule."""

    profile: Profile
    constraints: Constraints
    ranking: List[Dict[str, Any]] = field(default_factory=list)
    excluded: List[Dict[str, Any]] = field(default_factory=list)
    #: where the benchmark evidence came from (:func:`automux.select.evidence.evidence_source`)
    evidence: Dict[str, Any] = field(default_factory=dict)
    #: the report's "which tool for which constraint" rows that apply here
    #: (:mod:`automux.select.constraint_evidence`), each cited on the backend it names best
    constraint_evidence: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def choice(self) -> Optional[str]:
        return self.ranking[0]["backend"] if self.ranking else None

    def to_json(self) -> Dict[str, Any]:
        return {"profile": self.profile.to_json(), "constraints": self.constraints.to_json(),
                "ranking": self.ranking, "excluded": self.excluded, "evidence": self.evidence,
                "constraint_evidence": self.constraint_evidence}


def plugin_rules() -> List[Rule]:
    """Rules contributed by plugins through ``automux_selector_rules``, each guarded (see :func:`_guarded`).

    A plugin whose hook raises, or that contributes something that is not a
    ``Rule``, is reported (``automux backends`` lists it) and skipped.
    """
    from ..core.plugins import call_each, record_failure

    out: List[Rule] = []
    for plugin, contributed in call_each("automux_selector_rules"):
        for rule in contributed or []:
            if not isinstance(rule, Rule) or rule.kind not in ("hard", "soft"):
                record_failure(plugin, f"selector rule {rule!r} is not a hard or soft Rule: ignored")
                continue
            out.append(_guarded(rule, plugin))
    return out


def _guarded(rule: Rule, plugin: str) -> Rule:
    """The rule with its ``apply`` wrapped: an exception is reported once and counts as "no opinion"."""
    def apply(p: Profile, c: Constraints, b: Dict[str, Any]) -> Any:
        from ..core.plugins import record_failure

        try:
            return rule.apply(p, c, b)
        except Exception as e:
            record_failure(plugin, f"selector rule {rule.name!r} raised {type(e).__name__}: {e}")
            return None
    return Rule(name=rule.name, kind=rule.kind, apply=apply, doc=rule.doc)


def soft_points(p: Profile, constraints: Constraints, backend: Dict[str, Any],
                soft: Sequence[Rule]) -> List[Tuple[str, float, str]]:
    """``(rule, declared points, reason)`` for every soft-rule opinion on ``backend``."""
    return [(r.name, float(points), why) for r in soft for points, why in (r.apply(p, constraints, backend) or [])]


def rule_weight(name: str, weights: Optional[Mapping[str, float]] = None) -> float:
    """The weight of soft rule ``name`` under benchmark evidence."""
    weights = RULE_WEIGHTS if weights is None else weights
    return float(weights.get(name, UNMEASURED_RULE_WEIGHT))


def rank(p: Profile, constraints: Constraints, backends: Sequence[Dict[str, Any]],
         result_files: Optional[Sequence[str]] = None, exclude_datasets: Sequence[str] = (), *,
         k: Optional[int] = None, shrink: Optional[float] = None,
         rule_weights: Optional[Mapping[str, float]] = None) -> Selection:
    """Apply hard rules (first failing rule excludes, and is named), then score the rest.

    ``k`` / ``shrink`` / ``rule_weights`` override the fitted :data:`evidence.K_NEIGHBOURS`,
    :data:`evidence.SHRINK` and :data:`RULE_WEIGHTS` (the regret benchmark sweeps them).
    """
    rules = HARD_RULES + SOFT_RULES + plugin_rules()
    hard = [r for r in rules if r.kind == "hard"]
    soft = [r for r in rules if r.kind == "soft"]
    evidence = estimates_for(p, result_files, exclude_datasets, k=k, shrink=shrink)
    ranking, excluded = [], []
    for b in backends:
        reason = next(((r.name, why) for r in hard if (why := r.apply(p, constraints, b))), None)
        if reason:
            excluded.append({"backend": b["name"], "rule": reason[0], "reason": reason[1]})
            continue
        reasons: List[Dict[str, Any]] = []
        score = 0.0
        if evidence:
            est = evidence.get(b["name"]) or Estimate(b["name"], NEUTRAL_PRIOR, NEUTRAL_PRIOR, 0, 0.0, 0.0, ())
            for points, why in est.reasons():
                score += points
                reasons.append({"rule": "benchmark_evidence", "points": round(points, 3), "reason": why})
        for name, points, why in soft_points(p, constraints, b, soft):
            if evidence:
                w = rule_weight(name, rule_weights)
                why = f"{why} ({points:+g} declared x weight {w:g} under benchmark evidence" + \
                      ("; measured not to help)" if w == 0 and name in (RULE_WEIGHTS if rule_weights is None
                                                                         else rule_weights) else ")")
                points *= w
            score += points
            reasons.append({"rule": name, "points": round(points, 3), "reason": why})
        ranking.append({"backend": b["name"], "score": round(score, 3), "reasons": reasons, "_key": score})
    ranking.sort(key=lambda r: (-r["_key"], r["backend"]))
    for r in ranking:
        del r["_key"]
    cited = _cite_constraint_rows(p, constraints, ranking)
    return Selection(profile=p, constraints=constraints, ranking=ranking, excluded=excluded,
                     evidence=evidence_source(result_files), constraint_evidence=cited)


def _cite_constraint_rows(p: Profile, constraints: Constraints, ranking: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Add each applicable constraint-table row as a 0-point reason on the backend it names best; return the rows."""
    from .constraint_evidence import applicable, reason

    rows = applicable(p, constraints)
    by_name = {r["backend"]: r for r in ranking}
    for row in rows:
        if row.get("best") in by_name:
            by_name[row["best"]]["reasons"].append({"rule": "constraint_evidence", "points": 0.0,
                                                    "reason": reason(row)})
    return rows


def select(data: Union[str, pd.DataFrame, Profile], target: Optional[str] = None,
           constraints: Optional[Constraints] = None, *, task: Optional[str] = None,
           backends: Optional[Sequence[Dict[str, Any]]] = None,
           result_files: Optional[Sequence[str]] = None, drop: Optional[Sequence[str]] = None,
           drop_missing_target: bool = False) -> Selection:
    """Rank the registered backends for this data under ``constraints``.

    ``drop`` names columns removed before profiling, and ``drop_missing_target`` drops the rows
    without a target, as ``automux run`` does with them.

    ``backends`` defaults to :func:`automux.core.registry.describe` (imports no backend).
    """
    from ..core.registry import describe as list_backends

    if result_files is not None:
        from ..core.inputs import name_list
        name_list(result_files, "result_files")  # a bare string would be read per character

    if (drop or drop_missing_target) and not isinstance(data, Profile):
        data, target = _dropped(data, target, drop or (), drop_missing_target)
    p = data if isinstance(data, Profile) else profile(data, target, task=task)
    return rank(p, constraints or Constraints(), list_backends() if backends is None else backends,
                result_files=result_files)


def _dropped(data: Any, target: Optional[str], drop: Sequence[str],
             drop_missing_target: bool = False) -> "tuple[pd.DataFrame, str]":
    """The data as a frame without the ``drop`` columns (an unknown one is a DataError), and its target;
    without the rows whose target is missing under ``drop_missing_target``."""
    from ..core.errors import DataError
    from .profile import _raw_frame

    frame, target, _ = _raw_frame(data, target)
    unknown = [c for c in drop if c not in frame.columns]
    if unknown:
        raise DataError(f"--drop {', '.join(map(str, unknown))}: no such column (columns: "
                        f"{', '.join(map(str, list(frame.columns)[:20]))})")
    frame = frame.drop(columns=list(drop))
    if drop_missing_target and target in frame.columns:
        frame = frame[frame[target].notna()]
    return frame, target
