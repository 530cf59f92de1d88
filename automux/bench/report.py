"""``automux report DIR``: a Markdown and an HTML report, with PNG plots, from a bench's results.

Sections: mean rank per backend, a TabArena / AMLB style leaderboard (mean rank,
normalised score, win rate, champion share, failures) with a critical-difference
diagram per constraint, the ``ensemble`` row against the best single backend (when the
suite has one), score per data set, score against wall time,
budget adherence, failures, determinism across repeats. Definitions:

* **rank**: within each (constraint, data set, fold, seed) the frameworks are
  ranked by ``result`` (AMLB's higher-is-better score, averaged over repeats;
  1 = best, ties share the mean rank); a framework with no result there gets the
  worst rank. The mean rank is over those instances.
* **normalised score**: within the same instance, ``(result - worst) / (best -
  worst)``, so 1 is the best framework there and 0 the worst (0.5 when all tie).
* **budget adherence** (seconds constraints): ``duration / budget seconds``
  and ``budget_overrun_s``; a run over its deadline (budget + grace) was killed
  and has status ``timeout``. Trial constraints: candidates against the trial
  count.
* **determinism across repeats**: a group is one (constraint, data set, fold,
  seed, framework) run several times (``repeats``); it is *identical* when all
  its repeats finished ok with the same ``predictions_sha256``.
"""
from __future__ import annotations

import html
import json
import math
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .report_base import (ENSEMBLE, INSTANCE, PLOTS_DIR, Block, _budgets, _colors, _declared, _fmt, _plt,  # noqa: F401
                          _save, _table, averaged, charge_ensemble, data_uri, ranks)
from .report_figures import draw_cd, plot_score_time, plot_scores  # noqa: F401
from .results import read_cells, read_results

#: Fewest data sets a critical-difference diagram is drawn over (with fewer, Friedman / Nemenyi mean nothing).
CD_MIN_DATA_SETS = 3


# ---------------------------------------------------------------- computations

def _empty_ranks() -> Any:
    """An empty ranks frame with the right columns (no complete instance yet)."""
    import pandas as pd

    return pd.DataFrame(columns=INSTANCE + ["framework", "rank", "result", "normalised", "duration"])


def mean_rank_table(rk: Any) -> Any:
    t = rk.groupby(["framework", "constraint"])["rank"].mean().unstack("constraint")
    t["mean"] = t.mean(axis=1)
    return t.sort_values("mean")


def determinism(df: Any, declared: Dict[Tuple[str, str], Optional[bool]]) -> Tuple[Any, Any]:
    """(summary per framework+constraint, per group detail) over groups with 2+ repeats."""
    import pandas as pd

    keys = INSTANCE + ["framework"]
    groups = []
    for key, g in df.groupby(keys, dropna=False):
        if len(g) < 2:
            continue
        all_ok = bool((g["status"] == "ok").all())
        shas = set(g["predictions_sha256"].fillna(""))
        groups.append(dict(zip(keys, key), repeats=len(g), all_ok=all_ok,
                           identical=all_ok and len(shas) == 1 and "" not in shas,
                           distinct_predictions=len(shas)))
    detail = pd.DataFrame(groups)
    if detail.empty:
        return detail, detail
    summ = (detail.groupby(["framework", "constraint"])
            .agg(groups=("identical", "size"), all_ok=("all_ok", "sum"), identical=("identical", "sum"))
            .reset_index())
    summ["identical_share"] = summ["identical"] / summ["groups"]
    summ["declared_deterministic"] = [declared.get((f, c)) for f, c in zip(summ["framework"], summ["constraint"])]
    return summ, detail


def budget_table(df: Any, budgets: Dict[str, Dict[str, Any]]) -> Tuple[Any, Any]:
    """(seconds constraints: duration vs budget, trial constraints: candidates vs trials)."""
    import pandas as pd

    sec_rows, trial_rows = [], []
    for (fw, cons), g in df.groupby(["framework", "constraint"]):
        b = budgets.get(cons, {})
        if b.get("seconds"):
            budget = float(b["seconds"])
            from ..core.experiment.budget import DEFAULT_GRACE_S

            grace = DEFAULT_GRACE_S if b.get("grace") is None else float(b["grace"])
            ran = g[g["duration"].notna()]
            over = ran["budget_overrun_s"].fillna(0)
            sec_rows.append({
                "framework": fw, "constraint": cons, "budget_s": budget, "cells": len(g),
                "median_duration_s": ran["duration"].median(), "max_duration_s": ran["duration"].max(),
                "median_overrun_s": over.median() if len(over) else None,
                "max_overrun_s": over.max() if len(over) else None,
                "over_budget_share": float((over > 0).mean()) if len(over) else None,
                "timeouts": int((g["status"] == "timeout").sum()),
                "grace_s": grace,
            })
        if b.get("trials"):
            trials = int(b["trials"])
            mc = g["models_count"].dropna()
            trial_rows.append({
                "framework": fw, "constraint": cons, "trials": trials, "cells": len(g),
                "median_candidates": mc.median() if len(mc) else None,
                "exact_share": float((mc == trials).mean()) if len(mc) else None,
                "over_share": float((mc > trials).mean()) if len(mc) else None,
                "median_duration_s": g["duration"].median(),
            })
    return pd.DataFrame(sec_rows), pd.DataFrame(trial_rows)


