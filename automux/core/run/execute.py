"""Run a spec on one adapter and leave a complete record, whatever the outcome."""
from __future__ import annotations

import dataclasses
import json
import re
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

from ..._version import __version__
from . import jobfiles as jf
from ..adapter import Adapter
from ..errors import BackendUnavailable, SpecError
from .degenerate import degenerate_reason
from .launcher import Outcome, run_inline, run_worker
from .interrupts import signal_of
from ..experiment import names as feature_names
from ..experiment.prepare import Experiment
from ..experiment.memory import effective_mb
from ..experiment.metrics import score_all
from .leaderboard import holdout_ci
from ..plugins import fire
from ..registry import get_adapter
from ..experiment.record import RunRecord
from ..experiment.spec import Candidate
from .store import RunStore, atomic_write_text

ProgressFn = Callable[[str, Dict[str, Any]], None]
LOG_TAIL_CHARS = 20000


_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")


def redact_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """Options as recorded: ``scheme://user:secret@host`` becomes ``scheme://user:***@host``."""
    return {k: _URL_PASSWORD.sub(r"\1***\3", v) if isinstance(v, str) else v for k, v in options.items()}


def _write_job(exp: Experiment, adapter: Adapter, options: Dict[str, Any], job_dir: Path) -> Dict[str, Any]:
    """Write the job files; the backend sees safe feature names (:mod:`automux.core.experiment.names`).

    The features are stored once per data fingerprint in the store (``job_dir``'s parent:
    :func:`automux.core.run.store.store_features`); the job keeps a reference to them and
    ``train_rows.arrow`` (row ids, target, fold per training row). Returns the name mapping
    (also in ``job.json`` as ``feature_names``).
    """
    import pyarrow as pa
    import pyarrow.ipc as ipc
    from .store import store_features

    ds, split = exp.dataset, exp.split
    names = feature_names.mapping(ds.X.columns)
    train_idx = split.train_idx
    ref = store_features(ds.X, names["safe"], ds.fingerprint or exp.spec.data["fingerprint"],
                         job_dir.parent / jf.DATA_DIR)
    rows = pa.table({jf.ROW_COL: train_idx, jf.TARGET_COL: ds.y[train_idx],
                     jf.FOLD_COL: split.fold_ids().astype(np.int8 if split.n_folds < 127 else np.int32)})
    with pa.OSFile(str(job_dir / jf.TRAIN_ROWS), "wb") as sink, ipc.new_file(sink, rows.schema) as writer:
        writer.write_table(rows)
    cls = type(adapter)
    jf.write_json(job_dir / jf.JOB, {
        "adapter": {"name": adapter.name, "module": cls.__module__, "class": cls.__qualname__},
        "task": ds.task, "classes": [str(c) for c in ds.classes], "metric": exp.spec.metric,
        "seed": exp.spec.seeds["backend"], "seeds": exp.spec.seeds,
        "budget": dict(exp.spec.budget.to_json(), memory_mb=effective_mb(exp.spec.budget.memory_mb)),
        "options": options, "feature_names": names,
        "data": {k: ref[k] for k in ("path", "sha256", "fingerprint", "n_rows")},
    })
    return names


def _user_names(cands: List[Candidate], names: Dict[str, Any]) -> List[Candidate]:
    """Candidates as the user sees them: a param, step or info value that is a safe name becomes the user's name."""
    back = dict(zip(names["safe"], names["original"]))
    return [dataclasses.replace(c, params=feature_names.to_original(c.params, back),
                                steps=feature_names.to_original(c.steps, back),
                                info=feature_names.to_original(c.info, back)) for c in cands]


def _holdout_scores(exp: Experiment, pred: np.ndarray) -> "tuple[Dict[str, float], Optional[str]]":
    y = exp.dataset.y[exp.split.holdout_idx]
    return score_all(exp.dataset.task, y, pred), jf.predictions_sha256(pred)


def _validate_predictions(exp: Experiment, pred: np.ndarray) -> Optional[str]:
    """Why the worker's predictions are malformed, or None."""
    n = len(exp.split.holdout_idx)
    if exp.dataset.task == "regression":
        if pred.shape != (n,):
            return f"predictions have shape {pred.shape}, expected ({n},)"
        if not np.all(np.isfinite(pred)):
            return "regression predictions contain non-finite values"
        return None
    k = len(exp.dataset.classes)
    if pred.shape != (n, k):
        return f"predictions have shape {pred.shape}, expected ({n}, {k})"
    if not np.all(np.isfinite(pred)) or pred.min() < 0 or pred.max() > 1:
        return "class probabilities outside [0, 1]"
    if not np.allclose(pred.sum(axis=1), 1.0, atol=1e-6):
        return "class probabilities do not sum to 1"
    return None


