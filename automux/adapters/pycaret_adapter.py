"""The PyCaret 3.3.2 adapter: runs in its own env (Python 3.11 with PyCaret's pins).

Search, with PyCaret's OOP experiment classes (``ClassificationExperiment`` /
``RegressionExperiment``), from the scratch working directory:

* ``PYCARET_CUSTOM_LOGGING_PATH`` points PyCaret's log into the scratch dir
  (``os.devnull`` when a model is only loaded);
* ``setup`` on the training rows with ``fold_strategy=PredefinedSplit(fold ids)``
  (the spec's folds, exactly), ``session_id`` = the derived backend seed,
  ``n_jobs`` = the spec's cores, no HTML, no caching (``start_up`` imports PyCaret
  before the budget clock starts);
* ``test_data``: PyCaret insists on a test set, and automux's hold-out never
  enters the worker, so PyCaret's test set is a copy of the training rows. Nothing
  reads it: no ``predict_model`` scoring, and no ``finalize_model`` (which would
  refit on it). The worker scores automux's hold-out with the model
  ``compare_models`` returns, which PyCaret fit on all training rows;
* automux's metric is added with ``add_metric`` (PyCaret's own metrics are
  removed) and is ``compare_models``' sort key, at ``round=15``;
* budget: a count of N runs the first N estimators of a fixed ``include`` list
  (``CLASSIFIERS`` / ``REGRESSORS``, or the ``include`` option); a seconds budget
  runs the whole list under ``budget_time`` (PyCaret stops starting estimators
  when it is spent).

Candidates: every estimator PyCaret cross-validated, in its order, with its
per-fold scores in automux's metric as PyCaret computed them on the spec's folds.
The chosen one is PyCaret's pick (first of its sorted grid).

Options: ``include`` (list of PyCaret estimator ids, in order).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ..core.adapter import Adapter, SearchResult, SearchTask
from ..core.capabilities import Capabilities, Environment
from ..core.hookspecs import hookimpl

#: Fixed search order (cheap first). All give probabilities; ``dummy`` is last.
CLASSIFIERS = ("lr", "nb", "dt", "lda", "knn", "rf", "et", "ada", "gbc", "lightgbm", "qda", "dummy")
REGRESSORS = ("lr", "ridge", "lasso", "en", "br", "dt", "knn", "huber", "rf", "et", "ada", "gbr", "lightgbm",
              "dummy")
MODEL_NAME = "pycaret_pipeline"
METRIC_ID = "automux"
#: Share of the seconds left that compare_models may spend (the rest: the estimator in flight when it is
#: spent, and the fit of the best on all rows; saving and predicting come after the search, in the grace).
#: Measured on breast_cancer at 30 s: a share of 0.6 ended the search at 23.3 s.
TIME_SHARE = 0.8


def _jsonable_params(est: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    try:
        params = est.get_params(deep=False)
    except Exception:
        return out
    for k, v in sorted(params.items()):
        if v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
        elif isinstance(v, np.generic):
            out[k] = v.item()
        else:
            out[k] = type(v).__name__
    return out


def _scorer(metric: Any, n_classes: int, regression: bool) -> Any:
    """automux's metric in the shape PyCaret (via scikit-learn scorers) calls it."""
    def score(y_true: Any, y_pred: Any, **kwargs: Any) -> float:
        y = np.asarray(y_true)
        p = np.asarray(y_pred, dtype=np.float64)
        if not regression and p.ndim == 1:  # binary: the positive class's probability
            p = np.column_stack([1.0 - p, p])
        if not regression and p.shape[1] < n_classes:
            return float("nan")
        return metric(y.astype(np.int64) if not regression else y.astype(np.float64), p)
    return score


def _setup_step(name: str, step: Any, columns: List[str], task: str, imports: Any) -> Optional[str]:
    """One step of PyCaret's setup pipeline as plain scikit-learn source; None when it is a no-op here.

    Raises ``Unrebuildable`` naming the step when it cannot be written so.
    """
    from ..core.rebuild_source import Unrebuildable, estimator_expr

    inner = getattr(step, "transformer", None)
    if name == "label_encoding" and task != "regression" and type(inner).__name__ == "LabelEncoder":
        return None  # automux's targets are already the codes 0..k-1: PyCaret's label encoding is the identity
    if type(step).__name__ not in ("TransformerWrapper", "TransformerWrapperWithInverse") or inner is None:
        raise Unrebuildable(f"PyCaret's setup step {name!r} ({type(step).__name__}) is PyCaret's own")
    include = getattr(step, "include", None)
    include = list(columns) if include is None else [str(c) for c in include]
    if not include:
        return None  # e.g. the categorical imputer on data without categorical columns
    if include != list(columns):
        raise Unrebuildable(f"PyCaret's setup step {name!r} applies {type(inner).__name__} to a subset of the "
                            f"columns ({', '.join(include[:3])}...), which a plain ColumnTransformer reorders")
    imports.add("from sklearn.compose import ColumnTransformer")
    positions = list(range(len(columns)))  # the search's names are automux's safe ones: positions travel
    return f"ColumnTransformer([({name!r}, {estimator_expr(inner, imports)}, {positions!r})])"


