"""The autosklearn adapter against real auto-sklearn 0.15 on Python 3.9, in its own env, count budgets."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import automux
from automux.core.experiment.spec import candidates_identity

from helpers import run_cli

slow = pytest.mark.slow
py39 = pytest.mark.py39

BREAST = "sklearn:breast_cancer"
TRIALS = 3
FOLDS = 3


@pytest.fixture(scope="module")
def env_built():
    proc = run_cli("env", "build", "autosklearn", "--json", timeout=1800)
    if proc.returncode == 2 and "needs Python" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def two_runs(env_built, tmp_path_factory):
    """The same spec twice: runcount_limit 3 (2 meta-learning configurations + 1 from SMAC) on 3 folds."""
    store = tmp_path_factory.mktemp("autosklearn-store")
    args = dict(budget_trials=TRIALS, folds=FOLDS, seed=0, store=store)
    a = automux.run(BREAST, "target", "autosklearn", **args)
    b = automux.run(BREAST, "target", "autosklearn", **args)
    return store, a, b


@slow
@py39
def test_count_budget_gives_identical_runs(two_runs):
    _, a, b = two_runs
    assert a.status == b.status == "ok", (a.error, b.error, a.log[-3000:])
    assert a.predictions_sha256 == b.predictions_sha256
    assert candidates_identity(a.candidates) == candidates_identity(b.candidates)
    assert [c.fold_scores for c in a.candidates] == [c.fold_scores for c in b.candidates]


@slow
@py39
def test_every_smac_run_is_a_candidate_with_per_fold_scores(two_runs):
    _, a, _ = two_runs
    assert len(a.candidates) == TRIALS
    assert [c.info["num_run"] for c in a.candidates] == sorted(c.info["num_run"] for c in a.candidates)
    for c in a.candidates:
        assert c.info["autosklearn_status"] == "SUCCESS"
        assert len(c.fold_scores) == FOLDS and all(s is not None and 0.5 < s <= 1.0 for s in c.fold_scores)
        # automux's per-fold AUCs agree with auto-sklearn's own mean over the folds (1 - loss)
        assert abs(c.cv_score - (1.0 - c.info["autosklearn_loss"])) < 0.01
        assert c.steps[-1] == c.algorithm and "classifier:__choice__" in c.params
    assert a.chosen is not None and a.score > 0.9


@slow
@py39
def test_runs_on_python39_in_its_own_env(two_runs, env_built):
    _, a, _ = two_runs
    info = a.env["automux_env"]
    assert info["isolated"] is True and info["name"] == "autosklearn"
    assert info["fingerprint"] == env_built["fingerprint"]
    assert a.env["python"].startswith("3.9.")
    assert a.env["packages"]["auto-sklearn"] == "0.15.0" and a.env["packages"]["scikit-learn"] == "0.24.2"


@slow
@py39
def test_predict_in_the_training_env_reproduces_the_holdout_hash(two_runs, tmp_path):
    store, a, _ = two_runs
    from sklearn.datasets import load_breast_cancer

    from automux.core.experiment.split import Split
    split = Split.from_json(json.loads((Path(store) / a.run_id / "split.json").read_text()))
    holdout = load_breast_cancer(as_frame=True).frame.iloc[list(split.holdout)]
    path = tmp_path / "holdout.parquet"
    holdout.to_parquet(path)
    proc = run_cli("--store", str(store), "predict", a.run_id, "--data", str(path), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["predictions_sha256"] == a.predictions_sha256
    assert out["env_matches"] is True and out["env"]["python"].startswith("3.9.")
    import pandas as pd
    table = pd.read_csv(out["predictions"])
    assert table.shape == (len(holdout), 2) and np.allclose(table.sum(axis=1), 1.0)


#: A short seconds budget (below the declared 30 s minimum): auto-sklearn's own 30 s floor does not apply to it.
SHORT_SECONDS = 20


@slow
@py39
def test_a_short_seconds_budget_searches_to_the_deadline_and_ends_ok(env_built, tmp_path):
    """SMAC runs until automux's deadline less the refit margin (auto-sklearn alone would stop it seconds
    early, or time out its first random forest), and a fast model is evaluated first: ok, with a candidate."""
    from automux.adapters.autosklearn_adapter import SECONDS_MARGIN

    rec = automux.run(BREAST, "target", "autosklearn", budget_seconds=SHORT_SECONDS, folds=FOLDS, seed=0,
                      store=tmp_path, readiness=False)
    assert rec.status == "ok", (rec.error, rec.log[-3000:])
    assert rec.candidates[0].algorithm == "lda" and rec.candidates[0].cv_score is not None
    assert rec.chosen is not None and rec.score > 0.9
    # SMAC's last evaluation may end at the deadline less the margin, not before it less 5 s more
    assert rec.durations["search"] >= SHORT_SECONDS - SECONDS_MARGIN - 1.0, rec.log[-3000:]
    assert "auto-sklearn: SMAC gets" in rec.log


def test_bad_options_are_refused_before_any_worker_starts():
    from automux.core.errors import SpecError
    from automux.adapters.autosklearn_adapter import AutoSklearnAdapter

    AutoSklearnAdapter().check_options({"metalearning": 0, "memory_limit": 2048})
    for bad in [{"runcount": 3}, {"metalearning": -1}, {"memory_limit": "2G"}]:
        with pytest.raises(SpecError):
            AutoSklearnAdapter().check_options(bad)


def test_evaluation_memory_follows_the_spec_memory_unless_the_option_says():
    from automux.adapters.autosklearn_adapter import eval_memory_mb

    assert eval_memory_mb(None) == 3072  # no --memory: auto-sklearn's memory_limit as before
    assert eval_memory_mb(4000) == 2400  # 60 % of the spec's memory per evaluation
    assert eval_memory_mb(300) == 256
