"""The FLAML adapter: FLAML's AutoML search on automux's folds, metric, seed and budget.

How the contract maps onto FLAML 2.x:

* folds: ``eval_method="cv"`` with ``split_type`` set to a splitter that yields
  exactly ``task.folds`` (no shuffling, no rare-class augmentation, no sampling);
* metric: FLAML minimises a custom metric that is automux's own metric
  (``metric.loss`` of it), computed on every fold; the per-fold scores of each
  trial are captured through ``cv_score_agg_func`` and reported as one candidate
  the moment FLAML has scored the trial;
* budget: trials -> ``max_iter`` with ``time_budget=-1`` (deterministic: FLAML's
  search and its learners get no clock; one trial runs as ``max_iter=2`` with the
  second trial unreported and never chosen, as FLAML's ``max_iter=1`` skips the
  search); seconds -> ``time_budget`` = the time
  left minus a margin for the final refit (not deterministic: the number of
  trials and the learners' time-capped fits depend on the machine's speed). With
  both, ``max_iter`` and the ``time_budget``: the count decides unless the clock
  runs out first;
* seed: ``seed=task.seed`` (FLAML's HPO; its learners' own seeds are FLAML's
  fixed defaults); ``n_jobs=1``; one trial at a time;
* data: FLAML's own DataTransformer takes categorical columns (as categories,
  missing ones as their own level) and imputes missing numbers with the median.
  It is fitted once on all of ``task.X`` before the folds are cut: no target
  information, but fold-level imputation is not what FLAML does;
* start-up: ``start_up`` imports FLAML, LightGBM and XGBoost before the budget
  clock starts (``search`` imports them itself when it was not called);
* out-of-fold: the chosen trial's fold models' predictions on their validation
  rows, kept as FLAML scored them (``SearchResult.oof``): no refit;
* the fitted model is FLAML's retrain of the best trial on all of ``task.X``
  (the whole ``AutoML`` object is pickled on save, after the hooks are detached).

Options: ``estimator_list`` (default :data:`CLASSIFIERS` / :data:`REGRESSORS`, fixed
so that the search does not depend on which optional learners are installed),
``n_jobs`` (default: the spec's cores, ``--cores``).
"""
from __future__ import annotations

import math
import pickle
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..core.adapter import Adapter, SearchResult, SearchTask
from ..core.capabilities import Capabilities, Environment
from ..core.errors import SpecError
from ..core.hookspecs import hookimpl
from ..core.imports import try_import
from ..core.sklearn_kit import FixedFolds

#: FLAML's default learners minus catboost (only used when installed) and Spark ones.
CLASSIFIERS = ("lgbm", "rf", "xgboost", "extra_tree", "xgb_limitdepth", "sgd", "lrl1")
REGRESSORS = ("lgbm", "rf", "xgboost", "extra_tree", "xgb_limitdepth", "sgd")
OPTIONS = ("estimator_list", "n_jobs")
MODEL_FILE = "flaml_automl.pkl"


def import_automl() -> Any:
    """FLAML's ``AutoML`` class, imported with ``mlflow`` hidden.

    FLAML imports mlflow when it is installed (for its own autologging, which
    automux does not use: it records runs itself), and that import alone takes
    5-12 s, all of it out of a seconds budget. So unless mlflow is already
    loaded, ``import mlflow`` is made to fail while FLAML is imported; FLAML
    then runs without its MLflow integration, as it does when mlflow is absent.
    """
    import sys

    hide = "mlflow" not in sys.modules
    if hide:
        sys.modules["mlflow"] = None  # type: ignore[assignment]  # makes `import mlflow` raise ImportError
    try:
        AutoML = try_import("flaml", "flaml", purpose="the flaml backend").AutoML
    finally:
        if hide and "mlflow" in sys.modules and sys.modules["mlflow"] is None:
            del sys.modules["mlflow"]
    return AutoML


def refit_margin_s(seconds: float) -> float:
    """Seconds kept back from FLAML's ``time_budget`` for its final refit on all rows (saving and predicting
    come after the search, in the grace). Measured on breast_cancer at 30 s: 4 s kept back left 26.2 s of
    search, 1.9 s left 28.1-28.2 s; the refit took under 0.5 s. A longer refit (large data) runs into the
    grace, which the hard stop allows for."""
    return min(4.0, 0.5 + 0.02 * seconds)


