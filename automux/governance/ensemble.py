"""Cross-backend ensembles: greedy ensemble selection with replacement (Caruana et al. 2004) over stored runs.

Every member is a stored run of one spec (same data, split, folds and metric:
one ``spec_id``), whose worker wrote the chosen candidate's out-of-fold
predictions (``oof.arrow``, :mod:`automux.core.run.oof`). Selection runs on
those: starting from the empty ensemble, each step adds (with replacement) the
member whose addition gives the best OOF score under the spec's metric; the
ensemble kept is the best prefix of that sequence, so its OOF score is never
worse than the best member's (the first step is the best member alone). Weights
are the selection counts. The hold-out predictions are the weighted average of
the members' stored hold-out predictions (``predictions.arrow``), scored by
automux's metrics like any run.

The ensemble is stored as a run: backend ``ensemble``, ``candidates`` = the
members (params ``run_id`` and ``weight``), ``extra["ensemble"]`` the members
with their records' hashes, the weights and the selection trajectory; its run
dir holds ``predictions.arrow``, ``oof.arrow`` (the ensemble's OOF), ``ensemble.json``,
``spec.json`` and ``split.json``, all hashed in the record.

- :func:`build_ensemble` (``automux ensemble RUN_ID...``);
- :func:`predict_ensemble` (``automux predict`` on an ensemble run): each member
  predicts through the normal predict path, in its own env, then the weighted average;
- :func:`verify_ensemble` (``automux verify`` on an ensemble run): rebuilt from the
  members' stored OOF and hold-out predictions, then compared like any rerun.
"""
from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .._version import __version__
from ..core.experiment.metrics import get_metric, score_all
from ..core.experiment.record import RunRecord
from ..core.experiment.spec import Candidate
from ..core.errors import SpecError
from ..core.run import jobfiles as jf
from ..core.run.store import RunStore, atomic_write_text

ENSEMBLE_BACKEND = "ensemble"
ENSEMBLE_FILE = "ensemble.json"
#: Selection steps (the ensemble's size with replacement) unless told otherwise.
DEFAULT_SIZE = 25
METHOD = "greedy ensemble selection with replacement (Caruana et al. 2004), best prefix kept"


class EnsembleError(SpecError):
    """The runs cannot be ensembled (different specs, no out-of-fold predictions, a failed run, ...)."""


def _store(store: Union[str, RunStore, None]) -> RunStore:
    return store if isinstance(store, RunStore) else RunStore(store)


def weighted_average(preds: Sequence[np.ndarray], counts: Sequence[int]) -> np.ndarray:
    """``sum(count_i * pred_i) / sum(count)``, members in order, zero counts skipped: bitwise repeatable."""
    total = int(sum(counts))
    if total <= 0:
        raise ValueError("an ensemble needs at least one selected member")
    out = np.zeros_like(np.asarray(preds[0], dtype=np.float64))
    for p, c in zip(preds, counts):
        if c:
            out = out + float(c) * np.asarray(p, dtype=np.float64)
    return out / float(total)


def greedy_selection(oofs: Sequence[np.ndarray], y: np.ndarray, metric: Any, size: int = DEFAULT_SIZE
                     ) -> Dict[str, Any]:
    """Caruana's greedy selection with replacement on out-of-fold predictions.

    Returns ``{counts, picks, trajectory, best_step, score}``: ``picks`` the member
    added at each step, ``trajectory`` the OOF score after each step, ``counts`` the
    selection counts of the best prefix (ties go to the earlier step, and to the
    earlier member), ``score`` its OOF score.
    """
    if size < 1:
        raise EnsembleError(f"--size {size!r}: give a positive number of selection steps")
    counts = [0] * len(oofs)
    picks: List[int] = []
    trajectory: List[float] = []
    best_step, best_score, best_counts = 0, None, None
    for step in range(size):
        step_best, step_score = None, None
        for i in range(len(oofs)):
            trial = list(counts)
            trial[i] += 1
            s = float(metric(y, weighted_average(oofs, trial)))
            if step_score is None or metric.better(s, step_score):
                step_best, step_score = i, s
        counts[step_best] += 1
        picks.append(step_best)
        trajectory.append(step_score)
        if best_score is None or metric.better(step_score, best_score):
            best_step, best_score, best_counts = step + 1, step_score, list(counts)
    return {"counts": best_counts, "picks": picks, "trajectory": trajectory, "best_step": best_step,
            "score": best_score}