# ---------------------------------------------------------------- TabArena / AMLB style ranks

#: Significance level of the Friedman test and the Nemenyi critical difference.
CD_ALPHA = 0.05


def _imputed_normalised(rk: Any) -> Any:
    """Normalised score with a failure counted as 0 (the worst backend of its instance), not dropped."""
    return rk["normalised"].where(rk["result"].notna(), 0.0)


def leaderboard(df: Any, rk: Any) -> Any:
    """Per constraint and framework, over the ranked (complete) instances, failures counted.

    Columns: ``mean_rank`` (1 = best; a failure takes the worst rank), ``mean_normalised`` and
    ``median_normalised`` (a failure counts 0), ``win_rate`` (share of pairwise comparisons
    against every other framework on the same instance that it wins; ties count half, a failure
    loses to every result and ties with another failure), ``champion`` (share of instances where
    it is best or tied best), ``failed_cells`` (cells of that constraint that did not finish ok,
    counted over every cell, ranked or not), ``instances`` (ranked instances).
    """
    import pandas as pd

    cols = ["constraint", "framework", "mean_rank", "mean_normalised", "median_normalised", "win_rate",
            "champion", "failed_cells", "instances"]
    if rk.empty:
        return pd.DataFrame(columns=cols)
    rk = rk.assign(norm_imp=_imputed_normalised(rk))
    rows = []
    for cons, g in rk.groupby("constraint"):
        wins: Dict[str, float] = {}
        pairs: Dict[str, int] = {}
        champ: Dict[str, int] = {}
        n_inst = 0
        for _, inst in g.groupby(INSTANCE[1:], dropna=False):
            n_inst += 1
            r = dict(zip(inst["framework"], inst["rank"]))
            best = min(r.values())
            for a, ra in r.items():
                champ[a] = champ.get(a, 0) + int(ra == best)
                for b, rb in r.items():
                    if a == b:
                        continue
                    wins[a] = wins.get(a, 0.0) + (1.0 if ra < rb else 0.5 if ra == rb else 0.0)
                    pairs[a] = pairs.get(a, 0) + 1
        cells = df[df["constraint"] == cons]
        for fw, f in g.groupby("framework"):
            rows.append({"constraint": cons, "framework": fw, "mean_rank": f["rank"].mean(),
                         "mean_normalised": f["norm_imp"].mean(), "median_normalised": f["norm_imp"].median(),
                         "win_rate": wins.get(fw, 0.0) / pairs[fw] if pairs.get(fw) else float("nan"),
                         "champion": champ.get(fw, 0) / n_inst if n_inst else float("nan"),
                         "failed_cells": int(((cells["framework"] == fw) & (cells["status"] != "ok")).sum()),
                         "instances": n_inst})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["constraint", "mean_rank", "framework"]).reset_index(drop=True)


def rank_matrix(rk: Any, constraint: str) -> Any:
    """Data sets x frameworks: each framework's rank on that data set (averaged over folds and seeds)."""
    g = rk[rk["constraint"] == constraint]
    return g.groupby(["task", "framework"])["rank"].mean().unstack("framework").sort_index()


def critical_difference(matrix: Any, alpha: float = CD_ALPHA) -> Dict[str, Any]:
    """Friedman test and Nemenyi critical difference (Demsar 2006) over a blocks x frameworks matrix.

    ``matrix`` holds lower-is-better values (ranks), one row per data set (the blocks). The
    rows are re-ranked (ties share the mean rank); ``cd = q_alpha(k, inf) * sqrt(k (k + 1) / (12 N))``
    with ``q`` the studentized range quantile, the same formula ``autorank`` uses. ``groups``:
    maximal runs of frameworks (in mean-rank order) whose mean ranks lie within ``cd`` of each
    other, i.e. not significantly different.
    """
    import numpy as np
    from scipy import stats

    m = matrix.dropna()
    n, k = m.shape
    out: Dict[str, Any] = {"n": int(n), "k": int(k), "alpha": alpha, "friedman_p": float("nan"),
                           "cd": float("nan"), "mean_ranks": {}, "groups": []}
    if k < 2 or n < 1:
        return out
    rr = m.rank(axis=1, method="average")
    mean = rr.mean().sort_values()
    out["mean_ranks"] = {str(fw): float(v) for fw, v in mean.items()}
    if k >= 3 and n >= 2:
        with np.errstate(all="ignore"):
            p = stats.friedmanchisquare(*[m[c].to_numpy() for c in m.columns]).pvalue
        out["friedman_p"] = float(p) if p == p else 1.0  # all ties: no evidence of a difference
    q = float(stats.studentized_range.ppf(1 - alpha, k, np.inf))
    out["cd"] = q * math.sqrt(k * (k + 1) / (12.0 * n))
    names, vals = list(mean.index), list(mean.values)
    groups: List[List[str]] = []
    for i in range(k):
        j = i
        while j + 1 < k and vals[j + 1] - vals[i] <= out["cd"]:
            j += 1
        if j > i and not any(set(names[i:j + 1]) <= set(gr) for gr in groups):
            groups.append([str(x) for x in names[i:j + 1]])
    out["groups"] = groups
    return out