class _TrialRecorder:
    """Scores each fold with automux's metric and reports each finished trial.

    A candidate's ``fit_time_s`` is the trial's wall time (its fits and scoring on
    every fold).

    Both hooks are plain picklable callables; ``task`` is detached after the
    search so that the fitted AutoML object pickles without the worker's callbacks.
    """

    def __init__(self, task: SearchTask, automl: Any) -> None:
        self.task: Optional[SearchTask] = task
        self.automl: Any = automl
        self.trials: List[Tuple[str, Dict[str, Any]]] = []
        self.current: Optional[Tuple[str, Dict[str, Any]]] = None
        self.rebuild: Optional[Dict[str, Any]] = None
        self.t0 = time.monotonic()
        n_rows = len(task.X)
        self.fold_of_first_row = {int(valid[0]): k for k, (_, valid) in enumerate(task.folds) if len(valid)}
        self.fold_preds: Dict[int, np.ndarray] = {}  # the current trial's validation predictions, by fold
        #: Out-of-fold predictions of the best reported candidates so far (candidate index -> array).
        self.oof: Dict[int, np.ndarray] = {}
        self.oof_shape = (n_rows,) if task.task == "regression" else (n_rows, task.n_classes)

    # FLAML's custom-metric signature.
    def metric(self, X_val: Any, y_val: Any, estimator: Any, labels: Any, X_train: Any, y_train: Any,
               weight_val: Any = None, weight_train: Any = None, config: Any = None, groups_val: Any = None,
               groups_train: Any = None) -> Tuple[float, Dict[str, float]]:
        task = self.task
        assert task is not None, "the recorder was detached"
        if task.task == "regression":
            pred = np.asarray(estimator.predict(X_val), dtype=np.float64).ravel()
        else:
            pred = _proba_in_code_order(estimator, estimator.predict_proba(X_val), task.n_classes)
        score = float(task.metric(np.asarray(y_val), pred))
        self._keep_fold_predictions(X_val, pred)
        self.current = (_learner_name(self.automl, estimator), _plain(dict(config or {})))
        if self.rebuild is None:  # the same learner and config on every fold: capture it once
            self.rebuild = learner_rebuild(estimator, X_val, [str(c) for c in task.X.columns])
        loss = task.metric.loss(score)
        if not math.isfinite(loss):
            loss = float("inf")
        return loss, {"automux_score": score}

    def _keep_fold_predictions(self, X_val: Any, pred: np.ndarray) -> None:
        """Remember one fold's validation predictions of the current trial (the fold from the rows' index)."""
        index = getattr(X_val, "index", None)
        fold = self.fold_of_first_row.get(int(index[0])) if index is not None and len(index) else None
        if fold is None:
            fold = len(self.fold_preds)  # FLAML scores the folds in order
        assert self.task is not None
        if fold < len(self.task.folds) and len(self.task.folds[fold][1]) == len(pred):
            self.fold_preds[fold] = pred

    def _trial_oof(self) -> Optional[np.ndarray]:
        """The finished trial's out-of-fold predictions (each fold's rows from the model fitted without them)."""
        assert self.task is not None
        if len(self.fold_preds) != len(self.task.folds):
            return None
        oof = np.full(self.oof_shape, np.nan, dtype=np.float64)
        for k, (_, valid) in enumerate(self.task.folds):
            oof[valid] = self.fold_preds[k]
        return oof

    def _keep_if_best(self, cand: Any) -> None:
        """Keep the candidate's out-of-fold predictions while it is the best so far (ties kept too)."""
        task = self.task
        assert task is not None
        oof = self._trial_oof()
        score = cand.cv_score
        if oof is None or score is None or not cand.complete:
            return
        kept = [task.candidates[i].cv_score for i in self.oof]
        if kept and any(task.metric.better(k, score) for k in kept):
            return
        self.oof = {i: a for i, a in self.oof.items() if not task.metric.better(score, task.candidates[i].cv_score)}
        self.oof[cand.index] = oof

    # FLAML's cv_score_agg_func signature: called once per trial, after the last fold.
    def aggregate(self, val_loss_folds: List[float], log_metrics_folds: List[Any]) -> Tuple[float, Dict[str, float]]:
        task = self.task
        assert task is not None, "the recorder was detached"
        scores = [float(m["automux_score"]) for m in log_metrics_folds]
        loss = sum(val_loss_folds) / len(val_loss_folds)
        learner, config = self.current or ("unknown", {})
        now = time.monotonic()
        if task.trials_left() > 0:
            cand = task.add_candidate(learner, config, scores, steps=["flaml.DataTransformer", learner],
                                      fit_time_s=now - self.t0, trial=len(self.trials),
                                      rebuild=self.rebuild or {"refusal": "FLAML scored no fold of this trial"})
            self._keep_if_best(cand)
        else:  # the extra trial of a one-trial budget (see FlamlAdapter._budget): never chosen
            task.log(f"flaml: a trial past the budget of {task.budget.trials} was not reported")
            loss = float("inf")
        self.trials.append((learner, config))
        self.current = None
        self.rebuild = None
        self.fold_preds = {}
        self.t0 = now
        return loss, {"automux_score": float(np.mean(scores))}


