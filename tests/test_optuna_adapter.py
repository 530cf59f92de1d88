"""The optuna adapter against real Optuna, scikit-learn and LightGBM, with small budgets."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import automux
from automux.core.experiment.spec import candidates_identity

pytest.importorskip("optuna")
pytest.importorskip("lightgbm")
pytest.importorskip("sklearn")

BREAST = "sklearn:breast_cancer"


def _sequence(record):
    return candidates_identity(record.candidates)


@pytest.fixture(scope="module")
def seeded_runs(tmp_path_factory):
    """Two worker runs with seed 3 and one with seed 4, 4 trials on 3 folds each."""
    store = tmp_path_factory.mktemp("optuna-store")
    args = dict(budget_trials=4, folds=3, store=store)
    a = automux.run(BREAST, "target", "optuna", seed=3, **args)
    b = automux.run(BREAST, "target", "optuna", seed=3, **args)
    c = automux.run(BREAST, "target", "optuna", seed=4, **args)
    return a, b, c


def test_same_seed_same_predictions_and_candidates(seeded_runs):
    a, b, _ = seeded_runs
    assert a.status == b.status == "ok", (a.error, b.error)
    assert a.predictions_sha256 == b.predictions_sha256
    assert _sequence(a) == _sequence(b)
    assert [c.fold_scores for c in a.candidates] == [c.fold_scores for c in b.candidates]
    assert a.chosen == b.chosen


def test_different_seed_different_candidates(seeded_runs):
    a, _, c = seeded_runs
    assert c.status == "ok", c.error
    # Trial 0 is the enqueued baseline in both; the sampled trials differ.
    assert _sequence(a)[0] == _sequence(c)[0]
    assert _sequence(a)[1:] != _sequence(c)[1:]


def test_candidates_scored_on_every_fold(seeded_runs):
    a, _, _ = seeded_runs
    assert len(a.candidates) == 4
    for cand in a.candidates:
        assert len(cand.fold_scores) == 3
        assert all(s is not None and math.isfinite(s) for s in cand.fold_scores)
        assert cand.algorithm in ("linear", "random_forest", "extra_trees", "lightgbm")
        assert cand.info["trial"] == cand.index
    best = max(c.cv_score for c in a.candidates)  # roc_auc: greater is better
    assert a.candidates[a.chosen].cv_score == best


@pytest.mark.parametrize("source", ["sklearn:iris", "sklearn:diabetes"])
def test_multiclass_and_regression(source, tmp_path):
    rec = automux.run(source, None, "optuna", budget_trials=3, folds=3, seed=1, store=tmp_path, inline=True)
    assert rec.status == "ok", rec.error
    assert rec.spec.task == ("multiclass" if source.endswith("iris") else "regression")
    assert rec.score is not None and math.isfinite(rec.score)
    assert len(rec.candidates) == 3
    assert all(math.isfinite(c.cv_score) for c in rec.candidates)


def test_seconds_budget_stops_within_grace(tmp_path):
    t0 = time.monotonic()
    rec = automux.run(BREAST, "target", "optuna", budget_seconds=5, grace_s=10, folds=3, seed=2, store=tmp_path)
    wall = time.monotonic() - t0
    assert rec.status == "ok", rec.error
    assert len(rec.candidates) >= 1
    assert wall < 5 + 10 + 5, wall  # the parent kills at 15 s; 5 s slack for data prep and scoring
    assert rec.determinism["declared_deterministic"] is False


def test_rdb_storage_shares_one_study(tmp_path):
    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"
    opts = {"storage": url}
    first = automux.run(BREAST, "target", "optuna", budget_trials=3, folds=3, seed=5, options=opts,
                        store=tmp_path / "runs", inline=True)
    second = automux.run(BREAST, "target", "optuna", budget_trials=3, folds=3, seed=5, options=opts,
                         store=tmp_path / "runs", inline=True)
    assert first.status == second.status == "ok", (first.error, second.error)
    names = optuna.get_all_study_names(url)
    assert len(names) == 1  # the same spec lands in the same default-named study
    study = optuna.load_study(study_name=names[0], storage=url)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 6
    assert [c.info["trial"] for c in second.candidates] == [3, 4, 5]
    # The second run's sampler is seeded past the first run's trials: no repeated proposals.
    assert not set(_sequence(first)) & set(_sequence(second))
    values = sorted(t.value for t in complete)
    assert values == sorted(c.cv_score for c in first.candidates + second.candidates)


def test_rdb_study_for_other_data_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    opts = {"storage": url, "study_name": "shared"}
    ok = automux.run("sklearn:iris", None, "optuna", budget_trials=1, folds=3, seed=5, options=opts,
                     store=tmp_path / "runs", inline=True)
    assert ok.status == "ok", ok.error
    other = automux.run("sklearn:wine", None, "optuna", budget_trials=1, folds=3, seed=5, options=opts,
                        store=tmp_path / "runs", inline=True)
    assert other.status == "failed"
    assert other.extra["error_type"] == "SpecError"
    assert other.candidates == []


@pytest.mark.parametrize("options", [{"n_jobs": 2}, {"storage": "study.db"}, {"bogus": 1}, {"worker": -1}])
def test_bad_options_are_refused_before_any_worker_starts(options, tmp_path):
    """A bad option is the user's error: SpecError in the parent (exit 2 in the CLI), no run stored."""
    from automux.core.errors import SpecError
    from automux.core.run.store import RunStore

    with pytest.raises(SpecError):
        automux.run("sklearn:iris", None, "optuna", budget_trials=1, folds=3, options=options,
                    store=tmp_path, readiness=False)
    assert RunStore(tmp_path).list() == []