def _autorank_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("autorank") is not None


def plot_cd(matrix: Any, cd: Dict[str, Any], constraint: str, plots: Path) -> Optional[str]:
    """The critical-difference diagram: autorank's (``plot_stats``) when installed, else drawn here.

    None (no diagram) under :data:`CD_MIN_DATA_SETS` data sets or 2 backends: the test means nothing there.
    """
    if cd["k"] < 2 or cd["n"] < CD_MIN_DATA_SETS or cd["cd"] != cd["cd"]:
        return None
    plt = _plt()
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in constraint)
    path = plots / f"cd_{safe}.png"
    title = (f"{constraint}: critical difference (Nemenyi, alpha={cd['alpha']:g}) = {cd['cd']:.2f} over "
             f"{cd['n']} data sets; Friedman p = {_fmt(cd['friedman_p'], 3)}")
    m = matrix.dropna()
    if _autorank_available() and cd["k"] >= 3 and cd["n"] >= 5:
        import warnings

        from autorank import autorank as _autorank, plot_stats

        import contextlib
        import io

        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            res = _autorank(m, alpha=cd["alpha"], order="ascending", force_mode="nonparametric")
            ax = plot_stats(res, allow_insignificant=True, width=7)
            fig = ax.get_figure()
            ax.set_title(title + " [autorank]", fontsize=8, pad=22)
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=100, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.3)
            plt.close(fig)
            return f"{PLOTS_DIR}/{path.name}"
    return draw_cd(cd, title, path)


def rank_blocks(df: Any, rk: Any, plots: Path) -> List[Block]:
    """The TabArena / AMLB style section: leaderboard per constraint and a CD diagram each."""
    blocks = [Block("h2", "Leaderboard (TabArena / AMLB style)")]
    blocks.append(Block("p", (
        "Per constraint, over the ranked instances (data set x fold x seed with a cell of every backend). "
        "`mean_rank`: 1 = best, a failed / timed-out cell takes the worst rank. `mean_normalised` / "
        "`median_normalised`: (result - worst) / (best - worst) within the instance, a failure counted as 0. "
        "`win_rate`: share of head-to-head comparisons with every other backend on the same instance that "
        "it wins (ties half; a failure loses to any result). `champion`: share of instances where it is "
        "best or tied best. `failed_cells`: cells not ok, counted over all cells of the constraint. "
        "Failures are counted, never dropped.")))
    lb = leaderboard(df, rk)
    if lb.empty:
        blocks.append(Block("p", "No complete instance yet: nothing to rank."))
        return blocks
    blocks.append(Block("table", _table(lb.round(3))))
    blocks.append(Block("p", (
        f"Critical-difference diagrams (Demsar 2006): Friedman test over the data sets (each backend's rank "
        f"on a data set averaged over its folds and seeds), Nemenyi critical difference at alpha = {CD_ALPHA:g}; "
        f"backends joined by a bar are not significantly different; drawn only over {CD_MIN_DATA_SETS}+ data sets. "
        + ("Drawn with `autorank` (with 3+ backends and 5+ data sets; drawn here otherwise)."
           if _autorank_available() else
           "Drawn here (`autorank` is not installed; the figures are the same formula)."))))
    rows, imgs = [], []
    for cons in sorted(rk["constraint"].unique()):
        m = rank_matrix(rk, cons)
        cd = critical_difference(m)
        rows.append({"constraint": cons, "data_sets": cd["n"], "backends": cd["k"],
                     "friedman_p": cd["friedman_p"], "critical_difference": cd["cd"],
                     "mean_ranks": ", ".join(f"{fw} {r:.2f}" for fw, r in cd["mean_ranks"].items()),
                     "not_significantly_different": "; ".join(" = ".join(g) for g in cd["groups"]) or "-"})
        img = plot_cd(m, cd, cons, plots)
        if img:
            imgs.append(Block("img", img, f"critical difference {cons}"))
        elif cd["k"] >= 2:
            imgs.append(Block("p", f"No critical-difference diagram for `{cons}`: {cd['n']} data set(s) with a "
                                   f"result of every backend, and a Friedman / Nemenyi test over fewer than "
                                   f"{CD_MIN_DATA_SETS} data sets means nothing."))
    import pandas as pd
    blocks.append(Block("table", _table(pd.DataFrame(rows).round({"critical_difference": 4}))))
    return blocks + imgs


