"""Fidelity against native use: a backend through automux vs the same backend called natively.

For each (backend, data set, seed): the automux run is an ordinary bench cell (outer fold 0 of
the real-data suite, a seconds budget, worker process, hard deadline), and the native run is
the backend called the way its own documentation shows, with its own defaults (its own
validation, default threads, default metric), on exactly automux's training rows of that
cell, for the same seconds budget. Both are scored here by scikit-learn on automux's hold-out
rows with the suite's metric (ROC AUC / log loss / RMSE; reported higher-is-better, losses
negated, as AMLB's ``result``). automux's hold-out predictions are read back from its run
record, so the two scores come from the same scikit-learn function.

Native recipes (documented defaults; only the seed and the budget are set):

* ``flaml``: ``flaml.AutoML().fit(X, y, task=..., time_budget=S, seed=seed)`` (FLAML's
  README): ``metric="auto"`` (roc_auc / log_loss / r2), ``eval_method="auto"`` (its own CV or
  hold-out), ``n_jobs=-1``, its default ``estimator_list``.
* ``flaml_1t``: the same with ``n_jobs=1`` (automux's setting), against the same automux
  run: it separates the effect of threads from the rest (folds, metric, budget split).
* ``flaml_1t3f``: ``n_jobs=1`` and ``n_splits=3`` (automux's fold count, FLAML's own folds):
  separates the effect of the fold count.
* ``optuna``: Optuna's LightGBM example (``optuna-examples/lightgbm/lightgbm_simple.py``):
  a 75/25 ``train_test_split`` of the training rows, the example's search space
  (``lambda_l1``, ``lambda_l2``, ``num_leaves``, ``feature_fraction``, ``bagging_fraction``,
  ``bagging_freq``, ``min_child_samples``), LightGBM's default objective metric on the
  validation part, ``study.optimize(..., timeout=S)`` with a seeded TPE sampler; then the best
  parameters refit on all training rows (the example stops before this step).
* ``tpot``: TPOT 1.1's documented estimators, ``TPOTClassifier`` / ``TPOTRegressor(
  max_time_mins=S / 60, random_state=seed, verbose=0)``, then ``fit(X, y)`` and
  ``predict_proba`` / ``predict``: its defaults otherwise (``search_space="linear"``, ``cv=10``,
  scorer ``roc_auc_ovr`` / ``neg_mean_squared_error``, ``max_eval_time_mins=10``, ``n_jobs=1``).
  Two departures, both forced: TPOT's own Dask cluster (created when no ``client`` is given)
  listens on every interface, so the recipe passes the same shape of cluster (``n_workers =
  n_jobs = 1`` worker process, one thread) bound to 127.0.0.1; and TPOT needs numbers, so a
  frame with categorical or missing values gets TPOT's documented ``preprocessing=True``
  (imputation + one-hot of the ``object`` columns; categoricals are passed as ``object``).
  ``max_time_mins`` does not stop a pipeline in flight (that is ``max_eval_time_mins``, 10 min):
  on diabetes a native run went on for minutes, so give TPOT one data set per call.
* ``h2o``: H2O AutoML as its docs show: ``h2o.init(ip="127.0.0.1", port=P)`` (a free port pair,
  as ``h2o.init`` otherwise joins any server already on 54321; ``nthreads=-1``, all cores, and
  the default memory), ``H2OFrame`` of the training rows (the target ``asfactor()`` for
  classification), ``H2OAutoML(max_runtime_secs=S, seed=seed).train(x, y, training_frame)``
  with its default ``nfolds`` (5 folds, cross-validated leaderboard, stacked ensembles), and
  ``leader.predict`` on the hold-out frame; ``h2o.cluster().shutdown()`` in a ``finally``.
  The JVM's start is inside the native wall time (it is inside automux's too), and is recorded
  in ``native_info`` (``init_s``).

* ``pycaret``, ``autosklearn``, ``autogluon``: run in the backend's own isolated env
  (``~/.cache/automux/envs/NAME-*/bin/python``, the env automux built) by
  ``native_isolated.py``, the rows passed as Parquet: PyCaret ``setup(data, target,
  session_id=seed, test_data=<copy of the training rows>)`` + ``compare_models(budget_time=S/60)``
  (its defaults otherwise: 10 folds, ``n_jobs=-1``, its full model list, sorted by Accuracy / R2;
  ``predict_model(raw_score=True)`` on the hold-out); auto-sklearn
  ``AutoSklearnClassifier / Regressor(time_left_for_this_task=S, seed=seed)`` (string columns as
  ``category``); AutoGluon ``TabularPredictor(label).fit(train, time_limit=S)`` (``medium_quality``,
  its own hold-out; AutoGluon's ``fit`` takes no seed). Their wall time is the child's fit +
  predict, imports excluded.

``--round LABEL`` runs the grid again as new rows (the automux side too, in ``OUT/automux-LABEL``)
with a table of their own, e.g. after a change to the harness; each row keeps the 1-minute load
average at its start (``load1``).

Wall time: automux's is the worker's (``duration``: start-up, imports, search, refit,
scoring); native is the fit + predict in this process, imports excluded. Both run on the same
machine at the same moment's load; the native side uses the backend's default threads (all
cores) where automux's adapter fixes ``n_jobs=1``.

    python benchmarks/fidelity/fidelity.py --backends flaml --datasets breast_cancer,diabetes \\
        --seeds 0,1 --seconds 20 --out benchmarks/fidelity/results

Resumable: a (backend, data set, seed) whose row is in ``OUT/raw.csv`` is not rerun.
Writes ``OUT/raw.csv`` (one row per pair) and ``OUT/summary.md`` (a table per backend).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "benchmarks" / "suites" / "realdata.yaml"
FIELDS = ["backend", "dataset", "task", "metric", "seed", "seconds", "trials", "rows_train", "rows_holdout",
          "automux_status", "automux_score", "automux_result_column", "native_status", "native_score",
          "diff", "automux_wall_s", "automux_training_s", "native_wall_s", "wall_ratio", "automux_models",
          "native_models", "native_info", "run_id", "utc", "round", "load1"]
BACKENDS = ("flaml", "flaml_1t", "flaml_1t3f", "optuna", "tpot", "h2o", "pycaret", "autosklearn", "autogluon")


# ---------------------------------------------------------------- scoring (scikit-learn)

def sk_score(metric: str, task: str, y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Higher-is-better hold-out score by scikit-learn (a loss negated)."""
    from sklearn import metrics

    if task == "regression":
        if metric == "rmse":
            return -float(math.sqrt(metrics.mean_squared_error(y, pred)))
        if metric == "mae":
            return -float(metrics.mean_absolute_error(y, pred))
        return float(metrics.r2_score(y, pred))
    proba = np.asarray(pred, dtype=float)
    if metric == "roc_auc":
        if n_classes == 2:
            return float(metrics.roc_auc_score(y, proba[:, 1]))
        return float(metrics.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=list(range(n_classes))))
    if metric == "log_loss":
        return -float(metrics.log_loss(y, proba, labels=list(range(n_classes))))
    if metric == "accuracy":
        return float(metrics.accuracy_score(y, proba.argmax(axis=1)))
    raise ValueError(f"no scikit-learn scorer here for {metric}")


