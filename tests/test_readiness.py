"""The readiness check: baselines on the run's own folds, small-data and leakage warnings, the verdict."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import automux
from automux.governance.readiness import (BLOCKER, NOT_READY, READY, READY_WITH_WARNINGS, Readiness, check, check_data)
from helpers import run_cli


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="module")
def clean(cancer) -> Readiness:
    return check_data(cancer, "target", seed=3)


def _kinds(r: Readiness, column=None):
    return {w["kind"] for w in r.warnings if column is None or w["column"] == column}


def test_clean_data_is_ready_with_no_warnings(clean):
    assert clean.verdict == READY
    assert clean.warnings == []
    assert set(clean.baselines) == {"dummy", "linear"}
    assert clean.baselines["dummy"].fold_scores == [0.5] * 5  # a prior-only model has no ranking power
    assert clean.baselines["linear"].mean > 0.95
    assert clean.best_baseline.name == "linear"


def test_baselines_are_scored_on_exactly_the_runs_folds(clean, store, cancer):
    # the reference adapter's first two candidates are its dummy and linear models
    record = automux.run(cancer, "target", "reference", budget_trials=2, seed=3, store=store, inline=True)
    assert record.spec.split["fingerprint"] == clean.split_fingerprint
    assert record.candidates[0].fold_scores == clean.baselines["dummy"].fold_scores
    assert record.candidates[1].fold_scores == clean.baselines["linear"].fold_scores
    assert record.score == pytest.approx(clean.baselines["linear"].holdout, abs=1e-12)


def test_noisy_copy_of_the_target_is_a_blocker(cancer):
    rng = np.random.default_rng(0)
    leaky = cancer.assign(lab_result=cancer["target"] + rng.normal(0, 0.2, len(cancer)))
    r = check_data(leaky, "target", seed=3)
    assert r.verdict == NOT_READY
    leak = [w for w in r.warnings if w["column"] == "lab_result"]
    assert [w["kind"] for w in leak] == ["target_copy"]
    assert leak[0]["severity"] == BLOCKER and "near-copy" in leak[0]["reason"]
    assert all(w["column"] == "lab_result" for w in r.warnings)  # the real features are not blamed


def test_regression_near_copy_is_flagged():
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    rng = np.random.default_rng(1)
    frame["follow_up"] = frame["target"] * 1.1 + rng.normal(0, 0.1 * frame["target"].std(), len(frame))
    r = check_data(frame, "target")
    assert r.verdict == NOT_READY
    assert _kinds(r, "follow_up") == {"target_copy"}
    assert _kinds(r) == {"target_copy"}


def test_id_columns_are_flagged_but_not_blocking(cancer):
    rng = np.random.default_rng(2)
    frame = cancer.assign(customer_id=rng.permutation(len(cancer)) + 10_000,
                          patient=[f"patient-{i:04d}" for i in rng.permutation(len(cancer))])
    r = check_data(frame, "target", seed=3)
    assert r.verdict == READY_WITH_WARNINGS
    assert _kinds(r, "customer_id") == {"id_column"}
    assert _kinds(r, "patient") == {"id_column"}
    assert all(w["severity"] != BLOCKER for w in r.warnings)


def test_row_index_of_data_sorted_by_target_is_a_leak(cancer):
    ordered = cancer.sort_values("target", kind="mergesort").reset_index(drop=True)
    ordered.insert(0, "row", np.arange(len(ordered)))
    r = check_data(ordered, "target", seed=3)
    assert r.verdict == NOT_READY
    assert _kinds(r, "row") == {"id_column", "single_column_leak"}


def test_forty_rows_are_not_ready(cancer):
    small = cancer.sample(40, random_state=1).reset_index(drop=True)
    r = check_data(small, "target")
    assert r.verdict == NOT_READY
    size = [w for w in r.warnings if w["kind"] == "small_data"]
    assert size and size[0]["severity"] == BLOCKER
    assert "6 validation rows per fold" in size[0]["reason"]
    assert r.stats["rows"] == 40


def test_signal_free_data_has_unstable_folds():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(rng.normal(size=(600, 5)), columns=list("abcde"))
    frame["y"] = rng.integers(0, 2, 600)
    r = check_data(frame, "y")
    assert "unstable_folds" in _kinds(r)
    assert r.verdict == READY_WITH_WARNINGS


def test_readiness_round_trips_through_json(clean):
    again = Readiness.from_json(json.loads(json.dumps(clean.to_json())))
    assert again.to_json() == clean.to_json()
    assert again.best_baseline.fold_scores == clean.best_baseline.fold_scores


def test_check_takes_a_prepared_experiment():
    exp = automux.experiment("sklearn:iris", budget_trials=1, seed=2, folds=3)
    r = check(exp, leakage=False)
    assert len(r.baselines["linear"].fold_scores) == 3
    assert r.metric == "log_loss" and not r.greater_is_better
    assert r.best_baseline.name == "linear"


def test_cli_check_exit_codes_and_json(tmp_path, cancer):
    leaky = cancer.assign(copy=cancer["target"])
    path = tmp_path / "leaky.csv"
    leaky.to_csv(path, index=False)
    proc = run_cli("check", "--data", str(path), "--target", "target")
    assert proc.returncode == 1, proc.stderr
    assert "verdict: not ready" in proc.stdout and "baseline linear" in proc.stdout
    assert "blocker target_copy [copy]" in proc.stdout
    proc = run_cli("check", "--data", "sklearn:breast_cancer", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["verdict"] == READY and out["warnings"] == []
    assert set(out["baselines"]) == {"dummy", "linear"} and len(out["baselines"]["linear"]["fold_scores"]) == 5


def test_r_row_names_are_named_and_the_drop_is_printed(cancer, tmp_path):
    ordered = cancer.sort_values("target", kind="mergesort").reset_index(drop=True)
    path = tmp_path / "from_r.csv"
    ordered.to_csv(path)  # pandas writes its index as a leading unnamed column: read back as 'Unnamed: 0'
    ds = automux.load_data(str(path), "target")
    assert ds.row_name_column == "Unnamed: 0"
    r = check_data(str(path), "target", seed=3)
    row = [w for w in r.warnings if w["column"] == "Unnamed: 0" and w["kind"] == "id_column"]
    assert row and "R row names" in row[0]["reason"] and "--drop 'Unnamed: 0'" in row[0]["reason"]
    assert row[0]["fix"] == "--drop 'Unnamed: 0'"
    leak = [w for w in r.warnings if w["kind"] == "single_column_leak"]
    assert all(w["fix"] == f"--drop {w['column']}" or w["fix"].startswith("--drop '") for w in leak)
    dropped = check_data(str(path), "target", seed=3, drop=["Unnamed: 0"])
    assert "Unnamed: 0" not in {w["column"] for w in dropped.warnings}


def test_large_data_runs_on_a_stated_seeded_sample():
    n = 60_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(5)})
    frame["c"] = rng.choice(["a", "b", "c"], size=n)
    frame["y"] = (frame["x0"] + rng.normal(size=n) > 0).astype(int)
    a = check_data(frame, "y", seed=1, sample_rows=5_000)
    b = check_data(frame, "y", seed=1, sample_rows=5_000)
    s = a.stats["sample"]
    assert a.stats["sample_rows"] == s["rows"] and 4_900 <= s["rows"] <= 5_100 and s["of_rows"] == 45_000
    assert a.to_json()["baselines"] == b.to_json()["baselines"]  # seeded: the same sample every time
    assert a.stats["seconds"]["total"] > 0 and a.stats["rows"] == n
    assert a.split_fingerprint == automux.core.experiment.prepare.prepare(
        frame, "y", budget=automux.core.experiment.prepare.make_budget(trials=1), seed=1).split.fingerprint


def test_without_scikit_learn_one_line_names_the_extra(monkeypatch, cancer):
    import builtins
    from automux.governance.readiness import MissingExtra

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError("No module named 'sklearn'")
        return real(name, *args, **kwargs)

    exp = automux.core.experiment.prepare.prepare(cancer, "target",
                                                    budget=automux.core.experiment.prepare.make_budget(trials=1))
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(MissingExtra) as e:
        check(exp)
    assert "automux[sklearn]" in str(e.value) and "\n" not in str(e.value)
