"""Export run records to MLflow: a plugin on the run-event hooks, off unless configured.

Turned on by configuration only, never by default:

``AUTOMUX_MLFLOW_TRACKING_URI``
    Any MLflow tracking URI (``sqlite:///path/mlflow.db``, ``http://127.0.0.1:5000``,
    ``file:///path/mlruns``, ...). Unset or empty: the hooks return at once and
    MLflow is never imported.
``AUTOMUX_MLFLOW_EXPERIMENT``
    The MLflow experiment name (default ``automux``), created when missing.
``AUTOMUX_MLFLOW_ARTIFACT_LOCATION``
    Where a newly created experiment keeps its artifacts. Default for a
    ``sqlite:///`` URI: ``mlartifacts/`` beside the database file (not the
    current directory); for other URIs, MLflow's own default.

Each finished or failed run becomes one MLflow run, tagged
``automux.run_id`` (so :func:`find_run` finds it again) with:

* params: the spec (data source, target, task, fingerprint, split, metric),
  every derived seed, the budget, the backend and its options, the env
  fingerprint, the spec id;
* metrics: every hold-out score (``holdout.<metric>``), the chosen candidate's
  fold scores (``fold.<metric>``, step = fold), its CV mean (``cv.<metric>``),
  each candidate's CV score (``candidate_cv.<metric>``, step = candidate index),
  durations, and the gain over the baseline when the record holds one;
* tags: run id, spec id, backend, status, automux version, predictions hash,
  readiness verdict and fragile-gain flag when present;
* artifacts: ``record.json`` (the full run record) and ``leaderboard.csv``
  (every candidate, best first).

A failed export never fails the run: it is reported on stderr in one line.
Installed by ``pip install 'automux[mlflow]'`` (mlflow-skinny + SQLAlchemy + Alembic).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..core.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from ..core.experiment.record import RunRecord

ENV_URI = "AUTOMUX_MLFLOW_TRACKING_URI"
ENV_EXPERIMENT = "AUTOMUX_MLFLOW_EXPERIMENT"
ENV_ARTIFACTS = "AUTOMUX_MLFLOW_ARTIFACT_LOCATION"
DEFAULT_EXPERIMENT = "automux"
RUN_ID_TAG = "automux.run_id"
INSTALL_HINT = "pip install 'automux[mlflow]'"


def configured_uri() -> Optional[str]:
    """The tracking URI from ``AUTOMUX_MLFLOW_TRACKING_URI``, or None (export off)."""
    uri = os.environ.get(ENV_URI, "").strip()
    return uri or None


def _flat(prefix: str, obj: Any, out: Dict[str, str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = json.dumps(obj) if isinstance(obj, (list, tuple)) else str(obj)


def params_of(record: "RunRecord") -> Dict[str, str]:
    """The MLflow params for a record: spec, seeds, budget, backend, options, env fingerprint."""
    spec = record.spec
    data = {k: v for k, v in spec.data.items() if k != "features"}
    out: Dict[str, str] = {}
    _flat("data", data, out)
    out["data.n_features"] = str(len(spec.data.get("features", {})))
    _flat("split", spec.split, out)
    _flat("seeds", spec.seeds, out)
    _flat("budget", spec.budget.to_json(), out)
    out.update({"metric": spec.metric, "seed": str(spec.seed), "spec_id": record.spec_id,
                "backend": record.backend, "backend_options": json.dumps(record.backend_options, sort_keys=True),
                "env.fingerprint": str(record.env.get("fingerprint")), "env.python": str(record.env.get("python")),
                "execution": record.execution})
    return {k: v[:6000] for k, v in out.items()}


def metrics_of(record: "RunRecord") -> List["tuple[str, float, int]"]:
    """(key, value, step) for every metric exported; non-finite values are left out."""
    import math

    out: List["tuple[str, float, int]"] = []
    for name, value in record.scores.items():
        out.append((f"holdout.{name}", value, 0))
    chosen = record.candidates[record.chosen] if record.chosen is not None and record.chosen < len(
        record.candidates) else None
    if chosen is not None:
        for k, s in enumerate(chosen.fold_scores):
            if s is not None:
                out.append((f"fold.{record.metric}", s, k))
        if chosen.cv_score is not None:
            out.append((f"cv.{record.metric}", chosen.cv_score, 0))
    for c in record.candidates:
        if c.cv_score is not None:
            out.append((f"candidate_cv.{record.metric}", c.cv_score, c.index))
    for name, value in record.durations.items():
        if value is not None:
            out.append((f"duration.{name}_s", value, 0))
    out.append(("n_candidates", float(len(record.candidates)), 0))
    gain = record.extra.get("gain") or {}
    for key in ("mean_gain", "fold_spread", "holdout_gain"):
        if isinstance(gain.get(key), (int, float)):
            out.append((f"gain.{key}", gain[key], 0))
    return [(k, float(v), int(s)) for k, v, s in out if isinstance(v, (int, float)) and math.isfinite(v)]


def tags_of(record: "RunRecord") -> Dict[str, str]:
    tags = {RUN_ID_TAG: record.run_id, "automux.spec_id": record.spec_id, "automux.backend": record.backend,
            "automux.status": record.status, "automux.version": record.automux_version,
            "automux.predictions_sha256": str(record.predictions_sha256),
            "automux.budget_mode": str(record.determinism.get("budget_mode")),
            "mlflow.runName": f"{record.backend}-{record.run_id}"}
    if record.error:
        tags["automux.error"] = record.error[:5000]
    readiness = record.extra.get("readiness") or {}
    if readiness.get("verdict"):
        tags["automux.readiness"] = str(readiness["verdict"])
    gain = record.extra.get("gain") or {}
    if "fragile" in gain:
        tags["automux.gain_fragile"] = str(bool(gain["fragile"])).lower()
    return tags


def leaderboard_csv(record: "RunRecord") -> str:
    """Every candidate of the run, best CV score first (unscored last), as CSV."""
    import csv
    import io

    from ..core.experiment.metrics import get_metric

    metric = get_metric(record.metric, record.spec.task)
    scored = sorted((c for c in record.candidates if c.cv_score is not None), key=lambda c: metric.loss(c.cv_score))
    rows = scored + [c for c in record.candidates if c.cv_score is None]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "index", "algorithm", f"cv_{record.metric}", "fold_scores", "params", "chosen"])
    for rank, c in enumerate(rows, 1):
        w.writerow([rank, c.index, c.algorithm, "" if c.cv_score is None else repr(c.cv_score),
                    json.dumps(c.fold_scores), json.dumps(c.params, sort_keys=True), c.index == record.chosen])
    return buf.getvalue()


def _artifact_location(uri: str) -> Optional[str]:
    given = os.environ.get(ENV_ARTIFACTS, "").strip()
    if given:
        return given
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        return (db.parent / "mlartifacts").resolve().as_uri()
    return None


def export_run(record: "RunRecord", tracking_uri: str, experiment: str = DEFAULT_EXPERIMENT) -> str:
    """Log ``record`` as one MLflow run in ``experiment`` at ``tracking_uri``; returns the MLflow run id.

    A record already exported there (same ``automux.run_id`` tag) is not logged
    twice: its MLflow run id is returned.

    Raises:
        ImportError: MLflow is not installed (with the install hint).
    """
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError as e:
        raise ImportError(f"MLflow export needs MLflow: {INSTALL_HINT}") from e
    import time

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(
        experiment, artifact_location=_artifact_location(tracking_uri))
    existing = client.search_runs([exp_id], f"tags.`{RUN_ID_TAG}` = '{record.run_id}'", max_results=1)
    if existing:
        return existing[0].info.run_id
    tags = tags_of(record)
    run = client.create_run(exp_id, tags=tags, run_name=tags["mlflow.runName"])
    mid = run.info.run_id
    now = int(time.time() * 1000)
    try:
        params = [Param(k, v) for k, v in sorted(params_of(record).items())]
        metrics = [Metric(k, v, now, s) for k, v, s in metrics_of(record)]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            client.log_batch(mid, params=params[i:i + 100])
        for i in range(0, len(metrics), 1000):
            client.log_batch(mid, metrics=metrics[i:i + 1000])
        with tempfile.TemporaryDirectory(prefix="automux-mlflow-") as tmp:
            rec = Path(tmp) / "record.json"
            rec.write_text(json.dumps(record.to_json(), indent=2, sort_keys=True, default=str), encoding="utf-8")
            board = Path(tmp) / "leaderboard.csv"
            board.write_text(leaderboard_csv(record), encoding="utf-8")
            client.log_artifact(mid, str(rec))
            client.log_artifact(mid, str(board))
    except BaseException:
        client.set_terminated(mid, status="FAILED")
        raise
    client.set_terminated(mid, status="FINISHED" if record.status == "ok" else "FAILED")
    return mid


def find_run(run_id: str, tracking_uri: str, experiment: str = DEFAULT_EXPERIMENT) -> Optional[Any]:
    """The MLflow run exported for automux run ``run_id``, or None."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    found = client.search_runs([exp.experiment_id], f"tags.`{RUN_ID_TAG}` = '{run_id}'", max_results=1)
    return found[0] if found else None


def _export_if_configured(record: "RunRecord") -> Optional[str]:
    uri = configured_uri()
    if uri is None:
        return None
    experiment = os.environ.get(ENV_EXPERIMENT, "").strip() or DEFAULT_EXPERIMENT
    try:
        return export_run(record, uri, experiment)
    except Exception as e:  # exporting is a side channel: never fail the run for it
        sys.stderr.write(f"automux: MLflow export of run {record.run_id} to {uri} failed: "
                         f"{type(e).__name__}: {e}\n")
        return None


@hookimpl
def automux_run_finished(record: "RunRecord") -> None:
    """Export the finished run when ``AUTOMUX_MLFLOW_TRACKING_URI`` is set."""
    _export_if_configured(record)


@hookimpl
def automux_run_failed(record: "RunRecord") -> None:
    """Export the failed run (MLflow status FAILED) when configured."""
    _export_if_configured(record)
