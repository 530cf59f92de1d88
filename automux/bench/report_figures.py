"""The report's figures that need care: scores per data set (robust axes), score against time
(log axis, ensemble charged), the hand-drawn critical-difference diagram (everything inside its
axes) and the accuracy-against-time Pareto plot."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from .report_base import _colors, _plt, _save, log_axis, robust_limits

MARKERS = "osD^v<>p*h"


def plot_scores(df: Any, plots: Path) -> str:
    """Mean +- sd hold-out result per data set and backend; outliers clipped to the panel's edge."""
    plt = _plt()
    tasks = sorted(df["task"].unique())
    frameworks = sorted(df["framework"].unique())
    colors = _colors(frameworks)
    cons = sorted(df["constraint"].unique())
    ncol = min(3, len(tasks))
    nrow = math.ceil(len(tasks) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 0.6 + 0.35 * len(frameworks) * nrow + 1.2 * nrow),
                             squeeze=False)
    clipped_any = False
    for ax, task in zip(axes.flat, tasks):
        g = df[(df["task"] == task) & (df["status"] == "ok")]
        pts: List[Dict[str, Any]] = []
        for j, c in enumerate(cons):
            for i, fw in enumerate(frameworks):
                vals = g[(g["framework"] == fw) & (g["constraint"] == c)]["result"].dropna()
                if len(vals):
                    pts.append({"x": float(vals.mean()), "sd": float(vals.std()) if len(vals) > 1 else 0.0,
                                "y": i + (j - (len(cons) - 1) / 2) * 0.15, "fw": fw, "j": j, "c": c, "i": i})
        lims, out = robust_limits([p["x"] for p in pts], [p["sd"] for p in pts])
        for n, p in enumerate(pts):
            if n in out and lims is not None:
                clipped_any = True
                ax.plot(lims[0], p["y"], marker="<", color=colors[p["fw"]], ms=8, clip_on=False)
                ax.annotate(f"{p['x']:.3g}", (lims[0], p["y"]), textcoords="offset points", xytext=(8, 4),
                            fontsize=7, ha="left", color=colors[p["fw"]])
                continue
            ax.errorbar(p["x"], p["y"], xerr=p["sd"] or None, fmt=MARKERS[p["j"] % 10], color=colors[p["fw"]],
                        capsize=3, label=p["c"] if p["i"] == 0 else None)
        if lims is not None:
            ax.set_xlim(*lims)
        metric = df[df["task"] == task]["metric"].dropna()
        ax.set_title(f"{task} ({metric.iloc[0] if len(metric) else '?'})", fontsize=9)
        ax.set_yticks(range(len(frameworks)))
        ax.set_yticklabels(frameworks, fontsize=8)
        ax.set_ylim(len(frameworks) - 0.5, -0.5)
        ax.tick_params(axis="x", labelsize=7)
        ax.xaxis.set_major_locator(plt.MaxNLocator(3))
        ax.ticklabel_format(axis="x", useOffset=False)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    if len(cons) > 1:
        axes.flat[0].legend(title="constraint", fontsize=7)
    note = "; a triangle at the edge is an outlier outside the axis, its value printed" if clipped_any else ""
    fig.suptitle("Hold-out score per data set (mean +- sd over folds, seeds, repeats; higher is better"
                 f"{note})", fontsize=10)
    return _save(fig, plots / "score_per_dataset.png", top=1 - 0.5 / fig.get_figheight())


def plot_score_time(rk: Any, plots: Path) -> str:
    """Normalised score against wall time (log axis); ``rk`` durations already charge the ensemble."""
    plt = _plt()
    frameworks = sorted(rk["framework"].unique())
    colors = _colors(frameworks)
    cons = sorted(rk["constraint"].unique())
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for j, c in enumerate(cons):
        for fw in frameworks:
            g = rk[(rk["framework"] == fw) & (rk["constraint"] == c)].dropna(subset=["normalised", "duration"])
            if len(g):
                ax.scatter(g["duration"], g["normalised"], color=colors[fw], marker=MARKERS[j % 10], alpha=0.6,
                           label=f"{fw} ({c})" if len(cons) > 1 else fw)
    ax.set_xscale("log")
    log_axis(ax.xaxis)
    ax.set_xlabel("wall time per run, s (log; the ensemble: its backends' runs + selection)")
    ax.set_ylabel("normalised score (1 = best in its instance)")
    ax.set_title("Score against wall time")
    ax.legend(fontsize=7, ncol=1 if len(frameworks) * len(cons) <= 12 else 2, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))  # beside the points, never over them
    return _save(fig, plots / "score_vs_time.png")


