"""The TPOT adapter: TPOT 1.x genetic pipeline search on automux's folds, metric, seed and budget.

How the contract maps onto TPOT 1.1:

* folds: ``cv`` is a splitter that yields exactly ``task.folds``;
* metric: TPOT's single scorer is automux's own metric (weight +1 or -1 by its
  direction). The scorer also records each fold's score in a registry local to
  this process; when the last fold of a pipeline is scored, the pipeline is
  reported as a candidate at once, with TPOT's pipeline steps as its ``steps``;
  pipelines TPOT could not evaluate are reported after the search with their error;
* budget: trials -> generations x population: ``P = min(trials, population_size)``,
  ``G = trials // P`` generations, and the first generation holds the remainder
  (``initial_population_size = P + trials - G * P``), so TPOT evaluates at most
  ``trials`` pipelines (fewer when its offspring repeat). No clock reaches the
  search (``max_time_mins=None``, no per-pipeline timeout): deterministic. Seconds ->
  ``max_time_mins`` = the time left minus a refit margin, a per-pipeline timeout of
  a third of that, no generation limit,
  and no k-nearest neighbours past :data:`LARGE_ROWS` rows (:func:`default_estimators`):
  not deterministic;
* seed: ``random_state=task.seed`` (TPOT's generator and every estimator's
  ``random_state``); ``n_jobs=1``;
* Dask: TPOT always evaluates through a Dask client (its own default cluster
  listens on 0.0.0.0). automux passes an in-process one (``LocalCluster(
  processes=False, n_workers=1, threads_per_worker=cores)``): no worker process, the
  scheduler and worker talk over ``inproc://``, and their HTTP servers (which an
  in-process cluster still starts) are bound to 127.0.0.1 (:data:`DASK_LOOPBACK`).
  ``start_up`` imports TPOT and starts it before the budget clock starts,
  ``shut_down`` closes it (``search`` starts and closes its own when ``start_up`` was
  not called); its ``memory_limit`` is the spec's memory (:func:`start_dask`);
* out-of-fold: the chosen pipeline's fold fits' predictions on their validation
  rows, kept as the scorer computed them (``SearchResult.oof``): no refit;
* data: categorical and missing values go through a fixed first pipeline step
  (median / most-frequent imputation, one-hot encoding) fitted inside each fold;
* the fitted model is TPOT's chosen pipeline refit on all of ``task.X`` (a plain
  scikit-learn ``Pipeline``), pickled on save.

``import tpot`` asks PyPI for a newer version; automux disables that check so that a
run makes no network call.

Options: ``population_size`` (default :data:`DEFAULT_POPULATION`), ``search_space``
(``"automux-light"``, the default :func:`search_space`, or one of TPOT's templates
``linear``, ``linear-light``, ``graph``, ``graph-light``).
"""
from __future__ import annotations

import math
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..core.adapter import Adapter, SearchResult, SearchTask
from ..core.capabilities import Capabilities, Environment
from ..core.errors import SpecError
from ..core.hookspecs import hookimpl
from ..core.sklearn_kit import FixedFolds, PickledModel
from ..core.experiment.metrics import get_metric

DEFAULT_POPULATION = 8
DEFAULT_SEARCH_SPACE = "automux-light"
TEMPLATES = ("linear", "linear-light", "graph", "graph-light")
OPTIONS = ("population_size", "search_space")
#: The final estimators of the default search space: fast ones with ``predict_proba``.
CLASSIFIERS = ("LogisticRegression", "DecisionTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier",
               "GaussianNB", "KNeighborsClassifier", "XGBClassifier")
REGRESSORS = ("RidgeCV", "ElasticNetCV", "DecisionTreeRegressor", "KNeighborsRegressor", "RandomForestRegressor",
              "ExtraTreesRegressor", "XGBRegressor")
#: Above this many training rows, a seconds budget leaves the k-nearest neighbours out (:func:`default_estimators`).
LARGE_ROWS = 50_000
SCALERS = ("scalers", "Passthrough")
SELECTORS = ("SelectFwe", "SelectPercentile", "VarianceThreshold", "Passthrough")
#: The scheduler and the worker of an in-process cluster still start an HTTP server
#: each (health / metrics routes), and with ``dashboard_address=None`` both listen
#: on every interface (0.0.0.0:8787 and a random port). Binding them explicitly to
#: loopback on a free port is the only way to keep them off the network.
DASK_LOOPBACK = {"dashboard_address": "127.0.0.1:0", "worker_dashboard_address": "127.0.0.1:0"}


