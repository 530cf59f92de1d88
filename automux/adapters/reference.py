"""The reference adapter: scikit-learn only, the contract's reference implementation.

Search order: a dummy baseline, a linear model, a random forest, then a random
search (``random.Random(task.seed)``) over linear and forest hyperparameters.
Each candidate is scored on the given folds with the spec's metric; the best is
refit on all training rows. Deterministic under both budget modes' candidate
sequence for a count budget; under seconds the count found varies.

Under a seconds budget a trial is cut at the deadline less the best candidate's
refit time (``SearchTask.cross_validate(stop_at_deadline=True)``, inside a fold
too): the run ends with the best finished candidate, or ``BudgetExhausted`` when
not even the dummy finished. The chosen candidate's out-of-fold predictions are
its own fold models' (``SearchResult.oof``). The dummy fits no preprocessing.
"""
from __future__ import annotations

import random
import time
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ..core.adapter import Adapter, SearchResult, SearchTask
from ..core.capabilities import Capabilities, Environment
from ..core.hookspecs import hookimpl
from ..core.baselines import ALGORITHMS, build_model  # noqa: F401 (ALGORITHMS re-exported)
from ..core.sklearn_kit import PickledModel

#: Options: ``n_jobs`` for the forest (default: the spec's cores).


def _n_jobs(task: SearchTask) -> int:
    return int(task.options.get("n_jobs", task.cores))


def _sample(rng: random.Random, task: str) -> "tuple[str, Dict[str, Any]]":
    if rng.random() < 0.4:
        key = "alpha" if task == "regression" else "C"
        return "linear", {key: round(10 ** rng.uniform(-3, 2), 6)}
    return "random_forest", {
        "n_estimators": rng.choice([50, 100, 200]),
        "max_depth": rng.choice([None, 4, 8, 16]),
        "min_samples_leaf": rng.choice([1, 2, 5, 10]),
        "max_features": rng.choice(["sqrt", 0.5, 1.0]),
    }


class ReferenceAdapter(PickledModel, Adapter):
    name = "reference"
    accepted_options = ("n_jobs",)
    option_rules = {"n_jobs": "cores"}
    capabilities = Capabilities(
        tasks=("binary", "multiclass", "regression"),
        budget_modes=("trials", "seconds"),
        deterministic={"trials": True, "seconds": False},
        # a scikit-learn forest with a fixed random_state gives the same model at any n_jobs
        deterministic_multicore={"trials": True, "seconds": False},
        custom_folds=True, categorical=True, missing_values=True,
        produces="single", interpretable=True,
        min_budget={"trials": 1, "seconds": 2},
        strengths=("rapid", "transparent_baselines"),
    )
    environment = Environment(name="main", python=">=3.9", requirements=("scikit-learn>=1.3",),
                              import_names=("sklearn",), extra="sklearn")

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        """Import the scikit-learn pieces the search uses before the budget clock starts."""
        t0 = time.monotonic()
        import sklearn.compose  # noqa: F401
        import sklearn.dummy  # noqa: F401
        import sklearn.ensemble  # noqa: F401
        import sklearn.impute  # noqa: F401
        import sklearn.linear_model  # noqa: F401
        import sklearn.pipeline  # noqa: F401
        import sklearn.preprocessing  # noqa: F401
        return {"imports_s": round(time.monotonic() - t0, 3)}

    def search(self, task: SearchTask) -> SearchResult:
        """Dummy, linear, forest, then random samples, until the budget ends; the best refit on all rows.

        Under a seconds budget a trial is cut at the deadline less the best's refit time (``cross_validate``'s
        ``stop_at_deadline``) and the search ends with the best finished candidate; the chosen candidate's
        out-of-fold predictions come from its own fold fits."""
        from ..core.adapter import TrialOutOfTime
        from ..core.sklearn_kit import predict_output, to_sklearn_frame

        rng = random.Random(task.seed)
        plan: List["tuple[str, Dict[str, Any]]"] = [("dummy", {}), ("linear", {}), ("random_forest", {})]
        i = 0
        while task.trials_left() > 0:
            algo, params = plan[i] if i < len(plan) else _sample(rng, task.task)
            i += 1
            t0 = time.monotonic()

            def fit_predict(Xf: pd.DataFrame, yf: np.ndarray, Xv: pd.DataFrame) -> np.ndarray:
                m = build_model(algo, params, task.task, Xf, task.seed, _n_jobs(task)).fit(to_sklearn_frame(Xf), yf)
                return predict_output(m, Xv, task.task, task.n_classes)

            try:
                scores, oof = task.cross_validate(fit_predict, return_oof=True, stop_at_deadline=True)
            except TrialOutOfTime as e:
                task.log(f"{algo} not scored: {e}; ending the search with the best of {len(task.candidates)}")
                break
            steps = [algo] if algo == "dummy" else ["ColumnTransformer", algo]  # the dummy fits no preprocessing
            cand = task.add_candidate(algo, params, scores, steps=steps,
                                      fit_time_s=time.monotonic() - t0)
            task.keep_oof(cand, oof)
        chosen = task.choose()
        if chosen is None:
            raise RuntimeError("no candidate could be scored")
        best = task.candidates[chosen]
        model = build_model(best.algorithm, best.params, task.task, task.X, task.seed, _n_jobs(task))
        model.fit(to_sklearn_frame(task.X), task.y)
        return SearchResult(model={"model": model, "task": task.task, "n_classes": task.n_classes},
                            chosen=chosen, oof=task.oof_for(chosen))

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        from ..core.sklearn_kit import predict_output
        return predict_output(model["model"], X, model["task"], model["n_classes"])


    def candidate_source(self, candidate: Any, task: str, columns: Dict[str, str], seed: int) -> Optional[str]:
        """The same pipeline as :func:`build_model`, as a stand-alone scikit-learn file."""
        reg = task == "regression"
        p = candidate.params
        if candidate.algorithm == "dummy":
            imports = "from sklearn.dummy import " + ("DummyRegressor" if reg else "DummyClassifier")
            model = "DummyRegressor()" if reg else 'DummyClassifier(strategy="prior")'
        elif candidate.algorithm == "linear":
            imports = "from sklearn.linear_model import " + ("Ridge" if reg else "LogisticRegression")
            model = f"Ridge(alpha={p.get('alpha', 1.0)!r})" if reg else \
                f"LogisticRegression(C={p.get('C', 1.0)!r}, max_iter=2000)"
        elif candidate.algorithm == "random_forest":
            cls = "RandomForestRegressor" if reg else "RandomForestClassifier"
            imports = f"from sklearn.ensemble import {cls}"
            model = (f"{cls}(n_estimators={p.get('n_estimators', 100)!r}, max_depth={p.get('max_depth')!r}, "
                     f"min_samples_leaf={p.get('min_samples_leaf', 1)!r}, "
                     f"max_features={p.get('max_features', 1.0 if reg else 'sqrt')!r}, random_state=seed, n_jobs=1)")
        else:
            return None
        from ..core.sklearn_kit import pipeline_source
        title = f"{candidate.algorithm} ({task}), rebuilt with scikit-learn alone from the reference adapter."
        return pipeline_source(title, imports, model, columns, seed)


@hookimpl
def automux_adapters() -> List[Adapter]:
    return [ReferenceAdapter()]