def execute(exp: Experiment, backend: Union[str, Adapter], *, options: Optional[Dict[str, Any]] = None,
            store: Optional[RunStore] = None, inline: bool = False, progress: Optional[ProgressFn] = None,
            extra: Optional[Dict[str, Any]] = None, build: bool = True,
            finalize: Optional[Callable[[RunRecord], Dict[str, Any]]] = None, oof: bool = False) -> RunRecord:
    """Run ``exp`` on one backend and store its record, whatever the outcome.

    An adapter with its own environment runs in it (built first unless ``build``
    is False, then checked by a handshake: see ``automux.core.env.worker_env``).

    ``oof``: when the adapter's search gives no out-of-fold predictions, refit the
    chosen candidate per fold after the search, outside its budget (for an
    ensemble: ``compare --ensemble``, a bench ensemble row); recorded as
    ``durations.oof_refit`` and ``extra["oof"]["source"] == "refit"``.

    ``finalize(record)`` returns entries merged into ``record.extra`` before the
    record is stored and the finished / failed hooks fire (e.g. the gain over the
    baseline). Backend options are recorded with passwords in URLs redacted.

    Raises only for user errors found before the worker starts (unknown or
    unavailable backend, bad options, env missing under ``build=False``, env
    build or handshake failed); a backend failure is a record with its status.
    """
    adapter = _resolve_adapter(exp, backend)
    options = dict(options or {})
    adapter.check_options(options)
    from ..env.worker_env import prepare_worker
    worker = prepare_worker(adapter, build=build, inline=inline)
    store = store or RunStore()
    progress = progress or (lambda event, info: None)
    run_id, job_dir = store.new_run_dir()
    names = _prepare_job_dir(exp, adapter, options, job_dir, oof)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fire("automux_run_started", run_id=run_id, backend=adapter.name, spec=exp.spec)
    progress("started", {"run_id": run_id, "backend": adapter.name})

    def on_candidate(c: Candidate) -> None:
        fire("automux_run_candidate", run_id=run_id, backend=adapter.name, candidate=c)
        progress("candidate", {"run_id": run_id, "backend": adapter.name, "candidate": c})

    t0 = time.monotonic()
    out = _run_job(exp, job_dir, worker, inline, on_candidate)
    total = time.monotonic() - t0
    held = _score_holdout(exp, job_dir, out)
    record = RunRecord(
        run_id=run_id, spec_id=exp.spec.spec_id, spec=exp.spec, backend=adapter.name,
        backend_options=redact_options(options), status=held.status, created_utc=created,
        **_outcome_fields(exp, adapter, job_dir, out, held, total, names),
        env=dict(out.env, automux_env=worker.info), automux_version=__version__,
        execution="inline" if inline else "worker", extra=_record_extra(extra, job_dir, out, held, names),
    )
    if finalize is not None:
        record = dataclasses.replace(record, extra=dict(record.extra, **finalize(record)))
    _store_and_announce(store, record, adapter, exp, progress)
    if out.interrupted is not None:
        raise out.interrupted  # stored: now stop whatever called us (compare, bench, the CLI)
    return record


def _resolve_adapter(exp: Experiment, backend: Union[str, Adapter]) -> Adapter:
    """The adapter for ``backend``, refused when it cannot run here or cannot take the spec's budget mode."""
    adapter = backend if isinstance(backend, Adapter) else get_adapter(backend)
    reason = adapter.unavailable_reason()
    if reason:
        raise BackendUnavailable(f"backend {adapter.name!r} cannot run here: {reason}")
    mode = exp.spec.budget.mode
    if mode not in adapter.capabilities.budget_modes:
        raise SpecError(f"backend {adapter.name!r} does not support a {mode} budget "
                        f"(it supports {', '.join(adapter.capabilities.budget_modes)})")
    return adapter


def _prepare_job_dir(exp: Experiment, adapter: Adapter, options: Dict[str, Any], job_dir: Path,
                     oof: bool) -> Dict[str, Any]:
    """The job files, spec.json and split.json in ``job_dir``; returns the feature-name mapping."""
    names = _write_job(exp, adapter, options, job_dir)
    if oof:  # a refit only when something needs the out-of-fold predictions
        job = jf.read_json(job_dir / jf.JOB)
        jf.write_json(job_dir / jf.JOB, dict(job, oof=True))
    atomic_write_text(job_dir / "spec.json", json.dumps(exp.spec.to_json(), indent=2, sort_keys=True))
    atomic_write_text(job_dir / "split.json", json.dumps(exp.split.to_json()))
    return names


def _run_job(exp: Experiment, job_dir: Path, worker: Any, inline: bool,
             on_candidate: Callable[[Candidate], None]) -> Outcome:
    """The search job's outcome, in this process (``inline``) or a worker; an interrupt is an outcome too."""
    try:
        if inline:
            return run_inline(job_dir, on_candidate=on_candidate)
        return run_worker(job_dir, python=worker.python, budget=exp.spec.budget,
                          seeds=exp.spec.seeds, on_candidate=on_candidate, env_extra=worker.env_extra,
                          cores=exp.spec.budget.cores)
    except KeyboardInterrupt as e:  # before the worker started, or in a candidate hook: still a record
        return Outcome("interrupted", jf.read_candidates(job_dir), interrupted=e,
                       error=f"interrupted by {signal.Signals(signal_of(e)).name} before the worker reported")