def count_plan(trials: int, population_size: int = DEFAULT_POPULATION) -> Tuple[int, int, int]:
    """``(population_size, initial_population_size, generations)`` evaluating at most ``trials`` pipelines.

    TPOT evaluates the initial population in generation 1 and ``population_size``
    offspring in each later generation: ``initial + (G - 1) * P == trials``.
    """
    if trials < 1 or population_size < 1:
        raise SpecError("the trial budget and the TPOT population size must be positive")
    pop = min(trials, population_size)
    generations = trials // pop
    initial = pop + trials - generations * pop
    return pop, initial, generations


def refit_margin_s(seconds: float) -> float:
    """Seconds kept back from ``max_time_mins`` for TPOT's final refit on all rows (the Dask cluster is
    closed in ``shut_down``, after the search)."""
    return min(5.0, 1.0 + 0.03 * seconds)


def dask_memory_limit(memory_mb: Optional[int]) -> Any:
    """The in-process Dask worker's ``memory_limit``: the spec's memory in bytes, or 0 (none) when unset."""
    return 0 if not memory_mb else int(memory_mb) * 2 ** 20


def start_dask(task: SearchTask) -> Tuple[Any, Any]:
    """The in-process loopback ``(cluster, client)`` TPOT evaluates on (see the module docstring).

    ``memory_limit`` is the spec's memory: Dask spills stored results to disk at its
    thresholds. Pausing and terminating are off: an in-process worker cannot be
    restarted, and a paused one would stall TPOT; the memory limit itself is enforced
    by automux on the worker's process group.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    with dask.config.set({"distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": False}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=task.cores, processes=False,
                               memory_limit=dask_memory_limit(task.memory_mb), silence_logs=50, **DASK_LOOPBACK)
        try:
            client = Client(cluster)
        except BaseException:
            cluster.close()
            raise
    return cluster, client


#: Seconds ``stop_dask`` waits for the client and for the cluster each to close.
DASK_CLOSE_TIMEOUT_S = 5.0


def stop_dask(cluster: Any, client: Any) -> None:
    """Close what :func:`start_dask` started (either may be None), waiting at most
    :data:`DASK_CLOSE_TIMEOUT_S` for each: a pipeline TPOT gave up on at the deadline can still hold the
    in-process worker thread inside compiled code (a SAG solver on 180k rows, which TPOT's per-pipeline
    timeout cannot interrupt), and waiting for it kept the result unwritten until the hard stop. The thread
    ends with the worker process, which automux ends once the result is written."""
    try:
        if client is not None:
            client.close(timeout=DASK_CLOSE_TIMEOUT_S)
    except Exception:  # a timeout: the cluster is closed below or dies with the process
        pass
    finally:
        if cluster is not None:
            try:
                cluster.close(timeout=DASK_CLOSE_TIMEOUT_S)
            except Exception:
                pass


# --- per-fold scores: a registry the scorer writes to, in this process only ---------------

def pipeline_key(estimator: Any) -> str:
    """A full-length description of a pipeline's hyperparameters (fitted or not): its identity."""
    import sklearn

    with sklearn.config_context(print_changed_only=True):
        try:
            return estimator.__repr__(N_CHAR_MAX=10 ** 9)
        except TypeError:
            return repr(estimator)


def pipeline_steps(estimator: Any) -> List[str]:
    """TPOT's pipeline as step names (nested pipelines and unions flattened in order)."""
    steps = getattr(estimator, "steps", None)
    if steps is None:
        parts = getattr(estimator, "transformer_list", None)
        if parts is not None:
            names: List[str] = []
            for _, part in parts:
                names.extend(pipeline_steps(part))
            return [f"FeatureUnion[{', '.join(names)}]"]
        return [type(estimator).__name__]
    out: List[str] = []
    for _, step in steps:
        out.extend(pipeline_steps(step))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    return pipeline_key(value) if hasattr(value, "get_params") else repr(value)


