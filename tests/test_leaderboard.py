"""The hold-out score's bootstrap interval (issue 25: 'which model won, how sure am I')."""
from __future__ import annotations

import numpy as np

from automux.core.run.leaderboard import holdout_ci


def _binary(n, seed=0, noise=0.8):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p1 = np.clip(y + rng.normal(0, noise, n), 0, 1) * 0.98 + 0.01
    return y, np.column_stack([1 - p1, p1])


def test_interval_is_seeded_holds_the_score_and_narrows_with_rows():
    y, pred = _binary(200)
    a, b = holdout_ci("roc_auc", "binary", y, pred, seed=3), holdout_ci("roc_auc", "binary", y, pred, seed=3)
    assert a == b and a["used"] == a["resamples"] == 200 and a["level"] == 0.95
    assert holdout_ci("roc_auc", "binary", y, pred, seed=4) != a
    from automux.core.experiment.metrics import get_metric
    score = get_metric("roc_auc", "binary")(y, pred)
    assert a["low"] < score < a["high"]
    y2, pred2 = _binary(5000)
    wide = holdout_ci("roc_auc", "binary", y, pred, seed=0)
    narrow = holdout_ci("roc_auc", "binary", y2, pred2, seed=0)
    assert narrow["high"] - narrow["low"] < (wide["high"] - wide["low"]) / 2


def test_regression_and_lower_is_better():
    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    ci = holdout_ci("rmse", "regression", y, y + rng.normal(0, 0.5, 300), seed=0)
    assert 0.4 < ci["low"] < 0.5 < ci["high"] < 0.6


def test_no_interval_when_most_resamples_cannot_be_scored():
    """Two hold-out rows of different classes: most resamples hold one class and have no ROC AUC."""
    y = np.array([0, 1])
    pred = np.array([[0.9, 0.1], [0.2, 0.8]])
    ci = holdout_ci("roc_auc", "binary", y, pred, seed=0)
    assert ci["low"] is None and ci["high"] is None and ci["used"] < ci["resamples"] / 2


def test_the_fast_roc_auc_equals_the_metric():
    """The interval's vectorised ROC AUC is the metric's own, ties and multiclass included."""
    import warnings

    from automux.core.experiment.metrics import roc_auc
    from automux.core.run.leaderboard import _fast_roc_auc

    rng = np.random.default_rng(0)
    for trial in range(100):
        n, k = int(rng.integers(2, 60)), int(rng.choice([2, 3, 4]))
        y = rng.integers(0, k, n)
        pred = rng.integers(0, 5, (n, k)) / 4 if trial % 2 else rng.random((n, k))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = roc_auc(y, pred)
        got = _fast_roc_auc(y, pred)
        assert (np.isnan(want) and np.isnan(got)) or abs(want - got) < 1e-12


def test_a_large_hold_out_takes_fewer_resamples_and_says_so():
    from automux.core.run.leaderboard import CI_MAX_RESAMPLED_ROWS, CI_MIN_RESAMPLES, holdout_ci

    rng = np.random.default_rng(1)
    n = 400_000
    y = rng.random(n)
    ci = holdout_ci("rmse", "regression", y, y + rng.normal(0, 0.1, n), seed=3)
    assert ci["resamples"] == max(CI_MIN_RESAMPLES, CI_MAX_RESAMPLED_ROWS // n) == 25
    assert ci["used"] == 25 and ci["low"] < ci["high"]
