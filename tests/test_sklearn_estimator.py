"""``automux.sklearn``: the scikit-learn estimators over every backend (issue 16.1).

The scikit-learn estimator checks run through ``parametrize_with_checks`` on
the ``reference`` backend with two trials and two folds, **inline**
(``inline=True``: the backend runs in the test process) and without the
readiness check. The checks make 91 runs (49 for the classifier, 42 for the
regressor); through the worker each costs a process start and the imports,
so the full list took 13.4 minutes there on a shared 2-core machine (every
check passed, measured 2026-12-02), against about 40 s inline. What the checks
test (the scikit-learn API: validation, shapes, cloning, pickling,
idempotence, feature names) does not depend on where the backend runs. The
worker path is covered by the tests below them (a pickling / idempotence
subset of the checks, ``cross_val_score`` with FLAML, a Pipeline, the
predict job).
"""
from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimators_pickle, check_fit_idempotent, parametrize_with_checks

from automux import sklearn as amx
from automux.sklearn import AutoMuxClassifier, AutoMuxRegressor, ModelIntegrityError

#: Checks that cannot apply, by estimator class, each with its reason. Empty:
#: with the reference backend every applicable check passes (check_estimators_nan_inf
#: is not run because the reference backend handles missing values, so the
#: estimators declare ``allow_nan``; check_array_api_input skips itself unless
#: SCIPY_ARRAY_API is set, and automux converts every input to a DataFrame anyway).
EXPECTED_FAILED_CHECKS = {"AutoMuxClassifier": {}, "AutoMuxRegressor": {}}

FAST = dict(backend="reference", budget_trials=2, folds=2, readiness=False)


@pytest.fixture(autouse=True)
def _store_in_tmp(tmp_path, monkeypatch):
    """Every fit of this module stores its run under the test's tmp dir (``store=None``)."""
    monkeypatch.setenv("AUTOMUX_STORE", str(tmp_path / "runs"))