def pipeline_params(estimator: Any) -> Dict[str, Any]:
    """The candidate's params: each top-level step with its hyperparameters."""
    steps = getattr(estimator, "steps", None)
    if steps is None:
        return {"pipeline": pipeline_key(estimator)}
    return {"steps": [[type(step).__name__, _jsonable(step.get_params(deep=False))] for _, step in steps]}


def _tpot_substitute(est: Any, imports: Any) -> Optional[str]:
    """TPOT's own building blocks as scikit-learn: ``Passthrough`` is an identity ``FunctionTransformer``."""
    module = type(est).__module__ or ""
    if module.partition(".")[0] != "tpot":
        return None
    if type(est).__name__ == "Passthrough":
        imports.add("from sklearn.preprocessing import FunctionTransformer")
        return "FunctionTransformer()"
    return None  # anything else of TPOT's is refused by name


def pipeline_rebuild(estimator: Any) -> Dict[str, Any]:
    """``info["rebuild"]`` of a pipeline: its plain scikit-learn source, or ``{refusal}`` naming what is TPOT's own.

    Written from the pipeline object TPOT scored, every constructor parameter
    out (seeds included), so that promotion refits exactly what TPOT evaluated.
    """
    from ..core.rebuild_source import rebuild_info

    return rebuild_info(estimator, substitute=_tpot_substitute)


def _final_estimator_name(estimator: Any) -> str:
    steps = getattr(estimator, "steps", None)
    return type(steps[-1][1]).__name__ if steps else type(estimator).__name__


class _Live:
    """One search's state in this process: the task and the folds scored so far per pipeline."""

    def __init__(self, task: SearchTask) -> None:
        self.task = task
        self.n_folds = len(task.folds)
        self.fold_of_first_row = {int(valid[0]): k for k, (_, valid) in enumerate(task.folds) if len(valid)}
        self.partial: Dict[str, Dict[int, float]] = {}
        self.elapsed: Dict[str, float] = {}
        self.by_key: Dict[str, List[int]] = {}
        self.pipelines: Dict[int, Any] = {}
        self.lock = threading.Lock()
        self.last = time.monotonic()
        self.preds: Dict[str, Dict[int, np.ndarray]] = {}  # validation predictions per pipeline and fold
        #: Out-of-fold predictions of the best reported candidates so far (candidate index -> array).
        self.oof: Dict[int, np.ndarray] = {}
        n = len(task.X)
        self.oof_shape = (n,) if task.task == "regression" else (n, task.n_classes)

    def _keep_if_best(self, cand: Any, preds: Dict[int, np.ndarray]) -> None:
        """Keep a candidate's out-of-fold predictions while it is the best so far (ties kept too)."""
        score, metric = cand.cv_score, self.task.metric
        if score is None or not cand.complete or len(preds) != self.n_folds:
            return
        if any(metric.better(self.task.candidates[i].cv_score, score) for i in self.oof):
            return
        oof = np.full(self.oof_shape, np.nan, dtype=np.float64)
        for k, (_, valid) in enumerate(self.task.folds):
            oof[valid] = preds[k]
        self.oof = {i: a for i, a in self.oof.items() if not metric.better(score, self.task.candidates[i].cv_score)}
        self.oof[cand.index] = oof

    def record(self, estimator: Any, X_valid: Any, score: float, pred: Optional[np.ndarray] = None) -> None:
        index = getattr(X_valid, "index", None)
        if index is None or len(index) == 0:
            return
        fold = self.fold_of_first_row.get(int(index[0]))
        if fold is None:
            return
        from sklearn.base import clone

        key = pipeline_key(estimator)
        with self.lock:
            now = time.monotonic()
            folds = self.partial.setdefault(key, {})
            preds = self.preds.setdefault(key, {})
            if fold in folds:  # the same pipeline evaluated again: a new trial
                folds.clear()
                preds.clear()
                self.elapsed[key] = 0.0
            folds[fold] = score
            if pred is not None and len(pred) == len(self.task.folds[fold][1]):
                preds[fold] = np.asarray(pred, dtype=np.float64)
            self.elapsed[key] = self.elapsed.get(key, 0.0) + (now - self.last)
            self.last = now
            if len(folds) < self.n_folds:
                return
            scores = [folds[k] for k in range(self.n_folds)]
            del self.partial[key]
            del self.preds[key]
            fit_time = self.elapsed.pop(key, None)
            if self.task.trials_left() <= 0:
                self.task.log("tpot: a pipeline past the trial budget was not reported")
                return
            cand = self.task.add_candidate(_final_estimator_name(estimator), pipeline_params(estimator), scores,
                                           steps=pipeline_steps(estimator), fit_time_s=fit_time,
                                           rebuild=pipeline_rebuild(estimator))
            self.by_key.setdefault(key, []).append(cand.index)
            self.pipelines[cand.index] = clone(estimator)
            self._keep_if_best(cand, preds)


