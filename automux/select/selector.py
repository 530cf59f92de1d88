"""Profile + constraints -> a ranked, explained choice of backend. Never a silent choice."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import pandas as pd

from .evidence import evidence_points
from .profile import Profile, profile
from .rules import HARD_RULES, SOFT_RULES, Constraints, Rule


@dataclass(frozen=True)
class Selection:
    """The ranking (best first, each with its score and reasons) and every exclusion with its rule."""

    profile: Profile
    constraints: Constraints
    ranking: List[Dict[str, Any]] = field(default_factory=list)
    excluded: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def choice(self) -> Optional[str]:
        return self.ranking[0]["backend"] if self.ranking else None

    def to_json(self) -> Dict[str, Any]:
        return {"profile": self.profile.to_json(), "constraints": self.constraints.to_json(),
                "ranking": self.ranking, "excluded": self.excluded}


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


def rank(p: Profile, constraints: Constraints, backends: Sequence[Dict[str, Any]],
         result_files: Optional[Sequence[str]] = None, exclude_datasets: Sequence[str] = ()) -> Selection:
    """Apply hard rules (first failing rule excludes, and is named), then add soft points."""
    rules = HARD_RULES + SOFT_RULES + plugin_rules()
    hard = [r for r in rules if r.kind == "hard"]
    soft = [r for r in rules if r.kind == "soft"]
    evidence = evidence_points(p, result_files, exclude_datasets)
    ranking, excluded = [], []
    for b in backends:
        reason = next(((r.name, why) for r in hard if (why := r.apply(p, constraints, b))), None)
        if reason:
            excluded.append({"backend": b["name"], "rule": reason[0], "reason": reason[1]})
            continue
        reasons = []
        score = 0.0
        for r in soft:
            for points, why in r.apply(p, constraints, b) or []:
                score += points
                reasons.append({"rule": r.name, "points": round(points, 3), "reason": why})
        if b["name"] in evidence:
            points, why = evidence[b["name"]]
            score += points
            reasons.append({"rule": "benchmark_evidence", "points": round(points, 3), "reason": why})
        ranking.append({"backend": b["name"], "score": round(score, 3), "reasons": reasons})
    ranking.sort(key=lambda r: (-r["score"], r["backend"]))
    return Selection(profile=p, constraints=constraints, ranking=ranking, excluded=excluded)


def select(data: Union[str, pd.DataFrame, Profile], target: Optional[str] = None,
           constraints: Optional[Constraints] = None, *, task: Optional[str] = None,
           backends: Optional[Sequence[Dict[str, Any]]] = None,
           result_files: Optional[Sequence[str]] = None) -> Selection:
    """Rank the registered backends for this data under ``constraints``.

    ``backends`` defaults to :func:`automux.core.registry.describe` (imports no backend).
    """
    from ..core.registry import describe as list_backends

    p = data if isinstance(data, Profile) else profile(data, target, task=task)
    return rank(p, constraints or Constraints(), list_backends() if backends is None else backends,
                result_files=result_files)