#: FLAML's ``_preprocess`` methods that leave a numeric DataFrame as it is.
_IDENTITY_PREPROCESS = ("BaseEstimator", "SKLearnEstimator", "LGBMEstimator")


def learner_rebuild(estimator: Any, X_val: Any, names: Optional[List[str]] = None) -> Dict[str, Any]:
    """How to rebuild one trial's learner as plain LightGBM / XGBoost / scikit-learn (``info["rebuild"]``).

    ``estimator`` is FLAML's wrapper as fitted on a fold: its ``_model`` is the
    library's own estimator with the exact parameters FLAML gave it (iteration
    counts FLAML adjusted included). ``X_val`` is what FLAML's DataTransformer made
    of the rows: its columns are the ones the learner saw, in order, recorded as
    positions among ``names`` (the search's column names, which are automux's safe
    names, not the user's: positions mean the same in the user's frame). Returns
    ``{expr, imports, columns}`` or ``{refusal}`` naming what FLAML does that the
    rebuild cannot.
    """
    from sklearn.base import clone

    from ..core.rebuild_source import rebuild_info

    owner = next((k.__name__ for k in type(estimator).__mro__ if "_preprocess" in vars(k)), "BaseEstimator")
    if owner not in _IDENTITY_PREPROCESS:
        return {"refusal": f"FLAML's {type(estimator).__name__} transforms its input inside FLAML "
                           f"({owner}._preprocess), which is not rebuilt"}
    if isinstance(X_val, pd.DataFrame):
        cats = [str(c) for c, t in X_val.dtypes.items() if isinstance(t, pd.CategoricalDtype) or t == object]
        if cats:
            return {"refusal": f"FLAML's DataTransformer encodes categorical column(s) {', '.join(cats[:3])} "
                               "its own way (category codes, a '__NAN__' level), which is not rebuilt"}
        names = list(names if names is not None else X_val.columns)
        missing = [str(c) for c in X_val.columns if str(c) not in names]
        if missing:
            return {"refusal": f"FLAML made column(s) {', '.join(missing[:3])} of its own, which are not rebuilt"}
        columns = [names.index(str(c)) for c in X_val.columns]
    else:
        return {"refusal": f"FLAML passed the learner a {type(X_val).__name__}, not a DataFrame"}
    model = getattr(estimator, "_model", None)
    if model is None or not hasattr(model, "get_params"):
        return {"refusal": f"FLAML's {type(estimator).__name__} holds no fitted library estimator"}
    model = clone(model)
    if "callbacks" in model.get_params(deep=False):  # FLAML's time / memory guards: no-ops without a clock
        model.set_params(callbacks=None)
    return rebuild_info(model, columns=columns)


def _learner_name(automl: Any, estimator: Any) -> str:
    """FLAML's short learner name (``lgbm``, ``rf``...) of a FLAML estimator instance."""
    classes = getattr(getattr(automl, "_state", None), "learner_classes", None) or {}
    for name, cls in classes.items():
        if type(estimator) is cls:
            return str(name)
    return type(estimator).__name__


