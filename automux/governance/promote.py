"""The promotion gate: rebuild a candidate explicitly, re-validate it over seeds, promote or refuse.

``promote(run_id, candidate=K, seeds=N)``:

1. asks the run's adapter for the candidate's source
   (:meth:`automux.core.adapter.Adapter.candidate_source`): a plain Python file
   whose ``build_model()`` returns an unfitted scikit-learn estimator, written to
   ``RUN_DIR/promotion/candidate_K.py``. An adapter that cannot rebuild a
   candidate says why through ``rebuild_refusal`` (a string class attribute, or
   a method ``(candidate, task, columns) -> Optional[str]``, see
   :func:`rebuild_refusal`) and the candidate is refused (``not_rebuildable``).
   An adapter that gives no source and declares no reason (third-party
   adapters) is promoted on the backend's own stored model, and the decision
   says so;
2. runs that file in a fresh interpreter (``python -I``, automux and every
   AutoML backend blocked from import) on the run's fixed folds and hold-out,
   once per seed: the run's own backend seed first, then seeds derived from
   the master seed (``promote-1``, ``promote-2``, ...);
3. compares with what the run recorded and decides. Refusal reasons:

   ``not_reproducible``
       with the run's own seed the rebuilt fold scores (or, for the chosen
       candidate, the hold-out score) differ from the recorded ones by more
       than ``REPRODUCE_ATOL`` (+ ``REPRODUCE_RTOL`` relative), or the file fails;
   ``worse_than_reported``
       averaged over the seeds, the CV score (or the chosen candidate's hold-out
       score) is worse than recorded by more than the recorded fold scores'
       standard error (at least ``WORSE_FLOOR``): the reported score was a
       lucky seed;
   ``fragile_gain``
       the seed-averaged per-fold gain over the stronger readiness baseline
       (dummy / linear, same folds) is inside the fold noise (see
       :mod:`automux.governance.gain`);
   ``not_rebuildable``
       the adapter declares that this candidate cannot be rebuilt explicitly,
       and why (the detail is the adapter's reason).

The decision is written to ``RUN_DIR/promotion/candidate_K.json`` and
``RUN_DIR/promotion.json`` (the latest decision); a promoted run is marked in
the store's index (``automux runs list --promoted``).
"""
from __future__ import annotations

import json
import math
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Union

import numpy as np
import pandas as pd

from .._version import __version__
from ..core.errors import SpecError, UserError
from ..core.experiment.prepare import Experiment
from ..core.experiment.record import RunRecord
# Re-exported: promotion's public names since before the re-validation moved below governance.
from ..core.run.revalidate import (DEFAULT_TIMEOUT_S, FORBIDDEN, HARNESS, REPRODUCE_ATOL,  # noqa: F401
                                   REPRODUCE_RTOL, rebuild_refusal, reproduces, revalidate)
from ..core.run.store import RunStore, atomic_write_text

PROMOTED, REFUSED = "promoted", "refused"
NOT_REPRODUCIBLE, WORSE_THAN_REPORTED, FRAGILE_GAIN = "not_reproducible", "worse_than_reported", "fragile_gain"
#: The adapter gives no explicit rebuild of this candidate and says why (``rebuild_refusal``).
NOT_REBUILDABLE = "not_rebuildable"
#: The smallest drop (in the metric's units) counted as worse than reported.
WORSE_FLOOR = 1e-4
DEFAULT_SEEDS = 5
PROMOTION_DIR = "promotion"
PROMOTION_FILE = "promotion.json"
DataLike = Union[str, pd.DataFrame]


class PromotionError(UserError):
    """The run cannot be put through the gate (failed run, unknown candidate, ...)."""


def _store(store: Union[str, RunStore, None]) -> RunStore:
    return store if isinstance(store, RunStore) else RunStore(store)


def _columns(exp: Experiment) -> Dict[str, str]:
    return {str(c): ("categorical" if isinstance(t, pd.CategoricalDtype) else "numeric")
            for c, t in exp.dataset.X.dtypes.items()}


def promotion_seeds(master: int, backend_seed: int, n: int) -> List[int]:
    """The run's own backend seed, then ``n - 1`` seeds derived from the master seed."""
    from ..core.experiment.seeds import derive_seed

    return [backend_seed] + [derive_seed(master, f"promote-{i}") for i in range(1, n)]


