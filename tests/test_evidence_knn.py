"""The evidence model (automux/select/evidence.py): prior + shrunk nearest-neighbour deviation,
normalised scores, thin evidence; the selector's use of it; the regret benchmark's fitting rule."""
from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import pytest

from automux.select import Constraints, Profile, rank
from automux.select import evidence, selector
from helpers import backend_row as _backend


def _p(**kw):
    base = dict(rows=1000, features=10, numeric=10, categorical=0, text=0, datetime=0, missing_share=0.0,
                task="binary", classes=2, imbalance=1.0, memory_mb=1.0)
    base.update(kw)
    return Profile(**base)


def _size_split_table(n_small=7, n_large=6, regression=0):
    """``small`` wins on every small data set, ``large`` on every large one; more small ones,
    so the prior (the best fixed backend) is ``small``. ``regression`` regression data sets
    where both tie."""
    scores, profiles = {}, {}
    for i in range(n_small):
        scores[f"s{i}"] = {"small": 1.0, "large": 0.0}
        profiles[f"s{i}"] = _p(rows=200 + 50 * i)
    for i in range(n_large):
        scores[f"l{i}"] = {"small": 0.0, "large": 1.0}
        profiles[f"l{i}"] = _p(rows=200_000 + 10_000 * i)
    for i in range(regression):
        scores[f"r{i}"] = {"small": 0.5, "large": 0.5}
        profiles[f"r{i}"] = _p(task="regression", classes=0, rows=500 + i)
    return evidence.EvidenceTable.from_scores(scores, profiles)


@pytest.fixture
def table(monkeypatch):
    t = _size_split_table()
    monkeypatch.setattr(evidence, "evidence_table", lambda files: t)
    return t


def test_distance_separates_kinds_and_grows_with_size():
    assert math.isinf(evidence.profile_distance(_p(), _p(task="regression", classes=0)))
    assert evidence.profile_distance(_p(), _p()) == 0
    assert evidence.profile_distance(_p(), _p(rows=10_000)) < evidence.profile_distance(_p(), _p(rows=100_000))


def test_normalised_scores_count_a_failure_as_zero():
    rows = [{"id": "d", "framework": fw, "constraint": "t", "fold": "0", "seed": "0", "result": r, "status": s}
            for fw, r, s in (("a", "0.9", "ok"), ("b", "0.8", "ok"), ("c", "", "failed"))]
    rows += [{"id": "d", "framework": fw, "constraint": "t", "fold": "1", "seed": "0", "result": r, "status": "ok"}
             for fw, r in (("a", "0.7", ), ("b", "0.8"), ("c", "0.6"))]
    n = evidence.normalised_scores(rows, "d")
    assert n == pytest.approx({"a": 0.75, "b": 0.5, "c": 0.0})


def test_neighbours_pick_each_backend_where_it_wins(table):
    backends = [_backend("large"), _backend("small")]
    for rows, winner in ((300, "small"), (250_000, "large")):
        sel = rank(_p(rows=rows), Constraints(trials=10), backends, result_files=["x.csv"], k=3, shrink=0.0)
        assert sel.choice == winner, (rows, sel.ranking)
        top = sel.ranking[0]
        ev = [r for r in top["reasons"] if r["rule"] == "benchmark_evidence"]
        assert ev[0]["reason"].startswith("prior: mean normalised score")
        # the neighbours are named, and they are the data sets of the winner's size
        letter = winner[0]
        est = evidence.estimate(table, evidence.profile_features(_p(rows=rows)), False, k=3, shrink=0.0)
        assert [n[0] for n, _, _ in est[winner].neighbours] == [letter] * 3
        assert all(f"{n} 1.00" in ev[1]["reason"] for n, _, _ in est[winner].neighbours) and ev[1]["points"] > 0
        assert top["score"] == pytest.approx(sum(r["points"] for r in top["reasons"]), abs=1e-3)


def test_shrink_inf_is_the_best_fixed_backend(table):
    backends = [_backend("large"), _backend("small")]
    for rows in (300, 250_000):
        sel = rank(_p(rows=rows), Constraints(trials=10), backends, result_files=["x.csv"], k=3, shrink=math.inf)
        assert sel.choice == "small"  # the prior: it won on more data sets
        assert "the prior decides" in sel.ranking[0]["reasons"][1]["reason"]
    est = evidence.estimate(table, evidence.profile_features(_p(rows=250_000)), False, k=3, shrink=math.inf)
    assert est["small"].score == pytest.approx(7 / 13) and est["large"].score == pytest.approx(6 / 13)


def test_shrinkage_weights_the_deviation_by_how_many_neighbours_ran_it(table):
    x = evidence.profile_features(_p(rows=250_000))
    prior = 6 / 13
    for shrink in (0.0, 1.0, 3.0):
        e = evidence.estimate(table, x, False, k=3, shrink=shrink)["large"]
        assert e.shrink_factor == pytest.approx(3 / (3 + shrink))
        assert e.score == pytest.approx(prior + (1.0 - prior) * 3 / (3 + shrink))