def ensemble_vs_best(df: Any) -> Tuple[Any, Any]:
    """(per constraint summary, per data set detail) of the ``ensemble`` row against the best single backend.

    Per instance (constraint, data set, fold, seed) with an ensemble cell: the ensemble's hold-out
    ``result`` against the best ok backend's there (the oracle single backend, picked on the hold-out).
    Per data set: the ensemble's mean ``result`` over its folds and seeds against the best single
    backend of that data set (the one with the best mean over the same instances). A failed
    ensemble counts as a loss. ``beats`` is strict; ``ties`` are equal to 1e-9 relative.
    """
    import pandas as pd

    cols = ["constraint", "instances", "beats_best", "ties_best", "loses_best", "ensemble_failed",
            "beats_share", "median_gap", "data_sets", "beats_best_of_data_set", "beats_share_data_sets"]
    if ENSEMBLE not in set(df["framework"]):
        return pd.DataFrame(columns=cols), pd.DataFrame()
    avg = averaged(df)
    inst_rows, ds_rows = [], []
    for key, g in avg.groupby(INSTANCE, dropna=False):
        ens = g[g["framework"] == ENSEMBLE]
        singles = g[(g["framework"] != ENSEMBLE) & g["result"].notna()]
        if ens.empty or singles.empty:
            continue
        e = ens["result"].iloc[0]
        best = singles.loc[singles["result"].idxmax()]
        inst_rows.append(dict(zip(INSTANCE, key), ensemble=e, best=best["result"], best_framework=best["framework"]))
    inst = pd.DataFrame(inst_rows)
    if inst.empty:
        return pd.DataFrame(columns=cols), pd.DataFrame()

    def outcome(e: float, b: float) -> str:
        if e != e:  # NaN: the ensemble failed
            return "failed"
        if abs(e - b) <= 1e-9 * max(1.0, abs(b)):
            return "tie"
        return "beats" if e > b else "loses"

    inst["outcome"] = [outcome(e, b) for e, b in zip(inst["ensemble"], inst["best"])]
    inst["gap"] = inst["ensemble"] - inst["best"]
    detail = []
    for (cons, task), g in inst.groupby(["constraint", "task"]):
        means = avg[(avg["constraint"] == cons) & (avg["task"] == task)]
        keys = set(map(tuple, g[["fold", "seed"]].values.tolist()))
        means = means[[(f, s) in keys for f, s in zip(means["fold"], means["seed"])]]
        per_fw = means.groupby("framework")["result"].mean()
        singles = per_fw.drop(ENSEMBLE, errors="ignore").dropna()
        if singles.empty:
            continue
        e = per_fw.get(ENSEMBLE, float("nan"))
        if g["ensemble"].isna().any():
            e = float("nan")  # a failed ensemble fold: the data set counts as a loss
        detail.append({"constraint": cons, "data_set": task, "ensemble": e, "best_single": singles.idxmax(),
                       "best_single_result": singles.max(), "instances": len(g),
                       "outcome": outcome(e, singles.max())})
    det = pd.DataFrame(detail)
    rows = []
    for cons, g in inst.groupby("constraint"):
        d = det[det["constraint"] == cons] if not det.empty else det
        n = len(g)
        rows.append({"constraint": cons, "instances": n, "beats_best": int((g["outcome"] == "beats").sum()),
                     "ties_best": int((g["outcome"] == "tie").sum()),
                     "loses_best": int((g["outcome"] == "loses").sum()),
                     "ensemble_failed": int((g["outcome"] == "failed").sum()),
                     "beats_share": float((g["outcome"] == "beats").mean()),
                     "median_gap": float(g["gap"].median()),
                     "data_sets": len(d), "beats_best_of_data_set": int((d["outcome"] == "beats").sum()) if len(d) else 0,
                     "beats_share_data_sets": float((d["outcome"] == "beats").mean()) if len(d) else float("nan")})
    return pd.DataFrame(rows, columns=cols), det


def with_cv_best(out: Optional[Path], df: Any) -> Tuple[Any, str]:
    """(``df`` with a ``cv_best`` column on its ensemble rows, where it came from).

    From results.csv when it has the column; else (results written before it existed) from the
    cells' ``best_member`` under ``out``; else the column is empty and the source says so.
    """
    ens = df["framework"] == ENSEMBLE
    if "cv_best" in df.columns and df.loc[ens, "cv_best"].notna().any():
        return df, "results.csv"
    from .ensembles import cv_best_from_cells

    found = cv_best_from_cells(read_cells(out)) if out is not None else {}
    df = df.assign(cv_best=[found.get(str(c)) if e else None for c, e in zip(df["cell_id"], ens)]
                   if "cell_id" in df.columns else None)
    return df, ("the cells' `best_member` (results.csv has no `cv_best` column)" if found else "")


