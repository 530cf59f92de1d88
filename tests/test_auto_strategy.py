"""``--backend auto`` follows the strategy the evidence supports (today the selector's choice); the measured
alternative, the best fixed backend for the budget, is kept and tested."""
from __future__ import annotations

import csv
import dataclasses

from automux.select.rules import Constraints
from automux.select import strategy as strategy_mod
from automux.select.strategy import STRATEGY, best_fixed, means, nearest_constraint, scores_by_constraint

FIELDS = ["id", "task", "framework", "constraint", "fold", "seed", "result", "status"]


def _results(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        for ds, fw, cons, result, status in rows:
            w.writerow({"id": ds, "task": ds, "framework": fw, "constraint": cons, "fold": 0, "seed": 0,
                        "result": result, "status": status})
    return str(path)


@dataclasses.dataclass
class _Selection:
    ranking: list

    @property
    def choice(self):
        return self.ranking[0]["backend"] if self.ranking else None


def _evidence(tmp_path):
    rows = []
    for ds, (a, b, c) in {"d1": (0.9, 0.8, 0.5), "d2": (0.7, 0.9, 0.6), "d3": (0.9, 0.5, 0.8)}.items():
        rows += [(ds, "optuna", "60s", a, "ok"), (ds, "flaml", "60s", b, "ok"), (ds, "reference", "60s", c, "ok")]
        # under a count budget the order is the other way round
        rows += [(ds, "optuna", "trials10", c, "ok"), (ds, "flaml", "trials10", b, "ok"),
                 (ds, "reference", "trials10", a, "ok")]
    rows.append(("d1", "h2o", "60s", "", "failed"))
    return [_results(tmp_path / "results.csv", rows)]


def test_the_nearest_constraint_of_the_same_kind():
    avail = ["30s", "60s", "trials10", "trials5"]
    assert nearest_constraint(Constraints(time_budget_s=45), avail) == "60s"  # log scale: 45 is nearer 60 than 30
    assert nearest_constraint(Constraints(time_budget_s=20), avail) == "30s"
    assert nearest_constraint(Constraints(trials=8), avail) == "trials10"
    assert nearest_constraint(Constraints(trials=8), ["60s"]) is None


def test_auto_picks_the_best_fixed_backend_for_the_budget_among_those_the_selector_keeps(tmp_path):
    files = _evidence(tmp_path)
    table = scores_by_constraint(files)
    assert sorted(table) == ["60s", "trials10"]
    m = means(table["60s"])
    assert m["h2o"] == (0.0, 1)  # a failed cell counts 0, never dropped
    kept = _Selection([{"backend": "flaml"}, {"backend": "optuna"}, {"backend": "reference"}])
    choice, detail = best_fixed(kept, Constraints(time_budget_s=60), files)
    assert choice == "optuna" and detail["strategy"] == "best_fixed"
    assert detail["evidence_constraint"] == "60s" and detail["selector_choice"] == "flaml"
    assert detail["means"]["optuna"]["data_sets"] == 3
    assert best_fixed(kept, Constraints(trials=10), files)[0] == "reference"
    # a backend the selector excluded (hard rule, not installed) is never picked, however good its evidence
    assert best_fixed(_Selection([{"backend": "flaml"}, {"backend": "reference"}]),
                      Constraints(time_budget_s=60), files)[0] == "flaml"


def test_without_evidence_of_this_kind_auto_keeps_the_selectors_choice(tmp_path):
    files = [_results(tmp_path / "results.csv", [("d1", "optuna", "60s", 0.9, "ok"), ("d1", "flaml", "60s", 0.8, "ok")])]
    choice, detail = best_fixed(_Selection([{"backend": "flaml"}, {"backend": "optuna"}]), Constraints(trials=5), files)
    assert choice == "flaml" and "fallback" in detail


def test_the_cli_line_says_it_is_the_best_fixed_backend_and_what_the_selector_preferred():
    from automux.cli.run import _selection_line

    strategy = {"strategy": "best_fixed", "choice": "optuna", "evidence_constraint": "60s", "selector_choice": "flaml",
                "means": {"optuna": {"mean": 0.8123, "data_sets": 30}}}
    record = type("R", (), {"backend": "optuna", "extra": {"selection": {
        "ranking": [{"backend": "flaml", "score": 0.9, "reasons": []}], "evidence": {"source": "packaged"},
        "strategy": strategy}}})()
    line = _selection_line(record)
    assert line.startswith("auto: chose optuna: best fixed for this budget: mean normalised score 0.81 over 30 "
                           "data sets under 60s")
    assert "the selector's ranking put flaml first" in line and "\n" not in line


def test_api_run_auto_records_the_strategy_and_runs_its_pick(tmp_path, monkeypatch):
    """End to end, under each strategy: the pick is run and recorded (results files given through the env)."""
    import automux
    from automux.select import evidence

    files = _evidence(tmp_path)
    monkeypatch.setenv(evidence.RESULTS_ENV, files[0])
    assert STRATEGY == "selector"
    record = automux.run("sklearn:iris", "target", "auto", budget_trials=2, readiness=False,
                         store=str(tmp_path / "runs"))
    selection = record.extra["selection"]
    assert record.status == "ok" and selection["strategy"]["strategy"] == "selector"
    assert record.backend == selection["ranking"][0]["backend"] == selection["strategy"]["choice"]
    monkeypatch.setattr(strategy_mod, "STRATEGY", "best_fixed")
    record = automux.run("sklearn:iris", "target", "auto", budget_trials=2, readiness=False,
                         store=str(tmp_path / "runs"))
    chosen = record.extra["selection"]["strategy"]
    assert record.status == "ok" and record.backend == "reference" == chosen["choice"]
    assert chosen["evidence_constraint"] == "trials10" and chosen["strategy"] == "best_fixed"


def test_a_mean_over_a_handful_of_data_sets_does_not_outrank_one_over_many(tmp_path):
    rows = []
    for i in range(12):  # flaml and optuna on 12 data sets, flaml ahead
        rows += [(f"d{i}", "flaml", "30s", 0.9, "ok"), (f"d{i}", "optuna", "30s", 0.8 if i % 3 else 0.95, "ok")]
    rows += [("x1", "pycaret", "30s", 0.99, "ok"), ("x1", "optuna", "30s", 0.1, "ok")]  # pycaret: 1 data set, best
    files = [_results(tmp_path / "results.csv", rows)]
    kept = _Selection([{"backend": "pycaret"}, {"backend": "optuna"}, {"backend": "flaml"}])
    choice, detail = best_fixed(kept, Constraints(time_budget_s=30), files)
    assert choice == "flaml" and detail["min_data_sets"] == 10 and detail["means"]["pycaret"]["data_sets"] == 1
