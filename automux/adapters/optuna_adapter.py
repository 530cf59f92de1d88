"""The Optuna adapter: TPE over a documented space of scikit-learn and LightGBM models.

How it searches
---------------
One Optuna study per run, ``TPESampler(seed=task.seed)`` (Optuna's defaults
otherwise: 10 random start-up trials, then TPE), ``n_jobs=1``. Every trial
builds a scikit-learn ``Pipeline([prep, model])`` (``prep`` is
:func:`automux.core.sklearn_kit.preprocessor`: median-impute + scale numeric
columns, most-frequent-impute + one-hot categorical ones), scores it on the
spec's folds with automux's metric (``task.cross_validate``), and reports it as
a candidate. The objective Optuna sees is the mean fold score; the study's
direction follows the metric. Trial 0 is always the linear baseline with default
regularisation (enqueued), so even the tightest budget yields a cheap, sane
candidate. The best candidate (``task.best_index()``) is refit on all
training rows.

Search space (part of the contract: a change here changes every run's results)
------------------------------------------------------------------------------
``algorithm`` in ``linear``, ``random_forest``, ``extra_trees``, ``lightgbm``; then,
conditional on it (Optuna parameter names are prefixed ``<algorithm>.``; the
candidate records them without the prefix):

=============== ==================== ===============================================
algorithm       parameter            range
=============== ==================== ===============================================
linear          C (classification)   float 1e-3 .. 1e2, log  (LogisticRegression)
linear          alpha (regression)   float 1e-3 .. 1e3, log  (Ridge)
random_forest,  n_estimators         int 50 .. 300, step 50
extra_trees     max_depth            int 2 .. 32, log
                min_samples_leaf     int 1 .. 20, log
                max_features         float 0.1 .. 1.0 (share of features)
lightgbm        n_estimators         int 25 .. 400, log
                learning_rate        float 0.01 .. 0.3, log
                num_leaves           int 4 .. 128, log
                min_child_samples    int 5 .. 100, log
                subsample            float 0.5 .. 1.0 (bagging every iteration)
                colsample_bytree     float 0.5 .. 1.0
                reg_lambda           float 1e-8 .. 10, log
=============== ==================== ===============================================

Every model is single-threaded and seeded with ``task.seed``; LightGBM runs with
``deterministic=True, force_row_wise=True, verbose=-1``.

Budgets
-------
``budget.trials`` is Optuna's ``n_trials``. Under ``budget.seconds`` the study's
``timeout`` is the time left when it starts (at least 1 s, so the baseline always
starts), a callback stops it once the search deadline has passed, and a trial
still running then is cut (``SearchTask.cross_validate(stop_at_deadline=True)``:
between folds when its pace projects past the deadline, inside a fold by a timer)
and recorded by Optuna as pruned (not a candidate). The search deadline is the
budget's deadline less the refit time of the best trial so far, so the run ends
``ok`` with the best finished trial refit on all rows (:meth:`SearchTask.choose`
prefers one whose refit fits). The first trial may use half the grace; if even it
cannot finish, the run raises ``BudgetExhausted`` (status ``timeout``).

Out-of-fold predictions of the chosen trial come from its own fold models
(``SearchResult.oof``): no second training.

Options (``task.options``, i.e. ``--option KEY=VALUE``)
-------------------------------------------------------
``storage``
    An Optuna RDB URL (``sqlite:///path/study.db``, ``postgresql://...``).
    The study is created or loaded (``load_if_exists``), so several processes or
    machines running the same spec share its trials: TPE then learns from all
    of them. Each run still reports, and chooses among, only its own trials.
    A run on a shared study is not repeatable (it depends on what the study
    held), and the record's ``info`` says so.
``study_name``
    Name of the shared study. Default: ``automux-<task>-<context>-s<seed>``,
    where ``<context>`` fingerprints the training data, folds and metric, so
    the same spec lands in the same study and a different one never does. A
    named study created by automux for other data, folds or metric is refused.
``worker``
    Integer (default 0) that processes sharing one study at the same time must
    set to distinct values; it shifts the sampler seed so they do not propose
    the same start-up trials. The sampler seed on a shared study is
    ``task.seed + trials already in the study + 1000003 * worker``; on a fresh
    in-memory study it is exactly ``task.seed``.
``n_jobs``
    Only 1 is accepted: parallel trials in one process break determinism.
    Scale out with ``storage`` instead.
"""
from __future__ import annotations

