"""The auto-sklearn 0.15 adapter: runs in its own env (Python 3.9, scikit-learn 0.24.2 and its pins).

Search: ``AutoSklearnClassifier`` / ``AutoSklearnRegressor`` with

* the spec's folds as ``resampling_strategy=PredefinedSplit(fold ids)`` and
  ``dataset_compression=False`` (no subsampling), then ``refit(X, y)`` so that
  the ensemble's members are trained on every training row (with a CV
  splitter, auto-sklearn otherwise predicts with per-fold models);
* ``seed`` = the derived backend seed, ``n_jobs=1`` (no Dask cluster: auto-sklearn
  uses its single-threaded client), ``memory_limit`` per evaluation: the option,
  else 60 % of the spec's ``--memory``, else 3072 MB; ``start_up`` imports
  auto-sklearn before the budget clock starts;
* a count budget of N: ``smac_scenario_args={"runcount_limit": N}`` with
  ``initial_configurations_via_metalearning = min(4, N - 1)`` (the count must
  exceed the warm-start configurations) and a large ``time_left_for_this_task``
  so that the count, not the clock, ends the search; a seconds budget:
  ``time_left_for_this_task`` = the seconds left (at least 30, auto-sklearn's floor) and
  :class:`SmacOnTheDeadline` as ``get_smac_object_callback``: SMAC's wall-clock limit is set from
  automux's deadline (less :data:`SECONDS_MARGIN` for the refit) when SMAC starts, the first
  configuration evaluated is a fast one (:data:`FIRST_MODEL`), ahead of auto-sklearn's default and
  meta-learning picks, and until one evaluation has succeeded there is no per-run limit but SMAC's end;
* under any budget, :func:`lean_autosklearn` around ``fit``: one pipeline build per evaluation (deep
  copies for the folds) and a log server that does not hold ``fit`` 5 s at its end (what is fitted is
  unchanged: count-budget runs give the same predictions as before);
* the metric: auto-sklearn's own scorer for automux's metric where it has one (its
  meta-learning data is indexed by metric name), else automux's metric wrapped
  with ``autosklearn.metrics.make_scorer``.

Candidates: every configuration SMAC evaluated, in run order (auto-sklearn's
dummy baseline is not one): ``algorithm`` = the classifier / regressor choice,
``params`` = the whole configuration, ``steps`` = data preprocessor, feature
preprocessor, model. Per-fold scores: auto-sklearn only reports the mean over the
folds (``cv_results_``); automux scores each fold in its own metric from the
out-of-fold predictions auto-sklearn stores for each run (at the precision it
stores them; its ``true_targets_ensemble`` is checked to be in fold order
first). A run that failed (crash, timeout, memout), or whose fold scores cannot be
computed (predictions deleted by ``max_models_on_disc``, or not in fold order), is
reported as a failed candidate: ``None`` per fold, ``info['error']`` saying why,
and auto-sklearn's own status in ``info``. The model is an ensemble: ``chosen`` is its heaviest member and
``SearchResult.info['ensemble']`` lists every member with its weight.

Options: ``metalearning`` (warm-start configurations, default 4),
``per_run_time_limit`` (seconds), ``memory_limit`` (MB), ``ensemble_nbest``.
"""
from __future__ import annotations

import copy
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import pandas as pd

from ..core.adapter import Adapter, SearchResult, SearchTask
from ..core.capabilities import Capabilities, Environment
from ..core.errors import BudgetExhausted
from ..core.hookspecs import hookimpl
from ..core.sklearn_kit import PickledModel