def test_without_comparable_evidence_the_prior_decides_and_says_thin(table):
    # a regression problem: no benchmark data set of that kind, so no neighbours: the prior alone
    sel = rank(_p(task="regression", classes=0, rows=250_000), Constraints(trials=10),
               [_backend("large"), _backend("small"), _backend("never_benchmarked")],
               result_files=["x.csv"], k=3, shrink=0.0)
    assert sel.choice == "small"
    by = {r["backend"]: r for r in sel.ranking}
    assert any("thin evidence" in r["reason"] for r in by["small"]["reasons"])
    assert by["small"]["score"] == pytest.approx(7 / 13, abs=1e-3)
    # a backend no benchmark ran: the neutral prior, and thin evidence
    assert by["never_benchmarked"]["score"] == pytest.approx(evidence.NEUTRAL_PRIOR)
    assert "thin evidence" in by["never_benchmarked"]["reasons"][0]["reason"]


def test_few_comparable_data_sets_are_thin(monkeypatch):
    t = _size_split_table(regression=2)
    est = evidence.estimate(t, evidence.profile_features(_p(task="regression", classes=0, rows=600)), True,
                            k=5, shrink=0.0)
    assert len(est["small"].neighbours) == 2 and est["small"].thin
    assert "thin evidence" in est["small"].reasons()[1][1]
    est = evidence.estimate(t, evidence.profile_features(_p(rows=300)), False, k=5, shrink=0.0)
    assert not est["small"].thin


def test_excluded_data_sets_are_not_evidence(table):
    x = evidence.profile_features(_p(rows=250_000))
    est = evidence.estimate(table, x, False, table.mask([f"l{i}" for i in range(6)]), k=3, shrink=0.0)
    assert est["large"].score == 0.0 and all(not n.startswith("l") for n, _, _ in est["large"].neighbours)
    assert evidence.estimate(table, x, False, table.mask(table.datasets)) == {}


def test_soft_rules_are_weighted_under_evidence(table, monkeypatch):
    # "small" is transparent: data_size_fit gives it +2 on tiny data. Under evidence its points
    # are multiplied by the rule's fitted weight; without evidence they count in full.
    backends = [_backend("large"), _backend("small", strengths=["transparent_baselines"])]
    p = _p(rows=250)
    monkeypatch.setattr(selector, "RULE_WEIGHTS", {"data_size_fit": 0.0, "data_kind_fit": 0.0})
    sel = rank(p, Constraints(trials=10), backends, result_files=["x.csv"], k=3, shrink=0.0)
    rule = next(r for r in sel.ranking[0]["reasons"] if r["rule"] == "data_size_fit")
    assert rule["points"] == 0 and "measured not to help" in rule["reason"]
    monkeypatch.setattr(selector, "RULE_WEIGHTS", {"data_size_fit": 0.05, "data_kind_fit": 0.0})
    sel2 = rank(p, Constraints(trials=10), backends, result_files=["x.csv"], k=3, shrink=0.0)
    small = next(r for r in sel2.ranking if r["backend"] == "small")
    small0 = next(r for r in sel.ranking if r["backend"] == "small")
    assert small["score"] == pytest.approx(small0["score"] + 2.0 * 0.05, abs=1e-3)
    no_ev = rank(p, Constraints(trials=10), backends, result_files=[])
    assert next(r for r in no_ev.ranking if r["backend"] == "small")["score"] >= 2.0


def test_evidence_from_a_results_file(tmp_path):
    path = tmp_path / "results.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "task", "framework", "constraint", "fold", "seed", "result", "status"])
        w.writeheader()
        for fw, r in (("good", 0.99), ("bad", 0.90)):
            w.writerow({"id": "sklearn:breast_cancer", "task": "breast_cancer", "framework": fw,
                        "constraint": "trials5", "fold": 0, "seed": 0, "result": r, "status": "ok"})
    est = evidence.estimates_for(_p(rows=600), [str(path)], k=3, shrink=0.0)
    assert est["good"].score == 1.0 and est["bad"].score == 0.0
    assert all("thin evidence" in why for _, why in est["good"].reasons())
    assert "breast_cancer" in est["good"].reasons()[1][1]
    assert evidence.estimates_for(_p(), [str(path)], exclude_datasets=["sklearn:breast_cancer"]) == {}


def _regret_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "selector" / "regret.py"
    spec = importlib.util.spec_from_file_location("selector_regret", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_one_standard_error_rule_prefers_the_prior_unless_neighbours_clearly_help():
    regret = _regret_module()
    prior, knn = (5, math.inf, (0.0, 0.0)), (5, 1.0, (0.0, 0.0))
    noisy = {prior: [0.0, 0.4, 0.0, 0.4], knn: [0.0, 0.3, 0.0, 0.4]}  # 0.025 better, SE 0.087: noise
    assert regret.pick(noisy) == prior and regret.argmin(noisy) == knn
    clear = {prior: [0.5, 0.5, 0.5, 0.5], knn: [0.0, 0.1, 0.0, 0.1]}
    assert regret.pick(clear) == knn