def ensemble_vs_cv_best(df: Any) -> Any:
    """Per constraint: the ``ensemble`` row against its CV-chosen best single backend (``cv_best``).

    Per instance with an ok ensemble and a ``cv_best``: the ensemble's hold-out ``result`` against
    that backend's hold-out ``result`` on the same instance (averaged over repeats), beats / ties
    (1e-9 relative) / loses. ``cv_best_is_oracle``: share of those instances where the CV-chosen
    backend is also the best on the hold-out; ``median_gap_oracle_minus_cv``: what choosing on the
    hold-out would have added over choosing on the CV folds, in ``result`` units.
    """
    import pandas as pd

    cols = ["constraint", "instances", "beats_cv_best", "ties_cv_best", "loses_cv_best", "beats_share",
            "median_gap", "cv_best_is_oracle", "median_gap_oracle_minus_cv"]
    if "cv_best" not in df.columns or ENSEMBLE not in set(df["framework"]):
        return pd.DataFrame(columns=cols)
    picks = (df[(df["framework"] == ENSEMBLE) & df["cv_best"].notna() & (df["cv_best"] != "")]
             .groupby(INSTANCE, dropna=False)["cv_best"].agg(lambda s: s.mode().iloc[0]))
    results = {key: dict(zip(g["framework"], g["result"]))
               for key, g in averaged(df).groupby(INSTANCE, dropna=False)}
    rows = []
    for key, pick in picks.items():
        res = results.get(key, {})
        e, cv = res.get(ENSEMBLE, float("nan")), res.get(pick, float("nan"))
        best = max((r for fw, r in res.items() if fw != ENSEMBLE and r == r), default=float("nan"))
        if e != e or cv != cv:
            continue
        tie = abs(e - cv) <= 1e-9 * max(1.0, abs(cv))
        rows.append({"constraint": key[0], "outcome": "tie" if tie else "beats" if e > cv else "loses",
                     "gap": e - cv, "oracle": abs(best - cv) <= 1e-9 * max(1.0, abs(cv)), "oracle_gap": best - cv})
    inst = pd.DataFrame(rows, columns=["constraint", "outcome", "gap", "oracle", "oracle_gap"])
    out = []
    for cons, g in inst.groupby("constraint"):
        out.append({"constraint": cons, "instances": len(g), "beats_cv_best": int((g["outcome"] == "beats").sum()),
                    "ties_cv_best": int((g["outcome"] == "tie").sum()),
                    "loses_cv_best": int((g["outcome"] == "loses").sum()),
                    "beats_share": float((g["outcome"] == "beats").mean()), "median_gap": float(g["gap"].median()),
                    "cv_best_is_oracle": float(g["oracle"].mean()),
                    "median_gap_oracle_minus_cv": float(g["oracle_gap"].median())})
    return pd.DataFrame(out, columns=cols)


def _cv_best_blocks(out: Optional[Path], df: Any) -> List[Block]:
    """The ensemble against the single backend chosen on the CV folds (no hold-out peeking)."""
    df, source = with_cv_best(out, df)
    blocks = [Block("p", (
        "Against the best single backend chosen *without* the hold-out: `cv_best` is the member with the "
        "best out-of-fold score on automux's CV folds (what a user without the hold-out would pick; a member "
        "without out-of-fold predictions cannot be picked this way, nor enter the ensemble); the "
        "ensemble's hold-out result against that backend's, per instance (a failed ensemble has no "
        "`cv_best` and is counted above). `cv_best_is_oracle`: share of instances where that pick is also "
        "the hold-out best."))]
    summ = ensemble_vs_cv_best(df)
    if not source or summ.empty:
        blocks.append(Block("p", "No comparison with the CV-chosen backend: it needs the ensemble rows' `cv_best` "
                                 "column (written by the bench since it existed) or the ensemble cells' "
                                 "`best_member` beside results.csv, and neither is here."))
        return blocks
    blocks.append(Block("p", f"`cv_best` from {source}:"))
    blocks.append(Block("table", _table(summ.round(4))))
    return blocks


def ensemble_blocks(df: Any, out: Optional[Path] = None) -> List[Block]:
    """The section on the ``ensemble`` row, or nothing when the bench has none."""
    summ, det = ensemble_vs_best(df)
    if summ.empty:
        return []
    blocks = [Block("h2", "Ensemble against the best single backend")]
    blocks.append(Block("p", (
        "The `ensemble` row is automux's greedy ensemble selection (Caruana et al. 2004) over the backends' "
        "runs of the same instance, fitted on their out-of-fold predictions on automux's own CV folds and "
        "scored on the same hold-out; it is ranked above like any backend. Here it is compared with the "
        "*best* single backend of each instance, picked on the hold-out (an oracle no user has), then with the one picked on the CV folds: "
        "`beats_best` counts instances where the ensemble's hold-out result is strictly better, "
        "`median_gap` is ensemble - best in `result` units. Per data set: the ensemble's mean result over "
        "its folds and seeds against the single backend with the best mean there. A failed ensemble is a "
        "loss.")))
    blocks.append(Block("table", _table(summ.round(4))))
    blocks += _cv_best_blocks(out, df)
    if not det.empty:
        blocks.append(Block("p", "Per data set, against the hold-out best:"))
        blocks.append(Block("table", _table(det.round(5))))
    return blocks


# ---------------------------------------------------------------- plots

def plot_mean_rank(table: Any, plots: Path) -> str:
    plt = _plt()
    cons = [c for c in table.columns if c != "mean"]
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(table) * max(1, len(cons)) ** 0.5 + 1))
    n = len(cons)
    h = 0.8 / max(n, 1)
    ypos = range(len(table))
    for i, c in enumerate(cons):
        ax.barh([y + i * h for y in ypos], table[c], height=h, label=c)
    ax.set_yticks([y + h * (n - 1) / 2 for y in ypos])
    ax.set_yticklabels(table.index)
    ax.invert_yaxis()
    ax.set_xlabel("mean rank (1 = best)")
    ax.set_title("Mean rank per backend")
    ax.legend(title="constraint", fontsize=8)
    return _save(fig, plots / "mean_rank.png")


