"""automux.fit / automux.load: a Predictor to hold (issue 25), on the real reference backend."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

import automux
import automux.core.experiment.metrics
from automux.core.errors import DataError, RunNotFound


@pytest.fixture(scope="module")
def iris_frame():
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns={"target": "species"})
    frame["species"] = np.asarray(data.target_names)[frame["species"]]
    frame.index = [f"row{i}" for i in range(len(frame))]  # a non-default index, to see it kept
    return frame


@pytest.fixture(scope="module")
def predictor(iris_frame, tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    return automux.fit(iris_frame, "species", "reference", budget_trials=3, seed=3, store=str(store))


def test_fit_returns_a_predictor_that_load_gives_back(predictor):
    again = automux.load(predictor.run_id, store=predictor._store)
    assert again.record == predictor.record
    assert predictor.task == "multiclass" and predictor.classes == ["setosa", "versicolor", "virginica"]
    assert predictor.metric == predictor.record.metric and predictor.score == predictor.record.score


def test_predict_proba_and_predict_keep_the_index_and_the_labels(predictor, iris_frame):
    new = iris_frame.drop(columns="species").iloc[::15]
    proba = predictor.predict_proba(new)
    assert list(proba.columns) == predictor.classes and list(proba.index) == list(new.index)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    labels = predictor.predict(new)
    assert list(labels.index) == list(new.index) and labels.name == "species"
    assert (labels == proba.idxmax(axis=1)).all()


def test_evaluate_on_the_runs_own_holdout_gives_the_recorded_score(predictor, iris_frame):
    exp = automux.experiment(iris_frame, "species", budget_trials=3, seed=3)  # the same seed: the same split
    assert exp.spec.spec_id == predictor.record.spec_id
    holdout = iris_frame.iloc[list(exp.split.holdout)]
    scores = predictor.evaluate(holdout)
    assert list(scores)[0] == predictor.metric
    assert scores[predictor.metric] == pytest.approx(predictor.score, abs=1e-12)


def test_evaluate_refuses_data_without_the_target_or_with_unseen_labels(predictor, iris_frame):
    with pytest.raises(DataError, match="target column 'species'"):
        predictor.evaluate(iris_frame.drop(columns="species"))
    odd = iris_frame.iloc[:3].assign(species="orchid")
    with pytest.raises(DataError, match="orchid"):
        predictor.evaluate(odd)


def test_leaderboard_lists_every_candidate_best_first_with_the_chosen_marked(predictor):
    board = predictor.leaderboard()
    assert len(board) == len(predictor.record.candidates)
    assert board["chosen"].sum() == 1
    scores = board["cv_score"].dropna().to_list()
    greater = automux.core.experiment.metrics.get_metric(predictor.metric, predictor.task).greater_is_better
    assert scores == sorted(scores, reverse=greater) and len(set(scores)) > 1
    assert int(board.loc[board["chosen"], "candidate"].iloc[0]) == predictor.record.chosen


def test_regression_has_no_probabilities(tmp_path):
    frame = pd.DataFrame({"x": np.arange(60.0), "z": np.sin(np.arange(60.0))})
    frame["y"] = 2 * frame["x"] + frame["z"]
    reg = automux.fit(frame, "y", "reference", budget_trials=2, seed=1, store=str(tmp_path))
    with pytest.raises(DataError, match="regression"):
        reg.predict_proba(frame)
    pred = reg.predict(frame.drop(columns="y"))
    assert pred.shape == (60,) and np.isfinite(pred).all()


def test_load_of_an_unknown_run_is_a_user_error(tmp_path):
    with pytest.raises(RunNotFound):
        automux.load("20990101T000000Z-deadbeef", store=str(tmp_path))