def _baselines(record: RunRecord, exp: Experiment) -> Dict[str, Any]:
    """The readiness recorded with the run when it used these folds, else measured now (baselines only)."""
    from .readiness import check

    recorded = record.extra.get("readiness")
    if isinstance(recorded, dict) and recorded.get("split_fingerprint") == exp.split.fingerprint \
            and recorded.get("metric") == record.metric:
        return recorded
    return check(exp, leakage=False).to_json()


def _judge(record: RunRecord, index: int, reval: Dict[str, Any], readiness: Dict[str, Any],
           greater_is_better: bool) -> Dict[str, Any]:
    """Compare the re-validation with the record: the reasons to refuse, and the scores side by side."""
    from . import gain

    cand = record.candidates[index]
    sign = 1.0 if greater_is_better else -1.0
    reasons: List[Dict[str, str]] = []
    reported_folds = cand.fold_scores
    reported_cv = cand.cv_score
    reported_holdout = record.score if index == record.chosen else None
    scores: Dict[str, Any] = {"reported": {"fold_scores": reported_folds, "cv": reported_cv,
                                           "holdout": reported_holdout}}
    if "error" in reval:
        reasons.append({"code": NOT_REPRODUCIBLE, "detail": reval["error"]})
        return {"reasons": reasons, "scores": scores, "gain": None}
    per_seed = reval["per_seed"]
    first = per_seed[0]
    cvs = [p["cv"] for p in per_seed]
    holds = [p["holdout"] for p in per_seed if p["holdout"] is not None]
    k = len(first["fold_scores"])
    mean_folds = [float(np.mean([p["fold_scores"][f] for p in per_seed])) for f in range(k)]
    scores["revalidated"] = {"per_seed": per_seed, "cv_mean": float(np.mean(cvs)),
                             "cv_std_over_seeds": float(np.std(cvs, ddof=1)) if len(cvs) > 1 else 0.0,
                             "holdout_mean": float(np.mean(holds)) if holds else None,
                             "mean_fold_scores": mean_folds}
    # 1. the run's own seed must give back what was recorded
    diffs = [f"fold {f}: {r:.6g} recorded, {s:.6g} rebuilt" for f, (r, s) in
             enumerate(zip(reported_folds, first["fold_scores"])) if r is not None and not reproduces(s, r)]
    if len(reported_folds) != k:
        diffs.insert(0, f"{len(reported_folds)} folds recorded, {k} rebuilt")
    if reported_holdout is not None and first["holdout"] is not None and not reproduces(first["holdout"], reported_holdout):
        diffs.append(f"hold-out: {reported_holdout:.6g} recorded, {first['holdout']:.6g} rebuilt")
    if diffs:
        reasons.append({"code": NOT_REPRODUCIBLE, "detail": f"with the run's own seed {first['seed']}, the rebuild "
                        f"disagrees with the record beyond {REPRODUCE_ATOL:g}: " + "; ".join(diffs[:5])})
    # 2. over several seeds it must not be worse than reported
    valid = [s for s in reported_folds if s is not None]
    se = float(np.std(valid, ddof=1) / math.sqrt(len(valid))) if len(valid) > 1 else 0.0
    tol = max(WORSE_FLOOR, se)
    scores["worse_tolerance"] = tol
    worse = []
    if reported_cv is not None and sign * (reported_cv - float(np.mean(cvs))) > tol:
        worse.append(f"CV {float(np.mean(cvs)):.6g} over {len(cvs)} seeds vs {reported_cv:.6g} reported")
    if reported_holdout is not None and holds and sign * (reported_holdout - float(np.mean(holds))) > tol:
        worse.append(f"hold-out {float(np.mean(holds)):.6g} over {len(holds)} seeds vs {reported_holdout:.6g} recorded")
    if worse:
        reasons.append({"code": WORSE_THAN_REPORTED, "detail": "; ".join(worse) + f" (tolerance {tol:.3g}: the "
                        "recorded folds' standard error)"})
    # 3. the gain over the baseline must be outside the fold noise
    g = gain.compute(record, readiness, candidate=index, fold_scores=mean_folds)
    if g.get("fragile"):
        reasons.append({"code": FRAGILE_GAIN, "detail": g["reason"]})
    return {"reasons": reasons, "scores": scores, "gain": g}


