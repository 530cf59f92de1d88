"""Two checks on what real work brings: more than one core, and a hostile table.

* :func:`check_deterministic_at_two_cores`: each budget mode declared
  deterministic at ``cores > 1`` (``Capabilities.deterministic_multicore``) gives
  identical results in two runs with ``cores=2``; and the backend is told the
  cores (``task.cores``) either way.
* :func:`check_hostile_frame`: a generated frame with the names and columns real
  exports have (``:``, brackets, braces, quotes, commas, spaces, unicode, a
  leading digit, two names that collide once cleaned; a constant column, an
  all-missing column, a boolean column, a high-cardinality string column,
  missing values) must give an ok run with valid predictions. automux hands
  backends safe names; an adapter that renames them back, or chokes on the
  columns, fails here.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from ..core.adapter import Adapter
from ..core.capabilities import BUDGET_MODES
from . import data
from ._common import ctx_for
from .checks_determinism import identical
from .context import ContractContext
from .results import CheckFailed, CheckSkipped

CORES = 2
#: Names real CSV / R / spreadsheet exports have; the last two collide once cleaned naively.
HOSTILE_NAMES = ("a:b", "x[0]", "{brace}", 'quote"d', "comma,col", "with space", "größe", "1st", "a b", "a_b")


def check_deterministic_at_two_cores(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Modes declared deterministic at more than one core: two runs with ``cores=2`` are identical."""
    ctx = ctx_for(adapter, ctx)
    declared = getattr(ctx.caps, "deterministic_multicore", {}) or {}
    modes = [m for m in BUDGET_MODES if declared.get(m) and m in ctx.caps.budget_modes]
    if not modes:
        raise CheckSkipped("no budget mode is declared deterministic at more than one core")
    task, seed = ctx.main_task(), ctx.config.seeds[0]
    notes = []
    for mode in modes:
        runs = []
        for repeat in (0, 1):
            def make(mode: str = mode) -> object:
                frame, split = data.fold_plan(task)
                return ctx.experiment(frame, split, task, seed, dict(ctx.budget_args(mode), cores=CORES))
            run = ctx.run(("cores", CORES, mode, repeat), make)
            if not run.completed:
                raise CheckFailed(f"the {CORES}-core {mode} run did not finish: {run.describe_failure()}")
            if run.record.spec.budget.cores != CORES:
                raise CheckFailed(f"the run's spec records {run.record.spec.budget.cores} cores, not {CORES}")
            runs.append(run)
        if not all(identical(*runs)):
            raise CheckFailed(f"declared deterministic at {CORES} cores under a {mode} budget, but two runs gave "
                              "different candidates, fold scores or hold-out predictions: declare "
                              f"deterministic_multicore={{'{mode}': False}} or pin the backend's threads")
        notes.append(f"{mode}: identical at {CORES} cores ({len(runs[0].record.candidates)} candidates)")
    return "; ".join(notes)


def hostile_frame(task: str, n: int = 160, seed: int = 7) -> pd.DataFrame:
    """The hostile frame: awkward names, a constant, an all-missing, a boolean and a high-cardinality column."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    cols = {name: rng.normal(size=n) for name in HOSTILE_NAMES}
    cols[HOSTILE_NAMES[0]] = signal + rng.normal(scale=0.3, size=n)
    cols["constant"] = 1.0
    cols["all missing"] = np.nan
    cols["flag?"] = rng.integers(0, 2, n).astype(bool)
    cols["id-like text"] = [f"row-{i:05d}" for i in rng.permutation(n)]
    cols["colour"] = pd.Series(rng.choice(["red", "green", "blue"], n)).where(rng.random(n) > 0.1)
    frame = pd.DataFrame(cols)
    frame.loc[rng.random(n) < 0.1, "x[0]"] = np.nan
    if task == "regression":
        y = signal * 2 + rng.normal(scale=0.1, size=n)
    elif task == "binary":
        y = np.where(signal > 0, "yes", "no")
    else:
        y = np.array(["low", "mid", "high"])[np.digitize(signal, [-0.4, 0.4])]
    frame[data.TARGET] = y
    return frame


def check_hostile_frame(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """A frame with the names and columns real exports have gives an ok run with valid predictions."""
    ctx = ctx_for(adapter, ctx)
    task = ctx.main_task()
    frame = hostile_frame(task)
    if not ctx.caps.missing_values or not ctx.caps.categorical:
        raise CheckSkipped("the adapter declares no support for missing values or categoricals; the hostile "
                           "frame has both")
    run = ctx.run(("hostile", task), lambda: ctx.experiment(frame, None, task, ctx.config.seeds[0],
                                                           ctx.budget_args(ctx.base_mode(), ctx.side_trials())))
    if not run.completed:
        raise CheckFailed(f"the run on a frame with awkward column names failed: {run.describe_failure()}")
    pred = run.predictions()
    n = len(run.experiment.split.holdout)
    if pred is None or pred.shape[0] != n or not np.all(np.isfinite(pred)):
        raise CheckFailed("the hostile-frame run gave malformed hold-out predictions")
    return f"ok on {frame.shape[1] - 1} awkward columns ({len(run.record.candidates)} candidates)"