import hashlib
import time
from typing import Any, Dict, List, Tuple

import numpy as np
import pandas as pd

from ..core.adapter import Adapter, SearchResult, SearchTask
from ..core.capabilities import Capabilities, Environment
from ..core.errors import BudgetExhausted, SpecError
from ..core.hookspecs import hookimpl
from ..core.imports import try_import
from ..core.sklearn_kit import PickledModel

ALGORITHMS = ("linear", "random_forest", "extra_trees", "lightgbm")
OPTIONS = ("storage", "study_name", "worker", "n_jobs")
#: The enqueued first trial: a linear model with default regularisation.
BASELINE = {"classification": {"algorithm": "linear", "linear.C": 1.0},
            "regression": {"algorithm": "linear", "linear.alpha": 1.0}}
CONTEXT_ATTR = "automux_context"
WORKER_SEED_STRIDE = 1000003
STORAGE_ATTEMPTS = 5


def suggest(trial: Any, task: str) -> Tuple[str, Dict[str, Any]]:
    """Sample one point of the search space: (algorithm, unprefixed params)."""
    algo = trial.suggest_categorical("algorithm", list(ALGORITHMS))
    if algo == "linear":
        if task == "regression":
            return algo, {"alpha": trial.suggest_float("linear.alpha", 1e-3, 1e3, log=True)}
        return algo, {"C": trial.suggest_float("linear.C", 1e-3, 1e2, log=True)}
    if algo in ("random_forest", "extra_trees"):
        return algo, {
            "n_estimators": trial.suggest_int(f"{algo}.n_estimators", 50, 300, step=50),
            "max_depth": trial.suggest_int(f"{algo}.max_depth", 2, 32, log=True),
            "min_samples_leaf": trial.suggest_int(f"{algo}.min_samples_leaf", 1, 20, log=True),
            "max_features": trial.suggest_float(f"{algo}.max_features", 0.1, 1.0),
        }
    return algo, {
        "n_estimators": trial.suggest_int("lightgbm.n_estimators", 25, 400, log=True),
        "learning_rate": trial.suggest_float("lightgbm.learning_rate", 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int("lightgbm.num_leaves", 4, 128, log=True),
        "min_child_samples": trial.suggest_int("lightgbm.min_child_samples", 5, 100, log=True),
        "subsample": trial.suggest_float("lightgbm.subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("lightgbm.colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("lightgbm.reg_lambda", 1e-8, 10.0, log=True),
    }


def build_model(algorithm: str, params: Dict[str, Any], task: str, X: pd.DataFrame, seed: int,
                n_jobs: int = 1) -> Any:
    """The scikit-learn pipeline for one candidate (also how to rebuild it explicitly).

    ``X`` is the training frame as the worker gets it (categoricals as
    ``pd.Categorical``): it decides which columns are one-hot encoded.
    """
    from sklearn.pipeline import Pipeline

    from ..core.sklearn_kit import preprocessor

    reg = task == "regression"
    if algorithm == "linear":
        from sklearn.linear_model import LogisticRegression, Ridge
        est = Ridge(alpha=params["alpha"], random_state=seed) if reg else \
            LogisticRegression(C=params["C"], max_iter=2000, random_state=seed)
    elif algorithm in ("random_forest", "extra_trees"):
        from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier,
                                      RandomForestRegressor)
        classes = {("random_forest", False): RandomForestClassifier, ("random_forest", True): RandomForestRegressor,
                   ("extra_trees", False): ExtraTreesClassifier, ("extra_trees", True): ExtraTreesRegressor}
        est = classes[(algorithm, reg)](
            n_estimators=params["n_estimators"], max_depth=params["max_depth"],
            min_samples_leaf=params["min_samples_leaf"], max_features=params["max_features"],
            random_state=seed, n_jobs=n_jobs)
    elif algorithm == "lightgbm":
        from lightgbm import LGBMClassifier, LGBMRegressor
        cls = LGBMRegressor if reg else LGBMClassifier
        est = cls(subsample_freq=1, random_state=seed, n_jobs=n_jobs, deterministic=True, force_row_wise=True,
                  verbose=-1, **params)
    else:
        raise ValueError(f"unknown optuna-adapter algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
    return Pipeline([("prep", preprocessor(X)), ("model", est)])


def context_fingerprint(task: SearchTask) -> str:
    """sha256 over training data, target, folds, metric and task: what a shared study must agree on."""
    h = hashlib.sha256()
    h.update(f"{task.task}|{task.metric.name}|{list(map(str, task.X.columns))}".encode())
    h.update(pd.util.hash_pandas_object(task.X, index=False).to_numpy().tobytes())
    h.update(np.ascontiguousarray(task.y).astype(np.float64).tobytes())
    for _, valid in task.folds:
        h.update(np.asarray(valid, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()


def parse_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """Validated options with defaults.

    Raises:
        SpecError: an unknown option, ``n_jobs`` other than 1, a malformed
            ``storage`` / ``study_name`` / ``worker``.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise SpecError(f"unknown optuna option(s) {', '.join(unknown)} (known: {', '.join(OPTIONS)})")
    n_jobs = options.get("n_jobs", 1)
    if n_jobs != 1:
        raise SpecError(f"optuna option n_jobs={n_jobs!r}: only 1 keeps runs deterministic; "
                        "share a study across processes with storage=URL instead")
    storage = options.get("storage")
    if storage is not None and (not isinstance(storage, str) or "://" not in storage):
        raise SpecError(f"optuna option storage={storage!r}: give an RDB URL such as sqlite:///path/study.db")
    name = options.get("study_name")
    if name is not None and (not isinstance(name, str) or not name):
        raise SpecError(f"optuna option study_name={name!r}: give a non-empty string")
    worker = options.get("worker", 0)
    if isinstance(worker, bool) or not isinstance(worker, int) or worker < 0:
        raise SpecError(f"optuna option worker={worker!r}: give an integer >= 0")
    return {"storage": storage, "study_name": name, "worker": worker}


def _redacted(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL fails at open time with its own message
        return url


def _create_or_load(storage: str, name: str, direction: str) -> Any:
    """``create_study(load_if_exists=True)``, retried a few times.

    Processes that open one fresh database at the same moment race to create
    Optuna's schema (optuna/optuna#4621: ``UNIQUE constraint failed:
    alembic_version``); the loser succeeds on a retry, once the schema exists.
    """
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(STORAGE_ATTEMPTS):
        try:
            return optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True)
        except SQLAlchemyError as e:
            if attempt + 1 < STORAGE_ATTEMPTS:
                time.sleep(0.25 * (attempt + 1))
                continue
            raise SpecError(f"cannot open Optuna storage {_redacted(storage)}: {type(e).__name__}: {e}") from e
        except Exception as e:
            raise SpecError(f"cannot open Optuna storage {_redacted(storage)}: {type(e).__name__}: {e}") from e


def open_study(task: SearchTask, opts: Dict[str, Any]) -> Tuple[Any, Dict[str, Any]]:
    """The study for this run (in memory, or created/loaded in ``storage``) and what to record about it.

    Raises:
        SpecError: the storage cannot be opened, or the named study belongs to
            other data / folds / metric or optimises the other direction.
    """
    import optuna

    direction = "maximize" if task.metric.greater_is_better else "minimize"
    storage = opts["storage"]
    if storage is None:
        sampler = optuna.samplers.TPESampler(seed=task.seed)
        return optuna.create_study(sampler=sampler, direction=direction), {"sampler_seed": task.seed}
    context = context_fingerprint(task)
    name = opts["study_name"] or f"automux-{task.task}-{context[:12]}-s{task.seed}"
    probe = _create_or_load(storage, name, direction)
    if probe.direction.name.lower() != direction:
        raise SpecError(f"Optuna study {name!r} in {_redacted(storage)} is set to {probe.direction.name.lower()}, "
                        f"but metric {task.metric.name} needs {direction}: pick another study_name")
    recorded = probe.user_attrs.get(CONTEXT_ATTR)
    if recorded is None:
        probe.set_user_attr(CONTEXT_ATTR, context)
    elif recorded != context:
        raise SpecError(f"Optuna study {name!r} in {_redacted(storage)} was made for other data, folds or "
                        "metric: its scores cannot be mixed with this run's; pick another study_name")
    existing = len(probe.get_trials(deepcopy=False))
    seed = (task.seed + existing + WORKER_SEED_STRIDE * opts["worker"]) % (2 ** 32)
    study = optuna.load_study(study_name=name, storage=storage,
                              sampler=optuna.samplers.TPESampler(seed=seed))
    return study, {"sampler_seed": seed, "study_name": name, "storage": _redacted(storage),
                   "trials_before": existing, "note": "shared study: not repeatable"}


class OptunaAdapter(PickledModel, Adapter):
    """Optuna TPE over scikit-learn and LightGBM pipelines; see the module docstring for the space."""

    name = "optuna"
    capabilities = Capabilities(
        tasks=("binary", "multiclass", "regression"),
        budget_modes=("trials", "seconds"),
        deterministic={"trials": True, "seconds": False},
        # measured by the contracts' two-core check: LightGBM / the forests at n_jobs=2 did not repeat
        deterministic_multicore={"trials": False, "seconds": False},
        custom_folds=True, categorical=True, missing_values=True,
        produces="single", interpretable=False,
        min_budget={"trials": 10, "seconds": 30},
        distributed="optuna-rdb",
        strengths=("fine_control_low_budget", "distributed"),
    )
    environment = Environment(name="main", python=">=3.9",
                              requirements=("scikit-learn>=1.3", "optuna>=4.0", "lightgbm>=4.0"),
                              import_names=("optuna", "sklearn", "lightgbm"), extra="optuna")

    def check_options(self, options: Dict[str, Any]) -> None:
        """Bad options are user errors, refused in the parent before a worker starts."""
        parse_options(options)

    def validate(self, task: SearchTask) -> None:
        """The base checks, then the options (before any backend import).

        Raises:
            UnsupportedTask, UnsupportedData: see :meth:`Adapter.validate`.
            SpecError: see :func:`parse_options`.
        """
        super().validate(task)
        parse_options(task.options)

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        """Import Optuna, scikit-learn's pipeline pieces and LightGBM before the budget clock starts."""
        t0 = time.monotonic()
        try_import("lightgbm", "optuna", purpose="the optuna backend")
        optuna = try_import("optuna", "optuna", purpose="the optuna backend")
        import sklearn.compose  # noqa: F401
        import sklearn.ensemble  # noqa: F401
        import sklearn.linear_model  # noqa: F401
        import sklearn.pipeline  # noqa: F401
        import sklearn.preprocessing  # noqa: F401
        return {"imports_s": round(time.monotonic() - t0, 3), "optuna_version": optuna.__version__}

    def search(self, task: SearchTask) -> SearchResult:
        t_import = time.monotonic()
        import optuna
        import sklearn.pipeline  # noqa: F401  (scipy + sklearn: the bulk of start-up)

        from ..core.adapter import TrialOutOfTime
        from ..core.sklearn_kit import predict_output, to_sklearn_frame

        opts = parse_options(task.options)
        task.log(f"optuna {optuna.__version__}: imports took {time.monotonic() - t_import:.1f}s"
                 " (after start_up: already loaded)")
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study, info = open_study(task, opts)
            if not study.get_trials(deepcopy=False):
                kind = "regression" if task.task == "regression" else "classification"
                study.enqueue_trial(BASELINE[kind], skip_if_exists=True)
            n_folds = len(task.folds)

            def objective(trial: Any) -> float:
                algo, params = suggest(trial, task.task)
                steps = ["ColumnTransformer", algo]
                t0 = time.monotonic()

                def fit_predict(Xf: pd.DataFrame, yf: np.ndarray, Xv: pd.DataFrame) -> np.ndarray:
                    model = build_model(algo, params, task.task, Xf, task.seed, task.cores)
                    model.fit(to_sklearn_frame(Xf), yf)
                    steps[1] = type(model.steps[-1][1]).__name__
                    return predict_output(model, Xv, task.task, task.n_classes)

                try:
                    scores, oof = task.cross_validate(fit_predict, return_oof=True, stop_at_deadline=True)
                except TrialOutOfTime as e:
                    if task.search_time_left() <= 0:  # the budget is spent; a projected overrun only prunes
                        trial.study.stop()  # this trial, and cheaper ones may still fit in what is left
                    task.log(f"trial {trial.number} {algo} cut: {e}")
                    raise optuna.TrialPruned("the time budget ended inside this trial")
                except BudgetExhausted:
                    raise
                except Exception as e:  # a failing configuration is a candidate with no scores
                    error = f"{type(e).__name__}: {e}"
                    task.add_candidate(algo, params, [None] * n_folds, steps=steps,
                                       fit_time_s=time.monotonic() - t0, trial=trial.number, error=error)
                    task.log(f"trial {trial.number} {algo} failed: {error}")
                    return float("nan")  # Optuna records the trial as failed
                cand = task.add_candidate(algo, params, scores, steps=steps, fit_time_s=time.monotonic() - t0,
                                          trial=trial.number)
                task.keep_oof(cand, oof)
                task.log(f"trial {trial.number} {algo}: {task.metric.name}={cand.cv_score:.6g}")
                return float(cand.cv_score)

            def stop_when_budget_spent(study_: Any, _trial: Any) -> None:
                if task.trials_left() <= 0 or task.search_time_left() <= 0:
                    study_.stop()

            n_trials = task.budget.trials
            timeout = None if task.deadline is None else max(1.0, task.time_left())
            study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[stop_when_budget_spent],
                           n_jobs=1, gc_after_trial=False, show_progress_bar=False)
        finally:
            optuna.logging.set_verbosity(verbosity)

        chosen = task.choose()
        if chosen is None:
            errors = [c.info.get("error") for c in task.candidates if c.info.get("error")]
            raise RuntimeError(f"no trial could be scored ({len(task.candidates)} tried)"
                               + (f"; first error: {errors[0]}" if errors else ""))
        best = task.candidates[chosen]
        model = build_model(best.algorithm, best.params, task.task, task.X, task.seed, task.cores)
        model.fit(to_sklearn_frame(task.X), task.y)
        info.update(n_trials_run=len(task.candidates), optuna_version=optuna.__version__)
        return SearchResult(model={"model": model, "task": task.task, "n_classes": task.n_classes},
                            chosen=chosen, info=info, oof=task.oof_for(chosen))

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        from ..core.sklearn_kit import predict_output
        return predict_output(model["model"], X, model["task"], model["n_classes"])


    def candidate_source(self, candidate: Any, task: str, columns: Dict[str, str], seed: int) -> Any:
        """The same pipeline as :func:`build_model`, as a stand-alone scikit-learn / LightGBM file."""
        reg = task == "regression"
        algo, p = candidate.algorithm, dict(candidate.params)
        if algo == "linear":
            cls = "Ridge" if reg else "LogisticRegression"
            imports = f"from sklearn.linear_model import {cls}"
            model = f"Ridge(alpha={p['alpha']!r}, random_state=seed)" if reg else \
                f"LogisticRegression(C={p['C']!r}, max_iter=2000, random_state=seed)"
        elif algo in ("random_forest", "extra_trees"):
            cls = ("RandomForest" if algo == "random_forest" else "ExtraTrees") + ("Regressor" if reg else "Classifier")
            imports = f"from sklearn.ensemble import {cls}"
            model = (f"{cls}(n_estimators={p['n_estimators']!r}, max_depth={p['max_depth']!r}, "
                     f"min_samples_leaf={p['min_samples_leaf']!r}, max_features={p['max_features']!r}, "
                     "random_state=seed, n_jobs=1)")
        elif algo == "lightgbm":
            cls = "LGBMRegressor" if reg else "LGBMClassifier"
            imports = f"from lightgbm import {cls}"
            args = "".join(f"        {k}={p[k]!r},\n" for k in sorted(p))
            model = (f"{cls}(\n{args}        subsample_freq=1, random_state=seed, n_jobs=1, deterministic=True,\n"
                     "        force_row_wise=True, verbose=-1)")
        else:
            return None
        from ..core.sklearn_kit import pipeline_source
        title = (f"{algo} ({task}) found by Optuna, rebuilt with scikit-learn"
                 + (" and LightGBM alone." if algo == "lightgbm" else " alone."))
        return pipeline_source(title, imports, model, columns, seed)


@hookimpl
def automux_adapters() -> List[Adapter]:
    return [OptunaAdapter()]
