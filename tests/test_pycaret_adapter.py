"""The pycaret adapter against real PyCaret 3.3.2, in its own env (built once per machine), count budgets."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import automux
from automux.core.experiment.spec import candidates_identity

from helpers import run_cli

slow = pytest.mark.slow

BREAST = "sklearn:breast_cancer"


@pytest.fixture(scope="module")
def env_built():
    proc = run_cli("env", "build", "pycaret", "--json", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def two_runs(env_built, tmp_path_factory):
    """The same spec twice: 3 trials (lr, nb, dt of the fixed include list) on 5 folds."""
    store = tmp_path_factory.mktemp("pycaret-store")
    a = automux.run(BREAST, "target", "pycaret", budget_trials=3, seed=0, store=store)
    b = automux.run(BREAST, "target", "pycaret", budget_trials=3, seed=0, store=store)
    return store, a, b


@slow
def test_count_budget_gives_identical_runs(two_runs):
    _, a, b = two_runs
    assert a.status == b.status == "ok", (a.error, b.error)
    assert a.predictions_sha256 == b.predictions_sha256
    assert candidates_identity(a.candidates) == candidates_identity(b.candidates)
    assert [c.fold_scores for c in a.candidates] == [c.fold_scores for c in b.candidates]
    assert a.chosen == b.chosen


@slow
def test_fixed_include_list_scored_on_every_fold_and_best_chosen(two_runs):
    _, a, _ = two_runs
    assert [c.algorithm for c in a.candidates] == ["lr", "nb", "dt"]
    for c in a.candidates:
        assert len(c.fold_scores) == 5 and all(0.5 < s <= 1.0 for s in c.fold_scores)
        assert len(set(c.fold_scores)) > 1  # per-fold values, not a repeated mean
    best = max(range(3), key=lambda i: a.candidates[i].cv_score)
    assert a.chosen == best
    assert a.candidates[0].params["random_state"] == a.spec.seeds["backend"]  # session_id from the derived seed
    assert a.score > 0.9


@slow
def test_runs_in_its_own_env_with_the_lock_fingerprint(two_runs, env_built):
    _, a, _ = two_runs
    info = a.env["automux_env"]
    assert info["isolated"] is True and info["name"] == "pycaret"
    assert info["fingerprint"] == env_built["fingerprint"]
    assert a.env["python"].startswith("3.11.") and a.env["packages"]["pycaret"] == "3.3.2"
    assert a.env["packages"]["scikit-learn"] == "1.4.2"
    assert Path(a.env["executable"]).parent.parent == Path(env_built["path"])


@slow
def test_pycaret_writes_only_into_its_scratch_dir(two_runs):
    store, a, _ = two_runs
    run_dir = Path(store) / a.run_id
    assert not (run_dir / "logs.log").exists() and not Path(os.getcwd(), "logs.log").exists()
    assert list((run_dir / "scratch").glob("*.log"))


@slow
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
    assert out["env_matches"] is True and out["env"]["name"] == "pycaret" and out["rows"] == len(holdout)
    import pandas as pd
    table = pd.read_csv(out["predictions"])
    assert list(table.columns) == ["0", "1"] and np.allclose(table.sum(axis=1), 1.0)


@slow
def test_predict_with_no_build_and_no_env_exits_2(two_runs, tmp_path):
    store, a, _ = two_runs
    proc = run_cli("--store", str(store), "predict", a.run_id, "--data", BREAST, "--no-build",
                   env={"AUTOMUX_HOME": str(tmp_path / "empty-home")})
    assert proc.returncode == 2
    assert "automux env build pycaret" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_options_are_refused_before_any_worker_starts():
    from automux.core.errors import SpecError
    from automux.adapters.pycaret_adapter import PyCaretAdapter

    PyCaretAdapter().check_options({"include": ["lr", "rf"]})
    for bad in [{"n_iter": 3}, {"include": "lr"}, {"include": []}]:
        with pytest.raises(SpecError):
            PyCaretAdapter().check_options(bad)


@slow
def test_seconds_budget_tunes_after_compare_until_nothing_is_left(env_built, tmp_path):
    """A seconds budget: compare_models, then tune_model rounds on its models; every draw is a candidate on the
    spec's folds, the chosen one is a model fitted on all rows, and an early end says why."""
    rec = automux.run("sklearn:iris", "target", "pycaret", budget_seconds=30, seed=0, store=tmp_path,
                      options={"include": ["nb"]}, readiness=False)
    assert rec.status == "ok", rec.error
    info = rec.extra["search_info"]
    rounds = info["tuning"]["rounds"]
    assert rounds and all(r["estimator"] == "nb" and r["n_iter"] >= 1 for r in rounds)
    draws = [c for c in rec.candidates if "draw" in (c.info.get("tuning") or {})]
    tuned = [c for c in rec.candidates if (c.info.get("tuning") or {}).get("tuned")]
    assert len(draws) == sum(r["n_iter"] for r in rounds if not r.get("cut"))
    assert len(tuned) == len([r for r in rounds if not r.get("cut")]) >= 1  # a round the deadline cut records nothing
    assert all(len(c.fold_scores) == 5 and all(s is not None and s >= 0 for s in c.fold_scores) for c in draws)
    # the tuned refit of a round scores exactly what its best draw scored on the same folds (same sign, same folds)
    r0 = [c for c in draws if c.info["tuning"]["round"] == 0]
    assert min(c.cv_score for c in r0) == pytest.approx(tuned[0].cv_score, rel=1e-9)
    assert rec.chosen in [0] + [c.index for c in tuned]  # compare's pick or a tuned model: both fitted on all rows
    assert rec.candidates[rec.chosen].cv_score == min(rec.candidates[i].cv_score for i in [0] + [c.index for c in tuned])
    # nb's grid is small: the search ends before the budget, and says why
    assert info["search_ended"].startswith(("nothing left to try", "the seconds budget ran out"))
    assert rec.durations["search"] <= 30 + 15
