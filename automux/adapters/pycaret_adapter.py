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
  (``CLASSIFIERS`` / ``REGRESSORS``, or the ``include`` option), deterministic; a
  seconds budget runs the whole list under ``budget_time`` (PyCaret stops starting
  estimators when it is spent), then, as a PyCaret user would, ``tune_model`` on
  compare's models best first (scikit-learn random search on the spec's folds,
  ``choose_better=False``), round after round with ``n_iter`` sized from the
  measured pace to what is left, each round under a timer at the deadline (a round
  cut there is dropped; compare's results stand). A model leaves the queue when its
  grid is exhausted or it has none; when every model has left with time still
  to spare, ``search_info.search_ended`` says so (why search < budget).

Candidates: every estimator PyCaret cross-validated, in its order, with its
per-fold scores in automux's metric as PyCaret computed them on the spec's folds;
then, per tuning round, each random-search draw (fold scores from PyCaret's
tuner, ``info.tuning``) and the tuned model PyCaret refit with the best draw.
The chosen one is the best by automux's metric among the models fitted on all
rows: compare's pick (first of its sorted grid) and each round's tuned model.

Options: ``include`` (list of PyCaret estimator ids, in order).
"""
from __future__ import annotations

import os
import time
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
#: Most random-search draws per ``tune_model`` round (PyCaret's default is 10): rounds are re-sized from their
#: measured pace, and one round is lost when the deadline cuts it.
MAX_TUNE_ITER = 25
#: A round's first pace guess: this many times compare's fit time per fold (tuned models can be slower).
TUNE_SAFETY = 3.0


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


def _grid_size(grid: Any) -> float:
    """How many points a PyCaret ``tune_grid`` has (inf when a value is not a list)."""
    n = 1.0
    for v in (grid or {}).values():
        try:
            n *= max(1, len(v))
        except TypeError:
            return float("inf")
    return n if grid else 0.0


class _Tuner:
    """Seconds budgets: ``tune_model`` rounds on compare's models, best first, until the deadline.

    Each round's ``n_iter`` is sized from the pace measured so far (first guess: compare's fit time
    per fold x folds x :data:`TUNE_SAFETY`), at most :data:`MAX_TUNE_ITER`; each round gets a new
    random-search seed (``exp.seed`` = session seed + round) and runs under a timer at the deadline.
    """

    def __init__(self, exp: Any, task: SearchTask, metric_name: str, prep: Dict[str, Any], steps: List[str],
                 grid: Any) -> None:
        self.exp, self.task, self.metric_name, self.prep, self.steps = exp, task, metric_name, prep, steps
        self.k = len(task.folds)
        self.tt = {i: float(grid.loc[i, "TT (Sec)"]) if "TT (Sec)" in grid.columns else 1.0 for i in grid.index}
        self.rounds: List[Dict[str, Any]] = []

    def run(self, queue: List[Any], fitted: Dict[int, Any]) -> Dict[str, Any]:
        """Tune until the deadline or until no model has anything left; ``fitted`` gains each tuned model."""
        from ..core.adapter import TrialOutOfTime, _alarm_at

        base_seed, pace = self.exp.seed, {}
        drawn: Dict[str, int] = {}
        while queue:
            est_id, model = queue[0]
            size = _grid_size(getattr(self.exp._all_models_internal.get(est_id), "tune_grid", None))
            per = pace.get(est_id, max(0.05, self.tt.get(est_id, 1.0) * self.k * TUNE_SAFETY))
            left = self.task.time_left() - per * (1 + 1.0 / max(1, self.k))  # the tuned model's CV + full fit
            n = int(min(MAX_TUNE_ITER, left // per, size - drawn.get(est_id, 0)))
            if n < 1 or size <= drawn.get(est_id, 0):
                queue.pop(0)  # grid spent, no grid, or one draw would not end in time: the next model
                continue
            self.exp.seed = base_seed + len(self.rounds) + 1
            t0 = time.monotonic()
            try:
                with _alarm_at(self.task.deadline, lambda: TrialOutOfTime("the deadline cut a tune_model round")):
                    tuned, tuner = self.exp.tune_model(model, n_iter=n, optimize=self.metric_name, round=15,
                                                       choose_better=False, return_tuner=True, verbose=False,
                                                       tuner_verbose=0)
            except TrialOutOfTime:
                self.rounds.append({"estimator": est_id, "n_iter": n, "cut": True})
                queue = []
                continue
            except Exception as e:  # e.g. a model PyCaret cannot tune: leave it
                self.task.log(f"pycaret: tune_model({est_id}) failed: {type(e).__name__}: {e}")
                queue.pop(0)
                continue
            spent = time.monotonic() - t0
            pace[est_id] = max(0.02, spent / (n + 1 + 1.0 / self.k))
            drawn[est_id] = drawn.get(est_id, 0) + n
            fitted[self._record(est_id, model, tuner, n, spent)] = tuned
        self.exp.seed = base_seed
        left = self.task.time_left()
        if left <= max(1.0, 0.05 * float(self.task.budget.seconds or 0)):
            ended = f"the seconds budget ran out ({max(left, 0.0):.1f}s left)"
        else:
            ended = (f"nothing left to try with {left:.1f}s left: every model of compare_models' list was tuned "
                     "until its grid was spent, had no grid, or could not fit one more draw in the time left")
        return {"rounds": self.rounds, "ended": ended}

    def _record(self, est_id: str, model: Any, tuner: Any, n: int, spent: float) -> int:
        """Record one round's draws and its tuned model; returns the tuned model's candidate index."""
        from sklearn.base import clone

        cv = tuner.cv_results_
        sign = 1.0 if self.task.metric.greater_is_better else -1.0  # scikit-learn negates a loss scorer
        for j, params in enumerate(cv["params"]):
            own = {str(key).split("__", 1)[-1]: v for key, v in params.items()}
            est = clone(model)
            try:
                est.set_params(**own)
                rebuild = candidate_rebuild(self.prep, est)
            except Exception as e:
                rebuild = {"refusal": f"PyCaret's tuning draw could not be set on the estimator: {e}"}
            folds = [sign * float(cv[f"split{f}_test_score"][j]) for f in range(self.k)]
            self.task.add_candidate(est_id, _jsonable_params(est), folds, steps=self.steps + [type(model).__name__],
                                    estimator=type(model).__name__, rebuild=rebuild,
                                    tuning={"round": len(self.rounds), "draw": j})
        entry = self.exp._master_model_container[-1]
        tuned, scores = entry["model"], entry["scores"]
        folds = [float(scores.loc[f, self.metric_name]) if f in scores.index else float("nan") for f in range(self.k)]
        cand = self.task.add_candidate(est_id, _jsonable_params(tuned), folds,
                                       steps=self.steps + [type(tuned).__name__], estimator=type(tuned).__name__,
                                       rebuild=candidate_rebuild(self.prep, tuned),
                                       tuning={"round": len(self.rounds), "tuned": True})
        self.rounds.append({"estimator": est_id, "n_iter": n, "seconds": round(spent, 2), "tuned": cand.index})
        self.task.log(f"pycaret: tune_model({est_id}) round {len(self.rounds)}: {n} draws in {spent:.1f}s, "
                      f"tuned cv {cand.cv_score}")
        return cand.index


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
            fitted = {by_id[chosen_id]: best} if chosen_id in by_id else {}
            info: Dict[str, Any] = {"include": include, "sorted_by": metric_name,
                                    "pycaret_test_set": "a copy of the training rows (unused)"}
            if task.budget.seconds is not None and fitted:
                queue = [(i, exp._master_model_container[by_id[i]]["model"]) for i in grid.index if i in by_id]
                info["tuning"] = _Tuner(exp, task, metric_name, prep, steps, grid).run(queue, fitted)
                info["search_ended"] = info["tuning"].pop("ended")
                task.log(f"pycaret: search ended: {info['search_ended']}")
            chosen = task._best_of([task.candidates[i] for i in sorted(fitted)]) if fitted else None
            model = fitted.get(chosen, best)
            info["chosen_estimator"] = task.candidates[chosen].algorithm if chosen is not None else chosen_id
            pipeline = copy.deepcopy(exp.pipeline)  # what PyCaret's save_model stores
            pipeline.steps.append(("trained_model", model))
        finally:
            os.chdir(cwd)
        return SearchResult(model={"pipeline": pipeline, "task": task.task, "n_classes": task.n_classes},
                            chosen=chosen, info=info)

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
