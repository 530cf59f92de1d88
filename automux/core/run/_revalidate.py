"""Re-validate a promoted candidate's Python file in a fresh interpreter, without automux.

Run as ``python -I _revalidate.py JOB_DIR`` (isolated mode: no PYTHON* variables,
no user site, no script directory on the path). This file imports only the
standard library and numpy at the top; it blocks every AutoML backend and
automux itself from being imported, so a candidate file that needed one fails
here. Inputs in JOB_DIR: ``job.json`` (``candidate`` path, ``task``,
``n_classes``, ``seeds``, ``forbidden``) and ``data.pkl`` (written by the same
interpreter: ``X``, ``y``, ``X_holdout``, ``folds``). Outputs: ``predictions.npz``
(``fold_<seed index>_<fold>`` and ``holdout_<seed index>``) and ``out.json``
(the top-level non-stdlib modules that were imported, and how long it took).
"""
import importlib.abc
import importlib.util
import inspect
import json
import os
import pickle
import sys
import time

import numpy as np


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuses to import the forbidden top-level packages."""

    def __init__(self, forbidden):
        self.forbidden = set(forbidden)

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.forbidden:
            raise ImportError(f"{name} may not be imported by a promoted candidate "
                              "(it must rebuild with scikit-learn and the model's own library alone)")
        return None


def _build(module, seed):
    params = inspect.signature(module.build_model).parameters
    if "seed" in params:
        return module.build_model(seed=seed)
    model = module.build_model()
    if not hasattr(model, "get_params"):  # a plain fit / predict object: nothing to reseed
        return model
    keys = {k: seed for k, v in model.get_params(deep=True).items() if k.endswith("random_state")}
    return model.set_params(**keys) if keys else model


def _predict(model, X, task, n_classes):
    if task == "regression":
        return np.asarray(model.predict(X), dtype=np.float64).ravel()
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    out = np.zeros((len(X), n_classes), dtype=np.float64)
    for j, cls in enumerate(model.classes_):
        out[:, int(cls)] = proba[:, j]
    return out


def main(job_dir):
    t0 = time.monotonic()
    with open(os.path.join(job_dir, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    sys.meta_path.insert(0, _Blocker(job["forbidden"]))
    with open(os.path.join(job_dir, "data.pkl"), "rb") as f:
        data = pickle.load(f)
    spec = importlib.util.spec_from_file_location("automux_promoted_candidate", job["candidate"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    X, y, X_holdout = data["X"], data["y"], data["X_holdout"]
    task, k = job["task"], job["n_classes"]
    out = {}
    for i, seed in enumerate(job["seeds"]):
        for f, (fit, valid) in enumerate(data["folds"]):
            model = _build(module, seed).fit(X.iloc[fit], y[fit])
            out[f"fold_{i}_{f}"] = _predict(model, X.iloc[valid], task, k)
        if len(X_holdout):
            model = _build(module, seed).fit(X, y)
            out[f"holdout_{i}"] = _predict(model, X_holdout, task, k)
    np.savez(os.path.join(job_dir, "predictions.npz"), **out)
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    modules = sorted({m.partition(".")[0] for m in sys.modules} - stdlib - {"__main__", "automux_promoted_candidate"})
    modules = [m for m in modules if not m.startswith("_")]
    with open(os.path.join(job_dir, "out.json"), "w", encoding="utf-8") as f:
        json.dump({"modules": modules, "seconds": time.monotonic() - t0,
                   "python": sys.version.split()[0], "isolated": bool(sys.flags.isolated)}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