DEFAULT_METALEARNING = 4
#: Under a count budget the clock must never be what stops the search.
COUNT_BUDGET_SECONDS = 24 * 3600
COUNT_BUDGET_PER_RUN_S = 900
#: Seconds before automux's deadline at which SMAC's last evaluation must end under a seconds budget: the
#: ensemble's last build, loading its members and their refit on all rows come after it, 1-3 s on
#: breast_cancer and penguins from load 2 to 10, and SMAC's last evaluation ends up to about 1 s before
#: this (whole-second cutoffs); saving and predicting come after the search, in the grace.
SECONDS_MARGIN = 2.0
#: auto-sklearn starts no evaluation, and cuts each one, this many seconds before SMAC's wall-clock limit
#: (``ExecuteTaFuncWithQueue.run_wrapper``: ``remaining_time - 5``); added back when setting that limit.
SMAC_END_S = 5.0
#: The model of the first configuration a seconds budget evaluates: auto-sklearn's default configuration
#: with this model in place of its 512-tree random forest (which, five folds in pynisher subprocesses, could
#: take all of a short budget on a contended machine and leave no candidate); its other hyperparameters are
#: the defaults. Where the search space has no such model (LDA takes dense data only), the design is
#: auto-sklearn's own.
FIRST_MODEL = {"classifier": "lda", "regressor": "liblinear_svr"}
#: automux metric -> auto-sklearn scorer name (binary roc_auc only: auto-sklearn's is binary).
BUILTIN_METRICS = {"log_loss": "log_loss", "accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy",
                   "rmse": "root_mean_squared_error", "mae": "mean_absolute_error", "r2": "r2"}
MAXINT = 2 ** 31 - 1
#: Share of the spec's ``--memory`` one evaluation may use (``memory_limit``) when the option does not say.
EVAL_MEMORY_SHARE = 0.6
#: The options and their least values.
INT_OPTIONS = {"metalearning": 0, "per_run_time_limit": 5, "memory_limit": 256, "ensemble_nbest": 1}


def eval_memory_mb(memory_mb: Optional[int]) -> int:
    """auto-sklearn's ``memory_limit`` (MB, per evaluation) when the option does not set it: 3072, or
    :data:`EVAL_MEMORY_SHARE` of the spec's memory when that is set (the main process holds the data and
    SMAC besides the evaluation's process), at least 256."""
    if not memory_mb:
        return 3072
    return max(256, int(memory_mb * EVAL_MEMORY_SHARE))


def _scorer(task: SearchTask) -> Any:
    import autosklearn.metrics as askm

    name = task.metric.name
    if name == "roc_auc" and task.task == "binary":
        return askm.roc_auc
    if name in BUILTIN_METRICS:
        return getattr(askm, BUILTIN_METRICS[name])
    metric = task.metric
    optimum = 1.0 if metric.greater_is_better else 0.0
    worst = 0.0 if metric.greater_is_better else float(MAXINT)
    return askm.make_scorer(f"automux_{name}", metric.func, optimum=optimum, worst_possible_result=worst,
                            greater_is_better=metric.greater_is_better,
                            needs_proba=task.task != "regression")


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _oof_fold_scores(task: SearchTask, internals: Path, seed: int, num_run: int, budget: float,
                     order_ok: bool) -> List[Optional[float]]:
    """Per-fold scores in automux's metric from a run's stored out-of-fold predictions."""
    k = len(task.folds)
    if not order_ok:
        return [None] * k
    path = internals / "runs" / f"{seed}_{num_run}_{budget}" / f"predictions_ensemble_{seed}_{num_run}_{budget}.npy"
    if not path.is_file():
        return [None] * k
    pred = np.asarray(np.load(str(path), allow_pickle=True), dtype=np.float64)
    if pred.shape[0] != len(task.y):
        return [None] * k
    scores: List[Optional[float]] = []
    start = 0
    for _, valid in task.folds:
        block = pred[start:start + len(valid)]
        start += len(valid)
        if task.task == "regression":
            block = block.ravel()
        else:
            block = np.clip(block, 0.0, 1.0)
            if block.ndim == 1:
                block = np.column_stack([1.0 - block, block])
            block = block / block.sum(axis=1, keepdims=True)
        s = task.metric(task.y[valid], block)
        scores.append(float(s))  # NaN stays NaN: the candidate records the fold as failed
    return scores


def _unscored_reason(status: str, info: Dict[str, Any], order_ok: bool) -> str:
    """Why a SMAC run has no fold score: auto-sklearn's failure, or the predictions automux could not use."""
    if status != "SUCCESS":
        detail = info.get("error") or info.get("message") or ""
        return f"auto-sklearn run {status}" + (f": {str(detail)[:200]}" if detail else "")
    if not order_ok:
        return "auto-sklearn's stored targets are not in fold order: its predictions cannot be scored per fold"
    return "auto-sklearn kept no usable out-of-fold predictions for this run (max_models_on_disc)"


