"""What every part of ``automux report`` shares: blocks, number formatting, tables, ranks, what the cells
declare (budgets, determinism), plot saving and axes.

A report is a list of :class:`Block` (heading, paragraph, table, image) rendered to Markdown
and to a self-contained HTML page (images embedded as data URIs, see
:func:`data_uri`). Plot helpers here keep axes readable at any scale
(:func:`log_axis`) and keep one outlier from squashing a panel (:func:`robust_limits`).
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .results import read_cells

PLOTS_DIR = "plots"
INSTANCE = ["constraint", "task", "fold", "seed"]
#: The framework name of the bench's ensemble row (automux.bench.ensembles).
ENSEMBLE = "ensemble"


@dataclass
class Block:
    kind: str  # h1 h2 p table img
    content: Any
    extra: Any = None


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.{digits}g}"
        return f"{v:.{digits}f}".rstrip("0").rstrip(".") if "." in f"{v:.{digits}f}" else f"{v:.{digits}f}"
    return str(v)


def _table(frame: Any, index: bool = False, digits: int = 4) -> Tuple[List[str], List[List[str]]]:
    f = frame.reset_index() if index else frame
    header = [str(c) for c in f.columns]
    rows = [[_fmt(v, digits) for v in r] for r in f.itertuples(index=False, name=None)]
    return header, rows


def averaged(df: Any) -> Any:
    """One row per (instance, framework): result and duration averaged over repeats."""
    ok = df.assign(result=df["result"].where(df["status"] == "ok"))
    return (ok.groupby(INSTANCE + ["framework"], dropna=False)
            .agg(result=("result", "mean"), duration=("duration", "mean"), metric=("metric", "first"))
            .reset_index())


def ranks(df: Any) -> Any:
    """Per instance and framework: rank (1 best, failures worst) and normalised score."""
    import numpy as np

    avg = averaged(df)
    frameworks = sorted(df["framework"].unique())
    rows = []
    for key, g in avg.groupby(INSTANCE, dropna=False):
        if set(g["framework"]) != set(frameworks):
            continue  # a cell not run yet (partial bench): rank only complete instances
        g = g.set_index("framework").reindex(frameworks)
        res = g["result"]
        worst = len(frameworks)
        r = res.rank(ascending=False, method="average")
        r = r.fillna(worst)
        lo, hi = res.min(), res.max()
        if res.notna().sum() == 0:
            norm = res * np.nan
        elif hi > lo:
            norm = (res - lo) / (hi - lo)
        else:
            norm = res.where(res.isna(), 0.5) if len(res.dropna()) > 1 else res.where(res.isna(), 1.0)
        for fw in frameworks:
            rows.append(dict(zip(INSTANCE, key), framework=fw, rank=float(r[fw]), result=res[fw],
                             normalised=norm[fw], duration=g["duration"][fw]))
    import pandas as pd
    return pd.DataFrame(rows)


def _budgets(out: Path, df: Any) -> Dict[str, Dict[str, Any]]:
    """Constraint name -> its budget, from the cells (which carry their constraint)."""
    budgets: Dict[str, Dict[str, Any]] = {}
    for body in read_cells(out).values():
        c = body["cell"]["constraint"]
        budgets.setdefault(c["name"], c)
    return budgets


def _declared(out: Path) -> Dict[Tuple[str, str], Optional[bool]]:
    """(framework, constraint) -> what its cells declare as ``declared_deterministic`` (None: not said)."""
    d: Dict[Tuple[str, str], Optional[bool]] = {}
    for body in read_cells(out).values():
        cell = body["cell"]
        key = (cell["backend"].get("label") or cell["backend"]["name"], cell["constraint"]["name"])
        if body.get("declared_deterministic") is not None:
            d[key] = bool(body["declared_deterministic"])
        else:
            d.setdefault(key, None)
    return d


def charge_ensemble(df: Any) -> Any:
    """``df`` with each ``ensemble`` row charged what it cost: every backend cell of its instance.

    The ensemble row's own ``duration`` is only its selection time; the ensemble needs every
    backend of its (constraint, data set, fold, seed, repeat) to have run first (the members,
    and any that failed: they ran too). So its ``duration``, ``training_duration``,
    ``predict_duration`` and (when present) ``startup`` become the sum of those cells' values
    plus its own (its own search time being its selection time). Other rows are unchanged.
    """
    if ENSEMBLE not in set(df["framework"]):
        return df
    out = df.copy()
    cols = [c for c in ("duration", "training_duration", "predict_duration", "startup") if c in out.columns]
    keys = INSTANCE + ["repeat"] if "repeat" in out.columns else INSTANCE
    singles = out[out["framework"] != ENSEMBLE]
    sums = singles.groupby(keys, dropna=False)[cols].sum(min_count=1)
    ens = out["framework"] == ENSEMBLE
    for i in out.index[ens]:
        key = tuple(out.loc[i, k] for k in keys)
        if key not in sums.index:
            continue
        for c in cols:
            own = df.loc[i, c]
            if c == "training_duration" and own != own:
                own = df.loc[i, "duration"]  # the ensemble's search is its selection
            members = sums.loc[key, c]
            if (own is None or own != own) and members != members:
                continue  # nobody measured it (an older results.csv without the column's values)
            own = 0.0 if own is None or own != own else float(own)
            out.loc[i, c] = (0.0 if members != members else float(members)) + own
    return out


# ---------------------------------------------------------------- plots

def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _colors(frameworks: Sequence[str]) -> Dict[str, Any]:
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    return {fw: cmap(i % 10) for i, fw in enumerate(sorted(frameworks))}


def _save(fig: Any, path: Path, top: float = 1.0) -> str:
    """Save ``fig`` as ``path`` (``top``: the share of the height left to the axes under a suptitle)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, 0, 1, top))
    # Fixed metadata: the same results give the same bytes.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    _plt().close(fig)
    return f"{PLOTS_DIR}/{path.name}"