def _judge_backend_model(record: RunRecord, store: RunStore, readiness: Dict[str, Any]) -> Dict[str, Any]:
    """No explicit rebuild: check the stored model and predictions against the record, and the gain."""
    from ..core.run import jobfiles as jf
    from . import gain

    run_dir = store.run_dir(record.run_id)
    reasons: List[Dict[str, str]] = []
    bad = []
    for rel, sha in sorted(record.artifacts.items()):
        p = run_dir / rel
        if not p.is_file():
            bad.append(f"{rel} missing")
        elif jf.sha256_file(p) != sha:
            bad.append(f"{rel} changed")
    pred_path = run_dir / jf.PREDICTIONS
    if pred_path.is_file() and record.predictions_sha256:
        pred = jf.predictions_array(jf.read_arrow(pred_path), record.spec.task)
        if jf.predictions_sha256(pred) != record.predictions_sha256:
            bad.append("the stored hold-out predictions do not hash to the recorded value")
    if bad:
        reasons.append({"code": NOT_REPRODUCIBLE, "detail": "the backend's stored model does not match its record: "
                        + "; ".join(bad[:5])})
    cand = record.candidates[record.chosen]
    g = gain.compute(record, readiness, candidate=record.chosen)
    if g.get("fragile"):
        reasons.append({"code": FRAGILE_GAIN, "detail": g["reason"]})
    scores = {"reported": {"fold_scores": cand.fold_scores, "cv": cand.cv_score, "holdout": record.score}}
    return {"reasons": reasons, "scores": scores, "gain": g}


def _judge_refused(record: RunRecord, index: int, refusal: str, readiness: Dict[str, Any]) -> Dict[str, Any]:
    """No explicit rebuild, and the adapter says why: refused with that reason (the gain is still reported)."""
    from . import gain

    cand = record.candidates[index]
    g = gain.compute(record, readiness, candidate=index)
    scores = {"reported": {"fold_scores": cand.fold_scores, "cv": cand.cv_score,
                           "holdout": record.score if index == record.chosen else None}}
    return {"reasons": [{"code": NOT_REBUILDABLE, "detail": refusal}], "scores": scores, "gain": g}


def _mark_index(store: RunStore, run_id: str) -> bool:
    """Set the index's ``promoted`` flag from the decisions on disk; returns it."""
    folder = store.run_dir(run_id) / PROMOTION_DIR
    promoted = any(json.loads(p.read_text(encoding="utf-8")).get("status") == PROMOTED
                   for p in sorted(folder.glob("candidate_*.json")))
    setter = getattr(store, "set_promoted", None)
    if callable(setter):
        setter(run_id, promoted)
    else:
        from contextlib import closing
        with closing(store._connect()) as con, con:
            con.execute("UPDATE runs SET promoted = ? WHERE run_id = ?", (1 if promoted else 0, run_id))
    return promoted