@dataclasses.dataclass
class _Holdout:
    """What the hold-out predictions gave: the run's final status and error, its scores and their companions."""
    status: str
    error: Optional[str]
    scores: Dict[str, float] = dataclasses.field(default_factory=dict)
    sha: Optional[str] = None
    degenerate: Optional[Any] = None
    ci: Optional[Any] = None


def _score_holdout(exp: Experiment, job_dir: Path, out: Outcome) -> _Holdout:
    """Score an ok run's hold-out predictions; malformed ones make the run ``failed``."""
    held = _Holdout(out.status, out.error)
    if held.status != "ok":
        return held
    pred = jf.predictions_array(jf.read_arrow(job_dir / jf.PREDICTIONS), exp.dataset.task)
    problem = _validate_predictions(exp, pred)
    if problem:
        held.status, held.error = "failed", f"malformed predictions: {problem}"
        return held
    ds, split = exp.dataset, exp.split
    held.scores, held.sha = _holdout_scores(exp, pred)
    held.ci = holdout_ci(exp.spec.metric, ds.task, ds.y[split.holdout_idx], pred, exp.spec.seed)
    held.degenerate = degenerate_reason(ds.task, exp.spec.metric, ds.y[split.train_idx],
                                        ds.y[split.holdout_idx], pred, len(ds.classes))
    return held


def _outcome_fields(exp: Experiment, adapter: Adapter, job_dir: Path, out: Outcome, held: _Holdout,
                    total: float, names: Dict[str, Any]) -> Dict[str, Any]:
    """The record's fields the run's outcome fills: durations, candidates, scores, determinism, artifacts, log."""
    result = out.result or {}
    log_path = job_dir / jf.LOG
    log = log_path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:] if log_path.exists() else ""
    mode = exp.spec.budget.mode
    declared = adapter.capabilities.deterministic.get(mode, False)
    return dict(
        durations={"total": total, "search": result.get("search_s"), "predict": result.get("predict_s"),
                   "startup": (out.startup or {}).get("startup_s"), "oof_refit": result.get("oof_refit_s")},
        candidates=_user_names(out.candidates, names), chosen=result.get("chosen"), metric=exp.spec.metric,
        score=held.scores.get(exp.spec.metric), scores=held.scores, predictions_sha256=held.sha,
        determinism={"budget_mode": mode, "declared_deterministic": declared,
                     "note": "count budget: repeatable" if declared else
                     f"{adapter.name} is not declared deterministic under a {mode} budget"},
        artifacts=jf.artifact_hashes(job_dir, [jf.MODEL_DIR, jf.PREDICTIONS, jf.CANDIDATES, "split.json", "spec.json",
                                               jf.OOF]),  # oof.arrow hashed when the worker wrote it
        log=log, error=held.error,
    )


def _record_extra(extra: Optional[Dict[str, Any]], job_dir: Path, out: Outcome, held: _Holdout,
                  names: Dict[str, Any]) -> Dict[str, Any]:
    """``record.extra``: the caller's entries and what the run itself adds (see the record schema's sections)."""
    result = out.result or {}
    return dict(extra or {}, error_type=out.error_type, returncode=out.returncode,
                feature_names={"renamed": sum(o != n for o, n in zip(names["original"], names["safe"])),
                               "safe": names["safe"]},
                search_info=result.get("info") or {},
                data=jf.read_json(job_dir / jf.JOB).get("data"),  # the stored features (path, sha256)
                # launch to ready (outside the seconds budget) and what the adapter's start_up said
                startup={k: (out.startup or {}).get(k)
                         for k in ("startup_s", "hook_s", "facts", "warm", "runtime")},  # warm: core/run/warm.py
                # the chosen candidate's out-of-fold predictions, see automux.core.run.oof
                oof=result.get("oof") or {"available": False, "source": None,
                                          "reason": "the worker reported no out-of-fold predictions"
                                          + ("" if held.status == "ok" else f" (the run ended {held.status})")},
                **({"degenerate": held.degenerate} if held.degenerate else {}),
                **({"holdout_ci": held.ci} if held.ci else {}),  # how sure the hold-out score is
                **({"memory": out.memory} if out.memory else {}),  # --memory, peak held, how enforced
                **({"signal": signal.Signals(signal_of(out.interrupted)).name}
                   if out.interrupted is not None else {}))


def _store_and_announce(store: RunStore, record: RunRecord, adapter: Adapter, exp: Experiment,
                        progress: ProgressFn) -> None:
    """Store the record, then fire the finished / failed hook and the progress event."""
    store.save(record)
    run_dir = str(store.run_dir(record.run_id))
    if record.status == "ok":
        fire("automux_run_finished", run_id=record.run_id, backend=adapter.name, spec=exp.spec, record=record,
             run_dir=run_dir)
    else:
        fire("automux_run_failed", run_id=record.run_id, backend=adapter.name, spec=exp.spec, record=record,
             error=record.error or record.status, run_dir=run_dir)
    progress("finished", {"run_id": record.run_id, "backend": adapter.name, "record": record})