def _full_proba(proba: np.ndarray, classes: Any, n_classes: int) -> np.ndarray:
    """Columns in code order 0..K-1 (a class absent from the training rows gets 0)."""
    out = np.zeros((proba.shape[0], n_classes))
    for j, c in enumerate(list(classes)):
        out[:, int(c)] = proba[:, j]
    return out


# ---------------------------------------------------------------- native recipes

def native_flaml(X: Any, y: np.ndarray, Xh: Any, task: str, n_classes: int, seconds: float,
                 seed: int, trials: Optional[int] = None, n_jobs: int = -1,
                 n_splits: Optional[int] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    from automux.adapters.flaml_adapter import import_automl  # only hides mlflow's slow import

    AutoML = import_automl()
    automl = AutoML()
    budget = {"time_budget": seconds} if trials is None else {"time_budget": -1, "max_iter": trials}
    threads = {} if n_jobs == -1 else {"n_jobs": n_jobs}  # -1 is FLAML's default: not passed
    if n_splits is not None:
        threads["n_splits"] = n_splits
    automl.fit(X_train=X, y_train=y, task="regression" if task == "regression" else "classification",
               seed=seed, verbose=0, **budget, **threads)
    # trials: FLAML's per-learner iteration counts (config_history holds only the improvements)
    iters = getattr(automl, "_iter_per_learner", None) or {}
    info = {"models": int(sum(iters.values())) if iters else None,
            "improvements": len(getattr(automl, "config_history", {}) or {}), "best": automl.best_estimator,
            "metric": getattr(automl, "_state", None) and getattr(automl._state, "metric", None),
            "eval_method": getattr(getattr(automl, "_state", None), "eval_method", None),
            "n_jobs": getattr(getattr(automl, "_state", None), "n_jobs", None) or n_jobs}
    if task == "regression":
        return np.asarray(automl.predict(Xh), dtype=float), info
    return _full_proba(np.asarray(automl.predict_proba(Xh)), automl.classes_, n_classes), info


def native_optuna(X: Any, y: np.ndarray, Xh: Any, task: str, n_classes: int, seconds: float,
                  seed: int, trials: Optional[int] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    import lightgbm as lgb
    import optuna
    from sklearn.model_selection import train_test_split

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if task == "regression":
        base = {"objective": "regression"}
    elif n_classes == 2:
        base = {"objective": "binary"}
    else:
        base = {"objective": "multiclass", "num_class": n_classes}
    base.update(verbosity=-1, seed=seed)
    strat = y if task != "regression" else None
    tx, vx, ty, vy = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=strat)
    # feature_pre_filter off: the search varies min_child_samples (LightGBM refuses otherwise)
    dtrain = lgb.Dataset(tx, label=ty, params={"feature_pre_filter": False})
    dvalid = lgb.Dataset(vx, label=vy, reference=dtrain)

    def objective(trial: Any) -> float:
        params = dict(base,
                      lambda_l1=trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
                      lambda_l2=trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
                      num_leaves=trial.suggest_int("num_leaves", 2, 256),
                      feature_fraction=trial.suggest_float("feature_fraction", 0.4, 1.0),
                      bagging_fraction=trial.suggest_float("bagging_fraction", 0.4, 1.0),
                      bagging_freq=trial.suggest_int("bagging_freq", 1, 7),
                      min_child_samples=trial.suggest_int("min_child_samples", 5, 100))
        evals: Dict[str, Any] = {}
        lgb.train(params, dtrain, valid_sets=[dvalid], valid_names=["valid"],
                  callbacks=[lgb.record_evaluation(evals)])
        (name, values), = evals["valid"].items()
        return float(values[-1])  # LightGBM's default metric for the objective: lower is better

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, timeout=seconds if trials is None else None, n_trials=trials)
    model = lgb.train(dict(base, **study.best_params), lgb.Dataset(X, label=y))
    pred = np.asarray(model.predict(Xh), dtype=float)
    info = {"models": len(study.trials), "best": study.best_params}
    if task == "regression":
        return pred, info
    if n_classes == 2:
        return np.column_stack([1 - pred, pred]), info
    return pred, info


