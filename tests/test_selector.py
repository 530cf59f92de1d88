"""The selector: profile, hard rules that name themselves, soft rules, evidence, plugin rules."""
from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from automux.core import plugins
from automux.core.hookspecs import hookimpl
from automux.select import Constraints, Profile, Rule, profile, rank
from helpers import backend_row as _backend


def _profile(**kw):
    base = dict(rows=5000, features=10, numeric=10, categorical=0, text=0, datetime=0, missing_share=0.0,
                task="binary", classes=2, imbalance=1.0, memory_mb=1.0)
    base.update(kw)
    return Profile(**base)


def test_profile_measures_column_kinds_missing_and_imbalance():
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({
        "num": rng.normal(size=n),
        "cat": rng.choice(["a", "b", "c"], size=n),
        "text": [f"free text number {i} with several words in it" for i in range(n)],
        "when": pd.date_range("2021-01-01", periods=n, freq="h"),
        "y": (np.arange(n) % 4 == 0).astype(int),
    })
    df.loc[:29, "num"] = np.nan
    p = profile(df, "y")
    assert (p.rows, p.features, p.numeric, p.categorical, p.text, p.datetime) == (300, 4, 1, 1, 1, 1)
    assert p.missing_share == pytest.approx(30 / (300 * 4))
    assert p.task == "binary" and p.classes == 2 and p.imbalance == pytest.approx(225 / 75)
    assert p.memory_mb > 0 and p.size == "tiny"


@pytest.mark.parametrize("constraints,caps,rule", [
    (Constraints(trials=5), {"tasks": ["regression"]}, "task_supported"),
    (Constraints(time_budget_s=10), {"min_budget": {"trials": 1, "seconds": 30}}, "budget_above_minimum"),
    (Constraints(trials=2), {"min_budget": {"trials": 10, "seconds": 5}}, "budget_above_minimum"),
    (Constraints(time_budget_s=60, deterministic=True), {}, "determinism_possible"),
    (Constraints(trials=20, interpretable=True), {"produces": "ensemble"}, "interpretable_output"),
])
def test_hard_rules_exclude_and_name_the_rule(constraints, caps, rule):
    sel = rank(_profile(), constraints, [_backend("x", **caps)], result_files=[])
    assert sel.ranking == []
    assert sel.excluded[0]["backend"] == "x" and sel.excluded[0]["rule"] == rule
    assert sel.excluded[0]["reason"]


def test_determinism_with_seconds_suggests_a_count_budget():
    sel = rank(_profile(), Constraints(time_budget_s=60, deterministic=True), [_backend("x")], result_files=[])
    assert "--budget-trials" in sel.excluded[0]["reason"]
    sel = rank(_profile(), Constraints(trials=20, deterministic=True), [_backend("x")], result_files=[])
    assert sel.choice == "x"


def test_unbuildable_env_and_installed_only():
    isolated = dict(_backend("iso"), available=False, reason="env not built", env={"name": "iso"})
    assert rank(_profile(), Constraints(trials=5, allow_env_builds=False), [isolated], result_files=[]).excluded
    assert rank(_profile(), Constraints(trials=5), [isolated], result_files=[]).choice == "iso"
    assert rank(_profile(), Constraints(trials=5, installed_only=True), [isolated], result_files=[]).excluded


def test_soft_rules_follow_declared_strengths():
    backends = [_backend("baseline", strengths=["rapid", "transparent_baselines"]),
                _backend("big", strengths=["large_data", "distributed", "thorough_search"])]
    tiny = rank(_profile(rows=200), Constraints(trials=10), backends, result_files=[])
    assert tiny.choice == "baseline"
    large = rank(_profile(rows=2_000_000), Constraints(time_budget_s=3600, cluster=True), backends, result_files=[])
    assert large.choice == "big"
    assert all(r["reason"] for r in large.ranking[0]["reasons"])


