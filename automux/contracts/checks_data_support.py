"""Checks on the data an adapter takes: what it does not declare is refused by type, what it does runs.

Tasks, categorical columns and missing values not declared must be refused with
``UnsupportedTask`` / ``UnsupportedData`` (by ``validate``, or else by the worker); declared
support must give a finished run with finite, well-shaped predictions.
"""
from __future__ import annotations

from typing import Any, Optional, Type

import numpy as np

from ..core.adapter import Adapter
from ..core.capabilities import TASK_NAMES
from ..core.errors import UnsupportedData, UnsupportedTask
from . import data
from ._common import completed, ctx_for
from .context import ContractContext
from .results import CheckFailed, CheckSkipped


def _expect_refusal(ctx: ContractContext, what: str, expected: Type[BaseException], key: str, frame: Any,
                    split: Any, task: str) -> str:
    """``validate`` (or, failing that, the worker) must raise ``expected`` for this data."""
    adapter = ctx.adapter
    exp = ctx.experiment(frame, split, task, ctx.config.seeds[0],
                         ctx.budget_args(ctx.base_mode(), trials=ctx.side_trials()))
    try:
        adapter.validate(ctx.search_task(exp, key))
    except expected:
        return f"{what}: validate raised {expected.__name__}"
    except Exception as e:  # noqa: BLE001
        raise CheckFailed(f"{what}: validate raised {type(e).__name__} ({e}); expected {expected.__name__}")
    run = ctx.run(("refuse", key), lambda: exp)
    got = run.record.extra.get("error_type")
    if run.record.status == "failed" and got == expected.__name__:
        return f"{what}: the run raised {expected.__name__}"
    raise CheckFailed(f"{what}: validate accepted it and the run ended {run.record.status}"
                      + (f" with {got}" if got else "") + f"; expected {expected.__name__}")


def check_unsupported_tasks_refused(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Every task not declared is refused with ``UnsupportedTask``."""
    ctx = ctx_for(adapter, ctx)
    undeclared = [t for t in TASK_NAMES if t not in ctx.declared_tasks()]
    if not undeclared:
        raise CheckSkipped("every task is declared")
    notes = []
    for task in undeclared:
        frame, split = data.plain(task)
        notes.append(_expect_refusal(ctx, f"a {task} task", UnsupportedTask, f"task-{task}", frame, split, task))
    return "; ".join(notes)


def check_categorical_rejected(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Categorical columns, not declared, are refused with ``UnsupportedData``."""
    ctx = ctx_for(adapter, ctx)
    task = ctx.main_task()
    frame, split = data.with_categorical(task)
    return _expect_refusal(ctx, "a categorical column", UnsupportedData, "categorical", frame, split, task)


def check_missing_values_rejected(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Missing feature values, not declared, are refused with ``UnsupportedData``."""
    ctx = ctx_for(adapter, ctx)
    task = ctx.main_task()
    frame, split = data.with_missing(task)
    return _expect_refusal(ctx, "missing values", UnsupportedData, "missing", frame, split, task)


def _supported(ctx: ContractContext, name: str, frame: Any, split: Any, task: str, what: str) -> str:
    run = ctx.side_run(name, task, frame, split)
    completed(run, f"{what} data")
    pred = run.predictions()
    n = len(run.experiment.split.holdout)
    shape = (n,) if task == "regression" else (n, len(run.experiment.dataset.classes))
    if pred is None or pred.shape != shape:
        raise CheckFailed(f"on {what} data the predictions have shape {None if pred is None else pred.shape}, "
                          f"expected {shape}")
    if not np.all(np.isfinite(pred)):
        raise CheckFailed(f"on {what} data {int(np.sum(~np.isfinite(pred)))} predictions are not finite")
    if not run.record.candidates:
        raise CheckFailed(f"on {what} data the run proposed no candidate")
    return f"{len(run.record.candidates)} candidates, finite predictions on {what} data"


def check_categorical_supported(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Declared categorical support: a run on data with a string column completes with finite predictions."""
    ctx = ctx_for(adapter, ctx)
    task = ctx.main_task()
    frame, split = data.with_categorical(task)
    return _supported(ctx, "categorical", frame, split, task, "categorical")


def check_missing_values_supported(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Declared missing-value support: a run on data with NaNs completes with finite predictions."""
    ctx = ctx_for(adapter, ctx)
    task = ctx.main_task()
    frame, split = data.with_missing(task)
    return _supported(ctx, "missing", frame, split, task, "missing-value")