def _member_arrays(record: RunRecord, store: RunStore, n_train: int, n_hold: int, n_classes: int
                   ) -> "tuple[np.ndarray, np.ndarray]":
    """A member's stored OOF and hold-out predictions, after checking them against its record."""
    task = record.spec.task
    oof_info = (record.extra or {}).get("oof") or {}
    if not oof_info.get("available") or jf.OOF not in (record.artifacts or {}):
        raise EnsembleError(f"run {record.run_id} ({record.backend}) has no out-of-fold predictions: "
                            f"{oof_info.get('reason') or 'recorded before automux wrote them (re-run it)'}")
    for name in (jf.OOF, jf.PREDICTIONS):
        store.check_artifacts(record, name)
    run_dir = store.run_dir(record.run_id)
    oof = jf.predictions_array(jf.read_arrow(run_dir / jf.OOF), task)
    hold = jf.predictions_array(jf.read_arrow(run_dir / jf.PREDICTIONS), task)
    if jf.predictions_sha256(hold) != record.predictions_sha256:
        raise EnsembleError(f"run {record.run_id}: its hold-out predictions do not hash to the recorded "
                            "predictions_sha256")
    want_oof = (n_train,) if task == "regression" else (n_train, n_classes)
    want_hold = (n_hold,) if task == "regression" else (n_hold, n_classes)
    if oof.shape != want_oof or hold.shape != want_hold:
        raise EnsembleError(f"run {record.run_id}: stored predictions have shapes {oof.shape} / {hold.shape}, "
                            f"expected {want_oof} / {want_hold}")
    return oof, hold


def _load_members(run_ids: Sequence[str], store: RunStore) -> List[RunRecord]:
    ids = [str(r) for r in run_ids]
    if len(ids) < 2:
        raise EnsembleError("an ensemble needs at least two runs (give their run ids, see `automux runs list`)")
    dup = sorted({r for r in ids if ids.count(r) > 1})
    if dup:
        raise EnsembleError(f"run {dup[0]} is given twice: name each member once (selection adds a member "
                            "more than once by itself)")
    records = [store.load(r) for r in ids]
    for r in records:
        if r.backend == ENSEMBLE_BACKEND:
            raise EnsembleError(f"run {r.run_id} is itself an ensemble: give the runs it is made of instead")
        if r.status != "ok":
            raise EnsembleError(f"run {r.run_id} ({r.backend}) ended {r.status}: only runs whose status is ok "
                                "can be members")
    first = records[0]
    for r in records[1:]:
        if r.spec_id != first.spec_id:
            what = "split" if r.spec.split.get("fingerprint") != first.spec.split.get("fingerprint") else "spec"
            raise EnsembleError(f"runs {first.run_id} and {r.run_id} have different specs ({what} differs: spec "
                                f"{first.spec_id[:12]} vs {r.spec_id[:12]}): ensemble runs of one spec, e.g. "
                                "those of one `automux compare`")
    return records


def _rows(record: RunRecord, store: RunStore, data: Any) -> Dict[str, Any]:
    """The data's train / hold-out targets and fold ids, the data checked against the spec's fingerprint."""
    from ..core.run.verify import experiment_from_record

    exp = experiment_from_record(record, store, data=data)
    train = np.asarray(exp.split.train, dtype=np.int64)
    hold = np.asarray(exp.split.holdout, dtype=np.int64)
    return {"y_train": exp.dataset.y[train], "y_hold": exp.dataset.y[hold], "folds": exp.split.fold_pairs(),
            "n_classes": len(exp.dataset.classes), "task": exp.dataset.task, "exp": exp}