def draw_cd(cd: Dict[str, Any], title: str, path: Path) -> str:
    """A critical-difference diagram drawn here: rank scale, CD bar and labels all inside the axes."""
    plt = _plt()
    k = cd["k"]
    ranks_ = cd["mean_ranks"]
    right = max(float(k), 1.0 + cd["cd"])
    span = right - 1.0
    pad = 0.6 * span + 0.6  # room for the labels on either side, in rank units
    lo, hi = 1.0 - pad, right + pad
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.32 * k))
    ax.set_xlim(lo, hi)
    ax.set_ylim(-(0.8 * ((k + 1) // 2) + 0.6), 1.6)
    ax.hlines(0, 1, k, color="black")
    for t in range(1, k + 1):
        ax.vlines(t, 0, 0.15, color="black")
        ax.text(t, 0.25, str(t), ha="center", fontsize=8)
    ax.hlines(1.1, 1, 1 + cd["cd"], color="red", lw=2)
    ax.vlines([1, 1 + cd["cd"]], 1.0, 1.2, color="red", lw=1)
    ax.text(1 + cd["cd"] / 2, 1.25, f"CD = {cd['cd']:.2f}", ha="center", fontsize=8, color="red")
    half = (k + 1) // 2
    for i, (fw, r) in enumerate(ranks_.items()):
        left = i < half
        y = -((i if left else k - 1 - i) + 1) * 0.8
        ax.vlines(r, y, 0, color="gray", lw=0.8)
        end = lo + 0.02 * (hi - lo) if left else hi - 0.02 * (hi - lo)
        ax.hlines(y, r, end, color="gray", lw=0.8)
        ax.text(end, y + 0.08, f"{fw} ({r:.2f})", ha="left" if left else "right", va="bottom", fontsize=8)
    for j, gr in enumerate(cd["groups"]):
        ax.hlines(-0.25 - 0.15 * j, ranks_[gr[0]] - 0.03, ranks_[gr[-1]] + 0.03, color="black", lw=3)
    ax.axis("off")
    ax.set_title(title, fontsize=8)
    return _save(fig, path)


def _front(points: List[Any]) -> List[Any]:
    """The Pareto front of (time, score) points: lower time, higher score."""
    best, out = -math.inf, []
    for t, s, name in sorted(points, key=lambda p: (p[0], -p[1])):
        if s > best:
            out.append((t, s, name))
            best = s
    return out


def plot_pareto(summary: Any, constraint: str, plots: Path) -> Optional[str]:
    """Elo (with its 95 % CI as a vertical bar) against median search, start-up and predict time per
    backend, with the Pareto front.

    ``summary``: one row per framework with ``elo`` and the median seconds columns
    ``search_s``, ``startup_s`` (may be all missing: that panel is left out), ``predict_s``.
    """
    plt = _plt()
    panels = [(c, lab) for c, lab in (("search_s", "search time"), ("startup_s", "start-up time"),
                                      ("predict_s", "predict time")) if c in summary and summary[c].notna().any()]
    if not panels or summary.empty:
        return None
    colors = _colors(list(summary["framework"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, (col, label) in zip(axes.flat, panels):
        g = summary.dropna(subset=[col, "elo"])
        g = g[g[col] > 0]
        placed: List[Any] = []
        span = max(float(g["elo"].max() - g["elo"].min()), 1.0) if len(g) else 1.0
        for _, r in g.sort_values("elo", ascending=False).iterrows():
            ax.scatter(r[col], r["elo"], color=colors[r["framework"]], s=40, zorder=3)
            if "elo_ci_low" in r and r["elo_ci_low"] == r["elo_ci_low"]:
                ax.vlines(r[col], r["elo_ci_low"], r["elo_ci_high"], color=colors[r["framework"]], lw=1, alpha=0.6)
            # a label near an earlier one (close in log time and in Elo) moves down a line
            near = sum(1 for x, y in placed if abs(math.log10(r[col] / x)) < 0.12 and abs(r["elo"] - y) < 0.05 * span)
            placed.append((r[col], r["elo"]))
            ax.annotate(r["framework"], (r[col], r["elo"]), textcoords="offset points", xytext=(5, 4 - 11 * near),
                        fontsize=8)
        front = _front([(r[col], r["elo"], r["framework"]) for _, r in g.iterrows()])
        if len(front) > 1:
            ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="gray", ls="--", lw=1,
                    label="Pareto front")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_xscale("log")
        log_axis(ax.xaxis)
        if len(g):
            xs = g[col].astype(float)
            ax.set_xlim(xs.min() / 2, xs.max() * 2.5)
        ax.set_xlabel(f"median {label} per run, s (log)")
        ax.set_ylabel("Elo (reference = 1000)")
        ax.set_title(f"{constraint}: Elo against {label}", fontsize=9)
    return _save(fig, plots / f"pareto_{_safe(constraint)}.png")


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