def test_bad_option_exits_2_from_the_cli(tmp_path):
    from helpers import run_cli
    proc = run_cli("--store", str(tmp_path), "run", "--data", "sklearn:iris", "--backend", "optuna",
                   "--budget-trials", "1", "--option", "n_jobs=2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


FIXED_POINTS = {
    "linear": {"linear.C": 0.5, "linear.alpha": 2.0},
    "random_forest": {"random_forest.n_estimators": 50, "random_forest.max_depth": 4,
                      "random_forest.min_samples_leaf": 2, "random_forest.max_features": 0.5},
    "extra_trees": {"extra_trees.n_estimators": 50, "extra_trees.max_depth": 4,
                    "extra_trees.min_samples_leaf": 2, "extra_trees.max_features": 0.5},
    "lightgbm": {"lightgbm.n_estimators": 30, "lightgbm.learning_rate": 0.1, "lightgbm.num_leaves": 8,
                 "lightgbm.min_child_samples": 5, "lightgbm.subsample": 0.8,
                 "lightgbm.colsample_bytree": 0.8, "lightgbm.reg_lambda": 1e-3},
}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("algorithm", sorted(FIXED_POINTS))
def test_every_algorithm_takes_categorical_and_missing_values(algorithm, task):
    """The declared capabilities: one-hot categoricals, imputed gaps, repeatable fits."""
    import numpy as np
    import optuna
    import pandas as pd

    from automux.core.sklearn_kit import predict_output, to_sklearn_frame
    from automux.adapters.optuna_adapter import build_model, suggest

    rng = np.random.RandomState(0)
    n = 120
    X = pd.DataFrame({"num": rng.normal(size=n), "other": rng.normal(size=n),
                      "cat": pd.Categorical(rng.choice(["a", "b", "c"], size=n))})
    X.loc[::7, "num"] = np.nan
    X.loc[::11, "cat"] = np.nan
    if task == "regression":
        y = X["other"].to_numpy() * 2 + (X["cat"] == "a").to_numpy()
    else:
        y = (X["other"].to_numpy() > 0).astype(int) + ((X["cat"] == "a").to_numpy() if task == "multiclass" else 0)
    n_classes = 0 if task == "regression" else int(y.max()) + 1
    algo, params = suggest(optuna.trial.FixedTrial({"algorithm": algorithm, **FIXED_POINTS[algorithm]}), task)
    assert algo == algorithm and params
    preds = []
    for _ in range(2):
        model = build_model(algo, params, task, X, seed=11).fit(to_sklearn_frame(X), y)
        preds.append(predict_output(model, X, task, n_classes))
    assert preds[0].shape == ((n,) if task == "regression" else (n, n_classes))
    assert np.all(np.isfinite(preds[0]))
    assert np.array_equal(preds[0], preds[1])


def test_listing_adapters_does_not_import_optuna():
    code = ("import sys, automux; from automux.adapters import optuna_adapter; "
            "a = optuna_adapter.OptunaAdapter(); a.unavailable_reason(); a.describe(); "
            "print(sorted(m for m in ('optuna', 'lightgbm', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _cli(*args, store: Path):
    exe = Path(sys.executable).with_name("automux")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "automux"]
    out = subprocess.run(cmd + ["--store", str(store), *args], capture_output=True, text=True,
                         env=dict(os.environ), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_cli_run_twice_and_verify_identical(tmp_path):
    """Two CLI runs of one spec, then ``verify``: identical. 4 trials, as the seeded runs above: TPE's first
    10 trials are its seeded random start-up either way, so 10 trials proved nothing 4 do not."""
    args = ["run", "--data", BREAST, "--target", "target", "--backend", "optuna", "--budget-trials", "4",
            "--seed", "7", "--json"]
    first = _cli(*args, store=tmp_path)
    second = _cli(*args, store=tmp_path)
    assert first["status"] == second["status"] == "ok"
    assert first["candidates"] == second["candidates"] == 4
    assert first["predictions_sha256"] == second["predictions_sha256"]
    verdict = _cli("verify", first["run_id"], "--json", store=tmp_path)
    assert verdict["verdict"] == "identical", verdict
