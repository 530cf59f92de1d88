"""Run one cell: build its experiment, ``execute`` it, write its row. Used by every executor.

The experiment of a cell is fixed by (data set, outer fold, seed): the outer fold
``k`` picks the split seed (``derive_seed(split_seed, "bench-fold-k")``), so every
backend and every seed of one fold sees the same hold-out and CV folds, while the
cell's master seed drives the backend. The run itself is an ordinary automux run
(worker process, hard deadline) stored under ``OUT/runs``.
"""
from __future__ import annotations

import functools
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Union

from .cells import Cell
from .results import RUNS_DIR, failed_row, row_from_record, write_cell


def split_seed_for(split_seed: int, fold: int) -> int:
    """The seed of outer fold ``fold``'s hold-out and CV split."""
    from ..core.experiment.seeds import derive_seed

    return derive_seed(split_seed, f"bench-fold-{fold}")


@functools.lru_cache(maxsize=16)
def load_dataset(source: str, target: Optional[str], task: Optional[str], drop: Tuple[str, ...] = (),
                 drop_missing_target: bool = False) -> Any:
    """Load (and cache per process) one data set of the suite."""
    from ..core.experiment.data import load_data
    from .datasets import ensure_loaders

    ensure_loaders()
    return load_data(source, target, task=task, drop=list(drop) or None, drop_missing_target=drop_missing_target)


def build_experiment(cell: Cell) -> Any:
    """The cell's experiment: its data set, its fold's split, its seed and its budget.

    Raises:
        DataError, SpecError: the data set or the settings cannot be used.
    """
    from ..core.experiment.prepare import make_budget, prepare
    from ..core.experiment.split import Split, make_split

    ds = load_dataset(cell.dataset.source, cell.dataset.target, cell.dataset.task, cell.dataset.drop,
                      cell.dataset.drop_missing_target)
    s_seed = split_seed_for(cell.split_seed, cell.fold)
    split = make_split(ds.y, ds.task, s_seed, n_folds=cell.cv_folds, test_size=cell.test_size)
    split = Split.from_row_fold_ids(split.row_fold_ids(), split.n_folds,
                                    method=f"bench-fold-{cell.fold}:split_seed={s_seed}")
    c = cell.constraint
    budget = make_budget(c.trials, c.seconds, c.grace, c.timeout, c.cores)
    return prepare(ds, budget=budget, seed=cell.seed, folds=cell.cv_folds, test_size=cell.test_size,
                   metric=cell.dataset.metric, split=split)


def suite_has_ensemble(out: Path) -> bool:
    """Whether the bench in ``out`` has an ensemble row (``OUT/suite.json``): its cells then ask for
    out-of-fold predictions (a refit outside the budget where the backend gives none from its search)."""
    import json

    try:
        return bool(json.loads((out / "suite.json").read_text(encoding="utf-8")).get("ensemble"))
    except (OSError, ValueError):
        return False


def _import_names(backend: str) -> Tuple[str, ...]:
    try:
        from ..core.registry import get_adapter

        return tuple(get_adapter(backend).environment.import_names)
    except Exception:
        return ()


def _declared(backend: str, mode: str) -> Optional[bool]:
    try:
        from ..core.registry import get_adapter

        return bool(get_adapter(backend).capabilities.deterministic.get(mode, False))
    except Exception:
        return None


def run_cell(cell: Union[Cell, Dict[str, Any]], out_dir: Union[str, Path], mode: str = "local",
             cancelled: Callable[[], bool] = lambda: False) -> Optional[Dict[str, Any]]:
    """Run one cell and write ``OUT/cells/<cell_id>.json``; returns its row.

    A user error (backend unknown or unavailable, budget mode unsupported, bad
    options) or an unexpected error becomes a failed row with its reason, never an
    exception. Returns None and writes nothing when ``cancelled()`` is true after
    a run that did not finish ok (the bench was interrupted, its worker ended: the
    cell stays to do); a run that finished ok before the interrupt keeps its row, so
    a resumed bench does not run it again. KeyboardInterrupt
    propagates after the worker is killed, and nothing is written.
    """
    from ..core.errors import UserError
    from ..core.run.store import RunStore

    if isinstance(cell, dict):
        cell = Cell.from_json(cell)
    out = Path(out_dir)
    t0 = time.monotonic()
    task = cell.dataset.task
    metric = cell.dataset.metric
    extra: Dict[str, Any] = {}
    finished_ok = False
    try:
        exp = build_experiment(cell)
        task, metric = exp.spec.task, exp.spec.metric
        from ..core.run.execute import execute

        record = execute(exp, cell.backend.name, options=dict(cell.backend.options), store=RunStore(out / RUNS_DIR),
                         extra={"bench_cell": cell.cell_id}, oof=suite_has_ensemble(out))
        finished_ok = record.status == "ok"
        row = row_from_record(cell, record, mode, _import_names(cell.backend.name))
        extra["declared_deterministic"] = record.determinism.get("declared_deterministic")
        extra["budget_mode"] = record.determinism.get("budget_mode")
    except UserError as e:
        row = failed_row(cell, mode, f"{type(e).__name__}: {e}", task=task, metric=metric)
    except Exception as e:  # a bug must not stop the grid: record it with its traceback
        row = failed_row(cell, mode, f"{type(e).__name__}: {e}", task=task, metric=metric)
        extra["traceback"] = traceback.format_exc()
    if cancelled() and not finished_ok:
        return None
    extra.setdefault("declared_deterministic", _declared(cell.backend.name, "trials" if cell.constraint.trials
                                                         else "seconds"))
    extra["cell_wall_s"] = time.monotonic() - t0
    write_cell(out, cell.to_json(), row, extra)
    return row


def run_cell_task(cell_json: Dict[str, Any], out_dir: str, mode: str = "dask") -> Optional[Dict[str, Any]]:
    """The function a Dask worker runs: one cell, written to the shared ``out_dir``."""
    return run_cell(cell_json, out_dir, mode=mode)