def _fold_scores(pred: np.ndarray, y: np.ndarray, folds: Any, metric: Any) -> List[float]:
    return [float(metric(y[v], pred[v])) for _, v in folds]


def build_ensemble(run_ids: Sequence[str], *, store: Union[str, RunStore, None] = None, size: int = DEFAULT_SIZE,
                   data: Any = None, extra: Optional[Dict[str, Any]] = None) -> RunRecord:
    """Greedy ensemble selection over the runs' out-of-fold predictions, stored as a run; returns its record.

    Raises:
        EnsembleError: fewer than two runs, a run given twice, a failed run or an ensemble as member,
            runs of different specs, a member without out-of-fold predictions.
        RunNotFound, DataError, ArtifactTampered: a missing run, changed data, a changed stored file.
    """
    from ..core.env.envinfo import describe_env
    from ..core.inputs import name_list

    name_list(run_ids, "run_ids")  # a bare string would be read per character
    t0 = time.monotonic()
    the_store = _store(store)
    records = _load_members(run_ids, the_store)
    first = records[0]
    spec = first.spec
    metric = get_metric(spec.metric, spec.task)
    rows = _rows(first, the_store, data)
    y, y_hold, folds = rows["y_train"], rows["y_hold"], rows["folds"]
    arrays = [_member_arrays(r, the_store, len(y), len(y_hold), rows["n_classes"]) for r in records]
    oofs = [a[0] for a in arrays]
    holds = [a[1] for a in arrays]
    covered = np.ones(len(y), dtype=bool)
    for o in oofs:
        covered &= ~np.isnan(o if o.ndim == 1 else o[:, 0])
    if not covered.any():
        raise EnsembleError("no training row has an out-of-fold prediction from every member")
    sel = greedy_selection([o[covered] for o in oofs], y[covered], metric, size)
    counts = sel["counts"]
    total = sum(counts)
    weights = [c / total for c in counts]
    ens_oof = weighted_average(oofs, counts)
    ens_hold = weighted_average(holds, counts)
    scores = score_all(spec.task, y_hold, ens_hold)
    sha = jf.predictions_sha256(ens_hold)
    member_oof = [float(metric(y[covered], o[covered])) for o in oofs]
    best_member = 0
    for i, s in enumerate(member_oof):
        if metric.better(s, member_oof[best_member]):
            best_member = i
    members = []
    cands = []
    for i, (r, o) in enumerate(zip(records, oofs)):
        chosen = r.candidates[r.chosen] if r.chosen is not None and 0 <= r.chosen < len(r.candidates) else None
        algo = chosen.algorithm if chosen is not None else "model"
        members.append({"run_id": r.run_id, "backend": r.backend, "count": counts[i], "weight": weights[i],
                        "algorithm": algo, "oof_score": member_oof[i], "holdout_score": r.score,
                        "predictions_sha256": r.predictions_sha256,
                        "oof_sha256": r.artifacts.get(jf.OOF), "oof_source": r.extra["oof"].get("source"),
                        "env": (r.env or {}).get("automux_env", {}).get("name")})
        cands.append(Candidate(index=i, algorithm=f"{r.backend}:{algo}",
                               params={"run_id": r.run_id, "weight": weights[i]}, steps=[r.backend, algo],
                               fold_scores=_fold_scores(o, y, folds, metric) if covered.all() else [],
                               info={"backend": r.backend, "count": counts[i], "oof_score": member_oof[i],
                                     "holdout_score": r.score}))
    ens_oof_score = float(metric(y[covered], ens_oof[covered]))
    info = {"method": METHOD, "size": int(size), "metric": spec.metric, "members": members,
            "weights": weights, "counts": counts, "picks": [records[i].run_id for i in sel["picks"]],
            "trajectory": sel["trajectory"], "best_step": sel["best_step"], "oof_score": ens_oof_score,
            "best_member": {"run_id": records[best_member].run_id, "backend": records[best_member].backend,
                            "oof_score": member_oof[best_member]},
            "oof_rows": int(covered.sum())}
    run_id, run_dir = the_store.new_run_dir()
    jf.write_arrow(jf.predictions_frame(ens_hold, spec.task), run_dir / jf.PREDICTIONS)
    jf.write_arrow(jf.predictions_frame(ens_oof, spec.task), run_dir / jf.OOF)
    atomic_write_text(run_dir / ENSEMBLE_FILE, json.dumps(info, indent=2, sort_keys=True))
    first_dir = the_store.run_dir(first.run_id)
    for name in ("spec.json", "split.json"):
        shutil.copyfile(first_dir / name, run_dir / name)
    mode = spec.budget.mode
    record = RunRecord(
        run_id=run_id, spec_id=first.spec_id, spec=spec, backend=ENSEMBLE_BACKEND, backend_options={"size": int(size)},
        status="ok", created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        durations={"total": time.monotonic() - t0, "search": None, "predict": None},
        candidates=cands, chosen=None, metric=spec.metric, score=scores.get(spec.metric), scores=scores,
        predictions_sha256=sha,
        determinism={"budget_mode": mode, "declared_deterministic": True,
                     "note": "greedy selection over the members' stored out-of-fold predictions: deterministic "
                             "given the members"},
        env=dict(describe_env(), automux_env={"name": ENSEMBLE_BACKEND, "isolated": False},
                 members={r.run_id: (r.env or {}).get("fingerprint") for r in records}),
        artifacts=jf.artifact_hashes(run_dir, [jf.PREDICTIONS, jf.OOF, ENSEMBLE_FILE, "spec.json", "split.json"]),
        log=(f"ensemble of {len(records)} runs ({', '.join(r.backend for r in records)}): weights "
             + ", ".join(f"{m['backend']}={m['weight']:.3f}" for m in members)
             + f"; OOF {spec.metric} {ens_oof_score:.6g} (best member {member_oof[best_member]:.6g})"),
        automux_version=__version__, execution="inline",
        extra=dict(extra or {}, ensemble=info,
                   oof={"available": True, "source": "ensemble", "reason": None, "rows": len(y),
                        "covered_rows": int(covered.sum()),
                        "fold_scores": _fold_scores(ens_oof, y, folds, metric) if covered.all() else None}),
    )
    the_store.save(record)
    from ..core.plugins import fire  # an ensemble is a run: the run-event plugins (MLflow export) see it too
    fire("automux_run_finished", run_id=record.run_id, backend=record.backend, spec=record.spec, record=record,
         run_dir=str(the_store.run_dir(record.run_id)))
    return record


