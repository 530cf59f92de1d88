"""Predictions from a stored model, in the env that trained it (``automux predict RUN_ID --data SRC``).

Parent side, :func:`predict`: loads the run record, lines the new data up with
the training columns (order, dtypes, the training categories of categorical
columns; the target column is dropped when present), picks the env that
trained the model (the built env whose fingerprint the record holds, else the
adapter's current recipe, flagged ``env_matches: false``), and runs
a ``predict`` job of the worker (:mod:`automux.core.run.worker`) there under
the usual worker process rules. Outputs go to ``RUN_DIR/predict/ID/``: ``predictions.arrow``
(the job-dir format), ``predictions.csv`` (one column per class label, or
``prediction``), and their sha256 computed exactly like a record's
``predictions_sha256``: predicting a run's own hold-out rows gives its hash back.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from . import jobfiles as jf
from ..errors import UserError

INPUT = jf.PREDICT_INPUT
PREDICT_DIR = "predict"
CSV = "predictions.csv"


class ModelNotFound(UserError, LookupError):
    """The run has no stored model to predict with (it failed, or its model dir is gone)."""




def _check_new_frame(frame: Any, target: str) -> None:
    """Refuse new data that no model can take, in the user's column names, before any job starts.

    Raises:
        DataError: not a table, duplicate column names, no rows, or a non-finite number (inf / -inf).
    """
    import numpy as np
    import pandas as pd

    from ..errors import DataError

    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"the data to predict is a {type(frame).__name__}: give a pandas DataFrame, a CSV or "
                        "a Parquet path")
    names = [str(c) for c in frame.columns]
    seen: set = set()
    dups = sorted({n for n in names if n in seen or seen.add(n)})  # linear
    if dups:
        raise DataError(f"duplicate column names in the data to predict: {', '.join(dups[:8])}: rename them so "
                        "every column is unique")
    if len(frame) == 0:
        raise DataError("the data to predict has no rows (a header only?): give at least one row")
    for col in frame.columns:
        if str(col) == target:
            continue
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
            bad = int(np.isinf(values.to_numpy(dtype=float, na_value=np.nan)).sum())
            if bad:
                raise DataError(f"column {str(col)!r} of the data to predict holds {bad} infinite value(s) "
                                "(inf / -inf), refused as in training: replace them with a finite number or "
                                "leave them empty")


def align_features(frame: Any, target: str, run_dir: Path) -> "tuple[Any, List[str]]":
    """New data as the training frame had it: same columns in the same order, same categories.

    Returns the features, under the safe names the backend was trained with, and
    the names of columns dropped (not used in training). ``frame`` uses the
    user's own column names, as the training data did; every message names
    those, never the safe ones. Values of a categorical column that training
    never saw become missing; their count per column is in ``X.attrs["unseen_categories"]``.

    Raises:
        DataError: duplicate columns, no rows, an infinite value, a training column
        missing, or a value that cannot take the training dtype.
    """
    import pandas as pd

    from ..experiment.dates import expand_dates
    from ..experiment.normalise import normalise_features
    from ..errors import DataError

    _check_new_frame(frame, target)
    template = jf.read_feature_template(run_dir)  # columns and dtypes only: no row is read
    names = jf.read_json(run_dir / jf.JOB).get("feature_names") or {
        "original": list(template.columns), "safe": list(template.columns)}  # a run from before safe names
    X = frame.drop(columns=[target]) if target in frame.columns else frame
    X = normalise_features(X)
    dates = _recorded_dates(run_dir)
    unparsed: Dict[str, int] = {}
    if dates:  # the date columns training read, expanded into the same parts (unless given as parts already)
        missing = [c for c, v in dates.items() if c not in X.columns and not set(v["features"]) <= set(X.columns)]
        if missing:
            raise DataError(f"the data lacks {len(missing)} column(s) the model was trained on: "
                            f"{', '.join(missing[:8])}")
        X, _ = expand_dates(X, recorded={c: v for c, v in dates.items() if c in X.columns})
        unparsed = X.attrs.get("unparsed_dates", {})
    missing = [c for c in names["original"] if c not in X.columns]
    if missing:
        raise DataError(f"the data lacks {len(missing)} column(s) the model was trained on: "
                        f"{', '.join(missing[:8])}")
    dropped = [c for c in X.columns if c not in names["original"]]
    user_name = dict(zip(names["safe"], names["original"]))
    X = X[list(names["original"])].set_axis(names["safe"], axis=1).copy()  # the names the backend was given
    unseen: Dict[str, int] = {}
    for col in template.columns:
        want = template[col].dtype
        if isinstance(want, pd.CategoricalDtype):
            values = X[col].astype(object).map(lambda v: None if pd.isna(v) else str(v))
            known = values.isna() | values.isin(list(want.categories))
            if not known.all():  # counted and reported, predicted as missing
                unseen[user_name.get(col, col)] = int((~known).sum())
            X[col] = pd.Categorical(values.where(known, None), categories=want.categories)
        elif X[col].dtype != want:
            try:
                X[col] = X[col].astype(want)
            except (TypeError, ValueError) as e:
                raise DataError(f"column {user_name.get(col, col)!r} cannot be read as {want} like in training "
                                f"({str(e).splitlines()[0][:120] if str(e) else type(e).__name__}): fix its "
                                "values") from e
    X = X.reset_index(drop=True)
    X.attrs["unseen_categories"] = {**unseen, **unparsed}  # a date that does not parse is predicted as missing
    return X, dropped


def _recorded_dates(run_dir: Path) -> Dict[str, Any]:
    """``spec.data["dates"]`` of the run in ``run_dir`` (``{}`` when none, or no record)."""
    try:
        return (jf.read_json(run_dir / "record.json").get("spec") or {}).get("data", {}).get("dates") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def write_predictions_csv(pred: Any, task: str, classes: List[Any], job_dir: Path,
                          out: Optional[Union[str, Path]] = None) -> Path:
    """``predictions.csv`` in ``job_dir`` (one column per class label, or ``prediction``), copied to ``out``
    when given; returns the path the user should read (``out`` if given)."""
    import shutil

    import pandas as pd

    if task == "regression":
        table = pd.DataFrame({"prediction": pred})
    else:
        table = pd.DataFrame({str(label): pred[:, k] for k, label in enumerate(classes)})
    csv = job_dir / CSV
    table.to_csv(csv, index=False, float_format="%.17g")
    if out is not None:
        shutil.copyfile(csv, Path(out))
        return Path(out)
    return csv


def _read_frame(data: Any) -> Any:
    import pandas as pd

    from ..experiment.sources import read_source
    return data if isinstance(data, pd.DataFrame) else read_source(str(data))


def _choose_env(record: Any) -> Any:
    """The built env that trained the record's model, if it is still in the cache."""
    from ..env.cache import built_envs

    recorded = (record.env or {}).get("automux_env") or {}
    if not recorded.get("isolated"):
        return None
    for env in reversed(built_envs(recorded.get("name"))):
        if env.fingerprint == recorded.get("fingerprint"):
            return env
    return None