def native_flaml_1t(X: Any, y: np.ndarray, Xh: Any, task: str, n_classes: int, seconds: float,
                    seed: int, trials: Optional[int] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    """FLAML's defaults except ``n_jobs=1`` (automux's setting): isolates the effect of threads."""
    return native_flaml(X, y, Xh, task, n_classes, seconds, seed, trials, n_jobs=1)


def native_flaml_1t3f(X: Any, y: np.ndarray, Xh: Any, task: str, n_classes: int, seconds: float,
                      seed: int, trials: Optional[int] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    """``n_jobs=1`` and ``n_splits=3`` (automux's fold count; FLAML's own shuffled folds, not automux's)."""
    return native_flaml(X, y, Xh, task, n_classes, seconds, seed, trials, n_jobs=1, n_splits=3)


def _needs_prep(X: Any) -> bool:
    """True when a frame has a non-numeric column or a missing value (TPOT needs numbers)."""
    import pandas as pd

    numeric = all(pd.api.types.is_numeric_dtype(X[c]) and not isinstance(X[c].dtype, pd.CategoricalDtype)
                  for c in X.columns)
    return not numeric or bool(X.isna().to_numpy().any())


def _objects(X: Any) -> Any:
    """Non-numeric columns as ``object`` (TPOT's preprocessing one-hot encodes ``object`` columns)."""
    import pandas as pd

    X = X.copy()
    for c in X.columns:
        if isinstance(X[c].dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(X[c]) \
                or pd.api.types.is_bool_dtype(X[c]):
            # dtype object explicitly: pandas 3 infers its ``str`` dtype, which TPOT's ``select_dtypes(["object"])``
            # does not pick up
            X[c] = pd.Series([str(v) if pd.notna(v) else np.nan for v in X[c]], index=X.index, dtype=object)
    return X


def native_tpot(X: Any, y: np.ndarray, Xh: Any, task: str, n_classes: int, seconds: float,
                seed: int, trials: Optional[int] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    from automux.adapters.tpot_adapter import DASK_LOOPBACK, _disable_update_check

    _disable_update_check()
    from dask.distributed import Client, LocalCluster
    import tpot

    if trials is not None:
        raise ValueError("the tpot recipe takes a seconds budget only")
    prep = _needs_prep(X)
    if prep:
        X, Xh = _objects(X), _objects(Xh)
    # TPOT's own default cluster (no client): LocalCluster(n_workers=n_jobs=1, threads_per_worker=1,
    # processes=True); the same here, but on loopback, as TPOT's own listens on 0.0.0.0. A worker
    # process, not an in-process one: TPOT's time limits can only stop a pipeline in a process (with
    # processes=False a slow pipeline of TPOT's default space ran on for minutes past max_time_mins)
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", silence_logs=50,
                           **DASK_LOOPBACK)
    client = Client(cluster)
    try:
        cls = tpot.TPOTRegressor if task == "regression" else tpot.TPOTClassifier
        est = cls(max_time_mins=seconds / 60.0, random_state=seed, verbose=0, client=client,
                  **({"preprocessing": True} if prep else {}))
        est.fit(X, y)
        ev = getattr(est, "evaluated_individuals", None)
        info = {"models": None if ev is None else int(len(ev)), "preprocessing": prep,
                "pipeline": repr(est.fitted_pipeline_)[:150]}
        if task == "regression":
            return np.asarray(est.predict(Xh), dtype=float), info
        proba = np.asarray(est.predict_proba(Xh), dtype=float)
        return _full_proba(proba, est.classes_, n_classes), info
    finally:
        client.close()
        cluster.close()


def native_h2o(X: Any, y: np.ndarray, Xh: Any, task: str, n_classes: int, seconds: float,
               seed: int, trials: Optional[int] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    import tempfile

    import h2o
    import pandas as pd
    from h2o.automl import H2OAutoML
    from automux.adapters.h2o.cluster import free_port_pair

    if trials is not None:
        raise ValueError("the h2o recipe takes a seconds budget only")
    t0 = time.monotonic()
    ice = tempfile.mkdtemp(prefix="fidelity-h2o-")
    h2o.init(ip="127.0.0.1", port=free_port_pair(), ice_root=ice, log_dir=ice, verbose=False, bind_to_localhost=True)
    init_s = time.monotonic() - t0
    h2o.no_progress()
    try:
        def frame(D: Any) -> Any:
            D = D.rename(columns=str).reset_index(drop=True)
            types = {}
            for c in D.columns:
                if isinstance(D[c].dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(D[c]) \
                        or pd.api.types.is_bool_dtype(D[c]):
                    D[c] = D[c].astype(object).where(D[c].notna(), None).map(lambda v: v if v is None else str(v))
                    types[c] = "enum"
            return D, types

        D, types = frame(X)
        target = "__y__"
        if task == "regression":
            D[target] = np.asarray(y, dtype=float)
        else:
            D[target] = [f"k{int(v)}" for v in y]
            types[target] = "enum"
        train = h2o.H2OFrame(D, column_types=types)
        if task != "regression":
            train[target] = train[target].asfactor()
        Dh, types_h = frame(Xh)
        hold = h2o.H2OFrame(Dh, column_types=types_h)
        aml = H2OAutoML(max_runtime_secs=int(round(seconds)), seed=seed, verbosity=None)
        aml.train(x=[c for c in D.columns if c != target], y=target, training_frame=train)
        pred = aml.leader.predict(hold).as_data_frame(use_multi_thread=False)
        info = {"models": int(aml.leaderboard.nrows), "leader": aml.leader.model_id, "init_s": round(init_s, 1)}
        if task == "regression":
            return pred["predict"].to_numpy(dtype=float), info
        out = np.zeros((len(pred), n_classes))
        for k in range(n_classes):
            if f"k{k}" in pred.columns:
                out[:, k] = pred[f"k{k}"].to_numpy(dtype=float)
        return out, info
    finally:
        try:
            h2o.cluster().shutdown()
        except Exception:
            pass
        import shutil

        shutil.rmtree(ice, ignore_errors=True)


ISOLATED_SCRIPT = Path(__file__).resolve().parent / "native_isolated.py"


def env_python(name: str) -> Path:
    """The interpreter of the isolated env automux built for ``name`` (the newest, if several)."""
    envs = sorted((Path.home() / ".cache" / "automux" / "envs").glob(f"{name}-*/bin/python"),
                  key=lambda p: p.stat().st_mtime)
    if not envs:
        raise RuntimeError(f"no isolated env for {name} under ~/.cache/automux/envs (automux env build {name})")
    return envs[-1]


def native_isolated(backend: str, X: Any, y: np.ndarray, Xh: Any, task: str, n_classes: int, seconds: float,
                    seed: int, trials: Optional[int] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Run ``native_isolated.py`` (the PyCaret / auto-sklearn / AutoGluon recipes) in the backend's own env.

    The rows go as Parquet without pandas metadata (the envs' pandas are 1.5-2.3); the wall time is the
    child's fit + predict (imports excluded, as for the in-process recipes)."""
    import shutil
    import subprocess
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    if trials is not None:
        raise ValueError(f"the {backend} recipe takes a seconds budget only")
    d = Path(tempfile.mkdtemp(prefix=f"fidelity-{backend}-"))
    try:
        for name, frame in (("X", X), ("Xh", Xh)):
            t = pa.Table.from_pandas(frame.rename(columns=str), preserve_index=False)
            pq.write_table(t.replace_schema_metadata(None), d / f"{name}.parquet")
        np.save(d / "y.npy", np.asarray(y))
        p = subprocess.run([str(env_python(backend)), str(ISOLATED_SCRIPT), backend, str(d), task, str(n_classes),
                            f"{seconds:g}", str(seed)], capture_output=True, text=True,
                           timeout=4 * seconds + 300, cwd=str(d))
        if p.returncode != 0 or not (d / "info.json").is_file():
            tail = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
            raise RuntimeError(f"native {backend} exit {p.returncode}: {tail}")
        import json

        return np.load(d / "pred.npy"), json.loads((d / "info.json").read_text())
    finally:
        shutil.rmtree(d, ignore_errors=True)


def native_pycaret(*a: Any, **k: Any) -> Tuple[np.ndarray, Dict[str, Any]]:
    return native_isolated("pycaret", *a, **k)


def native_autosklearn(*a: Any, **k: Any) -> Tuple[np.ndarray, Dict[str, Any]]:
    return native_isolated("autosklearn", *a, **k)


def native_autogluon(*a: Any, **k: Any) -> Tuple[np.ndarray, Dict[str, Any]]:
    return native_isolated("autogluon", *a, **k)


NATIVE = {"flaml": native_flaml, "flaml_1t": native_flaml_1t, "flaml_1t3f": native_flaml_1t3f,
          "optuna": native_optuna, "tpot": native_tpot, "h2o": native_h2o, "pycaret": native_pycaret,
          "autosklearn": native_autosklearn, "autogluon": native_autogluon}
#: The automux backend each native recipe is compared with.
AUTOMUX_BACKEND = {"flaml_1t": "flaml", "flaml_1t3f": "flaml"}


# ---------------------------------------------------------------- one pair

def _suite_datasets() -> Dict[str, Any]:
    from automux.bench.suite import load_suite

    return {d.name: d for d in load_suite(SUITE).datasets}


def automux_holdout_pred(run_dir: Path, task: str) -> np.ndarray:
    import pyarrow.ipc as ipc

    with ipc.open_file(str(run_dir / "predictions.arrow")) as f:
        t = f.read_all().to_pandas()
    if task == "regression":
        return t.iloc[:, 0].to_numpy(dtype=float)
    return t.to_numpy(dtype=float)


def _import_native(backend: str) -> None:
    """Import the backend here, outside the native clock (its wall time excludes imports)."""
    import importlib

    if AUTOMUX_BACKEND.get(backend, backend) == "tpot":
        from automux.adapters.tpot_adapter import _disable_update_check

        _disable_update_check()  # import tpot would ask PyPI for a newer version
    for mod in {"flaml": ["flaml.automl"], "optuna": ["optuna", "lightgbm"], "tpot": ["tpot", "dask.distributed"],
                "h2o": ["h2o", "h2o.automl"]}.get(AUTOMUX_BACKEND.get(backend, backend), []):
        try:
            importlib.import_module(mod)
        except ImportError:
            pass  # the recipe itself reports it


def one_pair(backend: str, ds_ref: Any, seed: int, seconds: Optional[float], out: Path,
             trials: Optional[int] = None, reuse: Sequence[Path] = (), round_: str = "") -> Dict[str, Any]:
    from automux.bench.cellrun import build_experiment, run_cell
    from automux.bench.cells import Cell
    from automux.bench.suite import BackendRef, Constraint

    name = AUTOMUX_BACKEND.get(backend, backend)
    options = {"n_jobs": 1} if name == "optuna" else {}
    cell = Cell(dataset=ds_ref, fold=0, seed=seed, backend=BackendRef(name=name, options=options),
                # trials: the real-data suite's count constraint, so its bench cells can be reused
                constraint=(Constraint(name=f"trials{trials}", trials=trials, timeout=900.0) if trials else
                            Constraint(name=f"{seconds:g}s", seconds=float(seconds))), repeat=0, cv_folds=3,
                test_size=0.25, split_seed=0)
    exp = build_experiment(cell)
    ds, split = exp.dataset, exp.split
    task, metric = exp.spec.task, exp.spec.metric
    k = len(ds.classes) if task != "regression" else 0
    tr, ho = split.train_idx, split.holdout_idx
    X, Xh = ds.X.iloc[tr].reset_index(drop=True), ds.X.iloc[ho].reset_index(drop=True)
    y, yh = ds.y[tr], ds.y[ho]
    row: Dict[str, Any] = {"backend": backend, "dataset": ds_ref.name, "task": task, "metric": metric, "seed": seed,
                           "seconds": seconds, "trials": trials, "rows_train": len(tr), "rows_holdout": len(ho),
                           "utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "round": round_,
                           "load1": round(os.getloadavg()[0], 2)}
    # automux: the bench cell (one already run for another recipe of the same backend is reused)
    from automux.bench.results import read_cells

    where = out / ("automux" if not round_ else f"automux-{round_}")  # a new round reruns automux too
    done = None
    for d in [where, *reuse]:
        done = read_cells(d).get(cell.cell_id)
        if done:
            where = d
            break
    arow = done["row"] if done else run_cell(cell, where)
    row.update(automux_status=arow.get("status"), automux_wall_s=arow.get("duration"),
               automux_training_s=arow.get("training_duration"), automux_models=arow.get("models_count"),
               automux_result_column=arow.get("result"), run_id=arow.get("run_id"))
    if arow.get("status") == "ok" and arow.get("run_id"):
        pred = automux_holdout_pred(where / "runs" / str(arow["run_id"]), task)
        row["automux_score"] = sk_score(metric, task, yh, pred, k)
    # native: same rows, same budget, the backend's own defaults (its import before the clock)
    _import_native(backend)
    t0 = time.monotonic()
    try:
        pred, info = NATIVE[backend](X, y, Xh, task, k, float(seconds or 0), seed, trials)
        row["native_wall_s"] = info.pop("wall_s", None) or time.monotonic() - t0  # an env's child times itself
        row["native_score"] = sk_score(metric, task, yh, pred, k)
        row["native_status"] = "ok"
        row["native_models"] = info.pop("models", None)
        row["native_info"] = repr(info)[:300]
    except Exception as e:  # a native failure is a row, as in the bench
        row["native_wall_s"] = time.monotonic() - t0
        row["native_status"] = "failed"
        row["native_info"] = f"{type(e).__name__}: {e}"[:300]
    if row.get("automux_score") is not None and row.get("native_score") is not None:
        row["diff"] = row["automux_score"] - row["native_score"]
    if row.get("automux_wall_s") and row.get("native_wall_s"):
        row["wall_ratio"] = float(row["automux_wall_s"]) / float(row["native_wall_s"])
    return row


# ---------------------------------------------------------------- table

def _read_raw(path: Path) -> List[Dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _q(vals: List[float], q: float) -> float:
    s = sorted(vals)
    if not s:
        return float("nan")
    pos = q * (len(s) - 1)
    lo, hi = int(math.floor(pos)), int(math.ceil(pos))
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarise(rows: List[Dict[str, str]]) -> str:
    def f(v: Any) -> Optional[float]:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return None
        return x if math.isfinite(x) else None

    def stats_row(label: str, rs: List[Dict[str, str]], key: str) -> str:
        d = [x for x in (f(r.get(key)) for r in rs) if x is not None]
        w = [x for x in (f(r.get("wall_ratio")) for r in rs) if x is not None]
        fail_a = sum(r.get("automux_status") != "ok" for r in rs)
        fail_n = sum(r.get("native_status") != "ok" for r in rs)
        return (f"| {label} | {len(rs)} | {_fmt(statistics.median(d)) if d else '-'} | {_fmt(_q(d, 0))} | "
                f"{_fmt(_q(d, .25))} | {_fmt(_q(d, .75))} | {_fmt(_q(d, 1))} | {sum(x > 1e-9 for x in d)} / "
                f"{sum(x < -1e-9 for x in d)} / {sum(abs(x) <= 1e-9 for x in d)} | "
                f"{_fmt(statistics.median(w), 2) if w else '-'} | {_fmt(_q(w, 0), 2)} - {_fmt(_q(w, 1), 2)} | "
                f"{fail_a} / {fail_n} |")

    for r in rows:  # unit-free: the difference relative to the native score's size
        d, n = f(r.get("diff")), f(r.get("native_score"))
        r["rel_diff"] = "" if d is None or not n else str(d / abs(n))
    lines = ["# Fidelity: automux against the native backend", "",
             f"Made {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} on {platform.system()} "
             f"{platform.machine()} ({os.cpu_count()} CPUs), Python {platform.python_version()}, from `raw.csv` "
             f"({len(rows)} pairs). `diff` = automux - native hold-out score (scikit-learn, higher is better: AUC, "
             "-log loss, -RMSE), on the same training and hold-out rows, same seconds budget; one row per metric "
             "(units differ), and `all (relative)` = diff / |native score|, unit-free. Spread: min / 25% / 75% / "
             "max over data sets x seeds. `wall ratio` = automux worker wall time / native fit+predict wall time. "
             "A failed side is counted in `failed`, not in the medians.", ""]
    def budget(r: Dict[str, str]) -> str:
        b = f"trials{r['trials']}" if r.get("trials") else f"{float(r.get('seconds') or 0):g}s"
        return b + (f", round {r['round']}" if r.get("round") else "")

    for backend, b in sorted({(r["backend"], budget(r)) for r in rows}):
        rs = [r for r in rows if r["backend"] == backend and budget(r) == b]
        lines += [f"## {backend}, {b}", "",
                  "| metric | pairs | median diff | min | 25% | 75% | max | automux better / worse / tie | "
                  "median wall ratio | wall ratio range | failed (automux / native) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for metric in sorted({r["metric"] for r in rs}):
            lines.append(stats_row(metric, [r for r in rs if r["metric"] == metric], "diff"))
        lines += [stats_row("all (relative)", rs, "rel_diff"), "",
                  "| data set | metric | seed | automux | native | diff | automux wall s | native wall s | "
                  "automux models | native models | load1 |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(rs, key=lambda r: (r["dataset"], int(r["seed"]))):
            lines.append(f"| {r['dataset']} | {r['metric']} | {r['seed']} | {_fmt(f(r.get('automux_score')))} | "
                         f"{_fmt(f(r.get('native_score')))} | {_fmt(f(r.get('diff')))} | "
                         f"{_fmt(f(r.get('automux_wall_s')), 1)} | {_fmt(f(r.get('native_wall_s')), 1)} | "
                         f"{r.get('automux_models') or '-'} | {r.get('native_models') or '-'} | "
                         f"{r.get('load1') or '-'} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _fmt(v: Optional[float], digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{digits}f}"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="flaml", help=f"comma-separated, of {', '.join(BACKENDS)}")
    ap.add_argument("--datasets", default="breast_cancer,participation,penguins,vote92,diabetes,salaries",
                    help="names from benchmarks/suites/realdata.yaml")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--trials", type=int, default=None,
                    help="a count budget instead (native: FLAML max_iter / Optuna n_trials); the automux side is "
                         "the real-data suite's trials cell, reused from --reuse DIR when it ran there")
    ap.add_argument("--reuse", action="append", default=[], help="a bench --out dir whose cells to reuse")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "fidelity" / "results"))
    ap.add_argument("--round", default="", help="a label for this round of runs (e.g. issue22): its pairs are "
                    "new rows, automux rerun too, and a table of their own")
    ap.add_argument("--summary-only", action="store_true", help="rewrite summary.md from raw.csv")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "raw.csv"
    rows = _read_raw(raw)
    if not a.summary_only:
        from automux.bench.datasets import ensure_loaders

        ensure_loaders()
        refs = _suite_datasets()
        done = {(r["backend"], r["dataset"], r["seed"], r.get("seconds") or "", r.get("trials") or "",
                 r.get("round") or "") for r in rows}
        budget_key = ("", str(a.trials)) if a.trials else (str(float(a.seconds)), "")
        for backend in a.backends.split(","):
            if backend not in NATIVE:
                print(f"no native recipe for {backend}: skipped", file=sys.stderr)
                continue
            for name in a.datasets.split(","):
                for seed in (int(s) for s in a.seeds.split(",")):
                    key = (backend, name, str(seed)) + budget_key + (a.round,)
                    if key in done:
                        continue
                    row = one_pair(backend, refs[name], seed, None if a.trials else a.seconds, out,
                                   trials=a.trials, reuse=[Path(x) for x in a.reuse], round_=a.round)
                    rows.append({k: ("" if row.get(k) is None else str(row.get(k))) for k in FIELDS})
                    with open(raw, "w", newline="", encoding="utf-8") as fh:
                        w = csv.DictWriter(fh, fieldnames=FIELDS)
                        w.writeheader()
                        w.writerows(rows)
                    print(f"{backend} {name} seed {seed}: automux {row.get('automux_score')} native "
                          f"{row.get('native_score')} diff {row.get('diff')} wall {row.get('automux_wall_s')} / "
                          f"{row.get('native_wall_s')}", flush=True)
    (out / "summary.md").write_text(summarise(rows), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
