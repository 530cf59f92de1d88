"""Leave-one-dataset-out evaluation of the selector over committed benchmark results.

For every dataset D in the results: profile D, rank the backends that ran on D
with the selector (declared rules + measured evidence from the *other*
datasets only), and compare the top choice's mean result on D with the best
backend's (the oracle). Regret = best mean result - chosen mean result (AMLB
``result`` is higher-is-better, so regret >= 0). Baselines: always picking each
single backend, and the mean over backends (a random pick).

Rerun: python benchmarks/selector/regret.py [RESULTS.csv or DIR ...] --out benchmarks/selector
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Dict, List


def dataset_of(row: Dict[str, str]) -> str:
    from automux.select.evidence import dataset_of as source
    return source(row)


def mean_result(rows: List[Dict[str, str]], dataset: str, constraint: str) -> Dict[str, float]:
    by: Dict[str, List[float]] = {}
    for r in rows:
        if dataset_of(r) != dataset or r.get("constraint") != constraint:
            continue
        try:
            v = float(r.get("result") or "nan")
        except ValueError:
            v = float("nan")
        by.setdefault(r["framework"], []).append(v)
    # a failed cell counts as the worst result seen on this dataset
    finite = [v for vs in by.values() for v in vs if not math.isnan(v)]
    worst = min(finite) if finite else 0.0
    return {fw: statistics.mean(worst if math.isnan(v) else v for v in vs) for fw, vs in by.items()}


def evaluate(files: List[str]) -> Dict[str, object]:
    import automux
    from automux.select import Constraints, rank
    from automux.select.evidence import profile_of_rows, read_rows

    rows = read_rows(files)
    declared = {b["name"]: dict(b, available=True) for b in automux.backends()}
    out_rows = []
    for dataset in sorted({dataset_of(r) for r in rows}):
        for constraint in sorted({r["constraint"] for r in rows if dataset_of(r) == dataset}):
            means = mean_result(rows, dataset, constraint)
            p = profile_of_rows(rows, dataset)
            if p is None or len(means) < 2:
                continue
            backends = [declared[fw] for fw in means if fw in declared]
            trials = seconds = None
            if constraint.startswith("trials"):
                trials = int(constraint[len("trials"):] or 0) or None
            elif constraint.endswith("s") and constraint[:-1].isdigit():
                seconds = float(constraint[:-1])
            elif constraint.endswith("m") and constraint[:-1].isdigit():
                seconds = 60.0 * float(constraint[:-1])
            sel = rank(p, Constraints(time_budget_s=seconds, trials=trials), backends,
                       result_files=files, exclude_datasets=[dataset])
            if not sel.choice:
                continue
            best = max(means.values())
            out_rows.append({
                "dataset": dataset, "constraint": constraint, "choice": sel.choice,
                "oracle": max(means, key=means.get), "regret": best - means[sel.choice],
                "regret_random": best - statistics.mean(means.values()),
                "regret_always": {fw: best - v for fw, v in means.items()},
            })
    summary: Dict[str, object] = {"cases": len(out_rows)}
    if out_rows:
        summary["selector_mean_regret"] = statistics.mean(r["regret"] for r in out_rows)
        summary["selector_median_regret"] = statistics.median(r["regret"] for r in out_rows)
        summary["random_mean_regret"] = statistics.mean(r["regret_random"] for r in out_rows)
        fws = sorted({fw for r in out_rows for fw in r["regret_always"]})
        summary["always_mean_regret"] = {
            fw: statistics.mean(r["regret_always"][fw] for r in out_rows if fw in r["regret_always"]) for fw in fws}
        summary["picked_oracle_share"] = sum(r["choice"] == r["oracle"] for r in out_rows) / len(out_rows)
    return {"summary": summary, "cases": out_rows}


def to_markdown(result: Dict[str, object]) -> str:
    s = result["summary"]
    lines = ["# Selector regret (leave one dataset out)", "",
             "Regret is in each dataset's own metric (AMLB `result`, higher is better: AUC, -logloss, "
             "-RMSE), so means mix units; read the per-case table too. Rerun: "
             "`python benchmarks/selector/regret.py benchmarks/results/standard`.", ""]
    if not s.get("cases"):
        return "\n".join(lines + ["No cases: the results hold fewer than two backends per dataset."]) + "\n"
    lines += [f"- cases (dataset x constraint): {s['cases']}",
              f"- selector mean regret: {s['selector_mean_regret']:.4f} (median {s['selector_median_regret']:.4f})",
              f"- random pick mean regret: {s['random_mean_regret']:.4f}",
              f"- selector picked the best backend in {s['picked_oracle_share']:.0%} of cases", "",
              "| always pick | mean regret |", "|---|---|"]
    lines += [f"| {fw} | {v:.4f} |" for fw, v in s["always_mean_regret"].items()]
    lines += ["", "| dataset | constraint | choice | best | regret |", "|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['constraint']} | {r['choice']} | {r['oracle']} | {r['regret']:.4f} |"
              for r in result["cases"]]
    return "\n".join(lines) + "\n"


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="*", default=["benchmarks/results"])
    ap.add_argument("--out", default="benchmarks/selector")
    a = ap.parse_args(argv)
    files: List[str] = []
    for r in a.results:
        p = Path(r)
        files.extend([str(p)] if p.is_file() else sorted(str(f) for f in p.rglob("results.csv")))
    if not files:
        print("no results.csv found", file=sys.stderr)
        return 2
    result = evaluate(files)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "regret.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "regret.md").write_text(to_markdown(result))
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