def setup_rebuild(pipeline: Any, columns: List[str], task: str) -> Dict[str, Any]:
    """PyCaret's fitted setup pipeline as ``{steps: [(name, expr)], imports}``, or ``{refusal}`` naming the step.

    Only steps that wrap a scikit-learn transformer applied to every column are
    written (PyCaret's wrapper keeps the columns in their order, and so does a
    one-part ColumnTransformer over every position); anything else of PyCaret's
    own is refused. The estimator then gets a plain array, not PyCaret's frame.
    """
    from ..core.rebuild_source import Unrebuildable

    imports: set = set()
    steps = []
    try:
        for name, step in getattr(pipeline, "steps", []):
            expr = _setup_step(str(name), step, columns, task, imports)
            if expr is not None:
                steps.append((str(name), expr))
    except Unrebuildable as e:
        return {"refusal": str(e)}
    return {"steps": steps, "imports": sorted(imports)}


def candidate_rebuild(prep: Dict[str, Any], model: Any) -> Dict[str, Any]:
    """``info["rebuild"]`` of one compared estimator: setup's steps then the estimator, or ``{refusal}``."""
    from ..core.rebuild_source import rebuild_info

    if "refusal" in prep:
        return {"refusal": prep["refusal"]}
    est = rebuild_info(model)
    if "refusal" in est:
        return est
    parts = [f"({name!r}, {expr})" for name, expr in prep["steps"]] + [f"(\"trained_model\", {est['expr']})"]
    return {"expr": "Pipeline([\n        " + ",\n        ".join(parts) + ",\n    ])",
            "imports": sorted(set(est["imports"]) | set(prep["imports"]) | {"from sklearn.pipeline import Pipeline"})}