def test_measured_evidence_ranks_the_better_backend_higher(tmp_path):
    path = tmp_path / "results.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["task", "framework", "constraint", "fold", "seed", "result"])
        w.writeheader()
        for fold in range(3):
            w.writerow({"task": "sklearn:breast_cancer", "framework": "good", "constraint": "trials5",
                        "fold": fold, "seed": 1, "result": 0.99})
            w.writerow({"task": "sklearn:breast_cancer", "framework": "bad", "constraint": "trials5",
                        "fold": fold, "seed": 1, "result": 0.90})
    backends = [_backend("bad"), _backend("good")]
    sel = rank(_profile(rows=600), Constraints(trials=5), backends, result_files=[str(path)])
    assert sel.choice == "good"
    assert any(r["rule"] == "benchmark_evidence" for r in sel.ranking[0]["reasons"])
    # leave-one-dataset-out: without that dataset, no evidence
    sel = rank(_profile(rows=600), Constraints(trials=5), backends, result_files=[str(path)],
               exclude_datasets=["sklearn:breast_cancer"])
    assert not any(r["rule"] == "benchmark_evidence" for x in sel.ranking for r in x["reasons"])


def test_plugins_can_add_rules():
    class NoX:
        @hookimpl
        def automux_selector_rules(self):
            return [Rule("no_x", "hard", lambda p, c, b: "x is banned here" if b["name"] == "x" else None)]

    plugins.register(NoX(), name="no-x")
    try:
        sel = rank(_profile(), Constraints(trials=5), [_backend("x"), _backend("y")], result_files=[])
    finally:
        plugins.unregister("no-x")
    assert sel.choice == "y"
    assert sel.excluded == [{"backend": "x", "rule": "no_x", "reason": "x is banned here"}]


def test_cli_select_json():
    import json

    from helpers import run_cli
    proc = run_cli("select", "--data", "sklearn:iris", "--budget-trials", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"profile", "constraints", "ranking", "excluded", "evidence", "constraint_evidence"}
    assert out["profile"]["rows"] == 150


# --- the documented scenarios (docs/selector.md), on the first-party adapters' declared capabilities ---

FIRST_PARTY = ("reference", "optuna", "flaml", "tpot", "h2o", "pycaret", "autosklearn")


@pytest.fixture(scope="module")
def first_party():
    """Every first-party adapter as if installed: the scenarios test declarations, not this machine."""
    import automux
    found = [dict(b, available=True, reason=None) for b in automux.backends() if b["name"] in FIRST_PARTY]
    assert sorted(b["name"] for b in found) == sorted(FIRST_PARTY)
    return found


SCENARIOS = {
    # name: (profile, constraints, top choice, {excluded backend: rule})
    "tiny data": (_profile(rows=150, features=4, numeric=4, task="multiclass", classes=3),
                  Constraints(trials=20), "reference", {}),
    "large data with a cluster": (_profile(rows=2_000_000, memory_mb=800.0),
                                  Constraints(time_budget_s=3600, cluster=True), "h2o", {}),
    "interpretability required": (_profile(), Constraints(trials=30, interpretable=True), "reference",
                                  {"h2o": "interpretable_output", "autosklearn": "interpretable_output"}),
    "determinism required with a seconds budget": (
        _profile(), Constraints(time_budget_s=120, deterministic=True), None,
        {name: "determinism_possible" for name in FIRST_PARTY}),
    "a 30 s budget": (_profile(), Constraints(time_budget_s=30), "flaml", {}),
    "regression with categoricals": (
        _profile(task="regression", classes=0, rows=3000, features=12, numeric=6, categorical=6),
        Constraints(trials=30), "flaml", {}),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_documented_scenarios(scenario, first_party):
    p, c, top, excluded = SCENARIOS[scenario]
    sel = rank(p, c, first_party, result_files=[])
    assert sel.choice == top
    assert {e["backend"]: e["rule"] for e in sel.excluded} == excluded
    for e in sel.excluded:
        assert e["reason"]
    for r in sel.ranking:
        assert all(why["reason"] for why in r["reasons"])
    if scenario == "determinism required with a seconds budget":
        assert all("--budget-trials" in e["reason"] for e in sel.excluded)
    if top is not None:
        assert sel.ranking[0]["score"] > sel.ranking[1]["score"], "the top choice must not win on a tie"


def test_declared_strengths_use_the_vocabulary(first_party):
    from automux.core.capabilities import STRENGTHS
    for b in first_party:
        assert set(b["capabilities"]["strengths"]) <= set(STRENGTHS), b["name"]
