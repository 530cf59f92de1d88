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
  a third of that, no generation limit: not deterministic. Past :data:`LARGE_ROWS` rows
  (:func:`large_search`): no k-nearest neighbours, lbfgs for the logistic regression, a
  cheap pipeline scored first, and TPOT given up at the deadline (:func:`fit_within_deadline`);
* seed: ``random_state=task.seed`` (TPOT's generator and every estimator's
  ``random_state``); ``n_jobs=1``;
* Dask: TPOT always evaluates through a Dask client (its own default cluster
  listens on 0.0.0.0). automux passes an in-process one (``LocalCluster(
  processes=False, n_workers=1, threads_per_worker=cores)``): no worker process, the
  scheduler and worker talk over ``inproc://``, and their HTTP servers (which an
  in-process cluster still starts) are bound to 127.0.0.1 (:data:`DASK_LOOPBACK`).
  ``start_up`` imports TPOT and starts it before the budget clock starts,
  ``shut_down`` closes it (``search`` starts and closes its own when ``start_up`` was
  not called); its ``memory_limit`` is the spec's memory (:func:`start_dask`). It is not
  kept warm across a compare's runs: starting it takes about 0.13 s (load 7.6) of a
  start-up of about 9 s that is TPOT's import, which a worker process always pays;
* out-of-fold: the chosen pipeline's fold fits' predictions on their validation
  rows, kept as the scorer computed them (``SearchResult.oof``): no refit;
* data: categorical and missing values go through a fixed first step
  (:func:`automux_prep`: median / most-frequent imputation, one-hot encoding of the
  most frequent levels) whose statistics are frozen from the training rows, without
  the target, as a native TPOT user prepares a table before calling TPOT; it is
  applied once per search, before TPOT, and is the first step of every candidate's
  pipeline and rebuild (its fit learns nothing, so per-fold refits score the same);
* the fitted model is that step followed by TPOT's chosen pipeline refit on all of
  ``task.X`` (a plain scikit-learn ``Pipeline``), pickled on save.

``import tpot`` asks PyPI for a newer version; automux disables that check so that a
run makes no network call.

Options: ``population_size`` (default :data:`DEFAULT_POPULATION`), ``search_space``
(``"automux-light"``, the default :func:`search_space`, or one of TPOT's templates
``linear``, ``linear-light``, ``graph``, ``graph-light``).
"""
from __future__ import annotations

import math
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
    closed in ``shut_down``, after the search). At 30 s on breast_cancer, 1.9 s kept back left 28.4-28.9 s
    of search. A large search also keeps back 1.5x the best pipeline's refit estimate
    (:func:`fit_within_deadline`)."""
    return min(5.0, 0.5 + 0.02 * seconds)


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

    def __init__(self, task: SearchTask, prep: Any = None) -> None:
        self.task = task
        self.prep = prep  # the fixed first step applied before TPOT: part of every candidate's pipeline
        self.n_folds = len(task.folds)
        self.fold_of_first_row = {int(valid[0]): k for k, (_, valid) in enumerate(task.folds) if len(valid)}
        self.partial: Dict[str, Dict[int, float]] = {}
        self.elapsed: Dict[str, float] = {}
        self.by_key: Dict[str, List[int]] = {}
        self.pipelines: Dict[int, Any] = {}
        self.lock = threading.Lock()
        self.closed = False
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
            if self.closed:  # TPOT overran the deadline and automux went on without it
                return
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
            whole = with_prep(self.prep, estimator)
            cand = self.task.add_candidate(_final_estimator_name(estimator), pipeline_params(whole), scores,
                                           steps=pipeline_steps(whole), fit_time_s=fit_time,
                                           rebuild=pipeline_rebuild(whole))
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

#: One-hot columns per categorical at most: its most frequent levels in the training rows. Every pipeline's
#: every fold copies and scans the encoded rows, so width is time: at 225k rows, 100 levels of a
#: 5,000-level column made 181 columns and 32 make 95 (each fold about twice as fast).
MAX_LEVELS = 32


