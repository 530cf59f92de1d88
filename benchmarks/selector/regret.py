"""Leave-one-dataset-out regret of the selector over benchmark results.

For every data set D and constraint C in the results: profile D, rank the backends that
ran on D with the selector (hard rules, the evidence model fitted on the *other* data
sets only, and the weighted soft rules), and read the chosen backend's mean *normalised
score* on D (within each fold x seed instance of C: 1 = best backend, 0 = worst; a failed
cell 0; then averaged). Regret = the oracle's normalised score - the choice's, a unit
comparable across metrics (AUC, log loss, RMSE). Baselines, each left-one-dataset-out the
same way:

* random: the mean regret over the backends that ran on D (the expected regret of a uniform pick);
* best fixed: the backend with the best mean normalised score on the *other* data sets
  (same constraint), picked without looking at D;
* always X: one fixed backend everywhere (hindsight, for reference);
* oracle: 0 by definition.

``--calibrate`` fits the selector's free constants on a grid -- ``K_NEIGHBOURS`` and
``SHRINK`` (automux/select/evidence.py) and the soft-rule weights ``RULE_WEIGHTS``
(automux/select/selector.py) -- by leave-one-dataset-out regret, and reports the honest
*nested* figure: for each held-out D, the grid point is chosen by the mean LOO regret on
the other data sets only (each of them left out in turn, D never seen), then applied to D.
The grid point is picked by the one-standard-error rule (:func:`pick`); the nested figure
is the headline, and the point picked on all data sets is what the code's constants should be.

Rerun: python benchmarks/selector/regret.py benchmarks/results/realdata/results.csv --calibrate
Interim (bench still running): --cells benchmarks/results/realdata/cells (reads the cell
records instead of results.csv; suite.json is taken from the cells' parent directory).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

GRID_K = (3, 5, 8, 12, 40)  # 40 > the data sets there are: every one of the same kind
GRID_SHRINK = (0.0, 1.0, 3.0, 10.0, math.inf)
GRID_RULE_WEIGHT = (0.0, 0.02, 0.05)
MEASURED_RULES = ("data_size_fit", "data_kind_fit")

Config = Tuple[int, float, Tuple[float, ...]]  # (k, shrink, weights per MEASURED_RULES)


def _constraints(constraint: str):
    from automux.select import Constraints

    trials = seconds = None
    if constraint.startswith("trials"):
        trials = int(constraint[len("trials"):] or 0) or None
    elif constraint.endswith("s") and constraint[:-1].replace(".", "", 1).isdigit():
        seconds = float(constraint[:-1])
    elif constraint.endswith("m") and constraint[:-1].isdigit():
        seconds = 60.0 * float(constraint[:-1])
    return Constraints(time_budget_s=seconds, trials=trials)


def _tie_order(g: Config) -> Tuple:
    """The simpler model first: more shrinkage (inf = the prior alone), lighter rules, more neighbours (smoother)."""
    return (-g[1], sum(g[2]), -g[0])


def pick(regrets: Dict[Config, List[float]]) -> Config:
    """The one-standard-error rule: the simplest grid point (:func:`_tie_order`) whose mean LOO
    regret is within one standard error of the lowest mean (the SE of that lowest point's mean).
    Declared before the 3-fold results were seen: with ~36 noisy data sets, the plain argmin
    chases noise, and the rule leans to the prior unless the neighbours measurably help."""
    means = {g: statistics.mean(v) for g, v in regrets.items() if v}
    best = min(means, key=lambda g: (round(means[g], 12), _tie_order(g)))
    v = regrets[best]
    se = statistics.stdev(v) / math.sqrt(len(v)) if len(v) > 1 else 0.0
    return min((g for g in means if means[g] <= means[best] + se + 1e-12), key=_tie_order)


def argmin(regrets: Dict[Config, List[float]]) -> Config:
    means = {g: statistics.mean(v) for g, v in regrets.items() if v}
    return min(means, key=lambda g: (round(means[g], 12), _tie_order(g)))


class Cases:
    """The (data set, constraint) cases: normalised scores, profiles, soft points, evidence table."""

    def __init__(self, files: Sequence[str]) -> None:
        import automux
        from automux.select import SOFT_RULES
        from automux.select.evidence import dataset_of, evidence_table, normalised_scores, read_rows
        from automux.select.selector import plugin_rules, soft_points

        self.files = list(files)
        self.rows = read_rows(self.files)
        self.table = evidence_table(tuple(self.files))
        for ds in self.table.unprofiled:
            print(f"regret: {ds} cannot be profiled here: left out", file=sys.stderr)
        self.declared = {b["name"]: dict(b, available=True, reason=None) for b in automux.backends()}
        soft = SOFT_RULES + [r for r in plugin_rules() if r.kind == "soft"]
        from automux.select.evidence import profile_of_rows
        self.profiles = {ds: profile_of_rows(self.rows, ds) for ds in self.table.datasets}
        self.cases: List[Tuple[str, str, Dict[str, float]]] = []
        self.soft: Dict[Tuple[str, str], Dict[str, Dict[str, float]]] = {}
        for ds in self.table.datasets:
            for c in sorted({r["constraint"] for r in self.rows if dataset_of(r) == ds}):
                norm = normalised_scores(self.rows, ds, c)
                norm = {fw: v for fw, v in norm.items() if fw in self.declared}
                if len(norm) < 2:
                    continue
                self.cases.append((ds, c, norm))
                per = {}
                for fw in norm:
                    acc: Dict[str, float] = {}
                    for rule, pts, _ in soft_points(self.profiles[ds], _constraints(c), self.declared[fw], soft):
                        acc[rule] = acc.get(rule, 0.0) + pts
                    per[fw] = acc
                self.soft[(ds, c)] = per
        self.datasets = sorted({ds for ds, _, _ in self.cases})
        self._est: Dict[Tuple[str, Tuple[str, ...], int, float], Dict[str, float]] = {}

    def estimates(self, ds: str, exclude: Sequence[str], k: int, shrink: float) -> Dict[str, float]:
        from automux.select.evidence import estimate, profile_features

        key = (ds, tuple(sorted(exclude)), k, shrink)
        if key not in self._est:
            p = self.profiles[ds]
            est = estimate(self.table, profile_features(p), p.task == "regression", self.table.mask(exclude),
                           k=k, shrink=shrink)
            self._est[key] = {fw: e.score for fw, e in est.items()}
        return self._est[key]

    def choose(self, ds: str, c: str, norm: Dict[str, float], exclude: Sequence[str], g: Config) -> str:
        from automux.select.evidence import NEUTRAL_PRIOR
        from automux.select.selector import rule_weight

        k, shrink, ws = g
        weights = dict(zip(MEASURED_RULES, ws))
        est = self.estimates(ds, exclude, k, shrink)
        scores = {}
        for fw in norm:
            s = est.get(fw, NEUTRAL_PRIOR) if est else 0.0
            for rule, pts in self.soft[(ds, c)][fw].items():
                s += (rule_weight(rule, weights) if est else 1.0) * pts
            scores[fw] = s
        return min(scores, key=lambda fw: (-scores[fw], fw))

    def loo_regret(self, g: Config, skip: Optional[str] = None) -> List[float]:
        """Regret per case of config ``g``, each case's data set left out (and ``skip`` hidden throughout)."""
        reg = []
        for ds, c, norm in self.cases:
            if ds == skip:
                continue
            ch = self.choose(ds, c, norm, [ds] + ([skip] if skip else []), g)
            reg.append(max(norm.values()) - norm.get(ch, 0.0))
        return reg

    def best_fixed(self, ds: str, constraint: str, frameworks: Sequence[str]) -> Optional[str]:
        """The framework with the best mean normalised score on the other data sets (same constraint)."""
        acc: Dict[str, List[float]] = {}
        for d, c, norm in self.cases:
            if d == ds or c != constraint:
                continue
            for fw, v in norm.items():
                acc.setdefault(fw, []).append(v)
        cands = {fw: statistics.mean(acc[fw]) for fw in frameworks if fw in acc}
        return min(cands, key=lambda fw: (-cands[fw], fw)) if cands else None


def current_config() -> Config:
    from automux.select import evidence, selector

    return (evidence.K_NEIGHBOURS, float(evidence.SHRINK),
            tuple(float(selector.RULE_WEIGHTS.get(r, selector.UNMEASURED_RULE_WEIGHT)) for r in MEASURED_RULES))


def _cfg_json(g: Config) -> Dict[str, object]:
    return {"k": g[0], "shrink": g[1] if math.isfinite(g[1]) else "inf",
            "rule_weights": dict(zip(MEASURED_RULES, g[2]))}


def _cfg_str(g: Config) -> str:
    ws = ", ".join(f"{r} {w:g}" for r, w in zip(MEASURED_RULES, g[2]))
    return f"K {g[0]}, shrink {g[1]:g}, {ws}"


def evaluate(files: List[str], calibrate: bool = False, constraint: Optional[str] = None) -> Dict[str, object]:
    """Regret over the cases of ``files`` (only those of ``constraint`` when given; the evidence is all of them)."""
    from automux.select import rank

    cs = Cases(files)
    if constraint:
        cs.cases = [c for c in cs.cases if c[1] == constraint]
        cs.datasets = sorted({ds for ds, _, _ in cs.cases})
    grid: List[Config] = [(k, s, ws) for k in GRID_K for s in GRID_SHRINK
                          for ws in itertools.product(GRID_RULE_WEIGHT, repeat=len(MEASURED_RULES))]
    code = current_config()
    if code not in grid:
        grid.append(code)
    result: Dict[str, object] = {}
    nested_pick: Dict[str, Config] = {}
    nested_argmin: Dict[str, Config] = {}
    full: Dict[Config, float] = {}
    if calibrate:
        per_case = {g: cs.loo_regret(g) for g in grid}
        full = {g: statistics.mean(v) for g, v in per_case.items()}
        for d in cs.datasets:
            inner = {g: cs.loo_regret(g, skip=d) for g in grid}
            nested_pick[d], nested_argmin[d] = pick(inner), argmin(inner)
        best = pick(per_case)
        plain, plain_gain = [], []
        for ds, c, norm in cs.cases:
            ch = cs.choose(ds, c, norm, [ds], nested_argmin[ds])
            plain.append(max(norm.values()) - norm.get(ch, 0.0))
            fixed = cs.best_fixed(ds, c, sorted(norm))
            plain_gain.append(norm.get(ch, 0.0) - norm.get(fixed, 0.0))
        result["calibration"] = {
            "rule": "one standard error (simplest grid point within 1 SE of the lowest LOO regret)",
            "argmin": dict(_cfg_json(argmin(per_case)), mean_regret=full[argmin(per_case)]),
            "nested_argmin_mean_regret": statistics.mean(plain),
            "nested_argmin_gain_over_best_fixed": statistics.mean(plain_gain),
            "nested_argmin_gain_se": statistics.stdev(plain_gain) / math.sqrt(len(plain_gain)),
            "grid": [dict(_cfg_json(g), mean_regret=full[g]) for g in grid],
            "best_in_sample": dict(_cfg_json(best), mean_regret=full[best]),
            "code_constants": dict(_cfg_json(code), mean_regret=full[code]),
            "code_matches_fit": code == best,
        }
    rows = []
    for ds, c, norm in cs.cases:
        g = nested_pick.get(ds, code)
        k, shrink, ws = g
        backends = [cs.declared[fw] for fw in sorted(norm)]
        sel = rank(cs.profiles[ds], _constraints(c), backends, result_files=cs.files, exclude_datasets=[ds],
                   k=k, shrink=shrink, rule_weights=dict(zip(MEASURED_RULES, ws)))
        ch = sel.choice
        fast = cs.choose(ds, c, norm, [ds], g)
        if ch != fast:
            print(f"regret: {ds} {c}: rank() chose {ch}, the sweep {fast} (scores tie to rounding?)", file=sys.stderr)
        best = max(norm.values())
        fixed = cs.best_fixed(ds, c, sorted(norm))
        top = sel.ranking[0]
        thin = any("thin evidence" in r["reason"] for r in top["reasons"])
        p = cs.profiles[ds]
        rows.append({"dataset": ds, "constraint": c, "rows": p.rows, "task": p.task, "config": _cfg_json(g),
                     "choice": ch, "oracle": min(norm, key=lambda fw: (-norm[fw], fw)),
                     "best_fixed": fixed, "regret": best - norm.get(ch, 0.0),
                     "regret_random": statistics.mean(best - v for v in norm.values()),
                     "regret_best_fixed": best - norm.get(fixed, 0.0) if fixed else None,
                     "regret_always": {fw: best - v for fw, v in norm.items()},
                     "normalised": norm, "thin_evidence": thin,
                     "reasons": [f"{r['points']:+.3f} {r['rule']}: {r['reason']}" for r in top["reasons"]]})
    n_folds = len({(r.get("fold"), r.get("seed")) for r in cs.rows})
    summary: Dict[str, object] = {
        "cases": len(rows), "datasets": len(cs.datasets), "files": files, "fold_seed_instances": n_folds,
        "cells": len(cs.rows), "code_constants": _cfg_json(code),
        "selector_regret_kind": "nested" if calibrate else "LOO at the code's constants (fitted on these cases)"}
    if rows:
        reg = [r["regret"] for r in rows]
        summary["selector_mean_regret"] = statistics.mean(reg)
        summary["selector_median_regret"] = statistics.median(reg)
        if calibrate:
            summary["selector_loo_regret_code_constants"] = full[code]
        summary["random_mean_regret"] = statistics.mean(r["regret_random"] for r in rows)
        bf = [r["regret_best_fixed"] for r in rows if r["regret_best_fixed"] is not None]
        summary["best_fixed_mean_regret"] = statistics.mean(bf) if bf else None
        summary["oracle_mean_regret"] = 0.0
        fws = sorted({fw for r in rows for fw in r["regret_always"]})
        summary["always_mean_regret"] = {
            fw: statistics.mean(r["regret_always"][fw] for r in rows if fw in r["regret_always"]) for fw in fws}
        summary["picked_oracle_share"] = sum(r["choice"] == r["oracle"] for r in rows) / len(rows)
        summary["differs_from_best_fixed"] = sum(r["choice"] != r["best_fixed"] for r in rows)
        summary["thin_evidence_cases"] = sum(r["thin_evidence"] for r in rows)
        summary["beats_best_fixed"] = bool(bf) and summary["selector_mean_regret"] < summary["best_fixed_mean_regret"]
        diffs = [r["regret_best_fixed"] - r["regret"] for r in rows if r["regret_best_fixed"] is not None]
        summary["gain_over_best_fixed"] = statistics.mean(diffs) if diffs else None
        summary["gain_over_best_fixed_se"] = (statistics.stdev(diffs) / math.sqrt(len(diffs))
                                              if len(diffs) > 1 else None)
        summary["wins_losses_vs_best_fixed"] = [sum(d > 1e-12 for d in diffs), sum(d < -1e-12 for d in diffs)]
    result = {"summary": summary, **result, "cases": rows}
    return result


def to_markdown(result: Dict[str, object], command: str) -> str:
    s = result["summary"]
    lines = ["# Selector regret (leave one data set out)", "",
             "Regret is in normalised score per (data set, constraint): within each fold x seed, 1 = the best "
             "backend that ran there, 0 = the worst (a failed cell 0), averaged; regret = oracle - choice, so it "
             f"is comparable across metrics. Made by: `{command}`.", ""]
    if not s.get("cases"):
        return "\n".join(lines + ["No cases: the results hold fewer than two backends per data set."]) + "\n"
    cal = result.get("calibration")
    kind = "nested leave-one-dataset-out" if cal else "leave-one-dataset-out at the code's constants (optimistic)"
    lines += [f"- evidence: {s['cells']} result rows, {s['datasets']} data sets, {s['fold_seed_instances']} "
              f"fold x seed instances; cases (data set x constraint): {s['cases']}",
              f"- **selector ({kind}) mean regret: {s['selector_mean_regret']:.4f}** "
              f"(median {s['selector_median_regret']:.4f})",
              f"- best fixed backend (chosen on the other data sets) mean regret: {s['best_fixed_mean_regret']:.4f}",
              f"- random pick (expected) mean regret: {s['random_mean_regret']:.4f}",
              "- oracle: 0",
              f"- the selector picked the oracle's backend in {s['picked_oracle_share']:.0%} of cases and differed "
              f"from the best fixed backend in {s['differs_from_best_fixed']} of {s['cases']}; its top choice "
              f"carried a thin-evidence reason in {s['thin_evidence_cases']}",
              f"- **the selector {'beats' if s['beats_best_fixed'] else 'does NOT beat'} the best fixed backend** "
              f"({s['selector_mean_regret']:.4f} vs {s['best_fixed_mean_regret']:.4f}: a gain of "
              f"{s['gain_over_best_fixed']:+.4f}, paired standard error {s['gain_over_best_fixed_se']:.4f}; lower "
              f"regret than best fixed on {s['wins_losses_vs_best_fixed'][0]} data sets, higher on "
              f"{s['wins_losses_vs_best_fixed'][1]})", ""]
    if cal:
        b = cal["best_in_sample"]
        c = cal["code_constants"]
        a_ = cal["argmin"]
        lines += ["## Calibration", "",
                  f"Grid: K in {GRID_K}, shrink in {tuple(str(x) for x in GRID_SHRINK)} (inf = the prior alone = "
                  f"best fixed), soft-rule weights {GRID_RULE_WEIGHT} for each of {', '.join(MEASURED_RULES)} "
                  f"({len(cal['grid'])} points). Each point's LOO regret is in-sample for the choice of point.", "",
                  f"- fitted on all data sets (one-standard-error rule: the simplest point within 1 SE of the "
                  f"lowest LOO regret): {_cfg_str((b['k'], float(b['shrink']), tuple(b['rule_weights'].values())))}: "
                  f"LOO regret {b['mean_regret']:.4f} (in-sample for the choice of point)",
                  f"- the plain argmin: {_cfg_str((a_['k'], float(a_['shrink']), tuple(a_['rule_weights'].values())))}"
                  f": LOO regret {a_['mean_regret']:.4f} (in-sample); nested with the plain argmin instead of the "
                  f"1-SE rule: {cal['nested_argmin_mean_regret']:.4f} (gain over best fixed "
                  f"{cal['nested_argmin_gain_over_best_fixed']:+.4f}, paired SE {cal['nested_argmin_gain_se']:.4f}; "
                  "a second look, after the 1-SE rule was declared)",
                  f"- constants in the code: {_cfg_str((c['k'], float(c['shrink']), tuple(c['rule_weights'].values())))}"
                  f": LOO regret {c['mean_regret']:.4f}"
                  + ("" if cal["code_matches_fit"] else " -- **differs from the fit: update the constants**"),
                  f"- nested (1-SE point chosen without the held-out data set): {s['selector_mean_regret']:.4f}", ""]
        by_ks: Dict[Tuple, Dict] = {}
        for g in cal["grid"]:
            by_ks.setdefault((g["k"], str(g["shrink"])), {})[tuple(g["rule_weights"].values())] = g["mean_regret"]
        zero = tuple(0.0 for _ in MEASURED_RULES)
        lines += ["LOO regret by K x shrink, soft rules off (weights 0) and at the best weights for that K x shrink:", "",
                  "| K | shrink | rules off | best rule weights | regret there |", "|---|---|---|---|---|"]
        for (k, sh), d in by_ks.items():
            if zero not in d:
                continue
            w = min(d, key=lambda w: (round(d[w], 12), sum(w)))
            lines.append(f"| {k} | {sh} | {d[zero]:.4f} | {', '.join(f'{x:g}' for x in w)} | {d[w]:.4f} |")
        lines += ["", f"What each soft rule measures, at the fitted K = {b['k']}, shrink = {b['shrink']} "
                  "(the other rule off):", "", "| rule | weight | LOO regret |", "|---|---|---|"]
        d = by_ks[(b["k"], str(b["shrink"]))]
        for i, rule in enumerate(MEASURED_RULES):
            for w in GRID_RULE_WEIGHT:
                key = tuple(w if j == i else 0.0 for j in range(len(MEASURED_RULES)))
                if key in d:
                    lines.append(f"| {rule} | {w:g} | {d[key]:.4f} |")
        lines.append("")
    lines += ["| always pick (hindsight) | mean regret |", "|---|---|"]
    lines += [f"| {fw} | {v:.4f} |" for fw, v in s["always_mean_regret"].items()]
    lines += ["", "Per data set (the selector's choice with the grid point picked without that data set):", "",
              "| data set | constraint | rows | task | K, shrink, rule weights | choice | best fixed | oracle | "
              "regret | best fixed regret | random regret | thin |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["cases"]:
        g = r["config"]
        cfg = f"{g['k']}, {g['shrink']}, " + "/".join(f"{w:g}" for w in g["rule_weights"].values())
        lines.append(f"| {r['dataset']} | {r['constraint']} | {r['rows']} | {r['task']} | {cfg} | {r['choice']} | "
                     f"{r['best_fixed']} | {r['oracle']} | {r['regret']:.4f} | {r['regret_best_fixed']:.4f} | "
                     f"{r['regret_random']:.4f} | {'yes' if r['thin_evidence'] else ''} |")
    return "\n".join(lines) + "\n"


def cells_to_results(cells_dir: Path, out_dir: Path) -> Path:
    """Write the cell records' rows as a results.csv (with the suite.json beside it) under ``out_dir``."""
    import csv

    rows = [json.loads(f.read_text())["row"] for f in sorted(cells_dir.glob("*.json"))]
    fields = sorted({k for r in rows for k in r})
    path = out_dir / "results.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    suite = cells_dir.parent / "suite.json"
    if suite.exists():
        shutil.copy(suite, out_dir / "suite.json")
    return path


def complete_only(results_csv: Path, out_dir: Path) -> Path:
    """A copy of ``results_csv`` (with its suite.json and cells/ link) keeping only the data sets where every
    backend that appears anywhere in it has a row for every constraint that data set has."""
    import csv

    with open(results_csv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    backends = {r["framework"] for r in rows if r["framework"] != "ensemble"}
    have: Dict[Tuple[str, str], set] = {}
    for r in rows:
        have.setdefault((r.get("id") or r["task"], r["constraint"]), set()).add(r["framework"])
    keep = {k for k, fws in have.items() if backends <= fws}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(r for r in rows if (r.get("id") or r["task"], r["constraint"]) in keep)
    for extra in ("suite.json", "dataset_rows.json"):
        if (results_csv.parent / extra).exists():
            shutil.copy(results_csv.parent / extra, out_dir / extra)
    return path


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="*", default=["benchmarks/results/realdata/results.csv"])
    ap.add_argument("--cells", help="read the cell records of DIR (a bench still running) instead of results.csv")
    ap.add_argument("--out", default="benchmarks/selector")
    ap.add_argument("--calibrate", action="store_true",
                    help="fit K_NEIGHBOURS x SHRINK x RULE_WEIGHTS; the headline becomes nested LODO")
    ap.add_argument("--complete-only", action="store_true",
                    help="keep only the data sets where every backend of the results has a row (a bench stopped "
                         "part-way leaves its last data set with some backends only)")
    ap.add_argument("--portfolio", help="results.csv of a portfolio bench (top k backends under budget / k plus "
                                        "their ensemble): adds the strategies of benchmarks/selector/portfolio.py")
    ap.add_argument("--constraint", help="score only the cases of this constraint (e.g. 60s); the selector's "
                                         "evidence is still every results file given")
    ap.add_argument("--portfolio-constraint", default="60s",
                    help="the single backends' constraint the portfolio shares (default 60s)")
    a = ap.parse_args(argv)
    command = "python benchmarks/selector/regret.py " + " ".join(argv if argv is not None else sys.argv[1:])
    tmp = None
    if a.cells:
        tmp = Path(tempfile.mkdtemp(prefix="regret-cells-"))
        files = [str(cells_to_results(Path(a.cells), tmp))]
    else:
        files = []
        for r in a.results:
            p = Path(r)
            files.extend([str(p)] if p.is_file() else sorted(str(f) for f in p.rglob("results.csv")))
    if not files:
        print("no results.csv found", file=sys.stderr)
        return 2
    if a.complete_only:
        tmp = tmp or Path(tempfile.mkdtemp(prefix="regret-complete-"))
        files = [str(complete_only(Path(f), tmp / str(i))) for i, f in enumerate(files)]
    try:
        result = evaluate(files, calibrate=a.calibrate, constraint=a.constraint)
        if a.portfolio:
            from automux.select.evidence import read_rows
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            import portfolio

            result["portfolio"] = portfolio.evaluate(result["cases"], read_rows(files), a.portfolio,
                                                     a.portfolio_constraint)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if a.cells:
        result["summary"]["files"] = [f"{a.cells}/*.json"]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "regret.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    md = to_markdown(result, command)
    if "portfolio" in result:
        import portfolio

        md += "\n" + portfolio.to_markdown(result["portfolio"])
    (out / "regret.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
