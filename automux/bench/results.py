"""Cell results as AMLB ``results.csv`` rows, plus automux's own columns.

AMLB conventions followed (``amlb/results.py``, ``TaskResult.compute_score``):

* ``result`` is the hold-out score of the main metric, always *higher is better*:
  for a metric where lower is better the ``metric`` column reads ``neg_<name>``
  and ``result`` is the negated value (``neg_logloss``, ``neg_rmse``);
* metric names are AMLB's (``auc``, ``logloss``, ``acc``, ``balacc``, ``rmse``,
  ``mae``, ``r2``); automux's multiclass ``roc_auc`` is a *macro* one-vs-rest
  mean, which AMLB has no name for (its ``auc_ovr`` is weighted), so it is
  called ``auc_ovr_macro``;
* a failed cell is a row with an empty ``result`` and the reason in ``info``;
* every metric computed on the hold-out also gets its own column (raw values,
  not negated), after the fixed ones, as AMLB's scoreboard does.

Automux's columns after AMLB's: ``spec_id``, ``predictions_sha256``, ``status``
(ok / failed / timeout / crashed), ``budget_overrun_s`` (``max(0, duration -
start-up - budget seconds)``: start-up is outside a seconds budget; empty for a
trial-only budget), then ``cell_id``, ``repeat`` and ``run_id`` to find the run
record, ``degenerate``, and ``startup`` (seconds from the worker's launch to
ready: interpreter, backend imports, its runtime; the record's
``durations.startup``, outside the budget), and ``cv_best`` (on an ``ensemble`` row only: the
member backend with the best out-of-fold score, the single backend a user would have picked
without looking at the hold-out).
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

from .._version import __version__
from ..core.experiment.metrics import METRICS
from ..core.experiment.spec import canonical_json
from ..core.run.store import atomic_write_text

AMLB_COLUMNS = ["id", "task", "framework", "constraint", "fold", "type", "result", "metric", "mode", "version",
                "params", "app_version", "utc", "duration", "training_duration", "predict_duration",
                "models_count", "seed", "info"]
AUTOMUX_COLUMNS = ["spec_id", "predictions_sha256", "status", "budget_overrun_s", "cell_id", "repeat", "run_id",
                   "degenerate", "startup", "cv_best"]
COLUMNS = AMLB_COLUMNS + AUTOMUX_COLUMNS
RESULTS_FILE = "results.csv"
CELLS_DIR = "cells"
RUNS_DIR = "runs"

_AMLB_NAMES = {"roc_auc": "auc", "log_loss": "logloss", "accuracy": "acc", "balanced_accuracy": "balacc",
               "rmse": "rmse", "mae": "mae", "r2": "r2"}
#: Import name -> distribution name, where they differ, to find a backend's version.
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "autosklearn": "auto-sklearn"}


def amlb_metric_name(metric: str, task: str) -> str:
    """AMLB's name for an automux metric (raw, without ``neg_``)."""
    if metric == "roc_auc" and task == "multiclass":
        return "auc_ovr_macro"
    return _AMLB_NAMES.get(metric, metric)


def amlb_result(metric: str, task: str, score: Optional[float]) -> "tuple[str, Optional[float]]":
    """(``metric`` column, ``result`` column): negated where lower is better."""
    name = amlb_metric_name(metric, task)
    m = METRICS.get(metric)
    if m is not None and not m.greater_is_better:
        return f"neg_{name}", (None if score is None else -float(score))
    return name, (None if score is None else float(score))