@parametrize_with_checks([AutoMuxClassifier(inline=True, **FAST), AutoMuxRegressor(inline=True, **FAST)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        check(estimator)


@pytest.mark.slow
@pytest.mark.parametrize("check", [check_estimators_pickle, check_fit_idempotent])
@pytest.mark.parametrize("cls", [AutoMuxClassifier, AutoMuxRegressor])
def test_estimator_checks_through_the_worker(cls, check):
    """A subset of the checks with the backend in the worker process (the default)."""
    est = cls(**FAST)
    assert est.inline is False
    check(cls.__name__, est)


def _iris_frame():
    data = load_iris(as_frame=True)
    return data.data, data.target


@pytest.mark.slow
def test_cross_val_score_with_flaml_through_the_worker(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    keep = rng.choice(len(y), size=240, replace=False)
    est = AutoMuxClassifier(backend="flaml", budget_trials=5, folds=3, store=str(tmp_path / "s"))
    scores = cross_val_score(est, X[keep], y[keep], cv=3, error_score="raise")
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    assert scores.mean() > 0.85  # a majority-class guess scores about 0.63 here
    from automux.core.run.store import RunStore
    runs = RunStore(tmp_path / "s").list()
    assert len(runs) == 3 and {r["backend"] for r in runs} == {"flaml"} and {r["status"] for r in runs} == {"ok"}


@pytest.mark.slow
def test_pipeline_with_a_preprocessor_in_front():
    X, y = load_diabetes(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), AutoMuxRegressor(**FAST)).fit(X, y)
    est = pipe[-1]
    assert est.record_.status == "ok" and est.record_.execution == "worker"
    assert list(est.record_.spec.data["features"]) == [f"x{i}" for i in range(X.shape[1])]
    assert not hasattr(est, "feature_names_in_") and est.n_features_in_ == X.shape[1]
    assert pipe.score(X, y) > 0.3  # r2 of a mean guess is 0
    # the estimator saw the scaled data: the first column of its stored train frame is standardised
    from automux.core.run import jobfiles as jf
    first = jf.read_arrow(est._run_dir() / jf.TRAIN).iloc[:, 0]
    assert abs(first.mean()) < 0.2 and 0.8 < first.std() < 1.2


def test_grid_search_over_budget(tmp_path):
    X, y = _iris_frame()
    grid = GridSearchCV(AutoMuxClassifier(inline=True, store=str(tmp_path / "g"), **{**FAST, "budget_trials": 1}),
                        {"budget_trials": [1, 2]}, cv=2, error_score="raise").fit(X, y)
    assert grid.best_params_ == {"budget_trials": 2}  # one trial is the dummy model, two add the linear one
    assert grid.best_estimator_.record_.spec.budget.trials == 2
    assert grid.best_estimator_.score(X, y) > 0.8


def test_dataframe_names_labels_and_predict_paths_agree(tmp_path, monkeypatch):
    X, y = _iris_frame()
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    X = X.assign(colour=pd.Series(np.where(X["sepal width (cm)"] > 3, "wide", "narrow")))
    est = AutoMuxClassifier(store=str(tmp_path / "d"), **FAST).fit(X, labels)
    assert list(est.feature_names_in_) == list(X.columns) and est.n_features_in_ == 5
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
    assert est.record_.spec.data["features"]["colour"] == "category"
    proba = est.predict_proba(X)
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1)
    assert set(est.predict(X)) <= set(est.classes_) and est.score(X, labels) > 0.8
    with pytest.raises(ValueError, match="feature names"):
        est.predict(X[list(X.columns[::-1])])
    # the predict job of the worker (the path of an isolated env) gives the same probabilities
    monkeypatch.setattr(AutoMuxClassifier, "_in_main_env", lambda self: False)
    jobs = est._run_dir() / "predict"
    assert np.allclose(est.predict_proba(X), proba, rtol=1e-12, atol=1e-12)
    assert len(list(jobs.iterdir())) == 1


def test_pickle_reloads_the_stored_model_and_checks_its_hash(tmp_path):
    X, y = _iris_frame()
    est = AutoMuxClassifier(store=str(tmp_path / "p"), **FAST).fit(X, y)
    expected = est.predict_proba(X)
    path = tmp_path / "est.pkl"
    path.write_bytes(pickle.dumps(est))
    X.to_csv(tmp_path / "X.csv", index=False)
    code = ("import pickle, sys, numpy as np, pandas as pd; est = pickle.load(open(sys.argv[1], 'rb')); "
            "np.save(sys.argv[3], est.predict_proba(pd.read_csv(sys.argv[2])))")
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "X.csv"), str(tmp_path / "p.npy")],
                   check=True, cwd=str(tmp_path))
    assert np.array_equal(np.load(tmp_path / "p.npy"), expected)

    model_file = next(f for f in (est._run_dir() / "model").iterdir() if f.is_file())
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    amx._MODELS.clear()  # a fresh process: nothing loaded yet
    with pytest.raises(ModelIntegrityError, match="sha256"):
        pickle.loads(path.read_bytes()).predict(X)


def test_unfitted_clone_and_params():
    from sklearn.base import clone

    est = AutoMuxRegressor(backend="flaml", budget_seconds=5.0, seed=3, options={"n_jobs": 1})
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin.options is not est.options
    assert twin.set_params(seed=4).seed == 4 and est.seed == 3


def test_cores_passes_through_only_where_run_takes_it():
    X, y = load_diabetes(return_X_y=True)
    est = AutoMuxRegressor(cores=1, inline=True, **FAST)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X[:80], y[:80])
    ignored = [w for w in caught if "cores= is ignored" in str(w.message)]
    assert len(ignored) == (0 if amx._run_accepts("cores") else 1)


def test_bad_input_is_refused_before_any_run():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match="only one class"):
        AutoMuxClassifier(inline=True, **FAST).fit(X[:40], np.zeros(40))
    with pytest.raises(ValueError, match="y to be passed"):
        AutoMuxRegressor(inline=True, **FAST).fit(X)
    with pytest.raises(LookupError, match="unknown backend"):
        AutoMuxRegressor(backend="no-such-backend", budget_trials=1).fit(X[:40], y[:40])


# --- what the search found, and the run as a stored run (issue 25) -------------------------------------------