def _seconds_label(x: float, _pos: Any = None) -> str:
    if x <= 0:
        return ""
    if x >= 1:
        return f"{x:g}"
    return f"{x:.3g}"


def log_axis(axis: Any) -> None:
    """A log-scaled axis with at most ~6 labelled decades-or-steps and unlabelled minor ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=8))
    axis.set_major_formatter(FuncFormatter(_seconds_label))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10)), numticks=12))
    axis.set_minor_formatter(NullFormatter())


def robust_limits(values: Sequence[float], spans: Optional[Sequence[float]] = None,
                  factor: float = 5.0) -> Tuple[Optional[Tuple[float, float]], List[int]]:
    """((lo, hi) axis limits, indices of the outliers left outside them) for higher-is-better points.

    ``values`` are the points of one panel, ``spans`` their half error bars. Only the *worst*
    points can be outliers (a best score is never hidden): the lowest point is one when its gap
    to the next exceeds ``factor`` times the extent of the points above it (error bars
    included), repeated while at least three points remain and at most a third are left out.
    The limits cover the remaining points with their error bars and a 5 % margin; None when
    there is nothing finite to show.
    """
    import numpy as np

    v = np.asarray(values, dtype=float)
    s = np.zeros_like(v) if spans is None else np.nan_to_num(np.asarray(spans, dtype=float))
    idx = sorted((i for i in range(len(v)) if np.isfinite(v[i])), key=lambda i: v[i])
    outliers: List[int] = []
    while len(idx) >= 4 and len(outliers) < len(v) // 3:
        rest = idx[1:]
        extent = max(v[i] + s[i] for i in rest) - min(v[i] - s[i] for i in rest)
        if v[rest[0]] - s[rest[0]] - v[idx[0]] > factor * max(extent, 1e-12):
            outliers.append(idx[0])
            idx = rest
        else:
            break
    if not idx:
        return None, outliers
    lo = min(v[i] - s[i] for i in idx)
    hi = max(v[i] + s[i] for i in idx)
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1e-3)
    return (float(lo - pad), float(hi + pad)), outliers


def data_uri(png: Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI (so an HTML page alone shows it)."""
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")