def plot_budget(df: Any, budgets: Dict[str, Dict[str, Any]], plots: Path) -> Optional[str]:
    sec = [c for c, b in budgets.items() if b.get("seconds") and c in set(df["constraint"])]
    if not sec:
        return None
    plt = _plt()
    frameworks = sorted(df["framework"].unique())
    colors = _colors(frameworks)
    fig, axes = plt.subplots(1, len(sec), figsize=(5.5 * len(sec), 0.8 + 0.45 * len(frameworks) + 1), squeeze=False)
    for ax, c in zip(axes.flat, sorted(sec)):
        budget = float(budgets[c]["seconds"])
        grace = budgets[c].get("grace")
        g = df[(df["constraint"] == c) & df["duration"].notna()]
        for i, fw in enumerate(frameworks):
            vals = g[g["framework"] == fw]["duration"] / budget
            ax.scatter(vals, [i] * len(vals), color=colors[fw], alpha=0.7)
        ax.axvline(1.0, color="black", lw=1, label="budget")
        from ..core.experiment.budget import DEFAULT_GRACE_S
        dl = (budget + (DEFAULT_GRACE_S if grace is None else grace)) / budget
        ax.axvline(dl, color="red", lw=1, ls="--", label="deadline (budget + grace)")
        ax.set_yticks(range(len(frameworks)))
        ax.set_yticklabels(frameworks)
        ax.invert_yaxis()
        ax.set_xlabel("wall time / budget")
        ax.set_title(f"{c}: {budget:g} s budget", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle("Budget adherence (one dot per run)", fontsize=10)
    return _save(fig, plots / "budget_adherence.png")


def plot_failures(df: Any, plots: Path) -> str:
    plt = _plt()
    counts = df.groupby(["framework", "status"]).size().unstack("status", fill_value=0)
    order = [s for s in ("ok", "failed", "timeout", "crashed") if s in counts.columns]
    order += [s for s in counts.columns if s not in order]
    counts = counts[order]
    palette = {"ok": "#4c9a2a", "failed": "#d62728", "timeout": "#ff7f0e", "crashed": "#7f1d1d"}
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.45 * len(counts) + 1))
    left = None
    import numpy as np
    left = np.zeros(len(counts))
    for s in order:
        ax.barh(counts.index, counts[s], left=left, label=s, color=palette.get(s, "#888888"))
        left = left + counts[s].to_numpy()
    ax.invert_yaxis()
    ax.set_xlabel("cells")
    ax.set_title("Outcome of every cell")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    return _save(fig, plots / "failures.png")


def plot_determinism(summ: Any, plots: Path) -> Optional[str]:
    if summ.empty:
        return None
    plt = _plt()
    labels = [f"{f} ({c})" for f, c in zip(summ["framework"], summ["constraint"])]
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.4 * len(labels) + 1))
    colors = ["#4c9a2a" if s == 1 else "#d62728" if s == 0 else "#ff7f0e" for s in summ["identical_share"]]
    ax.barh(labels, summ["identical_share"], color=colors)
    ax.set_xlim(0, 1.05)
    ax.invert_yaxis()
    ax.set_xlabel("share of repeated cells with identical predictions")
    ax.set_title("Determinism across repeats")
    return _save(fig, plots / "determinism.png")


# ---------------------------------------------------------------- rendering