@pytest.fixture(scope="module")
def iris_fit(tmp_path_factory):
    """One worker fit on iris, shared by the attribute tests below (store under a module tmp dir)."""
    X, y = _iris_frame()
    store = tmp_path_factory.mktemp("attrs") / "runs"
    return AutoMuxClassifier(store=str(store), **FAST).fit(X, y), X, y


def test_leaderboard_is_the_stored_runs_candidates(iris_fit):
    import automux

    est, _, _ = iris_fit
    board = est.leaderboard_
    assert isinstance(board, pd.DataFrame) and len(board) == len(est.record_.candidates) == 2
    assert board.iloc[0]["chosen"] and board.iloc[0]["candidate"] == est.record_.chosen
    pd.testing.assert_frame_equal(board, automux.load(est.run_id_, store=est.store_root_).leaderboard())


def test_best_estimator_is_the_rebuilt_pipeline_and_predicts_as_the_run(iris_fit):
    from sklearn.pipeline import Pipeline

    est, X, _ = iris_fit
    best = est.best_estimator_
    assert isinstance(best, Pipeline)  # the reference backend gives a candidate source: a plain sklearn rebuild
    assert best is est.best_estimator_  # built once
    np.testing.assert_allclose(best.predict_proba(X), est.predict_proba(X), rtol=1e-9, atol=1e-12)
    assert np.array_equal(est.classes_[best.predict(X)], est.predict(X))


def test_the_fit_data_is_stored_so_verify_and_explain_take_the_run(iris_fit):
    import automux

    est, X, _ = iris_fit
    source = Path(est.record_.spec.data["source"])
    assert source.parent == Path(est.store_root_) / amx.SOURCES_DIR and source.suffix == ".parquet"
    out = automux.verify(est.run_id_, store=est.store_root_)
    assert out["verdict"] == "identical", out
    imp = est.feature_importances_
    assert imp.shape == (X.shape[1],) and np.all(np.isfinite(imp))
    assert np.argmax(imp) in (2, 3)  # a petal measurement carries iris, not the sepal ones
    assert "importance" in str(est.record_.extra).lower()  # stored in the run's record, as `automux explain` does


def test_fitting_the_same_data_twice_stores_it_once(tmp_path):
    X, y = load_diabetes(return_X_y=True)
    for seed in (0, 1):
        AutoMuxRegressor(inline=True, store=str(tmp_path / "s"), seed=seed, **FAST).fit(X[:80], y[:80])
    assert len(list((tmp_path / "s" / amx.SOURCES_DIR).glob("*.parquet"))) == 1


def test_errors_name_the_python_parameters_not_cli_flags():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match=r"^test_size=1\.5: ") as info:
        AutoMuxRegressor(inline=True, **{**FAST, "readiness": False}, test_size=1.5).fit(X[:80], y[:80])
    assert "--" not in str(info.value)
    with pytest.raises(ValueError, match=r"^folds=1: ") as info:
        AutoMuxRegressor(inline=True, **{**FAST, "folds": 1}).fit(X[:80], y[:80])
    assert "--" not in str(info.value)


def test_test_size_zero_refits_the_chosen_candidate_on_all_rows(tmp_path):
    from automux.core.run import jobfiles as jf

    X, y = _iris_frame()
    est = AutoMuxClassifier(inline=True, store=str(tmp_path / "z"), test_size=0.0, **FAST).fit(X, y)
    assert est.refit_all_ and est.record_.status == "ok" and est.record_.score is not None
    # the search and its scores are the contract's (default hold-out); the final model saw every row
    assert len(jf.read_arrow(est._run_dir() / jf.TRAIN)) < len(X)
    best = est.best_estimator_
    assert best[-1].n_features_in_ == 4 and len(best[-1].classes_) == 3
    assert np.array_equal(est.predict_proba(X), best.predict_proba(X))
    held = AutoMuxClassifier(inline=True, store=str(tmp_path / "z"), **FAST).fit(X, y)
    assert not held.refit_all_ and not np.array_equal(held.predict_proba(X), est.predict_proba(X))
