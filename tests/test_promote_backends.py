"""Promotion of each first-party backend's count-budget run: an explicit rebuild that reproduced its
fold scores, or a refusal naming why the candidate cannot be rebuilt (real backends, tiny budgets)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automux
from automux.core.registry import get_adapter
from automux.core.run.store import RunStore
from automux.governance.promote import FORBIDDEN, NOT_REBUILDABLE, NOT_REPRODUCIBLE, REFUSED, promote
from helpers import run_cli


@pytest.fixture(scope="module")
def xor_csv(tmp_path_factory) -> Path:
    """Numeric data where trees beat the linear baseline (so a reproduced rebuild can be promoted)."""
    rng = np.random.default_rng(11)
    X = rng.uniform(-1, 1, size=(400, 4))
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["y"] = ((X[:, 0] * X[:, 1] > 0) ^ (X[:, 2] > 0.6)).astype(int)
    path = tmp_path_factory.mktemp("data") / "xor.csv"
    frame.to_csv(path, index=False)
    return path


def _imports(path: str) -> set:
    names = set()
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.partition(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.partition(".")[0])
    return names


def _needs(backend: str) -> None:
    adapter = get_adapter(backend)
    reason = adapter.unavailable_reason() if hasattr(adapter, "unavailable_reason") else None
    if reason:
        pytest.skip(f"{backend}: {reason}")


def _assert_reproduced(decision: dict, record) -> None:
    """The candidate was rebuilt explicitly, in plain libraries, and its own seed gave back the recorded folds."""
    assert decision["rebuild"] == "explicit", decision["reason"]
    assert NOT_REPRODUCIBLE not in decision["codes"], decision["reason"]
    assert not (_imports(decision["code_path"]) & set(FORBIDDEN))
    assert not (set(decision["modules"]) & set(FORBIDDEN))
    recorded = record.candidates[decision["candidate"]].fold_scores
    rebuilt = decision["scores"]["revalidated"]["per_seed"][0]["fold_scores"]
    assert np.allclose(rebuilt, recorded, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend,options", [
    ("flaml", {"estimator_list": ["lgbm", "rf", "xgboost"]}),
    ("tpot", None),
])
def test_count_budget_candidates_rebuild_and_reproduce(backend, options, xor_csv, tmp_path):
    pytest.importorskip(backend)
    store = RunStore(tmp_path / "runs")
    record = automux.run(str(xor_csv), "y", backend, budget_trials=3, seed=5, store=store, options=options,
                         readiness=False)
    assert record.status == "ok", record.error
    for cand in record.candidates:
        if cand.cv_score is None:
            continue
        d = promote(record.run_id, store=store, candidate=cand.index, seeds=1)
        _assert_reproduced(d, record)
        if d["status"] == REFUSED:  # a reproduced rebuild is refused only on its scores, never its rebuild
            assert set(d["codes"]) <= {"worse_than_reported", "fragile_gain"}, d["reason"]


def test_flaml_categorical_columns_are_refused_with_the_reason():
    """FLAML's own category encoding is not rebuilt: the trial's rebuild says so instead of drifting."""
    pytest.importorskip("flaml")
    from automux.adapters.flaml_adapter import FlamlAdapter, learner_rebuild

    X = pd.DataFrame({"a": [1.0, 2.0], "c": pd.Categorical(["x", "y"])})
    info = learner_rebuild(object(), X)
    assert "categorical column(s) c" in info["refusal"]
    cand = automux.core.experiment.record.Candidate(index=0, algorithm="lgbm", params={}, steps=[],
                                                  fold_scores=[0.5], info={"rebuild": info})
    assert FlamlAdapter().rebuild_refusal(cand, "binary", {"a": "numeric", "c": "categorical"}) == info["refusal"]
    assert FlamlAdapter().candidate_source(cand, "binary", {"a": "numeric", "c": "categorical"}, 1) is None


@pytest.mark.needs_env
def test_pycaret_count_run_rebuilds_setup_and_estimator(tmp_path):
    """lr, nb, dt: setup's imputer + the estimator. nb and dt reproduce bit for bit in the main interpreter;
    a candidate whose scikit-learn version behaves differently there (lr: PyCaret pins 1.4.2) is refused
    with the per-fold difference, never promoted on a drifted rebuild."""
    _needs("pycaret")
    store = RunStore(tmp_path / "runs")
    record = automux.run("sklearn:iris", None, "pycaret", budget_trials=3, seed=5, store=store, readiness=False)
    assert record.status == "ok", record.error
    by_algorithm = {c.algorithm: c.index for c in record.candidates}
    assert {"nb", "dt"} <= set(by_algorithm), by_algorithm
    for algorithm, index in sorted(by_algorithm.items()):
        d = promote(record.run_id, store=store, candidate=index, seeds=1)
        assert d["rebuild"] == "explicit", d["reason"]
        assert "ColumnTransformer" in Path(d["code_path"]).read_text()  # setup's imputer came along
        if algorithm in ("nb", "dt"):
            _assert_reproduced(d, record)
        elif NOT_REPRODUCIBLE in d["codes"]:
            assert "recorded" in d["reason"] and "rebuilt" in d["reason"], d["reason"]


@pytest.mark.needs_env
def test_autosklearn_is_refused_naming_why_on_the_cli(tmp_path):
    _needs("autosklearn")
    store = tmp_path / "runs"
    record = automux.run("sklearn:iris", None, "autosklearn", budget_trials=2, seed=5, store=str(store),
                         readiness=False)
    assert record.status == "ok", record.error
    proc = run_cli("promote", record.run_id, "--store", str(store), "--seeds", "1", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    d = json.loads(proc.stdout)
    assert d["status"] == REFUSED and d["codes"] == [NOT_REBUILDABLE] and d["rebuild"] == NOT_REBUILDABLE
    assert "scikit-learn 0.24.2" in d["reason"] and d["code_path"] is None


@pytest.mark.parametrize("backend,why", [("h2o", "JVM objects"),
                                         pytest.param("autogluon", "bagged", marks=pytest.mark.needs_env)])
def test_jvm_and_bagged_backends_are_refused_naming_why(backend, why, tmp_path):
    """H2O (JVM models) and AutoGluon (bags of fold models in its own wrappers) declare why no rebuild exists."""
    _needs(backend)
    store = tmp_path / "runs"
    record = automux.run("sklearn:breast_cancer", None, backend, budget_trials=2, seed=5, store=str(store),
                         readiness=False)
    assert record.status == "ok", record.error
    proc = run_cli("promote", record.run_id, "--store", str(store), "--seeds", "1", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    d = json.loads(proc.stdout)
    assert d["status"] == REFUSED and d["codes"] == [NOT_REBUILDABLE] and why in d["reason"]