_LIVE: Dict[str, _Live] = {}


class FoldScorer:
    """TPOT's scorer: automux's metric on one validation fold; also records the fold's score.

    Picklable (Dask may serialise it); the record goes through the module's
    registry, which only the in-process Dask worker of this search reaches.
    """

    def __init__(self, token: str, metric: str, task: str, n_classes: int) -> None:
        self.token, self.metric, self.task, self.n_classes = token, metric, task, n_classes
        self.__name__ = metric  # TPOT names the objective column after the scorer

    def __call__(self, estimator: Any, X: Any, y: Any) -> float:
        from ..core.sklearn_kit import predict_output

        if self.task != "regression" and not hasattr(estimator, "predict_proba"):
            raise TypeError(f"{type(estimator).__name__} gives no class probabilities")
        pred = predict_output(estimator, X, self.task, self.n_classes)
        score = float(get_metric(self.metric, self.task)(np.asarray(y), pred))
        live = _LIVE.get(self.token)
        if live is not None:
            live.record(estimator, X, score, pred)
        return score


# --- the search space --------------------------------------------------------------------

def automux_prep(columns: List[str], categorical: List[str]) -> Any:
    """The fixed first step: median imputation, most-frequent imputation + one-hot for categoricals.

    A TPOT node with fixed parameters (TPOT never mutates it), fitted inside each fold.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    nums = [c for c in columns if c not in categorical]
    parts = []
    if nums:
        parts.append(("num", SimpleImputer(strategy="median", keep_empty_features=True), nums))
    if categorical:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                           OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                                         max_categories=100)),  # dense: bounded
                      list(categorical)))
    return ColumnTransformer(parts, sparse_threshold=0.0, verbose_feature_names_out=False)


def search_space(task: SearchTask, X: pd.DataFrame, name: str) -> Any:
    """TPOT's search space: the default ``automux-light`` or one of TPOT's templates.

    ``automux-light``: [fixed imputation/encoding step when needed] -> a scaler or
    nothing -> a feature selector or nothing -> one of :data:`CLASSIFIERS` /
    :data:`REGRESSORS`.
    """
    import tpot
    from tpot.search_spaces.nodes import EstimatorNode
    from tpot.search_spaces.pipelines import SequentialPipeline

    classification = task.task != "regression"
    params = {"n_classes": task.n_classes if classification else None, "n_samples": len(X),
              "n_features": X.shape[1], "random_state": int(task.seed)}
    if name in TEMPLATES:
        space = tpot.config.template_search_spaces.get_template_search_spaces(
            name, classification=classification, inner_predictors=None, cross_val_predict_cv=None, **params)
        nodes = [space]
    elif name == DEFAULT_SEARCH_SPACE:
        estimators = default_estimators(task, len(X))
        nodes = [tpot.config.get_search_space(list(SCALERS), **params),
                 tpot.config.get_search_space(list(SELECTORS), **params) if classification
                 else _regression_selectors(params),
                 tpot.config.get_search_space(list(estimators), **params)]
    else:
        raise SpecError(f"unknown tpot search_space {name!r}: choose {DEFAULT_SEARCH_SPACE} or one of "
                        f"{', '.join(TEMPLATES)}")
    if _needs_prep(X):
        cats = [c for c in X.columns if X[c].dtype == object]
        prep = EstimatorNode(automux_prep, {"columns": list(X.columns), "categorical": cats})
        nodes = [prep] + nodes
    return nodes[0] if len(nodes) == 1 else SequentialPipeline(search_spaces=nodes)


def default_estimators(task: SearchTask, rows: int) -> Tuple[str, ...]:
    """The final estimators of ``automux-light``: :data:`CLASSIFIERS` / :data:`REGRESSORS`, less the k-nearest
    neighbours under a seconds budget on more than :data:`LARGE_ROWS` rows: their prediction costs rows x rows
    in one compiled call that TPOT's per-pipeline timeout cannot interrupt, so one such pipeline holds the
    evaluation thread past the budget (a count budget keeps the full list: unchanged, deterministic)."""
    estimators = CLASSIFIERS if task.task != "regression" else REGRESSORS
    if task.budget.seconds is not None and rows > LARGE_ROWS:
        estimators = tuple(e for e in estimators if not e.startswith("KNeighbors"))
    return estimators


def _no_pipeline_finished(task: SearchTask, live: "_Live", error: BaseException) -> BaseException:
    """``BudgetExhausted`` for a seconds budget that ended before any pipeline was scored on every fold."""
    from ..core.errors import BudgetExhausted

    done = max((len(f) for f in live.partial.values()), default=0)
    return BudgetExhausted(
        f"no TPOT pipeline finished within the seconds budget ({task.budget.seconds:g}s): the furthest had "
        f"{done} of {len(task.folds)} folds scored ({type(error).__name__} from TPOT: {str(error)[:120]}); give a "
        "larger --budget-seconds or fewer rows")


def fold_cache(task: SearchTask, rows: int) -> Optional[str]:
    """TPOT's ``memory`` (a joblib cache of fitted pipeline steps) under a seconds budget past :data:`LARGE_ROWS`
    rows: the fixed imputation / one-hot step (14 s a fold at 180k rows on a loaded machine) is then fitted once
    per fold, not once per pipeline and fold. In the scratch dir, deleted after the search; None otherwise (small
    tables and count budgets: unchanged)."""
    if task.budget.seconds is None or rows <= LARGE_ROWS:
        return None
    return str(Path(task.workdir) / "tpot_step_cache")


def _f_regression(params: Dict[str, Any]) -> Dict[str, Any]:
    from sklearn.feature_selection import f_regression
    return dict(params, score_func=f_regression)


def _regression_selectors(params: Dict[str, Any]) -> Any:
    """TPOT's univariate selectors score with ``f_classif`` even for regression: use ``f_regression``."""
    import tpot
    from sklearn.feature_selection import SelectFwe, SelectPercentile
    from tpot.config import selectors
    from tpot.search_spaces.nodes import EstimatorNode
    from tpot.search_spaces.pipelines import ChoicePipeline

    rest = tpot.config.get_search_space(["VarianceThreshold", "Passthrough"], return_choice_pipeline=False, **params)
    return ChoicePipeline(search_spaces=[
        EstimatorNode(SelectFwe, selectors.SelectFwe_configspace, hyperparameter_parser=_f_regression),
        EstimatorNode(SelectPercentile, selectors.SelectPercentile_configspace, hyperparameter_parser=_f_regression),
        *rest])


