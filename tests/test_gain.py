"""Gain over the baseline on the same folds, its fold spread, and when it is fragile."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import automux
from automux.core.errors import SpecError
from automux.governance import gain
from automux.governance.readiness import check_data


def test_consistent_gain_is_not_fragile():
    g = gain.fold_gain([0.90, 0.91, 0.92, 0.90, 0.91], [0.80, 0.80, 0.81, 0.79, 0.80], greater_is_better=True)
    assert g["mean_gain"] == pytest.approx(0.108)
    assert g["fold_spread"] == pytest.approx(np.std([0.10, 0.11, 0.11, 0.11, 0.11], ddof=1))
    expected_t = 0.108 / math.sqrt((1 / 5 + 1 / 4) * g["fold_spread"] ** 2)
    assert g["t"] == pytest.approx(expected_t)
    assert g["t_critical"] == pytest.approx(2.132)
    assert not g["fragile"] and g["folds_worse"] == 0


def test_gain_inside_the_fold_noise_is_fragile():
    # mean gain +0.01, but the folds disagree on its sign
    g = gain.fold_gain([0.85, 0.80, 0.90, 0.78, 0.92], [0.83, 0.82, 0.86, 0.80, 0.89], greater_is_better=True)
    assert g["mean_gain"] == pytest.approx(0.01)
    assert g["fragile"] and g["folds_worse"] == 2


def test_lower_is_better_metrics_gain_when_the_loss_drops():
    g = gain.fold_gain([0.30, 0.31, 0.29], [0.69, 0.70, 0.69], greater_is_better=False)
    assert g["mean_gain"] == pytest.approx(0.3933333, rel=1e-6)
    assert not g["fragile"]
    worse = gain.fold_gain([0.70, 0.71, 0.70], [0.69, 0.70, 0.69], greater_is_better=False)
    assert worse["mean_gain"] < 0 and worse["fragile"]


def test_no_gain_and_too_few_folds_are_fragile():
    assert gain.fold_gain([0.5, 0.5], [0.5, 0.5], True)["fragile"]
    assert gain.fold_gain([0.9], [0.5], True)["fragile"]
    assert gain.fold_gain([None, None], [0.5, 0.5], True)["mean_gain"] is None
    assert not gain.fold_gain([0.7, 0.7, 0.7], [0.5, 0.5, 0.5], True)["fragile"]  # a constant, real gain


@pytest.fixture(scope="module")
def xor_data() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    X = rng.uniform(-1, 1, size=(500, 4))
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["y"] = ((X[:, 0] * X[:, 1] > 0) ^ (X[:, 2] > 0.6)).astype(int)
    return frame


def test_forest_on_nonlinear_data_has_a_real_gain(xor_data, tmp_path):
    readiness = check_data(xor_data, "y", seed=5)
    record = automux.run(xor_data, "y", "reference", budget_trials=3, seed=5, store=tmp_path, inline=True)
    assert record.candidates[record.chosen].algorithm == "random_forest"
    g = gain.compute(record, readiness)
    assert g["available"] and not g["fragile"]
    assert g["baseline"] == readiness.best_baseline.name
    folds = record.candidates[record.chosen].fold_scores
    assert g["fold_gains"] == pytest.approx([f - b for f, b in zip(folds, readiness.best_baseline.fold_scores)])
    assert g["holdout_gain"] == pytest.approx(record.score - readiness.best_baseline.holdout)
    assert g["gains"]["dummy"] > 0.3
    assert "outside the fold noise" in g["reason"]
    # the same computation from the JSON that run records carry
    assert gain.compute(record, readiness.to_json())["mean_gain"] == g["mean_gain"]


def test_chosen_linear_model_has_no_gain_over_the_linear_baseline(tmp_path):
    readiness = check_data("sklearn:breast_cancer", seed=2)
    record = automux.run("sklearn:breast_cancer", backend="reference", budget_trials=2, seed=2, store=tmp_path,
                         inline=True)
    g = gain.compute(record, readiness)
    assert g["baseline"] == "linear" and g["mean_gain"] == 0.0
    assert g["fragile"] and "no gain" in g["reason"]
    assert g["gains"]["dummy"] > 0.4


def test_gain_refuses_a_readiness_from_other_folds(tmp_path):
    readiness = check_data("sklearn:iris", seed=1, folds=3)
    record = automux.run("sklearn:iris", backend="reference", budget_trials=1, seed=2, folds=3, store=tmp_path,
                         inline=True)
    with pytest.raises(SpecError, match="other folds"):
        gain.compute(record, readiness)


def test_run_without_a_chosen_candidate_has_no_gain(tmp_path):
    import dataclasses

    readiness = check_data("sklearn:iris", seed=1, folds=3)
    record = automux.run("sklearn:iris", backend="reference", budget_trials=1, seed=1, folds=3, store=tmp_path,
                         inline=True)
    failed = dataclasses.replace(record, status="crashed", chosen=None)
    out = gain.compute(failed, readiness)
    assert out["available"] is False and "chose no candidate" in out["reason"]