def promote(run_id: str, *, store: Union[str, RunStore, None] = None, candidate: Optional[int] = None,
            seeds: int = DEFAULT_SEEDS, data: Optional[DataLike] = None,
            timeout_s: float = DEFAULT_TIMEOUT_S) -> Dict[str, Any]:
    """Rebuild, re-validate and promote (or refuse) candidate ``candidate`` (default: the chosen one).

    Returns the decision: ``{status: promoted / refused, reason, reasons: [{code,
    detail}], code_path, rebuild: explicit / backend_model, scores, gain, seeds,
    tolerances, ...}``, also written to the run directory.

    Raises:
        RunNotFound: no such run. PromotionError: the run did not finish ok, the
        candidate does not exist or has no scores, or a candidate other than the
        chosen one was asked of a backend without explicit rebuilds.
        DataError: the run's data changed or was an in-memory frame (pass ``data``).
        SpecError: ``seeds`` < 1.
    """
    from ..core.experiment.metrics import get_metric
    from ..core.registry import get_adapter
    from ..core.run.verify import experiment_from_record

    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise SpecError(f"--seeds {seeds!r}: give a positive number of seeds")
    from ..core.inputs import check_seconds
    check_seconds(timeout_s, allow_none=False)
    the_store = _store(store)
    record = the_store.load(run_id)
    if record.status != "ok" or record.chosen is None:
        raise PromotionError(f"run {run_id} ended {record.status} without a chosen candidate: nothing to promote")
    index = record.chosen if candidate is None else candidate
    if not (0 <= index < len(record.candidates)):
        raise PromotionError(f"run {run_id} has candidates 0..{len(record.candidates) - 1}, not {index}")
    cand = record.candidates[index]
    if cand.cv_score is None:
        raise PromotionError(f"candidate {index} of run {run_id} was never scored ({cand.info.get('error', 'no scores')})")
    t0 = time.monotonic()
    exp = experiment_from_record(record, the_store, data=data)
    metric = get_metric(record.metric, record.spec.task)
    adapter = get_adapter(record.backend)
    backend_seed = int(record.spec.seeds["backend"])
    columns = _columns(exp)
    refusal = rebuild_refusal(adapter, cand, record.spec.task, columns)
    source = None if refusal else adapter.candidate_source(cand, record.spec.task, columns, backend_seed)
    readiness = _baselines(record, exp)
    run_dir = the_store.run_dir(run_id)
    seed_list = promotion_seeds(record.spec.seed, backend_seed, seeds)
    code_path = None
    modules = None
    if source is not None:
        code_path = run_dir / PROMOTION_DIR / f"candidate_{index}.py"
        header = (f"# Candidate {index} ({cand.algorithm}) of automux run {run_id}, backend {record.backend}.\n"
                  f"# Written by `automux promote`: it imports scikit-learn (and the model's own library) only.\n"
                  f"# build_model() gives the unfitted estimator; fit it on the raw feature frame\n"
                  f"# (categorical columns as strings, NaN for missing).\n")
        atomic_write_text(code_path, header + source.rstrip() + "\n")
        reval = revalidate(code_path, exp, seed_list, timeout_s=timeout_s)
        modules = reval.get("modules")
        if modules is not None:
            leaked = sorted(set(modules) & set(FORBIDDEN))
            if leaked:
                reval = {"error": f"the candidate file imported {', '.join(leaked)}"}
        judged = _judge(record, index, reval, readiness, metric.greater_is_better)
        rebuild = "explicit"
        note = (f"rebuilt from {code_path.name} in a fresh `python -I` with automux and AutoML backends blocked, "
                f"over {seeds} seed(s)")
    elif refusal:
        judged = _judge_refused(record, index, refusal, readiness)
        rebuild = NOT_REBUILDABLE
        seed_list = []
        note = (f"backend {record.backend} gives no explicit rebuild of candidate {index}: {refusal}; a candidate "
                "that cannot be rebuilt explicitly is refused, not promoted on the backend's own model")
    else:
        if index != record.chosen:
            raise PromotionError(f"backend {record.backend} gives no explicit rebuild, so only its stored model "
                                 f"(the chosen candidate {record.chosen}) can be promoted, not candidate {index}")
        judged = _judge_backend_model(record, the_store, readiness)
        rebuild = "backend_model"
        seed_list = [backend_seed]
        note = (f"backend {record.backend} gives no explicit rebuild: what is promoted is the backend's own stored "
                "model (model/ in the run dir); its artifacts and hold-out predictions were checked against the "
                "record, but it was not refitted, so no multi-seed re-validation was possible")
    reasons = judged["reasons"]
    status = PROMOTED if not reasons else REFUSED
    reason = "; ".join(f"{r['code']}: {r['detail']}" for r in reasons) if reasons else \
        ("gain outside the fold noise and reproduced over the seeds" if rebuild == "explicit"
         else "stored model matches its record and the gain is outside the fold noise")
    decision = {
        "run_id": run_id, "candidate": index, "algorithm": cand.algorithm, "params": cand.params,
        "backend": record.backend, "status": status, "reason": reason, "reasons": reasons,
        "codes": [r["code"] for r in reasons], "rebuild": rebuild, "note": note,
        "code_path": str(code_path) if code_path else None, "seeds": seed_list, "metric": record.metric,
        "greater_is_better": metric.greater_is_better, "scores": judged["scores"], "gain": judged["gain"],
        "baselines": readiness.get("baselines"), "modules": modules,
        "tolerances": {"reproduce_atol": REPRODUCE_ATOL, "reproduce_rtol": REPRODUCE_RTOL,
                       "worse_floor": WORSE_FLOOR, "worse": judged["scores"].get("worse_tolerance")},
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_s": time.monotonic() - t0, "automux_version": __version__,
    }
    text = json.dumps(decision, indent=2, sort_keys=True, default=str)
    atomic_write_text(run_dir / PROMOTION_DIR / f"candidate_{index}.json", text)
    atomic_write_text(run_dir / PROMOTION_FILE, text)
    decision["promoted_run"] = _mark_index(the_store, run_id)
    return decision


def load_promotion(run_id: str, store: Union[str, RunStore, None] = None) -> Optional[Dict[str, Any]]:
    """The latest promotion decision of a run, or None when it never went through the gate."""
    path = _store(store).run_dir(run_id) / PROMOTION_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
