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
* params: the chosen candidate (``chosen.index``, ``chosen.algorithm``,
  ``chosen.params.<name>``), also tagged ``automux.chosen.algorithm``;
* artifacts: ``record.json`` (the full run record) and ``leaderboard.csv``
  (every candidate, best first);
* a model, for an ok run: ``model/``, an ``mlflow.pyfunc`` model that predicts
  through automux's own predict path, in the env that trained the run
  (:mod:`automux.integrations.mlflow_model`), with a signature and an input
  example (the first training rows, the user's column names). Load it with
  ``mlflow.pyfunc.load_model("runs:/<mlflow run id>/model")``, register it with
  ``mlflow.register_model``; the loading process needs automux installed;
* child runs: one per candidate (tag ``mlflow.parentRunId``), with the
  candidate's algorithm and hyperparameters as params and its fold scores as
  ``fold.<metric>`` (step = fold) and ``cv.<metric>``; FAILED when the candidate
  was reported failed;
* times: MLflow's start time is the record's ``created_utc`` (when the run
  started), its end time that plus ``durations.total``: not the export time.

Ensemble runs are exported as they are stored; a verify rerun carries the tag
``automux.verifies`` (the run it reran); a promotion decision
(``promotion.json``) is written as ``automux.promotion.*`` tags, at export and
again whenever an exported run is exported anew (``automux runs export-mlflow``,
:func:`export_runs`: runs made before the variable was set, or promoted since).

A failed export never fails the run: it is reported on stderr in one line.
Installed by ``pip install 'automux[mlflow]'`` (mlflow-skinny + SQLAlchemy +
Alembic). That is enough to log and load; ``mlflow ui`` / ``mlflow server``
needs the full ``pip install mlflow`` (flask and the UI). A local file store
(``file:///path/mlruns``) is refused by current MLflow unless
``MLFLOW_ALLOW_FILE_STORE=true``; a ``sqlite:///`` URI needs nothing more.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Union

from ..core.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from ..core.experiment.record import RunRecord

ENV_URI = "AUTOMUX_MLFLOW_TRACKING_URI"
ENV_EXPERIMENT = "AUTOMUX_MLFLOW_EXPERIMENT"
ENV_ARTIFACTS = "AUTOMUX_MLFLOW_ARTIFACT_LOCATION"
DEFAULT_EXPERIMENT = "automux"
RUN_ID_TAG = "automux.run_id"
INSTALL_HINT = "pip install 'automux[mlflow]'"
PARENT_TAG = "mlflow.parentRunId"
MODEL_PATH = "model"
#: At most this many candidates become child runs (the leaderboard artifact holds every one).
MAX_CHILD_RUNS = 500


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
    chosen = _chosen(record)
    if chosen is not None:
        out.update({"chosen.index": str(chosen.index), "chosen.algorithm": chosen.algorithm})
        _flat("chosen.params", chosen.params, out)
    return {k: v[:6000] for k, v in out.items()}


def _chosen(record: "RunRecord") -> Any:
    if record.chosen is None or not 0 <= record.chosen < len(record.candidates):
        return None
    return record.candidates[record.chosen]


def _ms(iso: str) -> Optional[int]:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


def run_times(record: "RunRecord") -> "tuple[Optional[int], Optional[int]]":
    """MLflow start / end times (ms): the record's ``created_utc`` and that plus ``durations.total``."""
    start = _ms(record.created_utc)
    total = (record.durations or {}).get("total")
    end = start + int(round(float(total) * 1000)) if start is not None and isinstance(total, (int, float)) \
        else start
    return start, end


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
    chosen = _chosen(record)
    if chosen is not None:
        tags["automux.chosen.algorithm"] = chosen.algorithm
    if (record.extra or {}).get("verifies"):
        tags["automux.verifies"] = str(record.extra["verifies"])
    return tags


def promotion_tags(run_dir: Optional[Path]) -> Dict[str, str]:
    """``automux.promotion.*`` tags from the run's latest promotion decision, if it went through the gate."""
    path = None if run_dir is None else Path(run_dir) / "promotion.json"
    if path is None or not path.is_file():
        return {}
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    keys = ("status", "candidate", "algorithm", "reason", "rebuild", "created_utc")
    return {f"automux.promotion.{k}": str(d.get(k))[:5000] for k in keys if d.get(k) is not None}


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


def _experiment_id(client: Any, tracking_uri: str, experiment: str) -> str:
    exp = client.get_experiment_by_name(experiment)
    return exp.experiment_id if exp is not None else client.create_experiment(
        experiment, artifact_location=_artifact_location(tracking_uri))


def export_run(record: "RunRecord", tracking_uri: str, experiment: str = DEFAULT_EXPERIMENT,
               run_dir: Union[str, Path, None] = None) -> str:
    """Log ``record`` as one MLflow run in ``experiment`` at ``tracking_uri``; returns the MLflow run id.

    ``run_dir``: the run's directory in the store; with it an ok run logs its
    pyfunc model and its promotion tags. A record already exported there (same
    ``automux.run_id`` tag) is not logged twice: its promotion tags are brought
    up to date and its MLflow run id is returned.

    Raises:
        ImportError: MLflow is not installed (with the install hint).
    """
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as e:
        raise ImportError(f"MLflow export needs MLflow: {INSTALL_HINT}") from e

    client = MlflowClient(tracking_uri=tracking_uri)
    exp_id = _experiment_id(client, tracking_uri, experiment)
    run_dir = None if run_dir is None else Path(run_dir)
    existing = client.search_runs([exp_id], f"tags.`{RUN_ID_TAG}` = '{record.run_id}'", max_results=1)
    if existing:
        for k, v in promotion_tags(run_dir).items():
            client.set_tag(existing[0].info.run_id, k, v)
        return existing[0].info.run_id
    tags = dict(tags_of(record), **promotion_tags(run_dir))
    start, end = run_times(record)
    run = client.create_run(exp_id, start_time=start, tags=tags, run_name=tags["mlflow.runName"])
    mid = run.info.run_id
    try:
        _log_run_data(client, mid, record, start)
        if record.status == "ok" and run_dir is not None and _has_model(record, run_dir):
            try:
                _log_model(client, mid, record, run_dir)
            except Exception as e:  # the run's data is still worth having: say why the model is missing
                client.set_tag(mid, "automux.model_error", f"{type(e).__name__}: {e}"[:5000])
        _log_candidates(client, exp_id, mid, record, start, end)
    except BaseException:
        client.set_terminated(mid, status="FAILED", end_time=end)
        raise
    client.set_terminated(mid, status="FINISHED" if record.status == "ok" else "FAILED", end_time=end)
    return mid


def _log_run_data(client: Any, mid: str, record: "RunRecord", when: Optional[int]) -> None:
    """Params, metrics and the two artifacts (record.json, leaderboard.csv) of one run."""
    from mlflow.entities import Metric, Param

    import time

    stamp = when if when is not None else int(time.time() * 1000)
    params = [Param(k, v) for k, v in sorted(params_of(record).items())]
    metrics = [Metric(k, v, stamp, s) for k, v, s in metrics_of(record)]
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


def _has_model(record: "RunRecord", run_dir: Path) -> bool:
    """A stored model to log: the run's model files, or an ensemble's members."""
    from ..governance.ensemble import ENSEMBLE_BACKEND

    return (run_dir / "model").is_dir() or record.backend == ENSEMBLE_BACKEND


def _log_model(client: Any, mid: str, record: "RunRecord", run_dir: Path) -> None:
    """The run's pyfunc model under ``model/`` (see :mod:`automux.integrations.mlflow_model`)."""
    from ..core.run.store import RunStore
    from .mlflow_model import save_pyfunc

    with tempfile.TemporaryDirectory(prefix="automux-mlflow-model-") as tmp:
        path = save_pyfunc(record, RunStore(run_dir.parent), Path(tmp) / MODEL_PATH)
        client.log_artifacts(mid, str(path), MODEL_PATH)


def _log_candidates(client: Any, exp_id: str, parent: str, record: "RunRecord", start: Optional[int],
                    end: Optional[int]) -> None:
    """One child run per candidate: algorithm and hyperparameters as params, fold scores as metrics."""
    from mlflow.entities import Metric, Param

    import time

    stamp = start if start is not None else int(time.time() * 1000)
    if len(record.candidates) > MAX_CHILD_RUNS:
        client.set_tag(parent, "automux.child_runs_left_out", str(len(record.candidates) - MAX_CHILD_RUNS))
    for c in record.candidates[:MAX_CHILD_RUNS]:
        failed = bool(c.info.get("error") or c.info.get("failed_folds")) or c.cv_score is None
        name = f"candidate-{c.index}-{c.algorithm}"
        tags = {PARENT_TAG: parent, "automux.parent_run_id": record.run_id, "automux.candidate": str(c.index),
                "automux.chosen": str(c.index == record.chosen).lower(), "mlflow.runName": name}
        if c.info.get("error"):
            tags["automux.error"] = str(c.info["error"])[:5000]
        child = client.create_run(exp_id, start_time=start, tags=tags, run_name=name).info.run_id
        flat: Dict[str, str] = {"algorithm": c.algorithm, "steps": json.dumps(c.steps)}
        _flat("params", c.params, flat)
        metrics = [Metric(f"fold.{record.metric}", float(v), stamp, k) for k, v in enumerate(c.fold_scores)
                   if v is not None]
        if c.cv_score is not None:
            metrics.append(Metric(f"cv.{record.metric}", float(c.cv_score), stamp, 0))
        if isinstance(c.fit_time_s, (int, float)):
            metrics.append(Metric("fit_time_s", float(c.fit_time_s), stamp, 0))
        params = [Param(k, v[:6000]) for k, v in sorted(flat.items())]
        for i in range(0, max(len(params), 1), 100):
            client.log_batch(child, params=params[i:i + 100], metrics=metrics if i == 0 else [])
        client.set_terminated(child, status="FAILED" if failed else "FINISHED", end_time=end)


def export_runs(run_ids: Sequence[str], tracking_uri: str, experiment: str = DEFAULT_EXPERIMENT,
                store: Any = None) -> List[Dict[str, Any]]:
    """Export stored runs (every run in the store when ``run_ids`` is empty): ``automux runs export-mlflow``.

    Returns one ``{run_id, mlflow_run_id, status}`` per run. Runs already
    exported are not duplicated; their promotion tags are updated.

    Raises:
        RunNotFound: a run id is not in the store; ImportError: MLflow is missing.
    """
    from ..core.run.store import RunStore

    the_store = store if isinstance(store, RunStore) else RunStore(store)
    ids: Iterable[str] = run_ids or [r["run_id"] for r in the_store.list()]
    out = []
    for run_id in ids:
        record = the_store.load(run_id)
        mid = export_run(record, tracking_uri, experiment, run_dir=the_store.run_dir(run_id))
        out.append({"run_id": run_id, "mlflow_run_id": mid, "status": record.status})
    return out


def find_run(run_id: str, tracking_uri: str, experiment: str = DEFAULT_EXPERIMENT) -> Optional[Any]:
    """The MLflow run exported for automux run ``run_id``, or None."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    found = client.search_runs([exp.experiment_id], f"tags.`{RUN_ID_TAG}` = '{run_id}'", max_results=1)
    return found[0] if found else None


def _export_if_configured(record: "RunRecord", run_dir: Optional[str]) -> Optional[str]:
    uri = configured_uri()
    if uri is None:
        return None
    experiment = os.environ.get(ENV_EXPERIMENT, "").strip() or DEFAULT_EXPERIMENT
    try:
        return export_run(record, uri, experiment, run_dir=run_dir)
    except Exception as e:  # exporting is a side channel: never fail the run for it
        sys.stderr.write(f"automux: MLflow export of run {record.run_id} to {uri} failed: "
                         f"{type(e).__name__}: {e}\n")
        return None


@hookimpl
def automux_run_finished(record: "RunRecord", run_dir: str) -> None:
    """Export the finished run, with its model, when ``AUTOMUX_MLFLOW_TRACKING_URI`` is set."""
    _export_if_configured(record, run_dir)


@hookimpl
def automux_run_failed(record: "RunRecord", run_dir: str) -> None:
    """Export the failed run (MLflow status FAILED) when configured."""
    _export_if_configured(record, run_dir)