class PyCaretAdapter(Adapter):
    name = "pycaret"
    capabilities = Capabilities(
        tasks=("binary", "multiclass", "regression"),
        budget_modes=("trials", "seconds"),
        deterministic={"trials": True, "seconds": False},
        custom_folds=True, categorical=True, missing_values=True,
        produces="pipeline", interpretable=False,
        min_budget={"trials": 1, "seconds": 30},
        strengths=("transparent_baselines",),
    )
    environment = Environment(
        name="pycaret", python="==3.11.*",
        requirements=("pycaret==3.3.2", "scikit-learn==1.4.2", "numpy==1.26.4", "pandas==2.1.4",
                      "scipy==1.11.4", "joblib==1.3.2", "lightgbm==4.7.0", "six==1.17.0", "pyarrow==21.0.0"),
        import_names=("pycaret",),
    )

    def unavailable_reason(self) -> Optional[str]:
        from ..core.env.worker_env import unavailable_reason
        return unavailable_reason(self.environment)

    def check_options(self, options: Dict[str, Any]) -> None:
        from ..core.errors import SpecError

        unknown = sorted(set(options) - {"include"})
        if unknown:
            raise SpecError(f"pycaret has no option {unknown[0]!r}: its only option is include=[ids]")
        include = options.get("include")
        if include is not None and (not isinstance(include, list) or not include
                                    or not all(isinstance(i, str) for i in include)):
            raise SpecError(f"pycaret option include={include!r}: give a non-empty list of PyCaret estimator "
                            'ids, e.g. include=["lr","nb","dt"]')

    def _include(self, task: SearchTask) -> List[str]:
        full = list(task.options.get("include") or (REGRESSORS if task.task == "regression" else CLASSIFIERS))
        if task.budget.trials is not None:
            return full[: int(task.budget.trials)]
        return full

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        """Import PyCaret's experiment class for the task before the budget clock starts (PyCaret has no
        memory knob of its own: ``--memory`` is enforced by automux alone)."""
        # PyCaret opens its log file (default ./logs.log) when it is first imported.
        os.environ["PYCARET_CUSTOM_LOGGING_PATH"] = str(Path(task.workdir) / "logs.log")
        if task.task == "regression":
            import pycaret.regression  # noqa: F401 - seconds of import
        else:
            import pycaret.classification  # noqa: F401
        return {}

    def search(self, task: SearchTask) -> SearchResult:
        import copy

        from sklearn.model_selection import PredefinedSplit

        from ..core.sklearn_kit import to_sklearn_frame

        regression = task.task == "regression"
        # (set in start_up too; here for when start_up was not called)
        os.environ["PYCARET_CUSTOM_LOGGING_PATH"] = str(Path(task.workdir) / "logs.log")
        if regression:
            from pycaret.regression import RegressionExperiment as Experiment
        else:
            from pycaret.classification import ClassificationExperiment as Experiment
        X = to_sklearn_frame(task.X).reset_index(drop=True)
        fold_ids = np.empty(len(X), dtype=np.int64)
        for k, (_, valid) in enumerate(task.folds):
            fold_ids[valid] = k
        target = "__automux_target__"
        train = X.copy()
        train[target] = task.y
        test = train.copy()
        test.index = test.index + len(train)  # PyCaret concatenates train and test: no shared index
        include = self._include(task)
        budget_minutes = None
        if task.budget.seconds is not None:
            budget_minutes = max(task.time_left() * TIME_SHARE, 1.0) / 60.0
        metric_name = f"automux_{task.metric.name}"
        cwd = os.getcwd()
        os.chdir(str(task.workdir))
        try:
            exp = Experiment()
            exp.setup(data=train, target=target, test_data=test, fold_strategy=PredefinedSplit(fold_ids),
                      session_id=int(task.seed) % (2 ** 31), n_jobs=task.cores, html=False, verbose=False,
                      system_log=str(Path(task.workdir) / "pycaret.log"), memory=False, log_experiment=False)
            for mid in list(exp.get_metrics().index):
                exp.remove_metric(mid)
            kind = {} if regression else {"target": "pred_proba"}  # regression metrics always take "pred"
            exp.add_metric(METRIC_ID, metric_name, _scorer(task.metric, task.n_classes, regression),
                           greater_is_better=task.metric.greater_is_better, **kind)
            task.log(f"pycaret: compare_models over {include}"
                     + (f" within {budget_minutes:.2f} min" if budget_minutes else ""))
            best = exp.compare_models(include=include, sort=metric_name, n_select=1, round=15, verbose=False,
                                      budget_time=budget_minutes, errors="ignore")
            grid = exp.pull()
            ids_by_class = {exp._all_models_internal[i].class_def: i for i in include}
            steps = [name for name, _ in exp.pipeline.steps]
            prep = setup_rebuild(exp.pipeline, [str(c) for c in X.columns], task.task)
            by_id: Dict[str, int] = {}
            for entry in exp._master_model_container:
                model, scores = entry["model"], entry["scores"]
                est_id = ids_by_class.get(type(model), type(model).__name__)
                folds = [scores.loc[k, metric_name] if k in scores.index else None for k in range(len(task.folds))]
                fit_time = None
                if est_id in grid.index and "TT (Sec)" in grid.columns:
                    fit_time = float(grid.loc[est_id, "TT (Sec)"])
                fold_scores = [float("nan") if s is None else float(s) for s in folds]  # NaN: a failed fold
                cand = task.add_candidate(est_id, _jsonable_params(model), fold_scores,
                                          steps=steps + [type(model).__name__], fit_time_s=fit_time,
                                          estimator=type(model).__name__, rebuild=candidate_rebuild(prep, model))
                by_id[est_id] = cand.index
            if isinstance(best, list):  # compare_models returns [] when every model failed
                raise RuntimeError("PyCaret's compare_models produced no model")
            chosen_id = ids_by_class.get(type(best), type(best).__name__)
            pipeline = copy.deepcopy(exp.pipeline)  # what PyCaret's save_model stores
            pipeline.steps.append(("trained_model", best))
        finally:
            os.chdir(cwd)
        return SearchResult(model={"pipeline": pipeline, "task": task.task, "n_classes": task.n_classes},
                            chosen=by_id.get(chosen_id),
                            info={"include": include, "chosen_estimator": chosen_id, "sorted_by": metric_name,
                                  "pycaret_test_set": "a copy of the training rows (unused)"})

    def rebuild_refusal(self, candidate: Any, task: str, columns: Dict[str, str]) -> Optional[str]:
        """Why ``candidate`` has no explicit rebuild (a setup step or estimator of PyCaret's own), or None."""
        info = (getattr(candidate, "info", None) or {}).get("rebuild")
        if not isinstance(info, dict):
            return "the run was recorded before PyCaret candidates carried their rebuild (rerun it)"
        return info.get("refusal")

    def candidate_source(self, candidate: Any, task: str, columns: Dict[str, str], seed: int) -> Optional[str]:
        """setup's preprocessing (the scikit-learn transformers PyCaret fitted, on every column) and the estimator.

        Written in PyCaret's env from the objects PyCaret fitted; refitted by promotion
        in the main interpreter, whose scikit-learn may differ from PyCaret's pin
        (1.4.2): the fold-score comparison says whether that still reproduces.
        ``None`` when :meth:`rebuild_refusal` gives a reason.
        """
        from ..core.rebuild_source import rebuild_file

        if self.rebuild_refusal(candidate, task, columns) is not None:
            return None
        title = (f"PyCaret candidate {candidate.index} ({candidate.algorithm}): setup's preprocessing steps and "
                 "the estimator, as plain scikit-learn.")
        return rebuild_file(title, candidate.info["rebuild"], seed)

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        from ..core.sklearn_kit import predict_output
        return predict_output(model["pipeline"], X.reset_index(drop=True), model["task"], model["n_classes"])

    def save(self, model: Any, path: Path) -> None:
        import joblib
        joblib.dump(model, str(Path(path) / f"{MODEL_NAME}.pkl"), protocol=4)

    def load(self, path: Path) -> Any:
        import joblib

        # Unpickling imports PyCaret, which would open ./logs.log: keep the model dir and cwd clean.
        os.environ.setdefault("PYCARET_CUSTOM_LOGGING_PATH", os.devnull)
        return joblib.load(str(Path(path) / f"{MODEL_NAME}.pkl"))


@hookimpl
def automux_adapters() -> List[Adapter]:
    return [PyCaretAdapter()]
