"""Strategies for ``--backend auto`` at one total budget, scored by nested leave-one-data-set-out regret.

The single-backend strategies (the selector's choice, the best fixed backend, random, the
oracle) come from :mod:`regret`'s cases: every backend under the whole budget (e.g. the 60 s
grid). The portfolio strategies come from a second bench (e.g. ``realdata-30s-portfolio``):
the top k backends by evidence, each under budget / k, on the same data sets, split, folds
and seed, plus their cross-backend ensemble (the bench's ``ensemble`` row):

* ``portfolio_ensemble``: the ensemble's hold-out result; where the ensemble failed (fewer
  than two members with out-of-fold predictions), the member with the better CV score, else
  the one member that finished (what ``auto`` would return);
* ``portfolio_cv_pick``: the member with the better out-of-fold (CV) score, no ensemble.

A portfolio result is normalised against the single backends of the same data set (1 = the
best single backend under the whole budget, 0 = the worst, floored at 0 like a failure, not
capped at 1: a portfolio can beat every single backend, a negative regret).

``auto`` is then itself a strategy picked without the held-out data set: for each data set D,
the strategy with the lowest mean regret on the other data sets (ties to the simpler one, in
the order of :data:`STRATEGIES`), applied to D. Its gain over the best fixed backend is
reported with the paired standard error over data sets.
"""
from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