def first_configuration(cs: Any, choice_key: str, model: str) -> Any:
    """auto-sklearn's default configuration in ``cs`` with ``model`` as ``choice_key`` (its hyperparameters
    at their defaults), or None where ``cs`` has no such model or the result is not a valid configuration."""
    from ConfigSpace.util import deactivate_inactive_hyperparameters

    try:
        if model not in cs.get_hyperparameter(choice_key).choices:
            return None
        values = {hp.name: hp.default_value for hp in cs.get_hyperparameters()}
        values[choice_key] = model
        return deactivate_inactive_hyperparameters(values, cs)
    except Exception:  # a forbidden combination, a space without the choice: auto-sklearn's own design
        return None


@contextmanager
def lean_autosklearn() -> Iterator[None]:
    """Two of auto-sklearn 0.15's own overheads removed while entered (and in the processes it forks
    meanwhile: ``n_jobs=1`` forks its evaluations); neither changes what is fitted.

    * An evaluator builds its pipeline once and hands out deep copies of it. auto-sklearn builds every
      pipeline from scratch, its whole configuration space included: k + 2 builds per evaluation on k
      predefined folds, about 0.5 s each on an idle core (4.5 s of a 5-fold LDA evaluation of breast_cancer,
      several times that under load). A deep copy (about 0.06 s) of the same unfitted pipeline, built with the
      same configuration and seed, fits the same models; the configuration and its space, read-only, are
      shared rather than copied.
    * Its log server's connection threads are daemons, so the server ends within its 1 s poll once ``fit``
      stops it; with the client connections still open it outlived ``join(timeout=5)`` and every ``fit``
      waited those 5 s before returning.
    """
    from autosklearn.evaluation.abstract_evaluator import AbstractEvaluator
    from autosklearn.util.logging_ import LogRecordSocketReceiver

    original = AbstractEvaluator._get_model
    daemons = LogRecordSocketReceiver.daemon_threads

    def _get_model(self: Any, feat_type: Any) -> Any:
        template = self.__dict__.get("_automux_template")
        if template is None or template[0] is not feat_type:
            template = self._automux_template = (feat_type, original(self, feat_type))
        model = template[1]
        memo: Dict[int, Any] = {}
        for shared in (getattr(model, "config_space", None), getattr(model, "config", None),
                       getattr(getattr(model, "config", None), "configuration_space", None)):
            if shared is not None:
                memo[id(shared)] = shared
        return copy.deepcopy(model, memo)

    AbstractEvaluator._get_model = _get_model
    LogRecordSocketReceiver.daemon_threads = True
    try:
        yield
    finally:
        AbstractEvaluator._get_model = original
        LogRecordSocketReceiver.daemon_threads = daemons


def scored_first(ta_class: Any) -> Any:
    """auto-sklearn's evaluation runner (``ExecuteTaFuncWithQueue``) with no per-run limit until one
    evaluation has succeeded: until then a run may take all of SMAC's time left (auto-sklearn still ends it
    5 s before SMAC's end), so a slow first evaluation on a loaded machine still yields a candidate; from the
    first success on, ``per_run_time_limit`` as before."""

    class ScoredFirst(ta_class):  # type: ignore[misc, valid-type]
        def run_wrapper(self, run_info: Any) -> Any:
            if not getattr(self, "_automux_scored", False):
                left = self.stats.get_remaing_time_budget()  # sic: SMAC's name
                run_info = run_info._replace(cutoff=max(float(run_info.cutoff or 0), float(left)))
            info, value = super().run_wrapper(run_info)
            if getattr(value.status, "name", "") == "SUCCESS":
                self._automux_scored = True
            return info, value

    return ScoredFirst


