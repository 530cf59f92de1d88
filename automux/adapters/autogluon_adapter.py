"""The AutoGluon 1.6.3 adapter (``autogluon.tabular``): runs in its own env (Python 3.11, pandas < 3).

Search, with ``TabularPredictor`` in the scratch directory:

* automux's folds: bagging over a given ``groups`` column that holds each
  training row's validation-fold number (``num_bag_folds`` = the spec's folds,
  ``num_stack_levels=0``), so every bagged model's out-of-fold predictions are
  on exactly the spec's folds; the adapter scores them itself with automux's
  metric, fold by fold (``custom_folds=True``, honestly);
* seed: ``ag_args_ensemble={"model_random_seed": task.seed}``: fold model k of
  every bagged model gets seed + k as its own seed (LightGBM, XGBoost, CatBoost,
  the forests; ``fit`` has no seed keyword in 1.6.3); fold fitting is sequential (no Ray in the
  env), ``num_cpus`` from the ``num_cpus`` option, else ``task.cores`` when the
  spec has it, else 1; ``memory_limit`` (AutoGluon's soft limit, GB) = the spec's
  ``--memory`` when set;
* start-up: ``start_up`` imports ``autogluon.tabular`` and its learners' libraries
  before the budget clock starts;
* count budget N: the first N entries of :data:`MODEL_CONFIGS` (an explicit
  list, cheap first), one bagged model each, no weighted ensemble; the chosen
  one is the best by automux's metric on the folds; deterministic;
* seconds budget: ``time_limit`` = the seconds left less :data:`SECONDS_MARGIN` (at least
  :data:`MIN_SHARE` of them), with
  ``presets`` (option, default ``medium_quality``) over AutoGluon's own model
  zoo, still bagged on automux's folds; the chosen model is AutoGluon's best
  (usually ``WeightedEnsemble_L2``); not deterministic (wall time decides what
  is trained); a fit that returns over 1 s before its ``time_limit`` (AutoGluon had
  nothing left to train) says so in ``search_info.search_ended``.

Candidates: every model AutoGluon trained, in training order, with per-fold
scores from its out-of-fold predictions; the chosen one's out-of-fold
predictions are returned as ``SearchResult.oof``. The returned model is the chosen
bagged model: the average of its fold models, each fit on the other folds'
rows (AutoGluon does not refit on all rows unless ``refit_full=true``, which
refits the chosen one on every row and returns that instead).

``save`` moves the predictor directory out of the scratch dir into the model
directory (no second copy on disk) and reloads it from there.

Options: ``presets`` (str, seconds budget), ``num_cpus`` (int >= 1),
``refit_full`` (bool), ``models`` (list of :data:`MODEL_CONFIGS` names, in order).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..core.adapter import Adapter, SearchResult, SearchTask
from ..core.capabilities import Capabilities, Environment
from ..core.hookspecs import hookimpl

#: The count budget's model list, in order: (candidate name, AutoGluon model key, hyperparameters).
MODEL_CONFIGS: Tuple[Tuple[str, str, Dict[str, Any]], ...] = (
    ("lightgbm", "GBM", {"num_boost_round": 200}),
    ("random_forest", "RF", {"n_estimators": 100}),
    ("catboost", "CAT", {"iterations": 200}),
    ("xgboost", "XGB", {"n_estimators": 200}),
    ("extra_trees", "XT", {"n_estimators": 100}),
    ("linear", "LR", {}),
    ("lightgbm_xt", "GBM", {"num_boost_round": 200, "extra_trees": True}),
    ("knn", "KNN", {}),
)
PRESETS = ("medium_quality", "good_quality", "high_quality", "best_quality", "optimize_for_deployment")
#: Seconds of a seconds budget kept back from ``fit``'s ``time_limit`` for what follows inside the budget:
#: AutoGluon's own overrun of ``time_limit`` (the bagged fold in flight, the weighted ensemble) and the
#: adapter's out-of-fold scoring, leaderboard and model deletion. Saving and the hold-out predictions come
#: after the search, in the grace. Measured on breast_cancer at 30 s: see benchmarks/perf/results/budget_fairness.md.
SECONDS_MARGIN = 2.0
#: ... and at least this share of the seconds left goes to ``fit`` whatever the margin.
MIN_SHARE = 0.5
MODEL_DIR = "autogluon_predictor"
TARGET = "__automux_target__"
FOLD = "__automux_fold__"
#: automux metric -> AutoGluon eval_metric (what AutoGluon ranks and ensembles with).
AG_METRICS = {"roc_auc": "roc_auc", "log_loss": "log_loss", "accuracy": "accuracy",
              "balanced_accuracy": "balanced_accuracy", "rmse": "root_mean_squared_error",
              "mae": "mean_absolute_error", "r2": "r2"}


def _ended(fit_args: Dict[str, Any], fit_s: float) -> Dict[str, str]:
    """``search_ended``: why a seconds-budget search ended before its time limit (more than 1 s or 3 % of it
    unused: AutoGluon stopped on its own, with no model of its presets left that it expected to finish in the
    time left), else nothing. On breast_cancer at 30 s its fit returns after 25-27 s of a 28 s limit with
    every default model trained."""
    limit = fit_args.get("time_limit")
    if limit is None or fit_s >= limit - max(1.0, 0.03 * limit):
        return {}
    return {"search_ended": f"AutoGluon's fit returned after {fit_s:.1f}s of its {limit:.1f}s time_limit: "
                            f"nothing left to try (every model of presets={fit_args.get('presets')!r} that it "
                            "could start in the time left was trained)"}


def _threads(task: SearchTask) -> int:
    n = task.options.get("num_cpus")
    if n is None:
        n = getattr(task, "cores", None)  # a ``cores`` field the spec may gain; absent today
    return max(1, int(n or 1))


def _configs(task: SearchTask) -> List[Tuple[str, str, Dict[str, Any]]]:
    names = task.options.get("models")
    by_name = {c[0]: c for c in MODEL_CONFIGS}
    plan = [by_name[n] for n in names] if names else list(MODEL_CONFIGS)
    if task.budget.trials is not None:
        plan = plan[: int(task.budget.trials)]
    return plan


class AutoGluonAdapter(Adapter):
    name = "autogluon"
    #: Why promotion refuses every AutoGluon candidate (see docs/governance.md).
    rebuild_refusal = ("AutoGluon's candidates are bagged: each is k fold models inside AutoGluon's own model "
                       "wrappers (its feature generators, early stopping on each fold's hold-out, its own "
                       "categorical handling), fitted in its isolated env; a plain LightGBM / XGBoost / CatBoost "
                       "file would not reproduce their fold scores, so no explicit rebuild is written")
    capabilities = Capabilities(
        tasks=("binary", "multiclass", "regression"),
        budget_modes=("trials", "seconds"),
        deterministic={"trials": True, "seconds": False},
        custom_folds=True, categorical=True, missing_values=True,
        produces="ensemble", interpretable=False,
        min_budget={"trials": 1, "seconds": 30},
        seeded=True,
        strengths=("thorough_search", "categorical_native", "large_data"),
    )
    environment = Environment(
        name="autogluon", python="==3.11.*",
        requirements=("autogluon.tabular[lightgbm,xgboost,catboost]==1.6.3", "pandas==2.3.3"),
        import_names=("autogluon.tabular",),
    )
    accepted_options = ("presets", "num_cpus", "refit_full", "models")

    def check_options(self, options: Dict[str, Any]) -> None:
        from ..core.errors import SpecError

        super().check_options(options)
        if "presets" in options and options["presets"] not in PRESETS:
            raise SpecError(f"autogluon option presets={options['presets']!r}: use one of {', '.join(PRESETS)}")
        n = options.get("num_cpus")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise SpecError(f"autogluon option num_cpus={n!r}: give an integer >= 1")
        if "refit_full" in options and not isinstance(options["refit_full"], bool):
            raise SpecError("autogluon option refit_full: give true or false")
        models = options.get("models")
        known = [c[0] for c in MODEL_CONFIGS]
        if models is not None and (not isinstance(models, list) or not models
                                   or any(m not in known for m in models)):
            raise SpecError(f"autogluon option models={models!r}: give a non-empty list of {', '.join(known)}")

    # ------------------------------------------------------------------ search

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        """Import ``autogluon.tabular`` (and its learners' libraries) before the budget clock starts."""
        import autogluon.tabular  # noqa: F401 - seconds of import
        for lib in ("lightgbm", "xgboost", "catboost"):  # AutoGluon imports them lazily, at their first fit
            try:
                __import__(lib)
            except ImportError:
                pass
        return {}

    def search(self, task: SearchTask) -> SearchResult:
        from autogluon.tabular import TabularPredictor  # start_up imported it, unless it was not called

        regression = task.task == "regression"
        fold_of = np.empty(len(task.X), dtype=np.int64)
        for k, (_, valid) in enumerate(task.folds):
            fold_of[valid] = k
        train = task.X.reset_index(drop=True).copy()
        train[TARGET] = task.y if regression else np.asarray(task.y, dtype=np.int64)
        train[FOLD] = fold_of
        path = Path(task.workdir) / MODEL_DIR
        predictor = TabularPredictor(label=TARGET, problem_type=task.task, eval_metric=AG_METRICS[task.metric.name],
                                     groups=FOLD, path=str(path), verbosity=1)
        threads = _threads(task)
        fit_args: Dict[str, Any] = dict(num_bag_folds=len(task.folds), num_bag_sets=1, num_stack_levels=0,
                                        ag_args_fit={"num_cpus": threads, "num_gpus": 0},
                                        ag_args_ensemble={"fold_fitting_strategy": "sequential_local",
                                                          "model_random_seed": int(task.seed) % (2 ** 31)},
                                        num_cpus=threads, num_gpus=0)
        if task.memory_mb:  # AutoGluon's own (soft) limit, in GB: it skips or stops models expected to exceed it
            fit_args["memory_limit"] = round(task.memory_mb / 1024.0, 3)
        plan = _configs(task) if task.budget.mode == "trials" or task.budget.trials is not None else []
        if task.budget.seconds is not None:
            left = task.time_left()
            fit_args["time_limit"] = max(5.0, left - SECONDS_MARGIN, left * MIN_SHARE)
        if plan:
            hyper: Dict[str, List[Dict[str, Any]]] = {}
            for i, (cname, key, params) in enumerate(plan):
                hyper.setdefault(key, []).append(dict(params, ag_args={"name": f"c{i}_{cname}",
                                                                        "priority": 1000 - i}))
            fit_args.update(hyperparameters=hyper, fit_weighted_ensemble=False)
        else:
            fit_args["presets"] = task.options.get("presets", "medium_quality")
        t0 = time.monotonic()
        task.log(f"autogluon: fit with {', '.join(c[0] for c in plan) or fit_args.get('presets')} on "
                 f"{len(task.folds)} given folds, {threads} cpu(s)")
        predictor.fit(train, **fit_args)
        t_fit = time.monotonic()
        names = self._trained(predictor, plan)
        oofs = {n: self._oof(predictor, n, task) for n in names}
        scores = {n: self._fold_scores(oofs[n], task, fold_of) for n in names}
        fit_times = self._fit_times(predictor)
        post_s = time.monotonic() - t_fit
        task.log(f"autogluon: fit {t_fit - t0:.1f}s (time_limit {fit_args.get('time_limit') or 0:.1f}s), "
                 f"out-of-fold scores of {len(names)} models {post_s:.1f}s")
        for n in names:
            algorithm = n.split("_", 1)[1].rsplit("_BAG", 1)[0] if n.startswith("c") and "_" in n else n
            fit_s = fit_times.get(n)
            task.add_candidate(algorithm, {"model": n}, scores[n], steps=[n], fit_time_s=fit_s)
        if plan:
            chosen = task.best_index()
            if chosen is None:
                raise RuntimeError("autogluon trained no model that could be scored on the folds")
            best = names[chosen]
            predictor.set_model_best(best, save_trainer=True)
        else:
            best = predictor.model_best
            chosen = names.index(best) if best in names else task.best_index()
        oof = oofs.get(best)  # the chosen bagged model's out-of-fold predictions: on exactly the spec's folds
        if task.options.get("refit_full"):
            refit = predictor.refit_full(model=best)
            best = refit.get(best, best)
            predictor.set_model_best(best, save_trainer=True)
        try:  # disk use only: the store keeps the chosen model
            predictor.delete_models(models_to_keep=[best], dry_run=False)
        except Exception as e:
            task.log(f"autogluon: could not delete unused models: {e}")
        return SearchResult(model={"predictor": predictor, "path": str(path), "task": task.task,
                                   "n_classes": task.n_classes},
                            chosen=chosen, oof=oof, info={"model": best, "fit_s": round(time.monotonic() - t0, 2),
                                                 "num_cpus": threads, "presets": fit_args.get("presets"),
                                                 "memory_limit_gb": fit_args.get("memory_limit"),
                                                 "refit_full": bool(task.options.get("refit_full")),
                                                 "time_limit_s": fit_args.get("time_limit"),
                                                 "fit_only_s": round(t_fit - t0, 2), "after_fit_s": round(post_s, 2),
                                                 **_ended(fit_args, t_fit - t0)})

    @staticmethod
    def _trained(predictor: Any, plan: List[Tuple[str, str, Dict[str, Any]]]) -> List[str]:
        """Model names in a fixed order: the plan's order under a count budget, else training order."""
        names = list(predictor.model_names())
        if plan:
            ordered = []
            for i in range(len(plan)):
                ordered += sorted(n for n in names if n.startswith(f"c{i}_"))
            return ordered
        try:  # the leaderboard reads the model graph; ``predictor.info()`` loads and sizes every model (17.5 s
            # for 3 models at load 11, most of the time between fit's return and the end of the search)
            lb = predictor.leaderboard(skip_score=True)
            level = {str(m): int(v) for m, v in zip(lb["model"], lb["stack_level"]) if pd.notna(v)}
        except Exception:
            level = {}
        return sorted(names, key=lambda n: (level.get(n, 1), names.index(n)))

    @staticmethod
    def _fit_times(predictor: Any) -> Dict[str, float]:
        """Each model's own fit seconds, from the leaderboard (read from the model graph: unlike
        ``predictor.info()``, which loads and sizes every model, 11 s for 6 models on a loaded machine)."""
        try:
            lb = predictor.leaderboard(skip_score=True)
            return {str(m): float(t) for m, t in zip(lb["model"], lb["fit_time_marginal"]) if pd.notna(t)}
        except Exception:
            return {}

    @staticmethod
    def _oof(predictor: Any, name: str, task: SearchTask) -> Optional[np.ndarray]:
        """The model's out-of-fold predictions in automux's format (row order of ``task.X``), or None."""
        try:
            if task.task == "regression":
                return predictor.predict_oof(model=name).to_numpy(dtype=np.float64)
            return _proba_matrix(predictor.predict_proba_oof(model=name), task.n_classes)
        except Exception:
            return None

    @staticmethod
    def _fold_scores(oof: Optional[np.ndarray], task: SearchTask, fold_of: np.ndarray) -> List[Optional[float]]:
        """automux's metric on each given fold, from the model's out-of-fold predictions."""
        if oof is None:  # no out-of-fold predictions: every fold failed (NaN marks the candidate failed)
            return [float("nan")] * len(task.folds)
        out: List[Optional[float]] = []
        for k in range(len(task.folds)):
            rows = fold_of == k
            s = task.metric(task.y[rows], oof[rows])
            out.append(float(s))  # NaN stays NaN: the candidate records the fold as failed
        return out

    # ------------------------------------------------------------------ model

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        predictor = model["predictor"]
        X = X.reset_index(drop=True)
        if model["task"] == "regression":
            return np.asarray(predictor.predict(X), dtype=np.float64).ravel()
        return _proba_matrix(predictor.predict_proba(X), model["n_classes"])

    def save(self, model: Any, path: Path) -> None:
        from autogluon.tabular import TabularPredictor

        target = Path(path) / MODEL_DIR
        src = Path(model["path"])
        if src.resolve() != target.resolve():
            shutil.move(str(src), str(target))
        model["predictor"] = TabularPredictor.load(str(target), verbosity=0, require_py_version_match=False)
        model["path"] = str(target)
        meta = {"task": model["task"], "n_classes": model["n_classes"]}
        (Path(path) / "automux_autogluon.json").write_text(__import__("json").dumps(meta), encoding="utf-8")

    def load(self, path: Path) -> Any:
        import json

        from autogluon.tabular import TabularPredictor

        meta = json.loads((Path(path) / "automux_autogluon.json").read_text(encoding="utf-8"))
        target = Path(path) / MODEL_DIR
        return dict(meta, predictor=TabularPredictor.load(str(target), verbosity=0,
                                                          require_py_version_match=False), path=str(target))


def _proba_matrix(frame: Any, n_classes: int) -> np.ndarray:
    """Probabilities with one column per class code 0..K-1 (a class never seen stays 0)."""
    out = np.zeros((len(frame), n_classes), dtype=np.float64)
    for col in frame.columns:
        out[:, int(col)] = frame[col].to_numpy(dtype=np.float64)
    return out


@hookimpl
def automux_adapters() -> List[Adapter]:
    return [AutoGluonAdapter()]