#: simplest first: a tie goes to the earlier one
STRATEGIES = ("best_fixed", "selector", "portfolio_cv_pick", "portfolio_ensemble")


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _portfolio_rows(results_csv: str) -> Dict[str, Dict[str, Any]]:
    """data set source -> {members: {fw: result}, ensemble: result or nan, cv_best: fw or None}."""
    out: Dict[str, Dict[str, Any]] = {}
    cells = Path(results_csv).with_name("cells")
    best_member = {}
    for f in sorted(cells.glob("*.json")) if cells.is_dir() else []:
        j = json.loads(f.read_text())
        if j["row"].get("framework") == "ensemble":
            best_member[j["row"].get("cell_id")] = (j.get("best_member") or {}).get("backend")
    with open(results_csv, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            ds = r.get("id") or r.get("task")
            d = out.setdefault(ds, {"members": {}, "ensemble": math.nan, "cv_best": None, "constraint": None})
            ok = r.get("status") in (None, "", "ok")
            value = _num(r.get("result")) if ok else math.nan
            if r["framework"] == "ensemble":
                d["ensemble"] = value
                d["cv_best"] = r.get("cv_best") or best_member.get(r.get("cell_id"))
            else:
                d["members"][r["framework"]] = value
                d["constraint"] = r.get("constraint")
    return out


def _portfolio_values(p: Dict[str, Any]) -> Dict[str, float]:
    """The raw hold-out result of each portfolio strategy on one data set (nan = nothing finished)."""
    members = {fw: v for fw, v in p["members"].items() if not math.isnan(v)}
    pick = p["cv_best"] if p["cv_best"] in members else None
    if pick is None and len(members) == 1:
        pick = next(iter(members))
    cv_pick = members[pick] if pick else math.nan
    ens = p["ensemble"] if not math.isnan(p["ensemble"]) else cv_pick
    return {"portfolio_cv_pick": cv_pick, "portfolio_ensemble": ens}


def _normalised(value: float, singles: Sequence[float]) -> float:
    ok = [s for s in singles if not math.isnan(s)]
    if math.isnan(value) or not ok:
        return 0.0
    lo, hi = min(ok), max(ok)
    if hi == lo:
        return 1.0 if value >= hi else 0.0
    return max(0.0, (value - lo) / (hi - lo))


def _se(xs: Sequence[float]) -> float:
    return statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else math.nan


def evaluate(cases: List[Dict[str, Any]], single_rows: List[Dict[str, str]], portfolio_csv: str,
             constraint: str) -> Dict[str, Any]:
    """Regret per strategy and of the nested ``auto`` over the data sets both benches cover."""
    port = _portfolio_rows(portfolio_csv)
    cases_by = {c["dataset"]: c for c in cases if c["constraint"] == constraint}
    per: List[Dict[str, Any]] = []
    for c in cases:
        ds = c["dataset"]
        if c["constraint"] != constraint or ds not in port or not port[ds]["members"]:
            continue
        singles = [_num(r.get("result")) if r.get("status") in (None, "", "ok") else math.nan
                   for r in single_rows if (r.get("id") or r.get("task")) == ds and r.get("constraint") == constraint]
        vals = _portfolio_values(port[ds])
        reg = {"best_fixed": c["regret_best_fixed"], "selector": c["regret"], "random": c["regret_random"]}
        for k, v in vals.items():
            reg[k] = 1.0 - _normalised(v, singles)
        per.append({"dataset": ds, "regret": reg, "cv_best": port[ds]["cv_best"],
                    "members": port[ds]["members"], "ensemble": port[ds]["ensemble"]})
    if not per:
        return {"cases": 0}
    for i, row in enumerate(per):  # the nested choice of strategy, without this data set
        others = [r for j, r in enumerate(per) if j != i]
        means = {s: statistics.mean(r["regret"][s] for r in others) for s in STRATEGIES}
        row["auto_strategy"] = min(STRATEGIES, key=lambda s: (round(means[s], 12), STRATEGIES.index(s)))
        row["regret"]["auto"] = row["regret"][row["auto_strategy"]]
    names = list(STRATEGIES) + ["random", "auto"]
    summary: Dict[str, Any] = {"cases": len(per), "constraint": constraint, "portfolio": portfolio_csv,
                               "strategies": {}}
    for s in names:
        regs = [r["regret"][s] for r in per]
        gains = [r["regret"]["best_fixed"] - r["regret"][s] for r in per]
        summary["strategies"][s] = {
            "mean_regret": statistics.mean(regs), "gain_over_best_fixed": statistics.mean(gains),
            "paired_se": _se(gains), "wins": sum(g > 1e-12 for g in gains), "losses": sum(g < -1e-12 for g in gains)}
    # the stronger baseline: the one backend with the lowest mean regret over these very cases (hindsight,
    # optimistic for it). Leave-one-out "best fixed" is pessimistic when two backends nearly tie: leaving out
    # a data set that favours one tips the choice to the other, which then does worse on that data set.
    always = {fw: [cases_by[r["dataset"]]["regret_always"].get(fw, 1.0) for r in per]
              for fw in {fw for r in per for fw in cases_by[r["dataset"]]["regret_always"]}}
    hind = min(always, key=lambda fw: (statistics.mean(always[fw]), fw))
    summary["hindsight_fixed"] = {"backend": hind, "mean_regret": statistics.mean(always[hind]), "vs": {}}
    for s in names:
        gains = [always[hind][i] - r["regret"][s] for i, r in enumerate(per)]
        summary["hindsight_fixed"]["vs"][s] = {"gain": statistics.mean(gains), "paired_se": _se(gains),
                                               "wins": sum(g > 1e-12 for g in gains),
                                               "losses": sum(g < -1e-12 for g in gains)}
    auto = summary["strategies"]["auto"]
    summary["auto_beats_best_fixed_by_2se"] = bool(auto["gain_over_best_fixed"] > 2 * (auto["paired_se"] or 0.0)
                                                   and auto["gain_over_best_fixed"] > 0)
    summary["auto_strategy_counts"] = {s: sum(r["auto_strategy"] == s for r in per) for s in STRATEGIES}
    return {"summary": summary, "cases": per}


def to_markdown(result: Dict[str, Any]) -> str:
    s = result.get("summary")
    if not s:
        return "No data set is in both benches: no portfolio figures.\n"
    lines = ["## Strategies for `--backend auto` at one total budget", "",
             f"{s['cases']} data sets in both benches (constraint `{s['constraint']}` for the single backends; "
             f"portfolio bench `{s['portfolio']}`). Regret in normalised score against the best single backend "
             "under the whole budget (negative: better than every single backend). `auto` picks, for each data "
             "set, the strategy with the lowest mean regret on the other data sets (nested), ties to the simpler.",
             "", "| strategy | mean regret | gain over best fixed | paired SE | better / worse than best fixed |",
             "|---|---|---|---|---|"]
    for name, v in s["strategies"].items():
        lines.append(f"| {name} | {v['mean_regret']:.4f} | {v['gain_over_best_fixed']:+.4f} | {v['paired_se']:.4f} "
                     f"| {v['wins']} / {v['losses']} |")
    h = s["hindsight_fixed"]
    lines += ["", f"Against the best single backend in hindsight (`{h['backend']}`, mean regret {h['mean_regret']:.4f} "
              "over these data sets: the strongest fixed choice, optimistic for it; leave-one-out best fixed is "
              "pessimistic when two backends nearly tie):", "",
              "| strategy | gain over the hindsight best | paired SE | better / worse |", "|---|---|---|---|"]
    for name, v in h["vs"].items():
        lines.append(f"| {name} | {v['gain']:+.4f} | {v['paired_se']:.4f} | {v['wins']} / {v['losses']} |")
    a = s["strategies"]["auto"]
    lines += ["", f"- `auto` chose: " + ", ".join(f"{k} {n}" for k, n in s["auto_strategy_counts"].items() if n),
              f"- **`auto` {'beats' if s['auto_beats_best_fixed_by_2se'] else 'does not beat'} the best fixed backend "
              f"by more than two paired standard errors** (gain {a['gain_over_best_fixed']:+.4f}, 2 SE "
              f"{2 * a['paired_se']:.4f})", "",
              "| data set | best fixed | selector | portfolio CV pick | portfolio ensemble | auto (strategy) | CV best |",
              "|---|---|---|---|---|---|---|"]
    for r in result["cases"]:
        g = r["regret"]
        lines.append(f"| {r['dataset']} | {g['best_fixed']:.4f} | {g['selector']:.4f} | {g['portfolio_cv_pick']:.4f} "
                     f"| {g['portfolio_ensemble']:.4f} | {g['auto']:.4f} ({r['auto_strategy']}) | {r['cv_best'] or '-'} |")
    return "\n".join(lines) + "\n"
