"""``automux runs export-mlflow [RUN_ID ...] --tracking-uri URI``: stored runs into MLflow, after the fact.

For runs made before ``AUTOMUX_MLFLOW_TRACKING_URI`` was set, or promoted since:
each run becomes an MLflow run exactly as the live export makes it (params,
metrics, artifacts, the pyfunc model of an ok run, one child run per candidate);
a run already exported there is not duplicated (its promotion tags are updated).
Library twin: :func:`automux.integrations.mlflow_export.export_runs`.

Exit codes: 0 ok, 2 bad input (an unknown run id, MLflow not installed).
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from ._common import UsageError, add_store, emit as _emit, table as _table


def add_parser(sub: Any) -> None:
    """Register ``runs export-mlflow`` under the ``runs`` command (registered before this module)."""
    runs = sub.choices["runs"]
    runs_sub = next(a for a in runs._actions if isinstance(a, argparse._SubParsersAction))
    p = runs_sub.add_parser(
        "export-mlflow", help="export stored runs (all when none is named) to MLflow: params, metrics, the "
        "pyfunc model, candidates as child runs",
        epilog="example: automux runs export-mlflow --tracking-uri sqlite:///mlflow.db 20261204T140807-e00a797e")
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to export (default: every run in the store)")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default $AUTOMUX_MLFLOW_TRACKING_URI), e.g. sqlite:///mlflow.db")
    p.add_argument("--experiment", default=None,
                   help="MLflow experiment name (default $AUTOMUX_MLFLOW_EXPERIMENT, else automux)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_store(p)
    p.set_defaults(handler=cmd_export_mlflow)


def cmd_export_mlflow(a: argparse.Namespace, store: Any) -> int:
    from ..integrations import mlflow_export as mx

    uri = a.tracking_uri or mx.configured_uri()
    if not uri:
        raise UsageError("runs export-mlflow needs --tracking-uri URI (or AUTOMUX_MLFLOW_TRACKING_URI), e.g. "
                         "--tracking-uri sqlite:///mlflow.db")
    experiment = a.experiment or os.environ.get(mx.ENV_EXPERIMENT, "").strip() or mx.DEFAULT_EXPERIMENT
    try:
        rows = mx.export_runs(a.run_ids, uri, experiment, store=store)
    except ImportError as e:
        raise UsageError(str(e)) from e
    if a.json:
        _emit(rows)
    else:
        print(_table([[r["run_id"], r["status"], r["mlflow_run_id"]] for r in rows],
                     ["run_id", "status", "mlflow run"]))
        print(f"{len(rows)} run(s) in MLflow experiment {experiment!r} at {uri}")
    return 0