def ensemble_info(record: RunRecord, store: RunStore) -> Dict[str, Any]:
    """``ensemble.json`` of an ensemble run, checked against the record's hash."""
    if record.backend != ENSEMBLE_BACKEND:
        raise EnsembleError(f"run {record.run_id} is a {record.backend} run, not an ensemble")
    store.check_artifacts(record, ENSEMBLE_FILE)
    return json.loads((store.run_dir(record.run_id) / ENSEMBLE_FILE).read_text(encoding="utf-8"))


def verify_ensemble(run_id: str, *, store: Union[str, RunStore, None] = None, data: Any = None) -> Dict[str, Any]:
    """Rebuild the ensemble from its members' stored OOF / hold-out predictions and compare (``automux verify``).

    Returns ``{run_id, rerun_id, verdict, details}`` like :func:`automux.verify`.
    """
    from ..core.run.integrity import check_record
    from ..core.run.verify import compare_records

    the_store = _store(store)
    record = the_store.load(run_id)
    check_record(record, the_store.run_dir(run_id))
    info = ensemble_info(record, the_store)
    members = [m["run_id"] for m in info["members"]]
    changed = []
    for m in info["members"]:
        r = the_store.load(m["run_id"])
        if r.predictions_sha256 != m["predictions_sha256"] or r.artifacts.get(jf.OOF) != m["oof_sha256"]:
            changed.append(m["run_id"])
    rerun = build_ensemble(members, store=the_store, size=int(info["size"]), data=data,
                           extra={"verifies": run_id})
    out = compare_records(record, rerun, the_store)
    out["details"]["weights"] = [info["weights"], rerun.extra["ensemble"]["weights"]]
    if changed:
        out["details"]["changed_members"] = changed
    return {"run_id": run_id, "rerun_id": rerun.run_id, **out}


