"""The adapter's options and the H2OAutoML plan a budget, seed and metric give (see the package docstring)."""
from __future__ import annotations

import re
from typing import Any, Dict, List

from ...core.adapter import SearchTask
from ...core.errors import SpecError

#: Below this many trials stacked ensembles are excluded; from it on, two trials are theirs.
ENSEMBLE_MIN_TRIALS = 4
#: Seconds reserved after AutoML under a seconds budget, plus this share of the budget: collecting the
#: leaderboard and each model's cross-validation predictions (2.5-3.2 s for 12-18 models on breast_cancer).
#: Measured in benchmarks/perf/results/budget_fairness.md (4 s + 10 % left 25.7 s of search of 30 s).
END_MARGIN_S = 1.5
END_MARGIN_SHARE = 0.05
#: Under a seconds budget with less than this left for AutoML, one quick model is trained instead.
QUICK_PLAN_BELOW_S = 10.0
#: automux metric -> H2O leaderboard sort metric (it also picks the "best of family" ensemble members).
#: (accuracy has no H2O counterpart: H2O's default applies.)
SORT_METRIC = {"roc_auc": "auc", "log_loss": "logloss", "balanced_accuracy": "mean_per_class_error",
               "rmse": "rmse", "mae": "mae", "r2": "mse"}
#: The algorithm families H2O AutoML knows (``include_algos`` / ``exclude_algos``).
ALGOS = ("DRF", "GLM", "XGBoost", "GBM", "DeepLearning", "StackedEnsemble")
OPTIONS = ("url", "max_mem_size", "nthreads", "include_algos", "exclude_algos")


def _algos(options: Dict[str, Any], key: str) -> List[str]:
    """An algorithm list option: a JSON list, or one name / comma-separated names, in H2O's spelling."""
    value = options.get(key) or []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    known = {a.lower(): a for a in ALGOS}
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.lower() in known for v in value):
        raise SpecError(f"h2o option {key}={value!r}: give a list of algorithm names among {', '.join(ALGOS)}")
    return [known[v.lower()] for v in value]


def parse_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """The adapter's options with defaults filled in (see the module docstring).

    Raises:
        SpecError: an unknown option or a bad value.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise SpecError(f"unknown h2o option {', '.join(map(repr, unknown))}: the options are {', '.join(OPTIONS)}")
    out = {"url": options.get("url") or None, "max_mem_size": str(options.get("max_mem_size") or "1G"),
           "nthreads": options.get("nthreads", 1), "include_algos": _algos(options, "include_algos"),
           "exclude_algos": _algos(options, "exclude_algos")}
    if out["url"] is not None:
        from urllib.parse import urlsplit
        try:
            parts = urlsplit(str(out["url"]))
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:
            ok = False
        if not ok:
            raise SpecError(f"h2o option url={_display_url(str(out['url']))!r}: give the cluster's address as "
                            "http://HOST:PORT (or https://HOST)")
        out["url"] = str(out["url"])
    if not re.fullmatch(r"[1-9][0-9]*[kKmMgG]?", out["max_mem_size"]):
        raise SpecError(f"h2o option max_mem_size={out['max_mem_size']!r}: give a JVM heap size such as '1G' "
                        "or '512M'")
    if isinstance(out["nthreads"], bool) or not isinstance(out["nthreads"], int) or out["nthreads"] < 1:
        raise SpecError(f"h2o option nthreads={out['nthreads']!r}: give a positive whole number (1 keeps runs "
                        "repeatable)")
    if out["include_algos"] and out["exclude_algos"]:
        raise SpecError("h2o options include_algos and exclude_algos exclude each other: give one of them")
    return out


def _display_url(url: str) -> str:
    """``url`` without a password, for logs and messages."""
    return re.sub(r"(://[^:/@\s]+:)([^@\s]+)(@)", r"\1***\3", url)


def _automl_settings(task: SearchTask) -> Dict[str, Any]:
    """H2OAutoML keyword arguments for the task's budget, seed and metric."""
    budget = task.budget
    kwargs: Dict[str, Any] = {"seed": int(task.seed), "keep_cross_validation_predictions": True,
                              "verbosity": None}
    opts = parse_options(task.options)
    include, exclude = list(opts["include_algos"]), list(opts["exclude_algos"])

    def drop(algo: str) -> None:
        if include and algo in include:
            include.remove(algo)
        elif not include and algo not in exclude:
            exclude.append(algo)

    if budget.trials is not None:
        if not include:
            drop("DeepLearning")  # hogwild training: not reproducible (unless asked for by name)
        ensembles = "StackedEnsemble" in include if include else "StackedEnsemble" not in exclude
        if ensembles and budget.trials < ENSEMBLE_MIN_TRIALS:
            drop("StackedEnsemble")
            ensembles = False
        # max_models counts base models only: up to two final ensembles are trials too.
        kwargs["max_models"] = int(budget.trials) - (2 if ensembles else 0)
        # each model's share of the run's hard stop (--timeout): a stalling model cannot hold the run
        kwargs["max_runtime_secs_per_model"] = int(budget.candidate_limit_s)
    if opts["include_algos"] and not include:
        raise SpecError(f"h2o option include_algos={opts['include_algos']!r} leaves no algorithm "
                        f"to train under {budget.trials} trials (ensembles need {ENSEMBLE_MIN_TRIALS})")
    if include:
        kwargs["include_algos"] = include
    elif exclude:
        kwargs["exclude_algos"] = exclude
    sort = SORT_METRIC.get(task.metric.name)
    if sort == "auc" and task.task != "binary":
        sort = "logloss"
    if sort:
        kwargs["sort_metric"] = sort
    if budget.seconds is not None:
        # before the budget clock starts (``validate``, ahead of ``start_up``) the whole budget is left
        now_left = task.time_left() if task.deadline is not None else float(budget.seconds)
        left = now_left - (END_MARGIN_S + END_MARGIN_SHARE * float(budget.seconds))
        if left < QUICK_PLAN_BELOW_S:
            return _quick_plan(kwargs)
        kwargs["max_runtime_secs"] = int(left)
    return kwargs


def _quick_plan(settings: Dict[str, Any]) -> Dict[str, Any]:
    """One model of the fastest family (GLM unless ``include_algos`` says otherwise), with no time cap.

    For when a seconds budget leaves too little time: a capped AutoML cancels its
    first model (XGBoost) and ends with none. The run's grace covers the overrun.
    """
    out = {k: v for k, v in settings.items() if k not in ("max_runtime_secs", "exclude_algos", "include_algos")}
    out["max_models"] = 1
    out["include_algos"] = list(settings.get("include_algos") or ["GLM"])[:1]
    return out