class SmacOnTheDeadline:
    """``get_smac_object_callback`` under a seconds budget: SMAC as auto-sklearn builds it, with two changes.

    * SMAC's wall-clock limit is set, when SMAC starts, so that its last evaluation ends at ``end_at`` (a
      ``time.monotonic()`` value: automux's deadline less :data:`SECONDS_MARGIN`). auto-sklearn 0.15 would
      give SMAC ``time_left_for_this_task`` less the time since ``fit`` began twice over (once in
      ``AutoML.fit``, again in ``AutoMLSMBO.run_smbo``), less 5 s, and end every evaluation 5 s before that:
      at 30 s, a few seconds of search after its dummy model and meta-features, none under load.
    * The initial design starts with :func:`first_configuration` (:data:`FIRST_MODEL`), then auto-sklearn's
      default configuration and its meta-learning picks, as auto-sklearn orders them; until one evaluation
      has succeeded, evaluations have no per-run limit but SMAC's end (:func:`scored_first`).

    Called in the searching process (``n_jobs=1``), before SMAC's clock starts. ``log`` gets one line.
    """

    def __init__(self, end_at: float, choice_key: str, model: str, log: Any = None) -> None:
        self.end_at, self.choice_key, self.model, self.log = end_at, choice_key, model, log

    def __call__(self, scenario_dict: Dict[str, Any], seed: int, ta: Any, ta_kwargs: Dict[str, Any],
                 metalearning_configurations: List[Any], n_jobs: int, dask_client: Any,
                 multi_objective_algorithm: Any, multi_objective_kwargs: Dict[str, Any]) -> Any:
        from smac.facade.smac_ac_facade import SMAC4AC
        from smac.intensification.intensification import Intensifier
        from smac.intensification.simple_intensifier import SimpleIntensifier
        from smac.runhistory.runhistory2epm import RunHistory2EPM4LogCost
        from smac.scenario.scenario import Scenario

        left = self.end_at - time.monotonic()
        scenario_dict = dict(scenario_dict, wallclock_limit=max(1.0, left + SMAC_END_S))
        cs = scenario_dict["cs"]
        first = first_configuration(cs, self.choice_key, self.model)
        initial = ([first] if first is not None else []) + [cs.get_default_configuration()]
        initial += [c for c in metalearning_configurations if c not in initial]
        if self.log is not None:
            lead = self.model if first is not None else "its default"
            self.log(f"auto-sklearn: SMAC gets {left:.1f}s of evaluations (its wall-clock limit "
                     f"{scenario_dict['wallclock_limit']:.1f}s), first {lead}, then {len(initial) - 1} initial "
                     "configurations")
        scenario = Scenario(scenario_dict)
        intensifier = Intensifier if len(scenario_dict["instances"]) > 1 else SimpleIntensifier
        return SMAC4AC(scenario=scenario, rng=seed, runhistory2epm=RunHistory2EPM4LogCost,
                       tae_runner=scored_first(ta), tae_runner_kwargs=ta_kwargs, initial_configurations=initial,
                       run_id=seed, intensifier=intensifier, dask_client=dask_client, n_jobs=n_jobs,
                       multi_objective_algorithm=multi_objective_algorithm,
                       multi_objective_kwargs=multi_objective_kwargs)