def _levels(col: pd.Series) -> Tuple[List[Any], Any]:
    """A categorical column's kept levels (the :data:`MAX_LEVELS` most frequent, in a fixed order) and its mode."""
    counts = col.value_counts(dropna=True)
    if counts.empty:
        return [], None
    order = sorted(zip(counts.to_numpy().tolist(), counts.index.tolist()), key=lambda cv: (-cv[0], str(cv[1])))
    kept = sorted((v.item() if isinstance(v, np.generic) else v for _, v in order[:MAX_LEVELS]), key=str)
    mode = order[0][1]
    return kept, mode.item() if isinstance(mode, np.generic) else mode


def automux_prep(X: pd.DataFrame) -> Optional[Any]:
    """The fixed first step (None when no column is categorical and none has a missing value), every
    statistic frozen from ``X``, the training rows, without the target: numeric columns with missing values
    filled with their median (0 when all are missing), categoricals filled with their most frequent level and
    one-hot encoded over their :data:`MAX_LEVELS` most frequent levels (a rarer or unseen level: all zeros;
    a categorical with no value is dropped).

    A plain scikit-learn ``ColumnTransformer`` whose fit learns nothing, so :meth:`TpotAdapter.search`
    transforms the training rows once and TPOT's pipelines start after it (at 180k rows, fitting the old
    per-fold imputer / one-hot step took 14 s of every pipeline's every fold); cross-validating the candidate's
    rebuilt source, this step included, gives exactly the fold scores TPOT saw. Its width is bounded
    (a 5,000-level column costs :data:`MAX_LEVELS` columns).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    if not _needs_prep(X):
        return None
    parts: List[Tuple[str, Any, List[str]]] = []
    plain = []
    for c in X.columns:
        col = X[c]
        if col.dtype == object:
            levels, mode = _levels(col)
            if levels:
                parts.append((f"cat_{c}", make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=mode),
                    OneHotEncoder(categories=[levels], handle_unknown="ignore", sparse_output=False)), [c]))
        elif col.isna().any():
            median = float(np.nanmedian(col.to_numpy(dtype=np.float64))) if col.notna().any() else 0.0
            parts.append((f"num_{c}", SimpleImputer(strategy="constant", fill_value=median, keep_empty_features=True),
                          [c]))
        else:
            plain.append(c)
    if plain:
        parts.insert(0, ("num", "passthrough", plain))
    return ColumnTransformer(parts, sparse_threshold=0.0, verbose_feature_names_out=False)


def with_prep(prep: Any, estimator: Any) -> Any:
    """One flat ``Pipeline``: :func:`automux_prep`'s step, then TPOT's steps (``estimator`` itself without prep)."""
    if prep is None:
        return estimator
    from sklearn.pipeline import Pipeline

    steps = getattr(estimator, "steps", None) or [(type(estimator).__name__.lower(), estimator)]
    return Pipeline([("automux_prep", prep)] + list(steps))


def search_space(task: SearchTask, X: pd.DataFrame, name: str, population: int = DEFAULT_POPULATION) -> Any:
    """TPOT's search space over ``X`` (already through :func:`automux_prep`): the default ``automux-light``
    or one of TPOT's templates.

    ``automux-light``: a scaler or nothing -> a feature selector or nothing -> one of
    :data:`CLASSIFIERS` / :data:`REGRESSORS`; under a seconds budget past :data:`LARGE_ROWS` rows, the first
    pipeline TPOT scores is :func:`cheap_pipeline` (:class:`CheapFirst`; ``population`` is the initial
    population's size).
    """
    import tpot
    from tpot.search_spaces.pipelines import SequentialPipeline

    classification = task.task != "regression"
    params = {"n_classes": task.n_classes if classification else None, "n_samples": len(X),
              "n_features": X.shape[1], "random_state": int(task.seed)}
    if name in TEMPLATES:
        return tpot.config.template_search_spaces.get_template_search_spaces(
            name, classification=classification, inner_predictors=None, cross_val_predict_cv=None, **params)
    if name != DEFAULT_SEARCH_SPACE:
        raise SpecError(f"unknown tpot search_space {name!r}: choose {DEFAULT_SEARCH_SPACE} or one of "
                        f"{', '.join(TEMPLATES)}")
    estimators = default_estimators(task, len(X))
    large = large_search(task, len(X))
    space = SequentialPipeline(search_spaces=[
        tpot.config.get_search_space(list(SCALERS), **params),
        tpot.config.get_search_space(list(SELECTORS), **params) if classification else _regression_selectors(params),
        _large_estimators(estimators, params) if large else tpot.config.get_search_space(list(estimators), **params)])
    return CheapFirst(space, cheap_pipeline(task, params), at=population) if large else space


class CheapFirst:
    """A search space whose ``at``-th generated pipeline comes from ``cheap``, every other one from ``space``.

    TPOT 1.1 generates its initial population in order and evaluates it from the last one generated
    (one pipeline at a time on automux's one-worker cluster), so with ``at`` = the initial population's size
    the first pipeline TPOT scores is the cheap one: at 225k rows a random first pipeline (a saga logistic
    regression on unscaled columns, a deep tree) can use the whole budget without finishing a fold.
    """

    def __init__(self, space: Any, cheap: Any, at: int) -> None:
        self.space, self.cheap, self.at, self.calls = space, cheap, int(at), 0

    def generate(self, rng: Any = None) -> Any:
        self.calls += 1
        return (self.cheap if self.calls == self.at else self.space).generate(rng)


def cheap_pipeline(task: SearchTask, params: Dict[str, Any]) -> Any:
    """The cheap first pipeline of :class:`CheapFirst`, from TPOT's own nodes: standard scaling, no selection,
    and Gaussian naive Bayes (classification) or ``RidgeCV`` (regression), none with a hyperparameter."""
    import tpot
    from tpot.search_spaces.pipelines import SequentialPipeline

    final = "GaussianNB" if task.task != "regression" else "RidgeCV"
    return SequentialPipeline(search_spaces=[tpot.config.get_search_space(name, **params)
                                             for name in ("StandardScaler", "Passthrough", final)])


def large_search(task: SearchTask, rows: int) -> bool:
    """A seconds budget on more than :data:`LARGE_ROWS` rows: a cheap first pipeline (:class:`CheapFirst`),
    lbfgs for the logistic regression (:func:`_large_estimators`) and a fit given up at the deadline
    (:func:`fit_within_deadline`). Smaller tables and count budgets search as before."""
    return task.budget.seconds is not None and rows > LARGE_ROWS


def default_estimators(task: SearchTask, rows: int) -> Tuple[str, ...]:
    """The final estimators of ``automux-light``: :data:`CLASSIFIERS` / :data:`REGRESSORS`, less the k-nearest
    neighbours under a seconds budget on more than :data:`LARGE_ROWS` rows: their prediction costs rows x rows
    in one compiled call that TPOT's per-pipeline timeout cannot interrupt, so one such pipeline holds the
    evaluation thread past the budget (a count budget keeps the full list: unchanged, deterministic)."""
    estimators = CLASSIFIERS if task.task != "regression" else REGRESSORS
    if large_search(task, rows):
        estimators = tuple(e for e in estimators if not e.startswith("KNeighbors"))
    return estimators


def _large_estimators(estimators: Tuple[str, ...], params: Dict[str, Any]) -> Any:
    """The estimators node past :data:`LARGE_ROWS` rows under a seconds budget: TPOT's own, except that its
    logistic regression (saga, up to 1000 epochs: 15-27 s a fold at 180k rows in one compiled call that the
    per-pipeline timeout cannot stop, holding the one evaluation thread) is fitted by lbfgs (L2, at most 200
    iterations, interruptible between them) with TPOT's ranges of ``C`` and ``class_weight``."""
    import tpot
    from ConfigSpace import Categorical, ConfigurationSpace, Float
    from sklearn.linear_model import LogisticRegression
    from tpot.search_spaces.nodes import EstimatorNode
    from tpot.search_spaces.pipelines import ChoicePipeline

    rest = [e for e in estimators if e != "LogisticRegression"]
    nodes = tpot.config.get_search_space(rest, return_choice_pipeline=False, **params)
    if len(rest) < len(estimators):
        space = ConfigurationSpace({"solver": "lbfgs", "max_iter": 200, "random_state": params["random_state"]})
        space.add([Float("C", (0.01, 1e5), log=True), Categorical("class_weight", [None, "balanced"])])
        nodes = [EstimatorNode(LogisticRegression, space)] + list(nodes)
    return ChoicePipeline(search_spaces=nodes)


class GivenUp(BaseException):
    """Raised into TPOT's threads when automux goes on without them at the deadline (see
    :func:`fit_within_deadline`); a ``BaseException`` so that no ``except Exception`` keeps them running."""


def _stop_threads(kind: type) -> None:
    """Stop every live ``func_timeout`` ``StoppableThread`` of this process: TPOT's fit (started by
    :func:`fit_within_deadline`) and the pipeline evaluation it left running (TPOT runs each under
    ``func_timeout``). Each is stopped as TPOT's own timeout does it: ``GivenUp`` raised into it every 0.5 s
    until it ends, so a pipeline in compiled code stops when it returns to Python. Otherwise both go on with
    the one core while automux refits the chosen pipeline (at 225k rows and load 10, past the hard stop)."""
    for t in threading.enumerate():
        if isinstance(t, kind) and t.is_alive():
            t.stop(GivenUp, raiseEvery=0.5)


def fit_within_deadline(task: SearchTask, live: "_Live", est: Any, X: pd.DataFrame, y: np.ndarray) -> bool:
    """``est.fit(X, y)``, given up in a :func:`large_search` when the time left is :func:`refit_margin_s` plus
    1.5 times the best candidate's estimated refit (``SearchTask.refit_estimate_s``).

    TPOT 1.1 looks at its ``max_time_mins`` only when a pipeline finishes or after waiting a whole
    per-pipeline limit (a third of the time) for one, and a pipeline stuck in compiled code (a saga logistic
    regression on 180k rows) is not stopped by its timeout: at 225k rows the search overran a 60 s budget by
    15 s. So the fit runs in a daemon thread; at the deadline automux stops recording its scores
    (``live.closed``) and goes on without it: :meth:`TpotAdapter._chosen` then refits the best scored
    candidate; the threads still running TPOT's work are stopped (:func:`_stop_threads`).
    False when it was given up (``est`` is then TPOT's, still running: read nothing from it).
    """
    if task.deadline is None or not large_search(task, len(X)):
        est.fit(X, y)
        return True
    failure: List[BaseException] = []

    def fit() -> None:
        try:
            est.fit(X, y)
        except GivenUp:
            pass
        except BaseException as e:  # re-raised in the calling thread
            failure.append(e)

    from func_timeout.StoppableThread import StoppableThread  # TPOT's own per-pipeline timeout threads

    thread = StoppableThread(target=fit, name="automux-tpot-fit", daemon=True)
    thread.start()
    margin = refit_margin_s(task.budget.seconds or 0)
    while thread.is_alive():
        best = task.best_index()  # the refit of the best so far must fit before the deadline too, half again
        # as long as alone: a pipeline stuck in compiled code shares the core until it returns to Python
        wait = task.time_left() - margin - (1.5 * task.refit_estimate_s(best) if best is not None else 0.0)
        if wait <= 0:
            break
        thread.join(min(wait, 0.5))
    with live.lock:
        live.closed = True
    if thread.is_alive():
        task.log("tpot: TPOT was still running at the deadline; automux stopped it and went on with the best "
                 "scored candidate")
        _stop_threads(StoppableThread)
        return False
    if failure:
        raise failure[0]
    return True


def _no_pipeline_finished(task: SearchTask, live: "_Live", error: BaseException) -> BaseException:
    """``BudgetExhausted`` for a seconds budget that ended before any pipeline was scored on every fold."""
    from ..core.errors import BudgetExhausted

    done = max((len(f) for f in live.partial.values()), default=0)
    return BudgetExhausted(
        f"no TPOT pipeline finished within the seconds budget ({task.budget.seconds:g}s): the furthest had "
        f"{done} of {len(task.folds)} folds scored ({type(error).__name__} from TPOT: {str(error)[:120]}); give a "
        "larger --budget-seconds or fewer rows")


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

    @staticmethod
    def _prepared(task: SearchTask) -> Tuple[pd.DataFrame, Any]:
        """``(X TPOT searches on, the fitted prep step or None)``: :func:`automux_prep` frozen from the
        training rows and applied once, here, inside the budget (its fit learns nothing per fold)."""
        from ..core.sklearn_kit import to_sklearn_frame

        X = to_sklearn_frame(task.X.reset_index(drop=True))
        prep = automux_prep(X)
        if prep is None:
            return X, None
        t0 = time.monotonic()
        from sklearn.base import clone

        # the fitted model's step names its columns as TPOT's steps saw them (pandas output); the rows TPOT
        # searches on are one float block (numpy output: each fold's copy is then cheap, no 2 s of pandas
        # interleaving at 225k rows). The fit learns nothing, so both transform alike.
        model_prep = clone(prep).set_output(transform="pandas").fit(X)
        X = pd.DataFrame(prep.fit_transform(X), columns=prep.get_feature_names_out(), copy=False)
        prep = model_prep
        task.log(f"tpot: imputation / one-hot step frozen from the training rows and applied once: "
                 f"{X.shape[1]} columns, {time.monotonic() - t0:.1f}s")
        return X, prep

    def search(self, task: SearchTask) -> SearchResult:
        opts = self._options(task)
        _disable_update_check()
        import tpot  # start_up imported it, unless it was not called

        X, prep = self._prepared(task)
        y = np.asarray(task.y)
        classification = task.task != "regression"
        if classification:
            y = y.astype(np.int64)
        space = search_space(task, X, opts["search_space"], opts["population_size"])
        budget = self._budget(task, opts["population_size"])
        task.log(f"tpot: {budget}, search space {opts['search_space']}")
        token = uuid.uuid4().hex
        live = _LIVE[token] = _Live(task, prep)
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
                n_jobs=task.cores, client=client, random_state=int(task.seed), verbose=0, **budget,
            )
            try:
                finished = fit_within_deadline(task, live, est, X, y)
            except Exception as e:
                if task.deadline is None:
                    raise
                if not task.finished():
                    raise _no_pipeline_finished(task, live, e) from e
                task.log(f"tpot: TPOT ended with {type(e).__name__}: {str(e)[:200]}; keeping the scored candidates")
                finished = False
            if not finished:
                est = None  # TPOT's pick and its account are not there: automux's best scored candidate is refit
        finally:
            if own is not None:
                stop_dask(*own)
            _LIVE.pop(token, None)
        self._report_failures(task, est, live)
        chosen, model = self._chosen(task, est, live, X, y)
        model = with_prep(prep, model)
        evaluated = getattr(est, "evaluated_individuals", None)
        info = {"tpot_evaluated": int(len(evaluated)) if evaluated is not None else 0,
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
            whole = with_prep(live.prep, inst)
            task.add_candidate(_final_estimator_name(inst), pipeline_params(whole), [None] * len(task.folds),
                               steps=pipeline_steps(whole), error=error)

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