def _plain(obj: Any) -> Any:
    """JSON-able copy of a FLAML config (numpy scalars -> Python scalars)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _proba_in_code_order(model: Any, proba: Any, n_classes: int) -> np.ndarray:
    """Class probabilities with column k for class code k (absent classes get 0)."""
    proba = np.asarray(proba, dtype=np.float64)
    classes = getattr(model, "classes_", None)
    if classes is None:
        if proba.shape[1] != n_classes:
            raise RuntimeError(f"FLAML returned {proba.shape[1]} probability columns for {n_classes} classes")
        return proba
    out = np.zeros((proba.shape[0], n_classes), dtype=np.float64)
    for j, cls in enumerate(classes):
        out[:, int(cls)] = proba[:, j]
    return out


class FlamlAdapter(Adapter):
    """FLAML AutoML behind the automux contract (see the module docstring)."""

    name = "flaml"
    accepted_options = OPTIONS
    option_rules = {"n_jobs": "int>=1", "estimator_list": "str-list"}
    capabilities = Capabilities(
        tasks=("binary", "multiclass", "regression"),
        budget_modes=("trials", "seconds"),
        deterministic={"trials": True, "seconds": False},
        custom_folds=True, categorical=True, missing_values=True,
        produces="single", interpretable=False,
        min_budget={"trials": 1, "seconds": 15},
        strengths=("rapid", "fine_control_low_budget", "categorical_native"),
    )
    environment = Environment(name="main", python=">=3.10",
                              requirements=("flaml==2.7.0", "lightgbm>=4.0", "xgboost>=3.0", "scikit-learn>=1.3"),
                              import_names=("flaml", "lightgbm", "xgboost", "sklearn"), extra="flaml")

    def rebuild_refusal(self, candidate: Any, task: str, columns: Dict[str, str]) -> Optional[str]:
        """Why ``candidate`` has no explicit rebuild, or None when :meth:`candidate_source` gives one."""
        info = (getattr(candidate, "info", None) or {}).get("rebuild")
        if not isinstance(info, dict):
            return "the run was recorded before FLAML candidates carried their rebuild (rerun it)"
        return info.get("refusal")

    def candidate_source(self, candidate: Any, task: str, columns: Dict[str, str], seed: int) -> Optional[str]:
        """The trial's learner, as plain LightGBM / XGBoost / scikit-learn, behind FLAML's column handling.

        FLAML's DataTransformer keeps the numeric columns with two or more values
        and imputes missing numbers with the median of all training rows; the
        rebuild selects the same columns (by position) and imputes with the median
        of the rows it is fitted on (the same when nothing is missing). The model
        gets a plain array: its numbers do not depend on column names. ``None`` when
        :meth:`rebuild_refusal` gives a reason.
        """
        from ..core.rebuild_source import rebuild_file

        if self.rebuild_refusal(candidate, task, columns) is not None:
            return None
        info = dict(candidate.info["rebuild"])
        kept = info["columns"]
        info["imports"] = sorted(set(info["imports"]) | {
            "from sklearn.compose import ColumnTransformer", "from sklearn.impute import SimpleImputer",
            "from sklearn.pipeline import Pipeline"})
        info["expr"] = ("Pipeline([\n        (\"columns\", ColumnTransformer([(\"num\", SimpleImputer(strategy=\"median\", "
                        "keep_empty_features=True), COLUMNS)])),\n"
                        f"        (\"model\", {info['expr']}),\n    ])")
        title = (f"FLAML candidate {candidate.index} ({candidate.algorithm}) rebuilt as its library's own "
                 "estimator: FLAML's column selection and median imputation, then the model.")
        prelude = ["", "#: Positions of the columns FLAML's learner saw, in the raw feature frame.",
                   f"COLUMNS = {kept!r}"]
        return rebuild_file(title, info, seed, prelude=prelude)

    def _settings(self, task: SearchTask) -> Dict[str, Any]:
        unknown = sorted(set(task.options) - set(OPTIONS))
        if unknown:
            raise SpecError(f"unknown flaml option(s) {', '.join(unknown)}: choose from {', '.join(OPTIONS)}")
        default = REGRESSORS if task.task == "regression" else CLASSIFIERS
        estimators = task.options.get("estimator_list") or list(default)
        if not isinstance(estimators, (list, tuple)) or not all(isinstance(e, str) for e in estimators):
            raise SpecError(f"flaml estimator_list must be a list of FLAML learner names, got {estimators!r}")
        n_jobs = task.options.get("n_jobs", task.cores)  # the spec's cores unless the option says otherwise
        if not isinstance(n_jobs, int) or n_jobs < 1:
            raise SpecError(f"flaml n_jobs must be a positive integer, got {n_jobs!r}")
        return {"estimator_list": list(estimators), "n_jobs": n_jobs}

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        """Import FLAML (without mlflow), LightGBM and XGBoost before the budget clock starts."""
        import lightgbm  # noqa: F401 - FLAML imports its learners' libraries lazily, at the first trial
        import xgboost  # noqa: F401

        self._automl_class = import_automl()
        return {}

    @staticmethod
    def _budget(task: SearchTask) -> Dict[str, Any]:
        """FLAML's ``max_iter`` / ``time_budget`` for the task's budget.

        One trial is asked as ``max_iter=2``: with ``max_iter=1`` FLAML skips its
        search (zero-shot: it fits its first learner's default on all rows without
        cross-validating it), so no candidate would exist. The second trial is
        scored but neither reported nor choosable (the recorder gives it an
        infinite loss).
        """
        budget: Dict[str, Any] = {}
        if task.budget.trials is not None:
            budget = {"max_iter": max(2, int(task.budget.trials)), "time_budget": -1}
        if task.deadline is not None:
            budget["time_budget"] = max(1.0, task.time_left() - refit_margin_s(task.budget.seconds or 0))
        return budget

    def search(self, task: SearchTask) -> SearchResult:
        settings = self._settings(task)
        AutoML = getattr(self, "_automl_class", None) or import_automl()  # start_up imported it, unless not called
        X = task.X.reset_index(drop=True)
        y = np.asarray(task.y)
        if task.task != "regression":
            y = y.astype(np.int64)
        automl = AutoML()
        recorder = _TrialRecorder(task, automl)
        budget = self._budget(task)
        task.log(f"flaml: {budget}, learners {settings['estimator_list']}")
        try:
            automl.fit(
                X_train=X, y_train=y,
                task="regression" if task.task == "regression" else "classification",
                metric=recorder.metric, cv_score_agg_func=recorder.aggregate,
                eval_method="cv", split_type=FixedFolds(task.folds, len(X), "FLAML"), n_splits=len(task.folds),
                auto_augment=False, sample=False, retrain_full=True,
                seed=int(task.seed), n_jobs=settings["n_jobs"], n_concurrent_trials=1,
                estimator_list=settings["estimator_list"], verbose=1, log_file_name="", mlflow_logging=False,
                **budget,
            )
        finally:
            recorder.task = recorder.automl = None
        chosen = self._chosen(task, automl)
        if getattr(automl, "_trained_estimator", None) is None:
            raise RuntimeError("FLAML trained no model within the budget")
        info = {"best_estimator": automl.best_estimator, "best_config": _plain(automl.best_config),
                "trials": len(recorder.trials)}
        # the chosen trial's fold models' predictions on their validation rows: no refit for out-of-fold
        oof = recorder.oof.get(chosen) if chosen is not None else None
        return SearchResult(model={"automl": automl, "task": task.task, "n_classes": task.n_classes},
                            chosen=chosen, info=info, oof=oof)

    @staticmethod
    def _chosen(task: SearchTask, automl: Any) -> Optional[int]:
        """The reported candidate FLAML picked: same learner and config, else automux's best."""
        best_learner, best_config = automl.best_estimator, _plain(automl.best_config or {})
        matches = [c.index for c in task.candidates
                   if c.algorithm == best_learner and all(c.params.get(k) == v for k, v in best_config.items())]
        if matches:
            return matches[0]
        task.log(f"flaml: the best config of {best_learner} was not matched to a reported candidate")
        return task.best_index()

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        automl = model["automl"]
        X = X.reset_index(drop=True)
        if model["task"] == "regression":
            return np.asarray(automl.predict(X), dtype=np.float64).ravel()
        return _proba_in_code_order(automl, automl.predict_proba(X), model["n_classes"])

    def save(self, model: Any, path: Path) -> None:
        with open(path / MODEL_FILE, "wb") as f:
            pickle.dump(model, f, protocol=4)

    def load(self, path: Path) -> Any:
        import_automl()  # the pickle needs flaml; import it as search did
        with open(path / MODEL_FILE, "rb") as f:
            return pickle.load(f)


@hookimpl
def automux_adapters() -> List[Adapter]:
    return [FlamlAdapter()]
