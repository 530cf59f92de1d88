"""Fake adapters for testing the contract suite: one that keeps every claim, and broken ones.

These are fakes, not backends: a tiny numpy nearest-centroid classifier searched
over two hyperparameters. ``GoodFake`` keeps every claim it declares; each other
fake breaks exactly the claims named in its ``BREAKS`` (the check names that must
fail on it). They live in an importable module because the worker imports
adapters by module and class. Never registered through an entry point.
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..core.adapter import Adapter, SearchResult, SearchTask
from ..core.capabilities import Capabilities, Environment
from ..core.errors import UnsupportedData, UnsupportedTask

MODEL_FILE = "fake_model.json"
#: Pause per candidate, so a seconds budget sees tens of candidates, not thousands.
CANDIDATE_PAUSE_S = 0.05


def _encode(X: pd.DataFrame, means: Optional[np.ndarray] = None,
            impute: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Numbers as floats, categories as their codes (missing -> NaN), NaN -> training mean."""
    cols = []
    for c in X.columns:
        s = X[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy().astype(float)
            codes[codes < 0] = np.nan
            cols.append(codes)
        else:
            cols.append(s.to_numpy(dtype=float))
    A = np.column_stack(cols) if cols else np.zeros((len(X), 0))
    if means is None:
        with np.errstate(all="ignore"):
            means = np.nan_to_num(np.nanmean(A, axis=0)) if len(A) else np.zeros(A.shape[1])
    if impute:
        A = np.where(np.isnan(A), means[None, :], A)
    return A, means


def fit_centroids(X: pd.DataFrame, y: np.ndarray, n_classes: int, params: Dict[str, Any],
                  impute: bool = True) -> Dict[str, Any]:
    A, means = _encode(X, impute=impute)
    scale = A.std(axis=0) if impute else np.nanstd(A, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Z = (A - means) / scale
    centroids = np.zeros((n_classes, Z.shape[1]))
    prior = np.zeros(n_classes)
    for k in range(n_classes):
        rows = Z[y == k]
        prior[k] = (len(rows) + 1.0) / (len(Z) + n_classes)
        if len(rows):
            centroids[k] = rows.mean(axis=0)
    return {"means": means.tolist(), "scale": scale.tolist(), "centroids": centroids.tolist(),
            "prior": prior.tolist(), "tau": float(params["tau"]), "alpha": float(params["alpha"]),
            "impute": impute}


def centroid_proba(model: Dict[str, Any], X: pd.DataFrame) -> np.ndarray:
    means = np.asarray(model["means"])
    A, _ = _encode(X, means, impute=model.get("impute", True))
    Z = (A - means) / np.asarray(model["scale"])
    d2 = ((Z[:, None, :] - np.asarray(model["centroids"])[None, :, :]) ** 2).mean(axis=2)
    logits = -d2 / (2.0 * model["tau"])
    logits -= logits.max(axis=1, keepdims=True)
    soft = np.exp(logits)
    soft /= soft.sum(axis=1, keepdims=True)
    proba = (1.0 - model["alpha"]) * soft + model["alpha"] * np.asarray(model["prior"])[None, :]
    return proba / proba.sum(axis=1, keepdims=True)


class GoodFake(Adapter):
    """Keeps every claim it declares: the control every broken fake is compared with."""

    name = "good_fake"
    capabilities = Capabilities(
        tasks=("binary",), budget_modes=("trials", "seconds"),
        deterministic={"trials": True, "seconds": False}, custom_folds=True,
        categorical=False, missing_values=False, produces="single", interpretable=True,
        min_budget={"trials": 1, "seconds": 1}, seeded=True,
    )
    environment = Environment(name="main", python=">=3.9", requirements=(), import_names=())
    BREAKS: Tuple[str, ...] = ()
    impute = True

    # Seams the broken fakes override, one each.
    def search_seed(self, task: SearchTask) -> int:
        return task.seed

    def search_folds(self, task: SearchTask) -> List[Tuple[np.ndarray, np.ndarray]]:
        return task.folds

    def should_stop(self, task: SearchTask) -> bool:
        return task.should_stop()

    def side_effect(self, task: SearchTask) -> None:
        pass

    def search(self, task: SearchTask) -> SearchResult:
        self.side_effect(task)
        rng = random.Random(self.search_seed(task))
        folds = self.search_folds(task)
        while not task.candidates or not self.should_stop(task):  # at least one candidate, however late
            params = {"tau": rng.choice([0.25, 0.5, 1.0, 2.0, 4.0]), "alpha": round(rng.uniform(0.01, 0.3), 4)}
            t0 = time.monotonic()
            scores = []
            for fit_idx, valid_idx in folds:
                m = fit_centroids(task.X.iloc[fit_idx], task.y[fit_idx], task.n_classes, params, self.impute)
                scores.append(task.metric(task.y[valid_idx], centroid_proba(m, task.X.iloc[valid_idx])))
            task.add_candidate("nearest_centroid", params, scores, steps=["standardise", "nearest_centroid"],
                               fit_time_s=time.monotonic() - t0)
            time.sleep(CANDIDATE_PAUSE_S)
        chosen = task.best_index()
        if chosen is None:
            raise RuntimeError("no candidate was scored within the budget")
        model = fit_centroids(task.X, task.y, task.n_classes, task.candidates[chosen].params, self.impute)
        return SearchResult(model=model, chosen=chosen)

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        return centroid_proba(model, X)

    def save(self, model: Any, path: Path) -> None:
        (Path(path) / MODEL_FILE).write_text(json.dumps(model), encoding="utf-8")

    def load(self, path: Path) -> Any:
        return json.loads((Path(path) / MODEL_FILE).read_text(encoding="utf-8"))


def _caps(**changes: Any) -> Capabilities:
    return dataclasses.replace(GoodFake.capabilities, **changes)


class BadCapabilitiesFake(GoodFake):
    """Declares a kind of model that does not exist."""

    name = "bad_capabilities_fake"
    capabilities = _caps(produces="magic")
    BREAKS = ("check_capabilities_well_formed",)


class BadEnvironmentFake(GoodFake):
    """Declares an interpreter range that is not a version specifier."""

    name = "bad_environment_fake"
    environment = Environment(name="main", python="three point nine")
    BREAKS = ("check_environment_well_formed",)


class IgnoresFoldsFake(GoodFake):
    """Scores candidates on three folds of its own (contiguous thirds), not the given ones."""

    name = "ignores_folds_fake"
    BREAKS = ("check_given_folds_used",)

    def search_folds(self, task: SearchTask) -> List[Tuple[np.ndarray, np.ndarray]]:
        n = len(task.X)
        parts = np.array_split(np.arange(n), 3)
        return [(np.setdiff1d(np.arange(n), p), p) for p in parts]


class IgnoresSeedFake(GoodFake):
    """Seeds its search with a constant instead of ``task.seed``."""

    name = "ignores_seed_fake"
    BREAKS = ("check_seed_reaches_backend",)

    def search_seed(self, task: SearchTask) -> int:
        return 0


class NondeterministicFake(GoodFake):
    """Declares determinism under a trial budget but seeds its search from the OS."""

    name = "nondeterministic_fake"
    BREAKS = ("check_deterministic_when_declared", "check_deterministic_under_perturbed_timing")

    def search_seed(self, task: SearchTask) -> int:
        return int.from_bytes(os.urandom(4), "little")


class OverrunFake(GoodFake):
    """Proposes three candidates past a trial budget and ignores the seconds deadline."""

    name = "overrun_fake"
    BREAKS = ("check_trials_budget_respected", "check_seconds_budget_respected")

    def should_stop(self, task: SearchTask) -> bool:
        if task.budget.trials is not None:
            return len(task.candidates) >= task.budget.trials + 3
        return False  # runs until the parent kills it


class MalformedPredictionsFake(GoodFake):
    """Predicts probabilities whose rows sum to 0.9."""

    name = "malformed_predictions_fake"
    BREAKS = ("check_predictions_well_formed",)

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        return 0.9 * centroid_proba(model, X)


class WrongClassOrderFake(GoodFake):
    """Predicts well-formed probabilities with the class columns reversed."""

    name = "wrong_class_order_fake"
    BREAKS = ("check_predictions_well_formed",)

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        return centroid_proba(model, X)[:, ::-1].copy()


class BrokenSaveLoadFake(GoodFake):
    """Loads back a model whose centroids have moved."""

    name = "broken_save_load_fake"
    BREAKS = ("check_save_load_round_trip",)

    def load(self, path: Path) -> Any:
        model = super().load(path)
        model["centroids"] = (np.asarray(model["centroids"]) + 0.5).tolist()
        return model


class ClaimsCategoricalFake(GoodFake):
    """Declares categorical support but converts every column to float."""

    name = "claims_categorical_fake"
    capabilities = _caps(categorical=True)
    BREAKS = ("check_categorical_supported",)

    def search(self, task: SearchTask) -> SearchResult:
        task.X.astype(float)  # raises on a string-valued category, as a careless backend would
        return super().search(task)


class ClaimsMissingFake(GoodFake):
    """Declares missing-value support but lets NaN flow into its predictions."""

    name = "claims_missing_fake"
    capabilities = _caps(missing_values=True)
    BREAKS = ("check_missing_values_supported",)
    impute = False


class WrongRefusalFake(GoodFake):
    """Refuses what it does not support, but with built-in exception types."""

    name = "wrong_refusal_fake"
    BREAKS = ("check_unsupported_tasks_refused", "check_categorical_rejected", "check_missing_values_rejected")

    def validate(self, task: SearchTask) -> None:
        try:
            super().validate(task)
        except UnsupportedTask as e:
            raise NotImplementedError(str(e)) from None
        except UnsupportedData as e:
            raise ValueError(str(e)) from None


class LeavesProcessFake(GoodFake):
    """Starts a helper in a new session (out of the worker's process group) and never ends it."""

    name = "leaves_process_fake"
    BREAKS = ("check_no_process_left_behind",)

    def side_effect(self, task: SearchTask) -> None:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class ThreadOrderFake(GoodFake):
    """Scores candidates in threads and reports them in finishing order: the result depends on thread timing.

    On a quiet machine thread k finishes after ``(k + 1) * THREAD_GAP_S`` seconds,
    so two runs agree (the plain determinism check passes); with timing
    perturbed the finishing order, hence the candidates and ``chosen``, change.
    """

    name = "thread_order_fake"
    BREAKS = ("check_deterministic_under_perturbed_timing",)
    THREADS = 8
    THREAD_GAP_S = 0.08

    def search(self, task: SearchTask) -> SearchResult:
        import threading

        rng = random.Random(task.seed)
        plans = [{"tau": rng.choice([0.25, 0.5, 1.0, 2.0, 4.0]), "alpha": round(rng.uniform(0.01, 0.3), 4)}
                 for _ in range(self.THREADS)]
        finished: List[Tuple[Dict[str, Any], List[float]]] = []
        lock = threading.Lock()

        def work(k: int) -> None:
            time.sleep((k + 1) * self.THREAD_GAP_S)
            scores = []
            for fit_idx, valid_idx in task.folds:
                m = fit_centroids(task.X.iloc[fit_idx], task.y[fit_idx], task.n_classes, plans[k], self.impute)
                scores.append(task.metric(task.y[valid_idx], centroid_proba(m, task.X.iloc[valid_idx])))
            with lock:
                finished.append((plans[k], scores))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(self.THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        n = int(min(task.trials_left(), self.THREADS))
        for params, scores in finished[:max(n, 1)]:  # reported from one thread, in finishing order
            task.add_candidate("nearest_centroid", params, scores, steps=["standardise", "nearest_centroid"])
        chosen = task.best_index()
        model = fit_centroids(task.X, task.y, task.n_classes, task.candidates[chosen].params, self.impute)
        return SearchResult(model=model, chosen=chosen)


_CENTROID_SOURCE = """
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pandas as pd


{encode}

{fit}

{proba}

class NearestCentroid:
    def __init__(self, params):
        self.params = params

    def fit(self, X, y):
        y = np.asarray(y)
        self.classes_ = np.arange(int(y.max()) + 1)
        self.model_ = fit_centroids(X, y, len(self.classes_), self.params, True)
        return self

    def predict_proba(self, X):
        return centroid_proba(self.model_, X)


def build_model():
    return NearestCentroid({params!r})
"""


class WrongChosenFake(GoodFake):
    """Rebuilds candidates from source, but returns the worst candidate's model while naming the best as chosen."""

    name = "wrong_chosen_fake"
    BREAKS = ("check_chosen_matches_returned_model",)

    def search(self, task: SearchTask) -> SearchResult:
        result = GoodFake.search(self, task)
        worst = max(range(len(task.candidates)), key=lambda i: task.metric.loss(task.candidates[i].cv_score))
        if worst == result.chosen:
            raise RuntimeError("every candidate scored the same: the fake cannot return another one")
        model = fit_centroids(task.X, task.y, task.n_classes, task.candidates[worst].params, self.impute)
        return SearchResult(model=model, chosen=result.chosen)

    def candidate_source(self, candidate: Any, task: str, columns: Dict[str, str], seed: int) -> Optional[str]:
        import inspect

        return _CENTROID_SOURCE.format(encode=inspect.getsource(_encode), fit=inspect.getsource(fit_centroids),
                                       proba=inspect.getsource(centroid_proba), params=dict(candidate.params))


class AcceptsAnyOptionFake(GoodFake):
    """Overrides ``check_options`` to accept anything, without declaring free-form options: typos pass silently."""

    name = "accepts_any_option_fake"
    BREAKS = ("check_undeclared_options_refused",)

    def check_options(self, options: Dict[str, Any]) -> None:
        return None



class UnscoredCandidateFake(GoodFake):
    """Reports its second candidate with no fold score at all (``[None, None, None]``) and does not mark it failed."""

    name = "unscored_candidate_fake"
    BREAKS = ("check_given_folds_used",)
    #: what the unscored candidate carries in ``info`` (the marked variant says why it failed)
    unscored_info: Dict[str, Any] = {}

    def search(self, task: SearchTask) -> SearchResult:
        add = task.add_candidate

        def add_candidate(algorithm: str, params: Dict[str, Any], fold_scores: List[Optional[float]],
                          **kw: Any) -> Any:
            if len(task.candidates) == 1:
                return add(algorithm, params, [None] * len(fold_scores), **dict(kw, **self.unscored_info))
            return add(algorithm, params, fold_scores, **kw)

        task.add_candidate = add_candidate  # type: ignore[method-assign]
        return GoodFake.search(self, task)


class ReportsFailedCandidateFake(UnscoredCandidateFake):
    """The same unscored candidate, reported as failed (``error=``): what the docs tell authors to do."""

    name = "reports_failed_candidate_fake"
    BREAKS = ()
    unscored_info = {"error": "the fake's fold fits failed"}


BROKEN_FAKES = (
    BadCapabilitiesFake, BadEnvironmentFake, IgnoresFoldsFake, IgnoresSeedFake, NondeterministicFake,
    OverrunFake, MalformedPredictionsFake, WrongClassOrderFake, BrokenSaveLoadFake, ClaimsCategoricalFake,
    ClaimsMissingFake, WrongRefusalFake, LeavesProcessFake, ThreadOrderFake, WrongChosenFake,
    AcceptsAnyOptionFake,
)