def render_markdown(blocks: List[Block]) -> str:
    out: List[str] = []
    for b in blocks:
        if b.kind == "h1":
            out.append(f"# {b.content}\n")
        elif b.kind == "h2":
            out.append(f"## {b.content}\n")
        elif b.kind == "p":
            out.append(f"{b.content}\n")
        elif b.kind == "table":
            header, rows = b.content
            if not rows:
                out.append("_(none)_\n")
                continue
            esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
            out.append("| " + " | ".join(esc(h) for h in header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
            out.append("")
        elif b.kind == "img":
            out.append(f"![{b.extra}]({b.content})\n")
    return "\n".join(out)


def render_html(blocks: List[Block], title: str, base: Optional[Path] = None) -> str:
    """One self-contained HTML page: with ``base`` (the report directory) every image is embedded as a
    data URI, so the file alone shows its plots; without it images are linked by relative path."""
    css = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
           "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.85em}"
           "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3}"
           "img{max-width:100%;border:1px solid #eee;margin:0.5em 0}code{background:#f6f6f6}")
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{css}</style></head><body>"]
    for b in blocks:
        if b.kind in ("h1", "h2"):
            out.append(f"<{b.kind}>{html.escape(str(b.content))}</{b.kind}>")
        elif b.kind == "p":
            text = html.escape(str(b.content))
            parts = text.split("`")
            text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
            out.append(f"<p>{text}</p>")
        elif b.kind == "table":
            header, rows = b.content
            if not rows:
                out.append("<p><em>(none)</em></p>")
                continue
            out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows]
            out.append("</table>")
        elif b.kind == "img":
            src = data_uri(base / b.content) if base is not None and (base / b.content).is_file() else b.content
            out.append(f"<figure><img src='{html.escape(src)}' alt='{html.escape(str(b.extra))}' "
                       f"data-file='{html.escape(b.content)}'>"
                       f"<figcaption>{html.escape(str(b.extra))}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def _header_blocks(out: Path, df: Any) -> List[Block]:
    """The title and what the bench covers."""
    suite: Dict[str, Any] = {}
    if (out / "suite.json").is_file():
        suite = json.loads((out / "suite.json").read_text(encoding="utf-8"))
    name = suite.get("name", out.name)
    blocks = [Block("h1", f"automux benchmark report: {name}")]
    statuses = df["status"].value_counts().to_dict()
    env = ", ".join(sorted(set(df["app_version"].dropna().astype(str)))) or "automux"
    blocks.append(Block("p", (
        f"{len(df)} cells: {', '.join(f'{v} {k}' for k, v in sorted(statuses.items()))}. "
        f"Data sets: {', '.join(sorted(df['task'].unique()))}. Backends: {', '.join(sorted(df['framework'].unique()))}. "
        f"Constraints: {', '.join(sorted(df['constraint'].unique()))}. Folds: {df['fold'].nunique()}, seeds: "
        f"{', '.join(str(s) for s in sorted(df['seed'].unique()))}, repeats up to {int(df['repeat'].max()) + 1}. "
        f"Executor: {', '.join(sorted(df['mode'].dropna().unique()))}. {env}; report made on {platform.system()} "
        f"{platform.machine()} ({os.cpu_count()} CPUs), Python {platform.python_version()}, at "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
        "`result` follows AMLB: higher is better, losses are negated (`neg_logloss`, `neg_rmse`).")))
    return blocks


def _rank_section(out: Path, df: Any, charged: Any, rk: Any, plots: Path) -> List[Block]:
    """Mean rank, leaderboard + CD, the ensemble row, Elo and the rest of the TabArena section."""
    blocks: List[Block] = []
    n_inst = len(df.groupby(INSTANCE, dropna=False))
    n_ranked = len(rk.groupby(INSTANCE, dropna=False)) if not rk.empty else 0
    blocks.append(Block("h2", "Mean rank per backend"))
    blocks.append(Block("p", "Rank within each (constraint, data set, fold, seed), 1 = best; a backend without a "
                             "result there (failed, timeout) gets the worst rank. Lower is better. "
                             f"{n_ranked} of {n_inst} instances have a cell of every backend and are ranked."))
    if not rk.empty:
        mr = mean_rank_table(rk)
        blocks.append(Block("table", _table(mr.round(3), index=True)))
        blocks.append(Block("img", plot_mean_rank(mr, plots), "mean rank"))
    blocks += rank_blocks(df, rk if not rk.empty else _empty_ranks(), plots)
    blocks += ensemble_blocks(df, out)
    from .report_tabarena import tabarena_blocks

    blocks += tabarena_blocks(out, df, charged, plots)
    return blocks


def _score_blocks(df: Any, plots: Path) -> List[Block]:
    """Score per data set: tables per constraint and the panels."""
    blocks: List[Block] = []
    blocks.append(Block("h2", "Score per data set"))
    blocks.append(Block("p", "Mean hold-out `result` over folds, seeds and repeats (sd in brackets), per constraint; "
                             "failed cells are left out here and counted under Failures."))
    ok = df[df["status"] == "ok"]
    types = df.groupby("task")["type"].first() if "type" in df.columns else {}
    for cons in sorted(df["constraint"].unique()):
        g = ok[ok["constraint"] == cons]
        if g.empty:
            continue
        piv = g.groupby(["task", "framework"])["result"].agg(["mean", "std"])
        cell = piv.apply(lambda r: _fmt(r["mean"]) + ("" if math.isnan(r["std"]) else f" ({_fmt(r['std'], 2)})"),
                         axis=1).unstack("framework").fillna("-")
        metric = df.groupby("task")["metric"].first()
        cell.insert(0, "metric", [metric.get(t, "") for t in cell.index])
        cell.insert(0, "type", [types.get(t, "") for t in cell.index])
        cell.index.name = "data_set"
        blocks.append(Block("p", f"Constraint `{cons}`:"))
        blocks.append(Block("table", _table(cell, index=True)))
    blocks.append(Block("img", plot_scores(df, plots), "score per data set"))
    return blocks


def _time_blocks(rk: Any, plots: Path) -> List[Block]:
    """Normalised score against wall time (the ensemble charged)."""
    blocks: List[Block] = []
    blocks.append(Block("h2", "Score against wall time"))
    if rk.empty:
        rk = _empty_ranks()
    tt = rk.groupby(["framework", "constraint"]).agg(median_normalised=("normalised", "median"),
                                                     median_duration_s=("duration", "median")).reset_index()
    blocks.append(Block("p", "Normalised score: 1 = the best backend of its (constraint, data set, fold, seed), "
                             "0 = the worst. Wall time is the run's (worker start to scores), in seconds; the "
                             "`ensemble` row's is the sum of its instance's backend runs plus its own selection "
                             "time (it cannot exist without them)."))
    blocks.append(Block("table", _table(tt.round(3))))
    blocks.append(Block("img", plot_score_time(rk, plots), "score against wall time"))
    return blocks


def _budget_blocks(out: Path, df: Any, plots: Path) -> List[Block]:
    """Budget adherence of the backends' runs."""
    blocks: List[Block] = []
    budgets = _budgets(out, df)
    runs = df[df["framework"] != ENSEMBLE]  # the ensemble row has no budget of its own
    sec, trials = budget_table(runs, budgets)
    blocks.append(Block("h2", "Budget adherence"))
    blocks.append(Block("p", "Seconds constraints: the run's wall time against the budget. `budget_overrun_s` = "
                             "max(0, duration - budget). A run past budget + grace is killed (status timeout). "
                             "Wall time includes interpreter start-up and backend imports. The `ensemble` row "
                             "is left out here: it has no budget of its own (its cost is charged where time is "
                             "shown)."))
    blocks.append(Block("table", _table(sec.round(3) if not sec.empty else sec)))
    img = plot_budget(runs, budgets, plots)
    if img:
        blocks.append(Block("img", img, "budget adherence"))
    blocks.append(Block("p", "Trial constraints: candidates reported against the trial count "
                             "(`exact_share`: exactly the count; `over_share`: more than allowed)."))
    blocks.append(Block("table", _table(trials.round(3) if not trials.empty else trials)))
    return blocks


def _failure_blocks(df: Any, plots: Path) -> List[Block]:
    """Every cell that did not finish ok, and degenerate results."""
    blocks: List[Block] = []
    blocks.append(Block("h2", "Failures"))
    counts = df.groupby(["framework", "status"]).size().unstack("status", fill_value=0)
    blocks.append(Block("table", _table(counts, index=True)))
    bad = df[df["status"] != "ok"]
    if len(bad):
        reasons = (bad.assign(reason=bad["info"].fillna("").astype(str).str.slice(0, 160))
                   .groupby(["framework", "status", "reason"]).size().reset_index(name="cells"))
        blocks.append(Block("p", "Reasons (from the `info` column; the run record under `runs/` has the log):"))
        blocks.append(Block("table", _table(reasons)))
    else:
        blocks.append(Block("p", "No failed cell."))
    blocks.append(Block("img", plot_failures(df, plots), "failures"))
    if "degenerate" in df.columns:
        flagged = df[(df["status"] == "ok") & df["degenerate"].fillna(False).astype(bool)]
        blocks.append(Block("h2", "Degenerate results"))
        if len(flagged):
            blocks.append(Block("p", "Runs that finished ok but whose chosen model is no better than the constant "
                                     "model on the hold-out (or predicts a constant): counted as runs, not as wins."))
            blocks.append(Block("table", _table(flagged.groupby(["framework", "constraint"]).size()
                                               .reset_index(name="degenerate_cells"))))
        else:
            blocks.append(Block("p", "No ok run was degenerate (every chosen model beat the constant model)."))
    return blocks


def _determinism_blocks(out: Path, df: Any, plots: Path) -> List[Block]:
    """Determinism across repeats."""
    blocks: List[Block] = []
    summ, detail = determinism(df, _declared(out))
    blocks.append(Block("h2", "Determinism across repeats"))
    if summ.empty:
        blocks.append(Block("p", "No cell was repeated (set `repeats: 2` in the suite or on a constraint)."))
    else:
        blocks.append(Block("p", "A group is one (constraint, data set, fold, seed, backend) run `repeats` times; "
                                 "it is identical when every repeat finished ok with the same hold-out "
                                 "predictions hash. `declared_deterministic` is what the adapter claims for "
                                 "that budget mode."))
        blocks.append(Block("table", _table(summ.round(3))))
        broken = summ[(summ["declared_deterministic"] == True) & (summ["identical_share"] < 1)]  # noqa: E712
        if len(broken):
            blocks.append(Block("p", "Declared deterministic but not identical: "
                                + ", ".join(f"{f} ({c})" for f, c in zip(broken["framework"], broken["constraint"]))
                                + "."))
        img = plot_determinism(summ, plots)
        if img:
            blocks.append(Block("img", img, "determinism"))
    return blocks


def build_blocks(out: Path, df: Any) -> List[Block]:
    """Every section of the report, in order."""
    plots = out / PLOTS_DIR
    charged = charge_ensemble(df)  # durations: the ensemble pays for the backend runs it was built from
    rk = ranks(charged)
    from .report_constraints import constraint_blocks

    return (_header_blocks(out, df) + _rank_section(out, df, charged, rk, plots) + constraint_blocks(out, df)
            + _score_blocks(df, plots)
            + _time_blocks(rk, plots) + _budget_blocks(out, df, plots) + _failure_blocks(df, plots)
            + _determinism_blocks(out, df, plots))


def make_report(out_dir: Union[str, Path]) -> Dict[str, Any]:
    """Write ``OUT/report.md``, ``OUT/report.html`` and ``OUT/plots/*.png`` from ``OUT/results.csv``.

    Returns ``{markdown, html, plots: [png paths]}``. Raises ``DataError`` when there is no results file.
    """
    out = Path(out_dir)
    df = read_results(out)
    if df.empty:
        from ..core.errors import DataError
        raise DataError(f"{out / 'results.csv'} has no rows yet: run the bench first")
    for stale in (out / PLOTS_DIR).glob("*.png"):
        stale.unlink()  # every plot is redrawn: none left from an earlier report's layout
    blocks = build_blocks(out, df)
    md = out / "report.md"
    page = out / "report.html"
    md.write_text(render_markdown(blocks), encoding="utf-8")
    title = blocks[0].content
    page.write_text(render_html(blocks, title, base=out), encoding="utf-8")
    pngs = sorted(str(p) for p in (out / PLOTS_DIR).glob("*.png"))
    return {"markdown": str(md), "html": str(page), "plots": pngs}
