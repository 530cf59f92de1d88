"""The flaml adapter against real FLAML (lightgbm, xgboost, scikit-learn learners), with small budgets."""
from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import automux
from automux.core.experiment.spec import candidates_identity

pytest.importorskip("flaml")
pytest.importorskip("lightgbm")
pytest.importorskip("xgboost")

BREAST = "sklearn:breast_cancer"
TRIALS = 6


@pytest.fixture(scope="module")
def seeded_runs(tmp_path_factory):
    """Two worker runs of one spec: seed 3, a count budget of 6 trials, 3 folds."""
    store = tmp_path_factory.mktemp("flaml-store")
    args = dict(budget_trials=TRIALS, folds=3, seed=3, store=store)
    return automux.run(BREAST, "target", "flaml", **args), automux.run(BREAST, "target", "flaml", **args)


def test_same_seed_and_count_budget_same_predictions(seeded_runs):
    a, b = seeded_runs
    assert a.status == b.status == "ok", (a.error, b.error)
    assert a.predictions_sha256 == b.predictions_sha256
    assert candidates_identity(a.candidates) == candidates_identity(b.candidates)
    assert [c.fold_scores for c in a.candidates] == [c.fold_scores for c in b.candidates]
    assert a.chosen == b.chosen
    assert a.determinism["declared_deterministic"] is True


def test_every_trial_is_a_candidate_scored_on_every_fold(seeded_runs):
    from automux.adapters.flaml_adapter import CLASSIFIERS

    a, _ = seeded_runs
    assert len(a.candidates) == TRIALS  # max_iter = trials, and each trial is reported
    for cand in a.candidates:
        assert cand.algorithm in CLASSIFIERS
        assert len(cand.fold_scores) == 3 and all(math.isfinite(s) for s in cand.fold_scores)
        assert cand.steps == ["flaml.DataTransformer", cand.algorithm]
        assert cand.params  # FLAML's config of the trial
    best = max(c.cv_score for c in a.candidates)  # roc_auc: greater is better
    assert a.candidates[a.chosen].cv_score == best


def _search_task(source, trials, folds=3, seed=5, options=None, workdir=None):
    from automux.core.adapter import SearchTask
    from automux.core.experiment.prepare import make_budget, prepare
    from automux.core.experiment.metrics import get_metric

    exp = prepare(source, None, budget=make_budget(trials=trials), seed=seed, folds=folds)
    ds, split = exp.dataset, exp.split
    train = list(split.train)
    task = SearchTask(X=ds.X.iloc[train].reset_index(drop=True), y=ds.y[train], task=ds.task,
                      classes=[str(c) for c in ds.classes], folds=split.fold_pairs(),
                      metric=get_metric(exp.spec.metric, ds.task), seed=exp.spec.seeds["backend"],
                      budget=exp.spec.budget, options=dict(options or {}), workdir=workdir, log=lambda m: None)
    holdout = ds.X.iloc[list(split.holdout)].reset_index(drop=True)
    return task, holdout


def test_flaml_minimises_automux_metric_on_the_reported_folds(tmp_path):
    """FLAML's own best loss is automux's metric (as a loss) averaged over the reported fold scores."""
    from automux.adapters.flaml_adapter import FlamlAdapter

    task, holdout = _search_task("sklearn:iris", trials=5, workdir=tmp_path)  # log_loss: lower is better
    adapter = FlamlAdapter()
    result = adapter.search(task)
    automl = result.model["automl"]
    chosen = task.candidates[result.chosen]
    assert len(task.candidates) == 5
    assert automl.best_loss == pytest.approx(task.metric.loss(chosen.cv_score), rel=0, abs=1e-12)
    assert chosen.algorithm == automl.best_estimator
    pred = adapter.predict(result.model, holdout)
    assert pred.shape == (len(holdout), 3) and np.allclose(pred.sum(axis=1), 1.0)
    adapter.save(result.model, tmp_path)
    assert np.array_equal(adapter.predict(adapter.load(tmp_path), holdout), pred)


def test_one_trial_budget_chooses_its_one_recorded_candidate(tmp_path):
    """FLAML's max_iter=1 skips cross-validation: a one-trial run still records the trial it chose (issue 22)."""
    rec = automux.run(BREAST, "target", "flaml", budget_trials=1, folds=3, seed=4, store=tmp_path)
    assert rec.status == "ok", rec.error
    assert len(rec.candidates) == 1 and rec.chosen == 0
    assert all(math.isfinite(s) for s in rec.candidates[0].fold_scores)
    assert rec.extra["oof"]["available"] and rec.extra["oof"]["source"] == "adapter"


@pytest.mark.parametrize("source, trials", [("sklearn:iris", 1), ("sklearn:breast_cancer", 4),
                                            ("sklearn:diabetes", 3)])
