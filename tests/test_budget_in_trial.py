"""Issue 22 item 5: every budget honoured inside a trial, and a best-so-far result.

The shared ``SearchTask.cross_validate(stop_at_deadline=True)`` cuts a trial at the search deadline (between
folds on its pace, inside a fold by a timer); the reference and Optuna adapters end with the best finished
candidate; with none, ``BudgetExhausted`` says how long the first one ran. The adapters run their real
backends (scikit-learn, Optuna) in this process; only the slow estimator is a fake, named as such.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automux.core.adapter import SearchTask, TrialOutOfTime
from automux.core.errors import BudgetExhausted
from automux.core.experiment.budget import Budget
from automux.core.experiment.metrics import get_metric

pytest.importorskip("sklearn")


def _task(seconds: float, tmp_path: Path, rows: int = 300, grace_s: float = 2.0, n_folds: int = 3) -> SearchTask:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(rows, 4)), columns=[f"f{i}" for i in range(4)])
    y = (X["f0"] + 0.3 * rng.normal(size=rows) > 0).astype(np.int64).to_numpy()
    fold_of = np.arange(rows) % n_folds
    folds = [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(n_folds)]
    return SearchTask(X=X, y=y, task="binary", classes=[0, 1], folds=folds, metric=get_metric("roc_auc", "binary"),
                      seed=0, budget=Budget(seconds=seconds, grace_s=grace_s), options={}, workdir=tmp_path,
                      deadline=time.monotonic() + seconds, log=lambda m: None)


class FakeSlowClassifier:
    """A fake estimator whose fit sleeps ``fit_s`` in small steps (as a forest fits tree after tree)."""

    def __init__(self, fit_s: float) -> None:
        self.fit_s = fit_s

    def fit(self, X, y):  # noqa: ANN001
        end = time.monotonic() + self.fit_s
        while time.monotonic() < end:
            time.sleep(0.01)
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):  # noqa: ANN001
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_reference_cuts_a_slow_trial_and_ends_with_the_best_so_far(tmp_path, monkeypatch):
    from automux.adapters import reference

    real = reference.build_model

    def slow_forest(algorithm, params, task, X, seed, n_jobs=1):  # noqa: ANN001
        return FakeSlowClassifier(60.0) if algorithm == "random_forest" else real(algorithm, params, task, X, seed,
                                                                                   n_jobs)

    monkeypatch.setattr(reference, "build_model", slow_forest)
    task = _task(seconds=4.0, tmp_path=tmp_path)
    t0 = time.monotonic()
    result = reference.ReferenceAdapter().search(task)
    took = time.monotonic() - t0
    # dummy and linear finished; the forest (60 s a fold) was cut at the deadline, not recorded, not waited for.
    assert [c.algorithm for c in task.candidates] == ["dummy", "linear"]
    assert took < 4.0 + 3.0, took  # the cut, not the forest: 60 s a fold (3 s of slack for a loaded CI machine)
    assert result.chosen == 1 and task.candidates[1].cv_score > 0.9
    # The chosen candidate's out-of-fold predictions come from its own fold models: they reproduce its fold scores.
    assert result.oof is not None and result.oof.shape == (len(task.X), 2)
    for (_, valid), recorded in zip(task.folds, task.candidates[1].fold_scores):
        assert task.metric(task.y[valid], result.oof[valid]) == pytest.approx(recorded, rel=1e-12)
    assert reference.ReferenceAdapter().predict(result.model, task.X).shape == (len(task.X), 2)


def test_optuna_cuts_a_slow_trial_and_ends_with_the_best_so_far(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    pytest.importorskip("lightgbm")
    from automux.adapters import optuna_adapter

    real = optuna_adapter.build_model

    def slow_non_linear(algorithm, params, task, X, seed, n_jobs=1):  # noqa: ANN001
        from sklearn.pipeline import Pipeline
        if algorithm == "linear":
            return real(algorithm, params, task, X, seed, n_jobs)
        return Pipeline([("model", FakeSlowClassifier(60.0))])

    monkeypatch.setattr(optuna_adapter, "build_model", slow_non_linear)
    task = _task(seconds=5.0, tmp_path=tmp_path)
    t0 = time.monotonic()
    result = optuna_adapter.OptunaAdapter().search(task)
    took = time.monotonic() - t0
    assert took < 5.0 + 3.0, took  # a 60 s trial was cut at the deadline (3 s of slack for a loaded CI machine)
    assert task.candidates and all(c.algorithm == "linear" for c in task.candidates)
    assert result.chosen == task.best_index() and result.oof is not None


def test_no_finished_candidate_says_so_and_how_long_the_first_ran(tmp_path):
    task = _task(seconds=0.5, tmp_path=tmp_path, grace_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(BudgetExhausted, match=r"no candidate finished within the seconds budget .*the first one "
                                              r"had run \d+\.\ds and finished 0 of 3 folds"):
        task.cross_validate(lambda Xf, yf, Xv: FakeSlowClassifier(30.0).fit(Xf, yf).predict_proba(Xv),
                            stop_at_deadline=True)
    # The first candidate may use half the grace past the deadline, no more.
    assert time.monotonic() - t0 < 0.5 + 0.5 + 0.5


def test_a_trial_whose_pace_projects_past_the_deadline_stops_between_folds(tmp_path):
    task = _task(seconds=1.0, tmp_path=tmp_path)
    task.add_candidate("done", {}, [0.6, 0.6, 0.6], fit_time_s=0.0)
    calls = []

    def fold(Xf, yf, Xv):  # noqa: ANN001
        calls.append(1)
        time.sleep(0.6)  # three folds need 1.8 s: the second would end past the deadline's projection
        return np.full((len(Xv), 2), 0.5)

    with pytest.raises(TrialOutOfTime, match="1 of 3 folds"):
        task.cross_validate(fold, stop_at_deadline=True)
    assert len(calls) == 1


def test_without_stop_at_deadline_the_helper_never_cuts(tmp_path):
    task = _task(seconds=0.05, tmp_path=tmp_path)
    time.sleep(0.1)
    scores = task.cross_validate(lambda Xf, yf, Xv: np.full((len(Xv), 2), 0.5))
    assert len(scores) == 3


def test_choose_prefers_a_candidate_whose_refit_fits_before_the_hard_stop(tmp_path):
    task = _task(seconds=2.0, tmp_path=tmp_path, grace_s=2.0)
    task.add_candidate("quick", {}, [0.7, 0.7, 0.7], fit_time_s=0.1)
    task.add_candidate("slow-but-better", {}, [0.9, 0.9, 0.9], fit_time_s=40.0)  # refit about 20 s: cannot fit
    assert task.best_index() == 1
    assert task.choose() == 0
    task.add_candidate("better-and-quick-enough", {}, [0.95, 0.95, 0.95], fit_time_s=1.0)  # its refit fits
    assert task.choose() == 2


def test_only_the_best_so_far_oof_is_kept(tmp_path):
    task = _task(seconds=60.0, tmp_path=tmp_path)
    a = task.add_candidate("a", {}, [0.7, 0.7, 0.7])
    task.keep_oof(a, np.zeros((len(task.X), 2)))
    b = task.add_candidate("b", {}, [0.6, 0.6, 0.6])
    task.keep_oof(b, np.ones((len(task.X), 2)))  # not the best: dropped
    assert task.oof_for(0) is not None and task.oof_for(1) is None
    c = task.add_candidate("c", {}, [0.8, 0.8, 0.8])
    task.keep_oof(c, np.ones((len(task.X), 2)))
    assert task.oof_for(0) is None and task.oof_for(2) is not None


def test_through_the_worker_a_slow_later_trial_is_cut_and_the_run_ends_ok(store, fakes_on_path):
    import automux
    from automux.core.run.execute import execute
    from fake_budget_adapters import FakeSlowTrialsAdapter

    exp = automux.experiment("sklearn:iris", "target", budget_seconds=3, grace_s=4, seed=1)
    t0 = time.monotonic()
    rec = execute(exp, FakeSlowTrialsAdapter(), store=store, options={"first_fold_s": 0.0, "fold_s": 60.0})
    wall = time.monotonic() - t0
    assert rec.status == "ok", rec.error
    assert len(rec.candidates) == 1 and rec.chosen == 0
    assert rec.durations["search"] < 3 + 1, rec.durations  # cut at the deadline, not after a 60 s fold
    assert wall < 60, wall


def test_through_the_worker_no_finished_candidate_ends_timeout_with_the_reason(store, fakes_on_path):
    import automux
    from automux.core.run.execute import execute
    from fake_budget_adapters import FakeSlowTrialsAdapter

    exp = automux.experiment("sklearn:iris", "target", budget_seconds=1, grace_s=4, seed=1)
    rec = execute(exp, FakeSlowTrialsAdapter(), store=store, options={"first_fold_s": 60.0})
    assert rec.status == "timeout", (rec.status, rec.error)
    assert "no candidate finished within the seconds budget" in rec.error and "had run" in rec.error, rec.error
    assert rec.candidates == []
