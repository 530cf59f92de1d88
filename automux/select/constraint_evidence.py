"""The report's "which tool for which constraint" rows that apply to one selection, cited as reasons.

``automux report`` writes ``constraint_table.json`` beside each bench's report
(:mod:`automux.bench.report_constraints`); ``benchmarks/selector/pack_evidence.py`` packs the
committed ones into :data:`PACKAGED_TABLE`. For a profile and the user's constraints,
:func:`applicable` returns the rows that speak to them: the bench constraint nearest the
user's budget (same kind: seconds or trials), and within it the rows for the stated flags
(deterministic, interpretable) and for the data's kind (fewer than 1k rows, more than 10k,
mostly categorical, many missing values). The selector adds each as a 0-point reason on the
backend the row names best: evidence shown, never double-counted in the score (the score's
evidence term already comes from the same results).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

PACKAGED_TABLE = Path(__file__).with_name("constraint_table.json")


def packaged() -> List[Dict[str, Any]]:
    """The packaged tables (one per bench), or none when the file is absent or unreadable."""
    try:
        return list(json.loads(PACKAGED_TABLE.read_text(encoding="utf-8")).get("tables") or [])
    except (OSError, ValueError):
        return []


def _budget(bench_constraint: str) -> Tuple[str, Optional[float]]:
    """("seconds", 60.0) for "60s", ("trials", 10.0) for "trials10", ("other", None) otherwise."""
    c = str(bench_constraint)
    if c.startswith("trials") and c[6:].isdigit():
        return "trials", float(c[6:])
    if c.endswith("s") and c[:-1].replace(".", "", 1).isdigit():
        return "seconds", float(c[:-1])
    if c.endswith("m") and c[:-1].isdigit():
        return "seconds", 60.0 * float(c[:-1])
    return "other", None


def budget_distance(bench_constraint: str, kind: str, value: Optional[float]) -> Optional[float]:
    """How far a bench constraint is from the user's budget (``kind`` seconds or trials, ``value`` or None):
    the log ratio, 0 when the user gave none; None when it is of another kind."""
    k, v = _budget(bench_constraint)
    if k != kind or not v:
        return None
    return round(abs(math.log(v / value)), 9) if value else 0.0


def _nearest(tables: List[Dict[str, Any]], kind: str, value: Optional[float]) -> Optional[Tuple[str, str]]:
    """(source, bench constraint) nearest the user's budget on a log scale; more backends and data sets first on ties."""
    best, key = None, None
    for t in tables:
        for c in sorted({r["bench_constraint"] for r in t.get("rows", [])}):
            distance = budget_distance(c, kind, value)
            if distance is None:
                continue
            rows = [r for r in t["rows"] if r["bench_constraint"] == c]
            width = max((len(r.get("qualifying") or []), r.get("data_sets") or 0) for r in rows)
            cand = (distance, -width[0], -width[1])
            if key is None or cand < key:
                best, key = (t.get("from", ""), c), cand
    return best


def _applies(row: Dict[str, Any], profile: Any, constraints: Any, thresholds: Dict[str, Any]) -> bool:
    name = str(row.get("constraint", ""))
    if name.startswith(("seconds budget", "count budget")):
        return True
    if name.startswith("deterministic"):
        return bool(getattr(constraints, "deterministic", False))
    if name.startswith("interpretable"):
        return bool(getattr(constraints, "interpretable", False))
    if profile is None:
        return False
    features = max(int(getattr(profile, "features", 0) or 0), 1)
    if name.startswith("fewer than"):
        return profile.rows < float(thresholds.get("few_rows", 1_000))
    if name.startswith("more than"):
        return profile.rows > float(thresholds.get("many_rows", 10_000))
    if name.startswith("mostly categorical"):
        return profile.categorical / features > float(thresholds.get("categorical_share", 0.5))
    if name.startswith("many missing"):
        return float(profile.missing_share) > float(thresholds.get("missing_share", 0.05))
    return False


def applicable(profile: Any, constraints: Any, tables: Optional[List[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    """The rows (with their bench as ``source``) that speak to this profile and these constraints."""
    tables = packaged() if tables is None else tables
    if not tables:
        return []
    trials = getattr(constraints, "trials", None)
    seconds = getattr(constraints, "time_budget_s", None)
    kind, value = ("trials", float(trials)) if trials else ("seconds", float(seconds) if seconds else None)
    where = _nearest(tables, kind, value)
    if where is None:
        return []
    out = []
    for t in tables:
        if t.get("from", "") != where[0]:
            continue
        for row in t.get("rows", []):
            if row.get("bench_constraint") == where[1] and _applies(row, profile, constraints,
                                                                     t.get("thresholds") or {}):
                out.append(dict(row, source=where[0]))
    return out


def reason(row: Dict[str, Any]) -> str:
    """One line citing a row: who is best under the constraint, by how much, on how many data sets."""
    if not row.get("best"):
        return f"{row['constraint']} ({row['source']}, {row['bench_constraint']}): {row.get('evidence', 'no evidence')}"
    margin = ""
    if row.get("runner_up") and row.get("margin") is not None:
        lo, hi = row.get("margin_ci_low"), row.get("margin_ci_high")
        ci = f", 95% CI {lo:+.3f} to {hi:+.3f}" if lo is not None and hi is not None else ""
        margin = f" by {row['margin']:+.3f} normalised score over {row['runner_up']}{ci}"
    return (f"best under '{row['constraint']}' in {row['source']} ({row['bench_constraint']}, "
            f"{row.get('data_sets')} data sets){margin}: {row.get('evidence', '')}").rstrip(": ")