def _needs_prep(X: pd.DataFrame) -> bool:
    return any(X[c].dtype == object for c in X.columns) or bool(X.isna().to_numpy().any())


def _disable_update_check() -> None:
    """``import tpot`` calls PyPI to look for a newer release: make that a no-op."""
    try:
        import update_checker
    except ImportError:
        return
    update_checker.update_check = lambda *args, **kwargs: None


# --- the adapter -------------------------------------------------------------------------

class TpotAdapter(PickledModel, Adapter):
    """TPOT 1.x behind the automux contract (see the module docstring)."""

    name = "tpot"
    accepted_options = OPTIONS
    option_rules = {"population_size": "int>=2", "search_space": "str"}
    capabilities = Capabilities(
        tasks=("binary", "multiclass", "regression"),
        budget_modes=("trials", "seconds"),
        deterministic={"trials": True, "seconds": False},
        custom_folds=True, categorical=True, missing_values=True,
        produces="pipeline", interpretable=True,
        min_budget={"trials": 2, "seconds": 30},
        distributed=None,  # its Dask cluster is in-process on purpose: one worker thread
        strengths=("pipeline_search",),
    )
    environment = Environment(name="main", python=">=3.10",
                              requirements=("tpot>=1.1", "scikit-learn>=1.6", "xgboost>=3.0", "lightgbm>=3.3",
                                            "dask>=2024.4.2", "distributed>=2024.4.2"),
                              import_names=("tpot", "dask", "distributed", "sklearn"), extra="tpot")

    def _options(self, task: SearchTask) -> Dict[str, Any]:
        unknown = sorted(set(task.options) - set(OPTIONS))
        if unknown:
            raise SpecError(f"unknown tpot option(s) {', '.join(unknown)}: choose from {', '.join(OPTIONS)}")
        pop = task.options.get("population_size", DEFAULT_POPULATION)
        if not isinstance(pop, int) or pop < 2:
            raise SpecError(f"tpot population_size must be an integer >= 2, got {pop!r}")
        space = task.options.get("search_space", DEFAULT_SEARCH_SPACE)
        if space != DEFAULT_SEARCH_SPACE and space not in TEMPLATES:
            raise SpecError(f"unknown tpot search_space {space!r}: choose {DEFAULT_SEARCH_SPACE} or one of "
                            f"{', '.join(TEMPLATES)}")
        return {"population_size": pop, "search_space": space}

    def _budget(self, task: SearchTask, population_size: int) -> Dict[str, Any]:
        # every pipeline's evaluation is capped: the run's per-candidate limit (the --timeout cap shared over the trials)
        budget: Dict[str, Any] = {"max_time_mins": None,
                                  "max_eval_time_mins": task.budget.candidate_limit_s / 60.0}
        if task.budget.trials is not None:
            pop, initial, generations = count_plan(task.budget.trials, population_size)
            budget.update(population_size=pop, initial_population_size=initial, generations=generations)
        else:
            budget.update(population_size=population_size, initial_population_size=None, generations=None)
        if task.deadline is not None:
            minutes = max(0.1, (task.time_left() - refit_margin_s(task.budget.seconds or 0)) / 60.0)
            budget.update(max_time_mins=minutes, max_eval_time_mins=max(0.05, minutes / 3.0))
        return budget

    _dask: Optional[Tuple[Any, Any]] = None

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        """Import TPOT and start its in-process loopback Dask cluster before the budget clock starts."""
        _disable_update_check()
        import tpot  # noqa: F401 - seconds of import

        if self._dask is None:
            self._dask = start_dask(task)
        return {}

    def shut_down(self) -> None:
        """Close the Dask client and cluster ``start_up`` started."""
        dask_pair, self._dask = self._dask, None
        if dask_pair is not None:
            stop_dask(*dask_pair)

    def search(self, task: SearchTask) -> SearchResult:
        opts = self._options(task)
        _disable_update_check()
        import tpot  # start_up imported it, unless it was not called

        from ..core.sklearn_kit import to_sklearn_frame

        X = to_sklearn_frame(task.X.reset_index(drop=True))
        y = np.asarray(task.y)
        classification = task.task != "regression"
        if classification:
            y = y.astype(np.int64)
        space = search_space(task, X, opts["search_space"])
        budget = self._budget(task, opts["population_size"])
        cache = fold_cache(task, len(X))
        task.log(f"tpot: {budget}, search space {opts['search_space']}" + (f", step cache {cache}" if cache else ""))
        token = uuid.uuid4().hex
        live = _LIVE[token] = _Live(task)
        metric = task.metric
        own = None  # a cluster started here because start_up was not called: closed here too
        est = None
        try:
            if self._dask is None:
                own = start_dask(task)
            client = (self._dask or own)[1]
            est = tpot.TPOTEstimator(
                search_space=space,
                scorers=[FoldScorer(token, metric.name, task.task, task.n_classes)],
                scorers_weights=[1.0 if metric.greater_is_better else -1.0],
                classification=classification, cv=FixedFolds(task.folds, len(X), "TPOT"),
                validation_strategy="none", preprocessing=False, early_stop=None,
                n_jobs=task.cores, client=client, random_state=int(task.seed), verbose=0,
                memory=cache, **budget,
            )
            try:
                est.fit(X, y)
            except Exception as e:
                if task.deadline is None or task.finished():
                    raise
                raise _no_pipeline_finished(task, live, e) from e
        finally:
            if own is not None:
                stop_dask(*own)
            _LIVE.pop(token, None)
            if cache is not None:
                shutil.rmtree(cache, ignore_errors=True)
        self._report_failures(task, est, live)
        chosen, model = self._chosen(task, est, live, X, y)
        if cache is not None:
            if hasattr(model, "memory"):
                model.memory = None  # the saved pipeline must not point at the deleted cache
            shutil.rmtree(cache, ignore_errors=True)
        info = {"tpot_evaluated": int(len(est.evaluated_individuals)) if est.evaluated_individuals is not None else 0,
                "plan": {k: v for k, v in budget.items() if k != "max_eval_time_mins" or math.isfinite(v)}}
        # the chosen pipeline's fold fits' predictions on their validation rows: no refit for out-of-fold
        oof = live.oof.get(chosen) if chosen is not None else None
        return SearchResult(model={"pipeline": model, "task": task.task, "n_classes": task.n_classes},
                            chosen=chosen, info=info, oof=oof)

    @staticmethod
    def _evaluated_rows(est: Any) -> pd.DataFrame:
        df = getattr(est, "evaluated_individuals", None)
        if df is None or "Eval Error" not in df.columns:
            return pd.DataFrame()
        return df

    def _report_failures(self, task: SearchTask, est: Any, live: _Live) -> None:
        """Pipelines TPOT tried and could not score are trials too: report them with their error."""
        df = self._evaluated_rows(est)
        for _, row in df.iterrows():
            error = row.get("Eval Error")
            if not isinstance(error, str):
                continue
            inst = row.get("Instance")
            if pipeline_key(inst) in live.by_key:  # scored on every fold, then timed out: reported already
                continue
            if task.trials_left() <= 0:
                task.log("tpot: a failed pipeline past the trial budget was not reported")
                break
            task.add_candidate(_final_estimator_name(inst), pipeline_params(inst), [None] * len(task.folds),
                               steps=pipeline_steps(inst), error=error)

    def _chosen(self, task: SearchTask, est: Any, live: _Live, X: pd.DataFrame, y: np.ndarray
                ) -> Tuple[Optional[int], Any]:
        """TPOT's pick when it is a reported candidate; otherwise automux's best, refit here."""
        fitted = getattr(est, "fitted_pipeline_", None)
        if fitted is not None:
            for index in live.by_key.get(pipeline_key(fitted), []):
                best = task.best_index()
                if best is None or task.candidates[index].cv_score == task.candidates[best].cv_score:
                    return index, fitted
        best = task.best_index()
        if best is None:
            if task.deadline is not None:
                raise _no_pipeline_finished(task, live, RuntimeError("no pipeline scored"))
            raise RuntimeError("TPOT scored no pipeline within the budget")
        task.log(f"tpot: TPOT's pick is not the best reported candidate; refitting candidate {best}")
        return best, live.pipelines[best].fit(X, y)

    def rebuild_refusal(self, candidate: Any, task: str, columns: Dict[str, str]) -> Optional[str]:
        """Why ``candidate`` has no explicit rebuild (a TPOT-only step, a run recorded before rebuilds), or None."""
        info = (getattr(candidate, "info", None) or {}).get("rebuild")
        if not isinstance(info, dict):
            return "the run was recorded before TPOT candidates carried their rebuild (rerun it)"
        return info.get("refusal")

    def candidate_source(self, candidate: Any, task: str, columns: Dict[str, str], seed: int) -> Optional[str]:
        """The candidate's pipeline as TPOT evaluated it, in plain scikit-learn (plus XGBoost for its XGB steps).

        Includes automux's fixed imputation / encoding first step when the data
        needed one. ``None`` when :meth:`rebuild_refusal` gives a reason.
        """
        from ..core.rebuild_source import rebuild_file

        if self.rebuild_refusal(candidate, task, columns) is not None:
            return None
        title = (f"TPOT candidate {candidate.index} ({candidate.algorithm}): the pipeline TPOT evaluated, "
                 "every parameter written out.")
        return rebuild_file(title, candidate.info["rebuild"], seed)

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        from ..core.sklearn_kit import predict_output
        return predict_output(model["pipeline"], X.reset_index(drop=True), model["task"], model["n_classes"])


@hookimpl
def automux_adapters() -> List[Adapter]:
    return [TpotAdapter()]
