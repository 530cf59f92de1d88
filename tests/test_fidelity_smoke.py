"""benchmarks/fidelity/fidelity.py at smoke size: scikit-learn scoring, a native recipe, the table."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "fidelity" / "fidelity.py"


@pytest.fixture(scope="module")
def fid():
    spec = importlib.util.spec_from_file_location("fidelity", PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_scores_are_higher_is_better(fid):
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    assert fid.sk_score("roc_auc", "binary", y, p, 2) == 1.0
    assert fid.sk_score("log_loss", "binary", y, p, 2) < 0
    assert fid.sk_score("rmse", "regression", np.array([1.0, 2.0]), np.array([1.0, 4.0]), 0) == pytest.approx(-math.sqrt(2))
    # a class absent from the training rows: its column is 0, the others keep their codes
    full = fid._full_proba(np.array([[0.3, 0.7]]), [0, 2], 3)
    assert full.tolist() == [[0.3, 0.0, 0.7]]


def test_native_optuna_recipe_runs_on_a_tiny_frame(fid):
    pytest.importorskip("lightgbm")
    pytest.importorskip("optuna")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    y = (X["a"] > 0).astype(int).to_numpy()
    pred, info = fid.native_optuna(X, y, X.iloc[:10], "binary", 2, 0.5, 0)
    assert pred.shape == (10, 2) and np.allclose(pred.sum(axis=1), 1) and info["models"] >= 1


def test_summary_table_counts_failures_and_medians(fid):
    rows = [{"backend": "flaml", "dataset": "d", "metric": "roc_auc", "seed": str(s), "automux_status": "ok",
             "native_status": "ok", "automux_score": "0.9", "native_score": str(0.9 - d), "diff": str(d),
             "automux_wall_s": "20", "native_wall_s": "10", "wall_ratio": "2", "seconds": "20.0"} for s, d in enumerate([0.01, 0.03])]
    rows.append({"backend": "flaml", "dataset": "e", "metric": "roc_auc", "seed": "0", "automux_status": "ok",
                 "native_status": "failed", "automux_score": "0.8", "seconds": "20.0"})
    md = fid.summarise(rows)
    assert "## flaml, 20s" in md and "| roc_auc | 3 | 0.0200 |" in md and "| 0 / 1 |" in md and "| 2.00 |" in md


def test_tpot_and_h2o_recipes_are_registered_and_tpot_frames_are_prepared(fid):
    assert {"tpot", "h2o"} <= set(fid.NATIVE) and {"tpot", "h2o"} <= set(fid.BACKENDS)
    num = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]})
    assert not fid._needs_prep(num)
    assert fid._needs_prep(num.assign(a=[1.0, np.nan]))
    cat = num.assign(c=pd.Categorical(["u", None]))
    assert fid._needs_prep(cat)
    out = fid._objects(cat)  # TPOT's preprocessing one-hot encodes object columns only
    assert out["c"].dtype == object and out["c"].iloc[0] == "u" and pd.isna(out["c"].iloc[1])
    assert out["a"].dtype == float and out["b"].dtype == num["b"].dtype


def test_isolated_recipes_are_registered_and_a_missing_env_is_named(fid, tmp_path, monkeypatch):
    assert {"pycaret", "autosklearn", "autogluon"} <= set(fid.NATIVE) <= set(fid.BACKENDS)
    assert fid.ISOLATED_SCRIPT.is_file()
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.cache/automux/envs here
    with pytest.raises(RuntimeError, match="automux env build pycaret"):
        fid.env_python("pycaret")


def test_a_round_is_a_table_of_its_own(fid):
    base = {"backend": "h2o", "dataset": "d", "metric": "roc_auc", "seed": "0", "automux_status": "ok",
            "native_status": "ok", "automux_score": "0.9", "native_score": "0.9", "diff": "0.0", "seconds": "30.0"}
    md = fid.summarise([dict(base), dict(base, round="issue22", diff="0.01", load1="4.5")])
    assert "## h2o, 30s\n" in md and "## h2o, 30s, round issue22\n" in md and "| 4.5 |" in md