class AutoSklearnAdapter(PickledModel, Adapter):
    name = "autosklearn"
    #: Why promotion refuses every auto-sklearn candidate (read by ``automux.governance.promote``).
    rebuild_refusal = (
        "auto-sklearn's candidates are its own component wrappers (autosklearn.pipeline: data preprocessing "
        "with minority coalescing and balancing, feature preprocessors, classifiers) and weighted ensembles of "
        "them, fitted with scikit-learn 0.24.2 in an isolated Python 3.9 env; promotion refits a rebuild in "
        "the main interpreter (its scikit-learn, not 0.24), where those components have no plain equivalent "
        "that reproduces the recorded fold scores")
    capabilities = Capabilities(
        tasks=("binary", "multiclass", "regression"),
        budget_modes=("trials", "seconds"),
        deterministic={"trials": True, "seconds": False},
        custom_folds=True, categorical=True, missing_values=True,
        produces="ensemble", interpretable=False,
        min_budget={"trials": 2, "seconds": 30},
        strengths=("thorough_search",),
    )
    environment = Environment(
        name="autosklearn", python="==3.9.*",
        requirements=("auto-sklearn==0.15.0", "scikit-learn==0.24.2", "numpy==1.23.5", "scipy==1.9.3",
                      "pandas==1.5.3", "dask==2022.12.1", "distributed==2022.12.1", "setuptools==69.5.1",
                      "pyarrow==21.0.0"),
        import_names=("autosklearn",),
    )

    def unavailable_reason(self) -> Optional[str]:
        from ..core.env.worker_env import unavailable_reason
        return unavailable_reason(self.environment)

    def check_options(self, options: Dict[str, Any]) -> None:
        from ..core.errors import SpecError

        for key, value in options.items():
            if key not in INT_OPTIONS:
                raise SpecError(f"autosklearn has no option {key!r}: its options are {', '.join(INT_OPTIONS)}")
            low = INT_OPTIONS[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SpecError(f"autosklearn option {key}={value!r}: give an integer >= {low}")

    def _estimator(self, task: SearchTask, tmp: Path) -> Any:
        from sklearn.model_selection import PredefinedSplit

        if task.task == "regression":
            from autosklearn.regression import AutoSklearnRegressor as Estimator
        else:
            from autosklearn.classification import AutoSklearnClassifier as Estimator
        opts = task.options
        fold_ids = np.empty(len(task.y), dtype=np.int64)
        for k, (_, valid) in enumerate(task.folds):
            fold_ids[valid] = k
        kwargs: Dict[str, Any] = {}
        if task.budget.trials is not None:
            n = int(task.budget.trials)
            meta = min(int(opts.get("metalearning", DEFAULT_METALEARNING)), n - 1)
            kwargs.update(smac_scenario_args={"runcount_limit": n}, initial_configurations_via_metalearning=meta)
            # the run's hard stop bounds the search, and each candidate gets its share of it (never 86400 s)
            seconds = int(max(30, min(COUNT_BUDGET_SECONDS, task.budget.cap_s - SECONDS_MARGIN)))
            per_run = int(opts.get("per_run_time_limit", max(10, min(COUNT_BUDGET_PER_RUN_S,
                                                                      task.budget.candidate_limit_s))))
        else:
            kwargs.update(initial_configurations_via_metalearning=int(opts.get("metalearning", DEFAULT_METALEARNING)))
            seconds = max(int(task.time_left()), 30)
            per_run = int(opts.get("per_run_time_limit", max(seconds // 4, 10)))
        if task.budget.seconds is not None and task.deadline is not None:
            if task.budget.trials is not None:
                seconds = max(int(task.time_left()), 30)
                per_run = min(per_run, max(seconds // 4, 10))
            key = "regressor" if task.task == "regression" else "classifier"
            kwargs["get_smac_object_callback"] = SmacOnTheDeadline(
                task.deadline - SECONDS_MARGIN, f"{key}:__choice__", FIRST_MODEL[key], log=task.log)
        return Estimator(
            time_left_for_this_task=seconds, per_run_time_limit=per_run, seed=int(task.seed) % MAXINT, n_jobs=1,
            memory_limit=int(opts.get("memory_limit", eval_memory_mb(task.memory_mb))), ensemble_nbest=int(opts.get("ensemble_nbest", 50)),
            resampling_strategy=PredefinedSplit(fold_ids), dataset_compression=False, metric=_scorer(task),
            tmp_folder=str(tmp), delete_tmp_folder_after_terminate=False, **kwargs)

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        """Import auto-sklearn (its estimator and metrics modules) before the budget clock starts."""
        if task.task == "regression":
            import autosklearn.regression  # noqa: F401 - seconds of import
        else:
            import autosklearn.classification  # noqa: F401
        import autosklearn.metrics  # noqa: F401
        return {}

    def search(self, task: SearchTask) -> SearchResult:
        tmp = Path(task.workdir) / "autosklearn"
        if tmp.exists():
            shutil.rmtree(tmp)
        est = self._estimator(task, tmp)
        X = task.X.reset_index(drop=True)
        task.log(f"auto-sklearn: fit with {est.get_params()['smac_scenario_args'] or 'a time budget'}, "
                 f"{est.time_left_for_this_task}s max, {len(task.folds)} predefined folds")
        with lean_autosklearn():
            est.fit(X, task.y)
        if est.get_params().get("get_smac_object_callback") is not None:  # holds a clock of this process only
            est.set_params(get_smac_object_callback=None)
            est.automl_._get_smac_object_callback = None
        self._report(task, est, tmp)
        if task.budget.seconds is not None and not task.finished():  # auto-sklearn would fall back to a dummy
            raise BudgetExhausted(f"no candidate finished within the seconds budget ({task.budget.seconds:g}s): "
                                  f"auto-sklearn scored none of its {len(task.candidates)} evaluations; "
                                  "give a larger --budget-seconds or fewer rows")
        members = self._ensemble(est)
        t0 = time.monotonic()
        est.refit(X, task.y)
        task.log(f"auto-sklearn: refit {len(members)} ensemble members on all rows in {time.monotonic() - t0:.1f}s")
        shutil.rmtree(tmp, ignore_errors=True)  # per-run models and predictions: consumed above
        by_num_run = {c.info.get("num_run"): c.index for c in task.candidates}
        ensemble = [{"candidate": by_num_run.get(num_run), "num_run": num_run, "weight": w}
                    for num_run, w in members]
        chosen = ensemble[0]["candidate"] if ensemble else task.best_index()
        return SearchResult(model={"estimator": est, "task": task.task, "n_classes": task.n_classes},
                            chosen=chosen, info={"ensemble": ensemble, "resampling": "PredefinedSplit"})

    @staticmethod
    def _ensemble(est: Any) -> List["tuple[int, float]"]:
        """(num_run, weight) of every ensemble member, heaviest first (ties by num_run)."""
        out = []
        try:
            for (_seed, num_run, _budget), w in est.automl_.ensemble_.get_identifiers_with_weights():
                if w > 0:
                    out.append((int(num_run), float(w)))
        except Exception:
            return []
        return sorted(out, key=lambda t: (-t[1], t[0]))

    def _report(self, task: SearchTask, est: Any, tmp: Path) -> None:
        """One candidate per SMAC run, in run order, with per-fold scores from its OOF predictions."""
        automl = est.automl_
        internals = tmp / ".auto-sklearn"
        order_ok = False
        targets = internals / "true_targets_ensemble.npy"
        if targets.is_file():
            t = np.asarray(np.load(str(targets), allow_pickle=True)).ravel()
            want = np.concatenate([task.y[valid] for _, valid in task.folds])
            order_ok = t.shape == want.shape and bool(np.allclose(t.astype(np.float64), want.astype(np.float64)))
        runhistory = automl.runhistory_
        rows = []
        for key, value in runhistory.data.items():
            info = value.additional_info or {}
            rows.append((info.get("num_run", MAXINT), key, value, info))
        rows.sort(key=lambda r: (r[0], r[1].config_id))
        seed = int(automl._seed)
        for num_run, key, value, info in rows:
            config = runhistory.ids_config[key.config_id].get_dictionary()
            choice_key = "regressor:__choice__" if task.task == "regression" else "classifier:__choice__"
            params = {k: _jsonable(v) for k, v in sorted(config.items())}
            steps = [str(config.get("data_preprocessor:__choice__", "")),
                     str(config.get("feature_preprocessor:__choice__", "")), str(config.get(choice_key, "?"))]
            status = getattr(value.status, "name", str(value.status))
            folds = (_oof_fold_scores(task, internals, seed, int(num_run), float(key.budget), order_ok)
                     if status == "SUCCESS" else [None] * len(task.folds))
            failed = {"error": _unscored_reason(status, info, order_ok)} if all(s is None for s in folds) else {}
            task.add_candidate(str(config.get(choice_key, "?")), params, folds, steps=steps, **failed,
                               fit_time_s=float(value.time) if value.time is not None else None,
                               num_run=int(num_run), autosklearn_status=status,
                               autosklearn_loss=_jsonable(value.cost), origin=info.get("configuration_origin"))

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        est = model["estimator"]
        X = X.reset_index(drop=True)
        if model["task"] == "regression":
            return np.asarray(est.predict(X), dtype=np.float64).ravel()
        proba = np.asarray(est.predict_proba(X), dtype=np.float64)
        out = np.zeros((len(X), model["n_classes"]), dtype=np.float64)
        for j, cls in enumerate(est.classes_):
            out[:, int(cls)] = proba[:, j]
        return out


@hookimpl
def automux_adapters() -> List[Adapter]:
    return [AutoSklearnAdapter()]