def amlb_utc(iso: Optional[str] = None) -> str:
    """AMLB's ``utc`` format: ``YYYY-MM-DDTHH:MM:SS`` in UTC."""
    when = datetime.fromisoformat(iso) if iso else datetime.now(timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def backend_version(import_names: Iterable[str], env: Dict[str, Any], fallback: str = "") -> str:
    """The version of the backend's main package in the env it ran in (from the run record)."""
    packages = (env or {}).get("packages") or {}
    for name in import_names:
        dist = _DISTRIBUTIONS.get(name, name).lower().replace("_", "-")
        if dist in packages:
            return str(packages[dist])
    return packages.get(fallback.lower(), "")


def overrun(duration: Optional[float], seconds: Optional[float], startup: Optional[float] = None) -> Optional[float]:
    """``max(0, duration - startup - seconds)`` (start-up is outside a seconds budget; 0 when unknown);
    None when the duration or the seconds are unknown (trial-only budgets)."""
    if duration is None or seconds is None:
        return None
    return max(0.0, float(duration) - float(startup or 0.0) - float(seconds))


def base_row(cell: Any, mode: str, task: Optional[str]) -> Dict[str, Any]:
    """The columns known before a cell runs."""
    opts = cell.backend.options
    return {
        "id": cell.dataset.source, "task": cell.dataset.name, "framework": cell.backend.framework,
        "constraint": cell.constraint.name, "fold": cell.fold, "type": task or cell.dataset.task or "",
        "result": None, "metric": "", "mode": mode, "version": "", "params": canonical_json(opts) if opts else "",
        "app_version": f"automux {__version__}", "utc": amlb_utc(), "duration": None, "training_duration": None,
        "predict_duration": None, "models_count": None, "seed": cell.seed, "info": "", "spec_id": "",
        "predictions_sha256": "", "status": "failed", "budget_overrun_s": None, "cell_id": cell.cell_id,
        "repeat": cell.repeat, "run_id": "", "startup": None,
    }


def row_from_record(cell: Any, record: Any, mode: str, import_names: Iterable[str] = ()) -> Dict[str, Any]:
    """The results row of a cell that produced a run record (whatever its status)."""
    task = record.spec.task
    row = base_row(cell, mode, task)
    metric_col, result = amlb_result(record.metric, task, record.score if record.status == "ok" else None)
    duration = record.durations.get("total")
    startup = record.durations.get("startup")
    row.update({
        "result": result, "metric": metric_col, "version": backend_version(import_names, record.env, cell.backend.name),
        "utc": amlb_utc(record.created_utc), "duration": duration,
        "training_duration": record.durations.get("search"), "predict_duration": record.durations.get("predict"),
        "models_count": len(record.candidates), "info": "" if record.status == "ok" else (record.error or record.status),
        "spec_id": record.spec_id, "predictions_sha256": record.predictions_sha256 or "", "status": record.status,
        "budget_overrun_s": overrun(duration, cell.constraint.seconds, startup), "run_id": record.run_id,
        "degenerate": bool((record.extra or {}).get("degenerate")), "startup": startup,
    })
    for name, value in (record.scores or {}).items():
        row[amlb_metric_name(name, task)] = value
    return row


def failed_row(cell: Any, mode: str, reason: str, task: Optional[str] = None,
               metric: Optional[str] = None) -> Dict[str, Any]:
    """The row of a cell that could not start (backend unavailable, bad options, ...)."""
    row = base_row(cell, mode, task)
    if metric and task:
        row["metric"] = amlb_result(metric, task, None)[0]
    row["info"] = reason
    return row


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def write_cell(out_dir: Union[str, Path], cell_json: Dict[str, Any], row: Dict[str, Any],
               extra: Optional[Dict[str, Any]] = None) -> Path:
    """Write one finished cell atomically: it is then never rerun."""
    path = Path(out_dir) / CELLS_DIR / f"{cell_json['cell_id']}.json"
    body = {"schema": 1, "cell": cell_json, "row": {k: _clean(v) for k, v in row.items()}, **(extra or {})}
    atomic_write_text(path, json.dumps(body, indent=1, sort_keys=True, default=str))
    return path


def read_cells(out_dir: Union[str, Path]) -> Dict[str, Dict[str, Any]]:
    """Every finished cell under ``out_dir/cells`` by cell id (unreadable files are skipped)."""
    out: Dict[str, Dict[str, Any]] = {}
    d = Path(out_dir) / CELLS_DIR
    if not d.is_dir():
        return out
    for path in sorted(d.glob("*.json")):
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            out[body["cell"]["cell_id"]] = body
        except (OSError, ValueError, KeyError):
            continue  # a torn file cannot exist (atomic writes); anything else is not ours
    return out


def rows_frame(rows: List[Dict[str, Any]]) -> Any:
    """Rows as a DataFrame: AMLB's columns, automux's, then metric columns (sorted)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    metric_cols = sorted(c for c in frame.columns if c not in COLUMNS)
    frame = frame.reindex(columns=COLUMNS + metric_cols)
    if len(frame):
        frame = frame.sort_values(["task", "framework", "constraint", "fold", "seed", "repeat"], kind="mergesort")
    return frame.reset_index(drop=True)


def write_results(out_dir: Union[str, Path], cell_ids: Optional[Iterable[str]] = None) -> Path:
    """Regenerate ``out_dir/results.csv`` from the finished cells (all, or those in ``cell_ids``)."""
    cells = read_cells(out_dir)
    wanted = set(cell_ids) if cell_ids is not None else set(cells)
    frame = rows_frame([c["row"] for cid, c in cells.items() if cid in wanted])
    path = Path(out_dir) / RESULTS_FILE
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
    return path


def read_results(path: Union[str, Path]) -> Any:
    """A results.csv (or the directory holding one) as a DataFrame."""
    import pandas as pd

    p = Path(path)
    if p.is_dir():
        p = p / RESULTS_FILE
    if not p.is_file():
        from ..core.errors import DataError
        raise DataError(f"no results file at {p}: run `automux bench SUITE --out {p.parent}` first")
    return pd.read_csv(p, keep_default_na=True, dtype={"predictions_sha256": str, "info": str, "params": str,
                                                       "spec_id": str, "cell_id": str, "run_id": str})


__all__ = ["AMLB_COLUMNS", "AUTOMUX_COLUMNS", "COLUMNS", "amlb_result", "row_from_record", "failed_row",
           "write_cell", "read_cells", "write_results", "read_results"]