def predict(run_id: str, data: Any, *, store: Any = None, build: bool = True,
            out: Optional[Union[str, Path]] = None, timeout_s: Optional[float] = None) -> Dict[str, Any]:
    """Predict ``data`` with the model of run ``run_id``, in the env that trained it.

    Returns ``{run_id, status, predictions, predictions_arrow, predictions_sha256,
    rows, dropped_columns, unseen_categories, env, env_matches, duration_s, error}``
    (``unseen_categories``: per column, the values of categories training never saw,
    predicted as missing); ``status`` is ``ok`` or ``failed`` (the worker failed: ``error`` and the job's log say why).

    Raises:
        RunNotFound, ModelNotFound, DataError, EnvError, StoreError, ArtifactTampered: bad input (exit 2 in the CLI).
    """
    from ..inputs import check_out_path, check_seconds
    from ..registry import get_adapter
    from ..env.worker_env import prepare_worker

    check_seconds(timeout_s)  # before anything is loaded or written
    if out is not None:
        check_out_path(out)
    record, run_dir = _load_predictable(run_id, store)
    spec = record.spec
    X, dropped = align_features(_read_frame(data), spec.data["target"], run_dir)
    worker = prepare_worker(get_adapter(record.backend), build=build, env=_choose_env(record))
    job_dir = _write_predict_job(X, record, run_dir, run_id)
    t0 = time.monotonic()
    outcome = _run_predict_job(job_dir, worker, spec, timeout_s)
    result: Dict[str, Any] = {"run_id": run_id, "status": outcome.status, "rows": len(X),
                              "dropped_columns": dropped,
                              "unseen_categories": dict(X.attrs.get("unseen_categories") or {}),
                              "env": worker.info, "env_matches": _env_matches(worker, outcome, record),
                              "duration_s": time.monotonic() - t0, "job_dir": str(job_dir), "error": outcome.error,
                              "predictions": None, "predictions_arrow": None, "predictions_sha256": None}
    if outcome.status != "ok":
        return result
    pred = jf.predictions_array(jf.read_arrow(job_dir / jf.PREDICTIONS), spec.task)
    want = (len(X),) if spec.task == "regression" else (len(X), len(spec.data["classes"]))
    if pred.shape != want:
        result.update(status="failed", error=f"malformed predictions: shape {pred.shape}, expected {want}")
        return result
    csv = write_predictions_csv(pred, spec.task, spec.data["classes"], job_dir, out)
    result.update(predictions=str(csv),
                  predictions_arrow=str(job_dir / jf.PREDICTIONS), predictions_sha256=jf.predictions_sha256(pred))
    return result


