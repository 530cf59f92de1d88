"""Leave-one-dataset-out regret of the selector over committed benchmark results.

For every dataset D and constraint C in the results: profile D, rank the backends that ran
on D with the selector (hard rules, soft rules and nearest-neighbour evidence from the *other*
datasets only), and read the chosen backend's mean *normalised score* on D (within each fold x
seed instance of C: 1 = best backend, 0 = worst; a failed cell 0; then averaged). Regret =
the oracle's normalised score - the choice's, a unit comparable across metrics (AUC, log
loss, RMSE). Baselines, each left-one-dataset-out the same way:

* random: the mean regret over the backends that ran on D (the expected regret of a uniform pick);
* best fixed: the backend with the best mean normalised score on the *other* datasets (same
  constraint), picked without looking at D;
* always X: one fixed backend everywhere (hindsight, for reference);
* oracle: 0 by definition.

``--calibrate`` fits the evidence weighting (``K_NEIGHBOURS`` x ``EVIDENCE_WEIGHT`` of
``automux/select/evidence.py``) on a grid, and reports both the in-sample best grid point and an
honest *nested* figure: for each held-out D, the grid point is chosen by the mean regret on the
other datasets only (each of them left out in turn, D never seen), then applied to D.

Rerun: python benchmarks/selector/regret.py benchmarks/results/realdata --calibrate --out benchmarks/selector
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

GRID_K = (1, 3, 5, 8)
GRID_WEIGHT = (0.0, 0.5, 1.0, 2.0, 4.0)


def dataset_of(row: Dict[str, str]) -> str:
    from automux.select.evidence import dataset_of as source
    return source(row)


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


class Cases:
    """The (dataset, constraint) cases: normalised scores, profiles, declared backends."""

    def __init__(self, files: Sequence[str]) -> None:
        import automux
        from automux.select.evidence import normalised_scores, profile_of_rows, read_rows

        self.files = list(files)
        self.rows = read_rows(self.files)
        self.declared = {b["name"]: dict(b, available=True) for b in automux.backends()}
        self.cases: List[Tuple[str, str, Dict[str, float]]] = []
        self.profiles = {}
        for ds in sorted({dataset_of(r) for r in self.rows}):
            p = profile_of_rows(self.rows, ds)
            if p is None:
                print(f"regret: {ds} cannot be profiled here: left out", file=sys.stderr)
                continue
            self.profiles[ds] = p
            for c in sorted({r["constraint"] for r in self.rows if dataset_of(r) == ds}):
                norm = normalised_scores(self.rows, ds, c)
                if len(norm) >= 2:
                    self.cases.append((ds, c, norm))

    def choice(self, ds: str, constraint: str, norm: Dict[str, float], exclude: Sequence[str],
               k: Optional[int] = None, weight: Optional[float] = None) -> Optional[str]:
        from automux.select import evidence, rank

        backends = [self.declared[fw] for fw in sorted(norm) if fw in self.declared]
        old = (evidence.K_NEIGHBOURS, evidence.EVIDENCE_WEIGHT)
        try:
            if k is not None:
                evidence.K_NEIGHBOURS = k
            if weight is not None:
                evidence.EVIDENCE_WEIGHT = weight
            sel = rank(self.profiles[ds], _constraints(constraint), backends, result_files=self.files,
                       exclude_datasets=list(exclude))
        finally:
            evidence.K_NEIGHBOURS, evidence.EVIDENCE_WEIGHT = old
        return sel.choice

    def best_fixed(self, ds: str, constraint: str, frameworks: Sequence[str]) -> Optional[str]:
        """The framework with the best mean normalised score on the other datasets (same constraint)."""
        acc: Dict[str, List[float]] = {}
        for d, c, norm in self.cases:
            if d == ds or c != constraint:
                continue
            for fw, v in norm.items():
                acc.setdefault(fw, []).append(v)
        cands = [(statistics.mean(acc[fw]), fw) for fw in frameworks if fw in acc]
        return max(cands)[1] if cands else None

    def regret_of(self, k: Optional[int], weight: Optional[float], skip: Sequence[str] = ()) -> Dict[str, float]:
        """(dataset, constraint) -> selector regret, each case left out, ``skip`` datasets also hidden."""
        out = {}
        for ds, c, norm in self.cases:
            if ds in skip:
                continue
            ch = self.choice(ds, c, norm, [ds, *skip], k, weight)
            if ch is not None:
                out[f"{ds}|{c}"] = max(norm.values()) - norm.get(ch, 0.0)
        return out


def evaluate(files: List[str], calibrate: bool = False) -> Dict[str, object]:
    from automux.select import evidence

    cs = Cases(files)
    rows = []
    for ds, c, norm in cs.cases:
        ch = cs.choice(ds, c, norm, [ds])
        if ch is None:
            continue
        best = max(norm.values())
        fixed = cs.best_fixed(ds, c, sorted(norm))
        rows.append({"dataset": ds, "constraint": c, "choice": ch, "oracle": max(norm, key=norm.get),
                     "best_fixed": fixed, "regret": best - norm.get(ch, 0.0),
                     "regret_random": statistics.mean(best - v for v in norm.values()),
                     "regret_best_fixed": best - norm.get(fixed, 0.0) if fixed else None,
                     "regret_always": {fw: best - v for fw, v in norm.items()},
                     "normalised": norm})
    summary: Dict[str, object] = {"cases": len(rows), "files": files,
                                  "k_neighbours": evidence.K_NEIGHBOURS, "evidence_weight": evidence.EVIDENCE_WEIGHT}
    if rows:
        reg = [r["regret"] for r in rows]
        summary["selector_mean_regret"] = statistics.mean(reg)
        summary["selector_median_regret"] = statistics.median(reg)
        summary["random_mean_regret"] = statistics.mean(r["regret_random"] for r in rows)
        bf = [r["regret_best_fixed"] for r in rows if r["regret_best_fixed"] is not None]
        summary["best_fixed_mean_regret"] = statistics.mean(bf) if bf else None
        summary["oracle_mean_regret"] = 0.0
        fws = sorted({fw for r in rows for fw in r["regret_always"]})
        summary["always_mean_regret"] = {
            fw: statistics.mean(r["regret_always"][fw] for r in rows if fw in r["regret_always"]) for fw in fws}
        summary["picked_oracle_share"] = sum(r["choice"] == r["oracle"] for r in rows) / len(rows)
        summary["beats_best_fixed"] = bool(bf) and summary["selector_mean_regret"] < summary["best_fixed_mean_regret"]
    result: Dict[str, object] = {"summary": summary, "cases": rows}
    if calibrate and rows:
        result["calibration"] = calibrate_grid(cs)
    return result


def calibrate_grid(cs: Cases) -> Dict[str, object]:
    datasets = sorted({ds for ds, _, _ in cs.cases})
    grid = [(k, w) for k in GRID_K for w in GRID_WEIGHT]
    full = {}
    for k, w in grid:
        r = cs.regret_of(k, w)
        full[(k, w)] = statistics.mean(r.values()) if r else math.nan
    best_in_sample = min(grid, key=lambda g: (full[g], g[1], g[0]))
    # nested: D held out, the grid point picked on the other datasets (each left out in turn)
    nested = []
    picks = {}
    for d in datasets:
        inner = {}
        for k, w in grid:
            r = cs.regret_of(k, w, skip=[d])
            inner[(k, w)] = statistics.mean(r.values()) if r else math.nan
        g = min(grid, key=lambda g: (inner[g], g[1], g[0]))
        picks[d] = list(g)
        for ds, c, norm in cs.cases:
            if ds != d:
                continue
            ch = cs.choice(ds, c, norm, [ds], g[0], g[1])
            if ch is not None:
                nested.append(max(norm.values()) - norm.get(ch, 0.0))
    return {"grid": [{"k": k, "weight": w, "mean_regret": full[(k, w)]} for k, w in grid],
            "best_in_sample": {"k": best_in_sample[0], "weight": best_in_sample[1],
                               "mean_regret": full[best_in_sample]},
            "nested_mean_regret": statistics.mean(nested) if nested else None, "nested_cases": len(nested),
            "nested_picks": picks}


def to_markdown(result: Dict[str, object]) -> str:
    s = result["summary"]
    lines = ["# Selector regret (leave one dataset out)", "",
             "Regret is in normalised score per (data set, constraint): within each fold x seed, 1 = the best "
             "backend that ran there, 0 = the worst (a failed cell 0), averaged; regret = oracle - choice, so it "
             "is comparable across metrics. Rerun: `python benchmarks/selector/regret.py "
             + " ".join(str(f) for f in s.get("files", [])) + " --calibrate`.", ""]
    if not s.get("cases"):
        return "\n".join(lines + ["No cases: the results hold fewer than two backends per dataset."]) + "\n"
    lines += [f"- cases (dataset x constraint): {s['cases']}; evidence: K_NEIGHBOURS = {s['k_neighbours']}, "
              f"EVIDENCE_WEIGHT = {s['evidence_weight']}",
              f"- selector mean regret: {s['selector_mean_regret']:.4f} (median {s['selector_median_regret']:.4f})",
              f"- best fixed backend (chosen on the other datasets) mean regret: {s['best_fixed_mean_regret']:.4f}",
              f"- random pick mean regret: {s['random_mean_regret']:.4f}",
              "- oracle: 0",
              f"- selector picked the best backend in {s['picked_oracle_share']:.0%} of cases",
              f"- **the selector {'beats' if s['beats_best_fixed'] else 'does NOT beat'} the best fixed backend**",
              ""]
    cal = result.get("calibration")
    if cal:
        b = cal["best_in_sample"]
        lines += ["## Calibration of the evidence weighting", "",
                  f"Grid K_NEIGHBOURS x EVIDENCE_WEIGHT (weight 0 = soft rules only). In-sample best: K = {b['k']}, "
                  f"weight = {b['weight']}: mean regret {b['mean_regret']:.4f} (optimistic: the grid point is chosen "
                  f"on the same cases). Nested (grid point chosen without the held-out data set): mean regret "
                  f"{cal['nested_mean_regret']:.4f} over {cal['nested_cases']} cases.", "",
                  "| K | weight | mean regret |", "|---|---|---|"]
        lines += [f"| {g['k']} | {g['weight']} | {g['mean_regret']:.4f} |" for g in cal["grid"]]
        lines.append("")
    lines += ["| always pick | mean regret |", "|---|---|"]
    lines += [f"| {fw} | {v:.4f} |" for fw, v in s["always_mean_regret"].items()]
    lines += ["", "| dataset | constraint | choice | best fixed | oracle | regret | best fixed regret |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['constraint']} | {r['choice']} | {r['best_fixed']} | {r['oracle']} | "
              f"{r['regret']:.4f} | {r['regret_best_fixed']:.4f} |" for r in result["cases"]]
    return "\n".join(lines) + "\n"


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="*", default=["benchmarks/results/realdata"])
    ap.add_argument("--out", default="benchmarks/selector")
    ap.add_argument("--calibrate", action="store_true", help="fit K_NEIGHBOURS x EVIDENCE_WEIGHT, nested LODO")
    a = ap.parse_args(argv)
    files: List[str] = []
    for r in a.results:
        p = Path(r)
        files.extend([str(p)] if p.is_file() else sorted(str(f) for f in p.rglob("results.csv")))
    if not files:
        print("no results.csv found", file=sys.stderr)
        return 2
    result = evaluate(files, calibrate=a.calibrate)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "regret.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out / "regret.md").write_text(to_markdown(result))
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