def test_out_of_fold_predictions_come_from_the_chosen_trials_fold_models(source, trials, tmp_path):
    """SearchResult.oof is the chosen trial's fold models on their validation rows: it reproduces the
    recorded fold scores exactly and is not the refit-on-all model's in-sample prediction."""
    from automux.adapters.flaml_adapter import FlamlAdapter

    task, _ = _search_task(source, trials=trials, workdir=tmp_path)
    adapter = FlamlAdapter()
    adapter.start_up(task)
    result = adapter.search(task)
    assert len(task.candidates) == trials and result.chosen is not None
    want = (len(task.X),) if task.task == "regression" else (len(task.X), task.n_classes)
    assert result.oof is not None and result.oof.shape == want and np.all(np.isfinite(result.oof))
    chosen = task.candidates[result.chosen]
    for (_, valid), recorded in zip(task.folds, chosen.fold_scores):
        assert task.metric(task.y[valid], result.oof[valid]) == pytest.approx(recorded, rel=0, abs=1e-12)
    assert not np.allclose(adapter.predict(result.model, task.X), result.oof)


@pytest.mark.parametrize("source, task", [("sklearn:iris", "multiclass"), ("sklearn:diabetes", "regression")])
def test_multiclass_and_regression(source, task, tmp_path):
    rec = automux.run(source, None, "flaml", budget_trials=4, folds=3, seed=1, store=tmp_path)
    assert rec.status == "ok", rec.error
    assert rec.spec.task == task
    assert rec.score is not None and math.isfinite(rec.score)
    assert len(rec.candidates) == 4
    assert all(math.isfinite(c.cv_score) for c in rec.candidates)


def test_seconds_budget_ends_within_grace(tmp_path):
    t0 = time.monotonic()
    rec = automux.run(BREAST, "target", "flaml", budget_seconds=15, grace_s=15, folds=3, seed=2, store=tmp_path)
    wall = time.monotonic() - t0
    assert rec.status == "ok", rec.error
    assert len(rec.candidates) >= 1
    assert wall < 15 + 15 + 5, wall  # the parent kills at 30 s; 5 s for data prep and scoring
    assert rec.determinism["declared_deterministic"] is False


def test_categorical_and_missing_values(tmp_path):
    rng = np.random.RandomState(0)
    n = 200
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "c": pd.Categorical(rng.choice(["x", "y", "z"], size=n))})
    frame.loc[::9, "a"] = np.nan
    frame.loc[::13, "c"] = np.nan
    frame["target"] = np.where(frame["b"] + (frame["c"] == "x") > 0.3, "yes", "no")
    rec = automux.run(frame, "target", "flaml", budget_trials=4, folds=3, seed=1, store=tmp_path,
                      options={"estimator_list": ["lgbm", "rf", "lrl1", "sgd"]})
    assert rec.status == "ok", rec.error
    assert len(rec.candidates) == 4 and all(math.isfinite(c.cv_score) for c in rec.candidates)


def test_unknown_option_fails_before_any_trial(tmp_path):
    # the parent refuses it before any worker starts: no run, no record (issue 11: unknown options refused)
    from automux.core.errors import SpecError
    with pytest.raises(SpecError, match="time_budget"):
        automux.run("sklearn:iris", None, "flaml", budget_trials=1, folds=3, options={"time_budget": 5},
                    store=tmp_path, inline=True)
    assert not automux.runs(store=tmp_path)


def test_importing_the_adapter_imports_no_backend():
    code = ("import sys; from automux.adapters import flaml_adapter as m; a = m.FlamlAdapter(); "
            "a.unavailable_reason(); a.describe(); "
            "print(sorted(x for x in ('flaml', 'lightgbm', 'xgboost', 'sklearn') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_flaml_is_imported_without_mlflow():
    code = ("import sys; from automux.adapters.flaml_adapter import import_automl; import_automl(); "
            "print('mlflow' in sys.modules, 'flaml.automl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_fixed_folds_yield_the_given_folds_in_order():
    from automux.adapters.flaml_adapter import FixedFolds

    folds = [(np.array([2, 3, 4, 5]), np.array([0, 1])), (np.array([0, 1, 4, 5]), np.array([2, 3])),
             (np.array([0, 1, 2, 3]), np.array([4, 5]))]
    splitter = FixedFolds(folds, 6)
    assert splitter.get_n_splits() == 3 and splitter.shuffle is False
    got = list(splitter.split(np.zeros((6, 1))))
    assert all(np.array_equal(f, gf) and np.array_equal(v, gv) for (f, v), (gf, gv) in zip(folds, got))
    with pytest.raises(RuntimeError):
        list(splitter.split(np.zeros((5, 1))))