def _load_predictable(run_id: str, store: Any) -> "tuple[Any, Path]":
    """The run's record and folder, refused unless it is ok with an intact stored model and an unedited record."""
    from .integrity import check_record
    from .store import RunStore

    the_store = store if isinstance(store, RunStore) else RunStore(store)
    record = the_store.load(run_id)
    run_dir = the_store.run_dir(run_id)
    model_dir = run_dir / jf.MODEL_DIR
    if record.status != "ok" or not model_dir.is_dir() or not any(model_dir.iterdir()):
        raise ModelNotFound(f"run {run_id} has no stored model (status {record.status}): "
                            "predict from a run whose status is ok")
    the_store.check_artifacts(record, jf.MODEL_DIR)  # a tampered or truncated model is refused before loading
    check_record(record, run_dir)
    return record, run_dir


def _write_predict_job(X: Any, record: Any, run_dir: Path, run_id: str) -> Path:
    """A new ``RUN_DIR/predict/ID/`` job folder holding the aligned features and the predict job file."""
    from .store import new_run_id

    spec = record.spec
    run_job = jf.read_json(run_dir / jf.JOB)
    model_dir = run_dir / jf.MODEL_DIR
    job_dir = run_dir / PREDICT_DIR / new_run_id()
    job_dir.mkdir(parents=True)
    try:
        jf.write_arrow(X, job_dir / INPUT)
        jf.write_json(job_dir / jf.JOB, {"kind": "predict", "adapter": run_job["adapter"], "task": spec.task,
                                         "seeds": spec.seeds, "model_dir": str(model_dir.resolve()),
                                         "run_id": run_id})
    except BaseException:  # a full disk or an interrupt: no half-written job left behind
        import shutil
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    return job_dir


def _run_predict_job(job_dir: Path, worker: Any, spec: Any, timeout_s: Optional[float]) -> Any:
    """The predict job's outcome; an interrupt removes the job folder and is raised again."""
    from .launcher import run_worker
    from ..experiment.budget import DEFAULT_TIMEOUT_S

    limit = DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s)
    outcome = run_worker(job_dir, python=worker.python, seeds=spec.seeds, env_extra=worker.env_extra,
                         deadline_s=limit)
    if outcome.interrupted is not None:  # the worker is ended; no half job left in the run's folder
        import shutil
        shutil.rmtree(job_dir, ignore_errors=True)
        raise outcome.interrupted
    return outcome


def _env_matches(worker: Any, outcome: Any, record: Any) -> bool:
    """Whether the env that predicted is the one that trained."""
    if worker.info.get("isolated"):  # the lock fingerprint, taken when the env was built
        return bool(worker.info.get("fingerprint") == ((record.env or {}).get("automux_env") or {}).get(
            "fingerprint"))
    # the main env: both workers' own view of their packages
    return bool((outcome.env or {}).get("fingerprint") == (record.env or {}).get("fingerprint"))
