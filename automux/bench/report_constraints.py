""""Which tool for which constraint", from evidence: the report's constraint table.

For each constraint a user states (a seconds or count budget, deterministic required,
interpretable required, fewer than 1k rows, more than 10k rows, mostly categorical, many
missing values, small memory) and each constraint of the bench: the backends and data sets
that qualify, the best backend by mean normalised score over those data sets, its margin over
the runner-up with a 95 % bootstrap CI over data sets, and how many data sets stand behind it.

Definitions (the same text is in the report):

* **score**: the leaderboard's normalised score within each instance (data set x fold x seed,
  over the bench's backends, the ``ensemble`` row left out: it is not a backend a user picks),
  a failure counted 0, averaged per data set over its folds and seeds.
* **qualifying backends**: *deterministic required*: those whose cells declare
  ``declared_deterministic`` under that constraint's budget mode; *interpretable required*:
  those the selector's hard rule ``interpretable_output`` keeps (an adapter that produces an
  ensemble or a stack is out); otherwise every backend.
* **qualifying data sets** (from ``dataset_profile.json``, measured once per data set on the
  data the backends saw, after its drops): rows < 1k, rows > 10k, categorical columns > 50 %
  of the features (a column is categorical when its dtype is neither numeric nor boolean),
  missing cells > 5 % of the feature cells.
* **margin**: mean over the qualifying data sets of best - runner-up (paired), 95 % CI from
  the 2.5 / 97.5 percentiles of ``ROUNDS`` bootstrap resamples of the data sets (seeded);
  ``best_share``: share of those resamples in which the best stays best. Fewer than
  ``MIN_DATA_SETS`` data sets: "not enough evidence".
* **small memory**: no bench measures a run's memory, and the selector has no memory rule: no
  measured evidence, said so.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .report_base import ENSEMBLE, Block, _budgets, _declared, _table, ranks
from .results import read_cells

PROFILE_FILE = "dataset_profile.json"
TABLE_FILE = "constraint_table.json"
MIN_DATA_SETS = 3
ROUNDS = 1000
SEED = 0
FEW_ROWS = 1_000
MANY_ROWS = 10_000
CATEGORICAL_SHARE = 0.5
MISSING_SHARE = 0.05
#: What an adapter may produce and still pass the selector's ``interpretable_output`` rule.
NOT_INTERPRETABLE = ("ensemble", "stack")

#: (user constraint, its data-set filter over a profile) for the data-size and data-kind rows.
DATA_FILTERS = (
    (f"fewer than {FEW_ROWS:,} rows", lambda p: p["rows"] < FEW_ROWS),
    (f"more than {MANY_ROWS:,} rows", lambda p: p["rows"] > MANY_ROWS),
    (f"mostly categorical (> {CATEGORICAL_SHARE:.0%} of columns)", lambda p: p["categorical_share"] > CATEGORICAL_SHARE),
    (f"many missing values (> {MISSING_SHARE:.0%} of cells)", lambda p: p["missing_share"] > MISSING_SHARE),
)


def measure_profile(ds: Any) -> Dict[str, Any]:
    """Rows, features, categorical share of the columns and missing share of the cells of a loaded data set."""
    import pandas as pd

    X = ds.X
    cat = sum(1 for c in X.columns if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])))
    cells = X.shape[0] * X.shape[1]
    return {"rows": int(len(X)), "features": int(X.shape[1]),
            "categorical_share": round(cat / X.shape[1], 6) if X.shape[1] else 0.0,
            "missing_share": round(float(X.isna().to_numpy().sum()) / cells, 6) if cells else 0.0}


def dataset_profiles(out: Path) -> Dict[str, Dict[str, Any]]:
    """Data set name -> its profile, each data set of the cells loaded once and kept in ``OUT/dataset_profile.json``
    (keyed by the data set's spec); a source that cannot be loaded here is left out."""
    path = Path(out) / PROFILE_FILE
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    specs = {body["cell"]["dataset"]["name"]: body["cell"]["dataset"] for body in read_cells(out).values()}
    found: Dict[str, Dict[str, Any]] = {}
    for name, d in sorted(specs.items()):
        key = json.dumps(d, sort_keys=True)
        if key not in cache:
            try:
                from .cellrun import load_dataset

                cache[key] = measure_profile(load_dataset(d["source"], d.get("target"), d.get("task"),
                                                          tuple(d.get("drop") or ()), bool(d.get("drop_missing_target"))))
            except Exception:  # noqa: BLE001 - a source not loadable here: its profile is unknown, counted
                continue
        found[name] = cache[key]
    if cache:
        path.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return found


def interpretable(backend_name: str) -> Optional[bool]:
    """Whether the selector's ``interpretable_output`` rule keeps this adapter (None: not registered here)."""
    from ..core import registry

    adapter = registry.adapters().get(backend_name)
    if adapter is None:
        return None
    return adapter.capabilities.to_json().get("produces", "single") not in NOT_INTERPRETABLE


def score_matrix(df: Any, constraint: str) -> Any:
    """Data sets x backends: normalised score (failure 0) averaged over folds and seeds, ensemble left out."""
    sub = df[(df["constraint"] == constraint) & (df["framework"] != ENSEMBLE)]
    rk = ranks(sub)
    if rk.empty:
        import pandas as pd
        return pd.DataFrame()
    rk = rk.assign(score=rk["normalised"].where(rk["result"].notna(), 0.0).astype(float))
    return rk.groupby(["task", "framework"])["score"].mean().unstack("framework").sort_index()


def best_of(matrix: Any, rounds: int = ROUNDS, seed: int = SEED) -> Dict[str, Any]:
    """Best and runner-up by mean over the rows of ``matrix`` (data sets x qualifying backends), the paired margin
    with its bootstrap 95 % CI and the share of resamples the best stays best."""
    import numpy as np

    m = matrix.dropna()
    out: Dict[str, Any] = {"data_sets": int(len(m)), "best": None, "runner_up": None, "best_mean": None,
                           "runner_up_mean": None, "margin": None, "margin_ci_low": None, "margin_ci_high": None,
                           "best_share": None}
    if m.shape[1] == 0 or len(m) == 0:
        return out
    means = m.mean().sort_values(ascending=False, kind="mergesort")
    out.update(best=str(means.index[0]), best_mean=float(means.iloc[0]))
    if m.shape[1] < 2:
        return out
    best, runner = means.index[0], means.index[1]
    idx = np.random.default_rng(seed).integers(0, len(m), size=(rounds, len(m)))
    diff = (m[best] - m[runner]).to_numpy()
    boot = diff[idx].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    cols = list(m.columns)
    winners = m.to_numpy()[idx].mean(axis=1).argmax(axis=1)
    out.update(runner_up=str(runner), runner_up_mean=float(means.iloc[1]), margin=float(diff.mean()),
               margin_ci_low=float(lo), margin_ci_high=float(hi),
               best_share=float((winners == cols.index(best)).mean()))
    return out


def _verdict(r: Dict[str, Any]) -> str:
    if not r["qualifying"]:
        return f"no backend qualifies ({r['basis']})"
    if r["best"] is None:
        return f"no data set qualifies ({r['basis']})"
    if r["data_sets"] < MIN_DATA_SETS:
        return f"not enough evidence ({r['data_sets']} data set{'s' if r['data_sets'] != 1 else ''})"
    if r["runner_up"] is None:
        return "the only qualifying backend"
    if r["margin_ci_low"] > 0:
        return "best, margin CI above 0"
    return "best by mean, not separated from the runner-up (CI includes 0)"


def _row(user: str, cons: str, qualifying: List[str], matrix: Any, basis: str) -> Dict[str, Any]:
    cols = [c for c in qualifying if c in matrix.columns] if not matrix.empty else []
    r = dict(constraint=user, bench_constraint=cons, qualifying=cols, basis=basis,
             **best_of(matrix[cols] if cols else matrix.iloc[:, :0]))
    r["evidence"] = _verdict(r)
    return r


def constraint_rows(out: Path, df: Any) -> List[Dict[str, Any]]:
    """Every row of the table: per bench constraint, one per user constraint (see the module docstring)."""
    budgets, declared = _budgets(out, df), _declared(out)
    profiles = dataset_profiles(out)
    names = {}
    for body in read_cells(out).values():
        b = body["cell"]["backend"]
        names[b.get("label") or b["name"]] = b["name"]
    rows: List[Dict[str, Any]] = []
    for cons in sorted(df["constraint"].unique()):
        m = score_matrix(df, cons)
        fws = sorted(m.columns) if not m.empty else []
        b = budgets.get(cons, {})
        kind = (f"count budget ({int(b['trials'])} trials)" if b.get("trials") else
                f"seconds budget ({float(b['seconds']):g} s)" if b.get("seconds") else "budget (unknown: no cells)")
        rows.append(_row(kind, cons, fws, m, "every backend, every data set"))
        det = [fw for fw in fws if declared.get((fw, cons))]
        rows.append(_row("deterministic required", cons, det, m, "cells' declared_deterministic under this budget mode"))
        interp = [fw for fw in fws if interpretable(names.get(fw, fw))]
        rows.append(_row("interpretable required", cons, interp, m, "selector rule interpretable_output"))
        known = [t for t in (m.index if not m.empty else []) if t in profiles]
        for user, keep in DATA_FILTERS:
            tasks = [t for t in known if keep(profiles[t])]
            basis = f"{PROFILE_FILE}: {len(tasks)} of {len(known)} profiled data sets"
            rows.append(_row(user, cons, fws, m.loc[tasks] if tasks else m.iloc[:0], basis))
        rows.append(dict(_row("small memory", cons, [], m.iloc[:0], "no run's memory is measured"),
                         evidence="no measured evidence: the bench records no memory use and the selector has "
                                  "no memory rule"))
    return rows


def write_table(out: Path, rows: List[Dict[str, Any]]) -> Path:
    """``OUT/constraint_table.json``: the rows and how they were made (no clock: same results, same bytes)."""
    body = {"schema": 1, "made_by": "automux report", "from": "results.csv + " + PROFILE_FILE,
            "score": "normalised score per instance (failure 0), mean per data set; ensemble row left out",
            "margin_ci": f"95 % bootstrap over data sets, {ROUNDS} resamples, seed {SEED}",
            "min_data_sets": MIN_DATA_SETS,
            "thresholds": {"few_rows": FEW_ROWS, "many_rows": MANY_ROWS, "categorical_share": CATEGORICAL_SHARE,
                           "missing_share": MISSING_SHARE},
            "rows": rows}
    path = Path(out) / TABLE_FILE
    path.write_text(json.dumps(body, indent=1, sort_keys=True, default=float) + "\n", encoding="utf-8")
    return path


def constraint_blocks(out: Path, df: Any) -> List[Block]:
    """The "Which tool for which constraint" section (and ``constraint_table.json`` beside the report)."""
    import pandas as pd

    rows = constraint_rows(out, df)
    write_table(out, rows)
    blocks = [Block("h2", "Which tool for which constraint")]
    blocks.append(Block("p", (
        "Per constraint a user states and per bench constraint: the best backend by mean normalised score "
        "(per instance as in the leaderboard, a failure 0, averaged per data set; the `ensemble` row left out) "
        "over the qualifying data sets and backends, the runner-up, the margin (mean paired difference) with a "
        f"95 % CI from {ROUNDS} bootstrap resamples of the data sets, `best_share` (resamples where the best "
        f"stays best) and the data sets behind it; under {MIN_DATA_SETS} data sets: not enough evidence. "
        "Deterministic: backends whose cells declare `declared_deterministic` under the budget; interpretable: "
        "backends the selector's `interpretable_output` rule keeps (no ensembles or stacks). Data filters from "
        f"`{PROFILE_FILE}` (each data set loaded once, as the backends saw it): rows < {FEW_ROWS:,}, "
        f"rows > {MANY_ROWS:,}, categorical (non-numeric) columns > {CATEGORICAL_SHARE:.0%} of features, missing "
        f"cells > {MISSING_SHARE:.0%}. Also written as `{TABLE_FILE}`.")))
    table = pd.DataFrame([{
        "constraint": r["constraint"], "bench": r["bench_constraint"], "best": r["best"] or "-",
        "runner_up": r["runner_up"] or "-", "margin": r["margin"],
        "margin_95ci": "-" if r["margin_ci_low"] is None else f"[{r['margin_ci_low']:.3f}, {r['margin_ci_high']:.3f}]",
        "best_share": r["best_share"], "data_sets": r["data_sets"], "backends": len(r["qualifying"]),
        "evidence": r["evidence"]} for r in rows])
    blocks.append(Block("table", _table(table.round({"margin": 4, "best_share": 3}))))
    return blocks
