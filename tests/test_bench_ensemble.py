"""The bench's ``ensemble`` row: built per group from real backend runs, ranked, compared, resumed."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

pytest.importorskip("yaml")

from automux.bench.ensembles import ENSEMBLE_FRAMEWORK, groups
from automux.bench.cells import expand
from automux.bench.report import ensemble_vs_best, ensemble_vs_cv_best
from automux.bench.results import read_cells, read_results
from automux.bench.runner import run_suite
from automux.bench.suite import suite_from_dict as parse_suite
from automux.core.errors import SpecError


def _suite(ensemble=True):
    optuna = {"name": "optuna", "options": {"n_jobs": 1}}
    return parse_suite({"name": "ens", "datasets": ["sklearn:iris", "sklearn:breast_cancer"],
                        "constraints": [{"name": "trials3", "trials": 3}],
                        "backends": ["reference", optuna], "ensemble": ensemble})


def test_suite_ensemble_key_is_validated():
    assert _suite().ensemble_size == 25
    assert _suite(ensemble={"size": 5}).ensemble_size == 5
    assert _suite(ensemble=False).ensemble_size is None
    with pytest.raises(SpecError, match="ensemble: true"):
        _suite(ensemble="yes")


def test_groups_are_one_per_instance_over_every_backend():
    cells = expand(_suite())
    gs = groups(cells)
    assert len(gs) == 2 and all(len(g) == 2 for g in gs)
    assert {c.backend.name for c in gs[0]} == {"reference", "optuna"}
    assert len({c.dataset.name for c in gs[0]}) == 1


@pytest.mark.slow
def test_bench_ensemble_rows_are_built_once_ranked_and_reported(tmp_path):
    out = tmp_path / "bench"
    summary = run_suite(_suite(), out, progress=False)
    assert summary.ensembles == {"ok": 2}
    df = read_results(out)
    ens = df[df["framework"] == ENSEMBLE_FRAMEWORK]
    assert len(ens) == 2 and set(ens["status"]) == {"ok"}
    for _, row in ens.iterrows():  # same spec as its members: same data, split, folds, metric, seed, budget
        members = df[(df["task"] == row["task"]) & (df["framework"] != ENSEMBLE_FRAMEWORK)]
        assert set(members["spec_id"]) == {row["spec_id"]}
        assert math.isfinite(row["result"]) and row["version"] == "caruana-25"
        weights = json.loads(row["params"])
        assert set(weights) <= {"reference", "optuna"} and abs(sum(weights.values()) - 1) < 1e-9
        record = json.loads((out / "runs" / row["run_id"] / "record.json").read_text())
        assert record["backend"] == "ensemble"
        assert {m["run_id"] for m in record["extra"]["ensemble"]["members"]} == set(members["run_id"])
        # cv_best: the member with the best out-of-fold score, by its results.csv name; only on ensemble rows
        best_run = record["extra"]["ensemble"]["best_member"]["run_id"]
        assert row["cv_best"] == members.set_index("run_id").loc[best_run, "framework"]
    assert df[df["framework"] != ENSEMBLE_FRAMEWORK]["cv_best"].isna().all()
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    again = run_suite(_suite(), out, progress=False)
    assert again.ran == 0 and again.ensembles == {}
    assert mtimes == {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}

    from automux.bench.report import make_report
    md = open(make_report(out)["markdown"]).read()
    assert "Ensemble against the best single backend" in md
    assert "| ensemble |" in md  # ranked in the leaderboard like any backend
    assert "`cv_best` from results.csv:" in md
    cv = ensemble_vs_cv_best(read_results(out)).iloc[0]
    assert cv["instances"] == 2 and cv["beats_cv_best"] + cv["ties_cv_best"] + cv["loses_cv_best"] == 2
    assert "Which tool for which constraint" in md and (out / "constraint_table.json").is_file()


@pytest.mark.slow
def test_a_group_with_one_usable_member_gets_a_failed_ensemble_row(tmp_path):
    out = tmp_path / "bench"
    suite = parse_suite({"name": "ens1", "datasets": ["sklearn:iris"],
                         "constraints": [{"name": "trials2", "trials": 2}],
                         "backends": ["reference", {"name": "optuna", "options": {"no_such_option": 1}}],
                         "ensemble": True})
    summary = run_suite(suite, out, progress=False)
    assert summary.ensembles == {"failed": 1}
    rows = [c["row"] for c in read_cells(out).values() if c["row"]["framework"] == ENSEMBLE_FRAMEWORK]
    assert len(rows) == 1 and rows[0]["status"] == "failed"
    assert "fewer than two" in rows[0]["info"] and "optuna: failed" in rows[0]["info"]


def test_ensemble_vs_best_counts_beats_ties_losses_and_failures():
    def row(task, fold, fw, result, status="ok"):
        return {"constraint": "c", "task": task, "fold": fold, "seed": 0, "framework": fw, "result": result,
                "status": status, "duration": 1.0, "metric": "auc"}
    rows = [row("a", 0, "x", 0.8), row("a", 0, "y", 0.7), row("a", 0, "ensemble", 0.85),   # beats
            row("a", 1, "x", 0.8), row("a", 1, "y", 0.9), row("a", 1, "ensemble", 0.9),    # ties
            row("b", 0, "x", 0.6), row("b", 0, "y", 0.5), row("b", 0, "ensemble", 0.55),   # loses
            row("c", 0, "x", 0.6), row("c", 0, "y", 0.5), row("c", 0, "ensemble", None, "failed")]
    summ, det = ensemble_vs_best(pd.DataFrame(rows))
    s = summ.iloc[0]
    assert (s["instances"], s["beats_best"], s["ties_best"], s["loses_best"], s["ensemble_failed"]) == (4, 1, 1, 1, 1)
    by = det.set_index("data_set")
    # data set a: ensemble mean 0.875 against the best single's mean (x 0.8, y 0.8) -> beats
    assert by.loc["a", "outcome"] == "beats" and by.loc["b", "outcome"] == "loses"
    assert by.loc["c", "outcome"] == "failed"
    assert s["beats_best_of_data_set"] == 1 and s["data_sets"] == 3
