"""The TabArena-style part of ``automux report``: Elo with bootstrap CIs, improvability, Pareto, breakdowns.

Definitions (the same text is in the report and in benchmarks/README.md):

* **instances**: per constraint, (data set, fold, seed) with a cell of every backend; results
  averaged over repeats.
* **failure imputation** (as TabArena imputes a failed method with its default random forest):
  a failed / timed-out cell takes the ``reference`` backend's result on the same instance
  (the anchor's when there is no ``reference``); when the anchor failed there too, the worst
  ok result of the instance; an instance where nothing finished is left out (and counted).
  Imputed cells are counted in ``imputed``.
* **Elo**: a Bradley-Terry model fitted by maximum likelihood on every pairwise outcome of
  every instance (a win 1, a tie half to each), plus half a virtual tie per pair (keeps the
  ratings finite when one backend wins every comparison; negligible otherwise), on Elo's
  scale (400 points = 10:1 odds), the anchor pinned at 1000: ``reference`` when it ran, else
  the first framework alphabetically. 95 % CI: 2.5 and 97.5 percentiles over bootstrap
  resamples of the *data sets* (all folds and seeds of a data set go together), seeded.
* **error** (lower is better, >= 0): ``-result`` for ``neg_`` metrics (log loss, RMSE),
  ``1 - result`` otherwise (AUC, accuracy, R2).
* **improvability**: ``1 - best error / error`` within the instance (0 for the best backend,
  and when every error is 0), averaged over instances: how much lower the error could have
  been had the best backend been used.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .report_base import INSTANCE, Block, _table, averaged

ANCHOR = "reference"
BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 0
ELO_SCALE = 400.0
PRIOR_TIE = 0.5  # virtual ties per pair
SIZE_BINS = ((0, 1000, "< 1k rows"), (1000, 10000, "1k-10k rows"), (10000, math.inf, ">= 10k rows"))


def anchor_of(frameworks: List[str]) -> str:
    """The framework pinned at Elo 1000: ``reference`` when present, else the first alphabetically."""
    return ANCHOR if ANCHOR in frameworks else sorted(frameworks)[0]


def error_of(result: float, metric: str) -> float:
    """The lower-is-better error of a higher-is-better ``result`` (see the module docstring)."""
    if result != result:
        return float("nan")
    if str(metric).startswith("neg_"):
        return max(0.0, -float(result))
    return max(0.0, 1.0 - float(result))


def imputed(df: Any) -> Tuple[Any, int]:
    """(instance x framework results with failures imputed, instances left out because nothing finished).

    Columns: INSTANCE, framework, result, imputed (bool), error, type (the task type when known).
    Only instances with a cell of every framework of the constraint.
    """
    import pandas as pd

    avg = averaged(df)
    types = df.groupby("task")["type"].first() if "type" in df.columns else None
    rows: List[Dict[str, Any]] = []
    dropped = 0
    for cons, gc in avg.groupby("constraint"):
        fws = sorted(df[df["constraint"] == cons]["framework"].unique())
        anchor = anchor_of(fws)
        for key, g in gc.groupby(INSTANCE, dropna=False):
            if set(g["framework"]) != set(fws):
                continue
            res = g.set_index("framework")["result"]
            if res.notna().sum() == 0:
                dropped += 1
                continue
            fill = res.get(anchor)
            if fill is None or fill != fill:
                fill = res.min()  # the anchor failed too: the worst ok result
            metric = g["metric"].dropna().iloc[0] if g["metric"].notna().any() else ""
            for fw in fws:
                r, imp = res[fw], False
                if r != r:
                    r, imp = fill, True
                rows.append(dict(zip(INSTANCE, key), framework=fw, result=float(r), imputed=imp,
                                 error=error_of(float(r), metric),
                                 type=(types.get(key[1], "") if types is not None else "")))
    cols = INSTANCE + ["framework", "result", "imputed", "error", "type"]
    return pd.DataFrame(rows, columns=cols), dropped


def _outcome(a: float, b: float) -> float:
    """1 when a's result beats b's, 0.5 for a tie (1e-9 relative), 0 otherwise."""
    if abs(a - b) <= 1e-9 * max(1.0, abs(b)):
        return 0.5
    return 1.0 if a > b else 0.0


def win_matrices(imp: Any, frameworks: List[str]) -> Tuple[List[str], Any]:
    """(data sets, array [data set, i, j] of i's wins over j summed over that data set's instances)."""
    import numpy as np

    pos = {fw: i for i, fw in enumerate(frameworks)}
    tasks = sorted(imp["task"].unique())
    tix = {t: n for n, t in enumerate(tasks)}
    W = np.zeros((len(tasks), len(frameworks), len(frameworks)))
    for key, g in imp.groupby(["task", "fold", "seed"], dropna=False):
        res = dict(zip(g["framework"], g["result"]))
        for a, ra in res.items():
            for b, rb in res.items():
                if a != b:
                    W[tix[key[0]], pos[a], pos[b]] += _outcome(ra, rb)
    return tasks, W


def bradley_terry(W: Any, anchor: int, prior: float = PRIOR_TIE, iters: int = 100) -> Any:
    """Elo ratings (anchor = 1000) maximising the Bradley-Terry likelihood of win matrix ``W``.

    ``W[i, j]``: i's wins over j (ties counted half to each). Newton's method on the log
    strengths with the anchor's fixed at 0; ``prior`` virtual ties per pair are added.
    """
    import numpy as np

    k = W.shape[0]
    Wp = W + (prior / 2.0) * (1 - np.eye(k))
    N = Wp + Wp.T
    theta = np.zeros(k)
    free = [i for i in range(k) if i != anchor]
    for _ in range(iters):
        P = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
        grad = (Wp - N * P).sum(axis=1)
        H = N * P * (1 - P)
        hess = H - np.diag(H.sum(axis=1))
        step = np.linalg.solve(hess[np.ix_(free, free)], grad[free])
        theta[free] -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return 1000.0 + ELO_SCALE / math.log(10) * (theta - theta[anchor])


def elo_table(imp: Any, rounds: int = BOOTSTRAP_ROUNDS, seed: int = BOOTSTRAP_SEED) -> Any:
    """Per framework: elo, 95 % CI (bootstrap over data sets), improvability, imputed cells, instances."""
    import numpy as np
    import pandas as pd

    frameworks = sorted(imp["framework"].unique())
    cols = ["framework", "elo", "elo_ci_low", "elo_ci_high", "improvability", "imputed", "instances", "data_sets"]
    if len(frameworks) < 2 or imp.empty:
        return pd.DataFrame(columns=cols)
    anchor = frameworks.index(anchor_of(frameworks))
    tasks, W = win_matrices(imp, frameworks)
    elo = bradley_terry(W.sum(axis=0), anchor)
    rng = np.random.default_rng(seed)
    boots = np.array([bradley_terry(W[rng.integers(0, len(tasks), len(tasks))].sum(axis=0), anchor)
                      for _ in range(rounds)])
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    improv = improvability(imp)
    n_inst = len(imp.groupby(["task", "fold", "seed"]))
    rows = [{"framework": fw, "elo": elo[i], "elo_ci_low": lo[i], "elo_ci_high": hi[i],
             "improvability": improv.get(fw, float("nan")),
             "imputed": int(imp[imp["framework"] == fw]["imputed"].sum()), "instances": n_inst,
             "data_sets": len(tasks)} for i, fw in enumerate(frameworks)]
    return pd.DataFrame(rows, columns=cols).sort_values(["elo", "framework"], ascending=[False, True])


def improvability(imp: Any) -> Dict[str, float]:
    """Mean over instances of ``1 - best error / error`` per framework."""
    vals: Dict[str, List[float]] = {}
    for _, g in imp.groupby(["task", "fold", "seed"], dropna=False):
        best = g["error"].min()
        for fw, e in zip(g["framework"], g["error"]):
            vals.setdefault(fw, []).append(0.0 if e <= 0 or e != e else 1.0 - best / e)
    return {fw: sum(v) / len(v) for fw, v in vals.items()}


def _median(df: Any, fw: str, col: str) -> float:
    if col not in df.columns:
        return float("nan")
    v = df[(df["framework"] == fw) & (df["status"] == "ok")][col].dropna()
    return float(v.median()) if len(v) else float("nan")


def time_summary(charged: Any, table: Any) -> Any:
    """``table`` (elo per framework) with median search, start-up and predict seconds of ok runs."""
    t = table.copy()
    t["search_s"] = [_median(charged, fw, "training_duration") for fw in t["framework"]]
    t["startup_s"] = [_median(charged, fw, "startup") for fw in t["framework"]]
    t["predict_s"] = [_median(charged, fw, "predict_duration") for fw in t["framework"]]
    return t


def size_bin(rows: Optional[float]) -> str:
    if rows is None or rows != rows:
        return "size unknown"
    return next(label for lo, hi, label in SIZE_BINS if lo <= rows < hi)


def breakdown(imp: Any, by: Dict[str, str]) -> Any:
    """Elo (no CI) and improvability per framework within each group of data sets (``by``: task -> group)."""
    import pandas as pd

    rows = []
    order = [lab for _, _, lab in SIZE_BINS]
    for grp in sorted(set(by.get(t, "?") for t in imp["task"].unique()),
                      key=lambda g: (order.index(g) if g in order else len(order), g)):
        sub = imp[[by.get(t, "?") == grp for t in imp["task"]]]
        fws = sorted(sub["framework"].unique())
        if len(fws) < 2:
            continue
        tasks, W = win_matrices(sub, fws)
        elo = bradley_terry(W.sum(axis=0), fws.index(anchor_of(fws)))
        improv = improvability(sub)
        for i, fw in enumerate(fws):
            rows.append({"group": grp, "data_sets": len(tasks), "framework": fw, "elo": elo[i],
                         "improvability": improv[fw]})
    return pd.DataFrame(rows)


def _breakdown_table(bd: Any) -> Any:
    """Frameworks x groups, each cell ``elo / improvability``; group headers carry their data set count."""
    if bd.empty:
        return bd
    bd = bd.assign(col=[f"{g} ({n} data set{'' if n == 1 else 's'})" for g, n in zip(bd["group"], bd["data_sets"])],
                   cell=[f"{e:.0f} / {i:.3f}" for e, i in zip(bd["elo"], bd["improvability"])])
    cols = list(dict.fromkeys(bd["col"]))  # the groups in breakdown()'s order
    return bd.pivot(index="framework", columns="col", values="cell").reindex(columns=cols).fillna("-")


SIZES_FILE = "dataset_rows.json"


def _has_rows(df: Any) -> bool:
    return "rows" in df.columns and bool(df["rows"].notna().any())


def dataset_rows(out: Path, df: Any) -> Dict[str, float]:
    """Rows per data set: the results' ``rows`` column when it has one, else each cell's data set's row
    count kept in ``OUT/dataset_rows.json`` (keyed by the data set's spec), taken from its profile
    (:func:`automux.bench.report_constraints.dataset_profiles`, which loads each data set once)."""
    import json

    if _has_rows(df):
        return {t: float(v) for t, v in df.groupby("task")["rows"].max().items()}
    from .results import read_cells

    cache_path = Path(out) / SIZES_FILE
    try:
        cache = json.loads(cache_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    sizes: Dict[str, float] = {}
    specs = {body["cell"]["dataset"]["name"]: body["cell"]["dataset"] for body in read_cells(out).values()}
    profiles: Optional[Dict[str, Dict[str, Any]]] = None
    for name, d in sorted(specs.items()):
        key = json.dumps(d, sort_keys=True)
        if key not in cache:
            if profiles is None:  # each data set loaded once for both files (the profile has its rows)
                from .report_constraints import dataset_profiles

                profiles = dataset_profiles(out)
            if name not in profiles:
                continue  # a source not loadable here: its size is unknown, said in the table
            cache[key] = int(profiles[name]["rows"])
        sizes[name] = float(cache[key])
    if cache:
        cache_path.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return sizes

IMPUTATION_RULE = (
    "Failures are imputed as TabArena imputes them with its default random forest: a failed or timed-out "
    "cell takes the anchor's (`reference`'s) result on the same instance, or the worst ok result there when "
    "the anchor failed too; the `imputed` column counts them. An instance where nothing finished is left out.")


def tabarena_blocks(out: Path, df: Any, charged: Any, plots: Path) -> List[Block]:
    """The "Elo, improvability, Pareto, breakdowns" section (per constraint)."""
    from .report_figures import plot_pareto

    imp, dropped = imputed(df)
    blocks = [Block("h2", "Elo and improvability (TabArena style)")]
    if imp.empty:
        return blocks + [Block("p", "No complete instance yet: no Elo.")]
    fws = sorted(imp["framework"].unique())
    blocks.append(Block("p", (
        "Elo: a Bradley-Terry model fitted on every pairwise outcome (data set x fold x seed; a tie counts "
        f"half to each, plus {PRIOR_TIE:g} virtual tie per pair to keep ratings finite), on Elo's scale "
        f"(+400 = 10:1 odds of winning), `{anchor_of(fws)}` pinned at 1000"
        + ("" if ANCHOR in fws else f" (no `{ANCHOR}` backend ran: the first alphabetically)")
        + f". 95 % CI: percentiles of {BOOTSTRAP_ROUNDS} bootstrap resamples of the data sets (seed "
        f"{BOOTSTRAP_SEED}). Improvability: mean over instances of 1 - best error / error (0 = always the "
        "best; error = -result for `neg_` metrics, 1 - result otherwise). " + IMPUTATION_RULE
        + (f" Left out, nothing finished: {dropped} instances." if dropped else ""))))
    sizes = dataset_rows(out, df)
    size_note = ("from the `rows` column" if _has_rows(df) else "results.csv has no `rows` column, so each data "
                 f"set's source was loaded once, its row count kept in `{SIZES_FILE}`")
    for cons in sorted(imp["constraint"].unique()):
        sub = imp[imp["constraint"] == cons]
        table = elo_table(sub)
        blocks.append(Block("p", f"Constraint `{cons}`:"))
        blocks.append(Block("table", _table(table.round({"elo": 0, "elo_ci_low": 0, "elo_ci_high": 0,
                                                         "improvability": 4}))))
        summ = time_summary(charged[charged["constraint"] == cons], table)
        blocks.append(Block("p", (
            "Median seconds per ok run: `search_s` the search (`training_duration`), `startup_s` the backend's "
            "start-up (the `startup` column; `-` where results.csv has none), `predict_s` the hold-out "
            "prediction. The ensemble is charged its instance's backend runs plus its own selection.")))
        blocks.append(Block("table", _table(summ[["framework", "elo", "search_s", "startup_s", "predict_s"]]
                                            .round({"elo": 0, "search_s": 3, "startup_s": 3, "predict_s": 4}))))
        img = plot_pareto(summ, cons, plots)
        if img:
            blocks.append(Block("img", img, f"Elo against time {cons} (Pareto front dashed)"))
        by_type = _breakdown_table(breakdown(sub, {t: str(v) for t, v in
                                                   sub.groupby("task")["type"].first().items()}))
        blocks.append(Block("p", "By task type (cells: Elo / improvability, Elo fitted within the group, "
                                 "anchor at 1000):"))
        blocks.append(Block("table", _table(by_type, index=True)))
        by_size = _breakdown_table(breakdown(sub, {t: size_bin(sizes.get(t)) for t in sub["task"].unique()}))
        blocks.append(Block("p", f"By data size (rows of the data set before the hold-out split; {size_note}):"))
        blocks.append(Block("table", _table(by_size, index=True)))
    return blocks
