"""Native recipes for the backends that live in their own env (PyCaret, auto-sklearn, AutoGluon).

Run by ``fidelity.py`` with the env's own interpreter (``~/.cache/automux/envs/NAME-*/bin/python``)::

    ENV_PYTHON native_isolated.py BACKEND DIR TASK N_CLASSES SECONDS SEED

``DIR`` holds ``X.parquet`` / ``Xh.parquet`` (training and hold-out features, no pandas
metadata: categoricals arrive as dictionary columns, strings as plain strings) and ``y.npy``
(class codes 0..K-1, or floats). The backend is imported before the clock; the fit and the
hold-out prediction are timed; writes ``DIR/pred.npy`` (K columns of probabilities in code
order, or the regression predictions) and ``DIR/info.json`` (``wall_s``, ``models``, ...).
Only the standard library, numpy and pandas / pyarrow (present in every env) besides the backend.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _frame(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def _proba(frame_or_array, classes, n_classes: int) -> np.ndarray:
    arr = np.asarray(frame_or_array, dtype=float)
    out = np.zeros((arr.shape[0], n_classes))
    for j, c in enumerate(list(classes)):
        out[:, int(c)] = arr[:, j]
    return out


def pycaret(X, y, Xh, task, k, seconds, seed):
    """PyCaret 3's documented functional flow on the OOP class: ``setup(data, target, session_id)`` then
    ``compare_models(budget_time=minutes)``; its defaults otherwise (10 folds, stratified for classification,
    ``n_jobs=-1``, its full model list, sorted by Accuracy / R2). ``test_data`` is a copy of the training rows
    (as in automux's adapter): PyCaret's own 70/30 split would otherwise train on 70 % of the rows."""
    if task == "regression":
        from pycaret.regression import RegressionExperiment as Experiment
    else:
        from pycaret.classification import ClassificationExperiment as Experiment
    work = tempfile.mkdtemp(prefix="fidelity-pycaret-")
    os.chdir(work)
    train = X.copy()
    train["__y__"] = y
    test = train.copy()
    test.index = test.index + len(train)
    t0 = time.monotonic()
    exp = Experiment()
    exp.setup(data=train, target="__y__", test_data=test, session_id=seed, html=False, verbose=False)
    best = exp.compare_models(budget_time=seconds / 60.0, verbose=False)
    grid = exp.pull()
    if task == "regression":
        pred = exp.predict_model(best, data=Xh, verbose=False)["prediction_label"].to_numpy(dtype=float)
    else:
        pred = np.zeros((len(Xh), k))
        try:
            out = exp.predict_model(best, data=Xh, raw_score=True, verbose=False)
        except Exception:  # a model without predict_proba (ridge, svm): its labels, one-hot
            out = exp.predict_model(best, data=Xh, verbose=False)
        cols = [f"prediction_score_{c}" for c in range(k)]
        hard = not any(c in out.columns for c in cols)
        if not hard:
            for c, col in enumerate(cols):  # the documented raw scores, one column per class label (our codes)
                if col in out.columns:
                    pred[:, c] = out[col].to_numpy(dtype=float)
        else:
            pred[np.arange(len(Xh)), out["prediction_label"].to_numpy(dtype=int)] = 1.0
    wall = time.monotonic() - t0
    shutil.rmtree(work, ignore_errors=True)
    info = {"wall_s": wall, "models": int(len(grid)), "best": type(best).__name__}
    if task != "regression" and hard:
        info["scored_on"] = "labels (the model has no predict_proba)"
    return pred, info


def autosklearn(X, y, Xh, task, k, seconds, seed):
    """``AutoSklearnClassifier`` / ``Regressor(time_left_for_this_task=S, seed=seed)``, its defaults otherwise
    (hold-out 67/33, ``per_run_time_limit`` = S/10, ``memory_limit`` 3072 MB, ``n_jobs=1``, ensemble of 50);
    string columns passed as pandas ``category`` (auto-sklearn's documented way of declaring them)."""
    if task == "regression":
        from autosklearn.regression import AutoSklearnRegressor as Est
    else:
        from autosklearn.classification import AutoSklearnClassifier as Est
    for D in (X, Xh):
        for c in D.columns:
            if not pd.api.types.is_numeric_dtype(D[c]) or pd.api.types.is_bool_dtype(D[c]):
                D[c] = D[c].astype("category")
    cats = {c: X[c].cat.categories for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)}
    for c, cc in cats.items():
        Xh[c] = pd.Categorical(Xh[c], categories=cc)
    t0 = time.monotonic()
    est = Est(time_left_for_this_task=int(seconds), seed=seed)
    est.fit(X, y)
    if task == "regression":
        pred = np.asarray(est.predict(Xh), dtype=float)
    else:
        pred = _proba(est.predict_proba(Xh), est.classes_ if hasattr(est, "classes_") else range(k), k)
    wall = time.monotonic() - t0
    try:
        models = int(len(est.cv_results_["status"]))
    except Exception:
        models = None
    return pred, {"wall_s": wall, "models": models, "ensemble": len(est.get_models_with_weights())}


def autogluon(X, y, Xh, task, k, seconds, seed):
    """``TabularPredictor(label=...).fit(train, time_limit=S)``: its defaults otherwise (``medium_quality``
    preset, its own hold-out, accuracy / RMSE as eval metric, all cores); ``predict_proba`` on the hold-out.
    AutoGluon takes no seed in ``fit``: its models use their fixed default seeds (``seed`` is not used)."""
    from autogluon.tabular import TabularPredictor

    path = tempfile.mkdtemp(prefix="fidelity-autogluon-")
    train = X.copy()
    train["__y__"] = y
    t0 = time.monotonic()
    kind = "regression" if task == "regression" else ("binary" if k == 2 else "multiclass")
    pred_ = TabularPredictor(label="__y__", path=path, problem_type=kind, verbosity=0).fit(train, time_limit=seconds)
    if task == "regression":
        pred = np.asarray(pred_.predict(Xh), dtype=float)
    else:
        p = pred_.predict_proba(Xh)
        pred = _proba(p.to_numpy(), p.columns, k)
    wall = time.monotonic() - t0
    models = len(pred_.model_names())
    best = pred_.model_best
    shutil.rmtree(path, ignore_errors=True)
    return pred, {"wall_s": wall, "models": models, "best": best}


IMPORTS = {"pycaret": ["pycaret.classification", "pycaret.regression"],
           "autosklearn": ["autosklearn.classification", "autosklearn.regression"],
           "autogluon": ["autogluon.tabular"]}


def main() -> int:
    backend, d, task, k, seconds, seed = sys.argv[1:7]
    d = Path(d)
    import importlib

    for m in IMPORTS[backend]:  # imports before the clock
        importlib.import_module(m)
    X, Xh = _frame(d / "X.parquet"), _frame(d / "Xh.parquet")
    y = np.load(d / "y.npy")
    if task != "regression":
        y = y.astype(int)
    pred, info = globals()[backend](X, y, Xh, task, int(k), float(seconds), int(seed))
    np.save(d / "pred.npy", np.asarray(pred, dtype=float))
    (d / "info.json").write_text(json.dumps(info, default=str))
    return 0


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)  # skip interpreter teardown: pyarrow in the PyCaret env aborts there ("terminate called ...")