def predict_ensemble(run_id: str, data: Any, *, store: Union[str, RunStore, None] = None, build: bool = True,
                     out: Optional[Union[str, Path]] = None, timeout_s: Optional[float] = None) -> Dict[str, Any]:
    """Each member predicts ``data`` through the normal predict path, in its own env; then the weighted average.

    Returns the keys of :func:`automux.core.run.predict.predict`, plus ``members``
    (each member's run id, weight, env, env_matches and predictions hash);
    ``status`` is ``failed`` when a member's prediction failed (``error`` names it).
    Predicting the ensemble's own hold-out rows gives its ``predictions_sha256`` back.
    """

    from ..core.run.predict import PREDICT_DIR, _read_frame, write_predictions_csv
    from ..core.run.predict import predict as predict_run
    from ..core.run.store import new_run_id

    t0 = time.monotonic()
    the_store = _store(store)
    record = the_store.load(run_id)
    info = ensemble_info(record, the_store)
    spec = record.spec
    frame = _read_frame(data)
    members, preds, counts = [], [], []
    result: Dict[str, Any] = {"run_id": run_id, "status": "ok", "rows": len(frame), "dropped_columns": [],
                              "env": {"name": ENSEMBLE_BACKEND, "fingerprint": None}, "env_matches": True,
                              "error": None, "predictions": None, "predictions_arrow": None,
                              "predictions_sha256": None, "members": members}
    for m in info["members"]:
        if not m["count"]:
            members.append({"run_id": m["run_id"], "backend": m["backend"], "weight": 0.0, "skipped": True})
            continue
        r = predict_run(m["run_id"], frame, store=the_store, build=build, timeout_s=timeout_s)
        members.append({"run_id": m["run_id"], "backend": m["backend"], "weight": m["weight"], "status": r["status"],
                        "env": r["env"].get("name"), "env_matches": r["env_matches"],
                        "predictions_sha256": r["predictions_sha256"], "job_dir": r["job_dir"]})
        result["env_matches"] = result["env_matches"] and bool(r["env_matches"])
        result["dropped_columns"] = r["dropped_columns"]
        if r["status"] != "ok":
            result.update(status="failed", job_dir=r["job_dir"],
                          error=f"member {m['run_id']} ({m['backend']}) failed to predict: {r['error']}")
            result["duration_s"] = time.monotonic() - t0
            return result
        preds.append(jf.predictions_array(jf.read_arrow(Path(r["predictions_arrow"])), spec.task))
        counts.append(int(m["count"]))
    pred = weighted_average(preds, counts)
    job_dir = the_store.run_dir(run_id) / PREDICT_DIR / new_run_id()
    job_dir.mkdir(parents=True)
    jf.write_arrow(jf.predictions_frame(pred, spec.task), job_dir / jf.PREDICTIONS)
    csv = write_predictions_csv(pred, spec.task, spec.data["classes"], job_dir, out)
    atomic_write_text(job_dir / "members.json", json.dumps(members, indent=2, sort_keys=True))
    result.update(predictions=str(csv), job_dir=str(job_dir),
                  predictions_arrow=str(job_dir / jf.PREDICTIONS), predictions_sha256=jf.predictions_sha256(pred),
                  duration_s=time.monotonic() - t0)
    return result


def ensemble_of(records: Sequence[RunRecord], *, store: Union[str, RunStore, None] = None,
                size: int = DEFAULT_SIZE, data: Any = None) -> Optional[RunRecord]:
    """``compare --ensemble``: the ensemble of the ok runs with out-of-fold predictions, or None if fewer than two."""
    ids = [r.run_id for r in records
           if r.status == "ok" and ((r.extra or {}).get("oof") or {}).get("available")]
    return build_ensemble(ids, store=store, size=size, data=data) if len(ids) >= 2 else None
