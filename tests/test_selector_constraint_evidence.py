"""The selector cites the report's "which tool for which constraint" rows that apply (issue 27, item 3)."""
from __future__ import annotations

import json

from automux.select import constraint_evidence
from automux.select.profile import Profile
from automux.select.rules import Constraints
from automux.select.selector import rank


def _row(constraint, bench, best, runner_up="flaml", margin=0.1, lo=0.02, hi=0.2, n=12):
    return {"constraint": constraint, "bench_constraint": bench, "best": best, "runner_up": runner_up,
            "margin": margin, "margin_ci_low": lo, "margin_ci_high": hi, "data_sets": n,
            "qualifying": ["reference", "optuna", "flaml"], "evidence": "separated from the runner-up"}


TABLES = [{"from": "benchmarks/results/b60", "thresholds": {"few_rows": 1000, "many_rows": 10000,
                                                             "categorical_share": 0.5, "missing_share": 0.05},
           "rows": [_row("seconds budget (60 s)", "60s", "optuna"),
                    _row("fewer than 1,000 rows", "60s", "reference"),
                    _row("more than 10,000 rows", "60s", "flaml", runner_up="optuna"),
                    _row("mostly categorical (> 50% of columns)", "60s", "flaml", runner_up="optuna"),
                    _row("deterministic required", "60s", None, runner_up=None)]},
          {"from": "benchmarks/results/t10", "thresholds": {},
           "rows": [_row("count budget (10 trials)", "trials10", "reference", runner_up="optuna")]}]


def _profile(rows=500, categorical=1, features=5, missing=0.0):
    return Profile(rows=rows, features=features, numeric=features - categorical, categorical=categorical, text=0,
                   datetime=0, missing_share=missing, task="binary", classes=2, imbalance=1.0, memory_mb=1.0)


def test_the_rows_of_the_nearest_budget_that_fit_the_data_apply():
    got = constraint_evidence.applicable(_profile(rows=500), Constraints(time_budget_s=45), TABLES)
    assert [r["constraint"] for r in got] == ["seconds budget (60 s)", "fewer than 1,000 rows"]
    assert {r["source"] for r in got} == {"benchmarks/results/b60"}
    big = constraint_evidence.applicable(_profile(rows=50_000, categorical=4), Constraints(time_budget_s=60), TABLES)
    assert [r["constraint"] for r in big] == ["seconds budget (60 s)", "more than 10,000 rows",
                                              "mostly categorical (> 50% of columns)"]


def test_a_count_budget_reads_the_count_budget_bench_and_flags_select_their_rows():
    got = constraint_evidence.applicable(_profile(), Constraints(trials=5), TABLES)
    assert [r["constraint"] for r in got] == ["count budget (10 trials)"]
    det = constraint_evidence.applicable(_profile(rows=5000), Constraints(time_budget_s=60, deterministic=True), TABLES)
    assert "deterministic required" in [r["constraint"] for r in det]
    assert "no evidence" in constraint_evidence.reason(next(r for r in det if r["best"] is None)) or \
        "separated" in constraint_evidence.reason(next(r for r in det if r["best"] is None))


def test_no_table_no_citation():
    assert constraint_evidence.applicable(_profile(), Constraints(time_budget_s=60), []) == []


def test_rank_cites_each_applicable_row_on_its_best_backend_at_zero_points(tmp_path, monkeypatch):
    table = tmp_path / "constraint_table.json"
    table.write_text(json.dumps({"tables": TABLES}))
    monkeypatch.setattr(constraint_evidence, "PACKAGED_TABLE", table)
    from automux.core.registry import describe

    backends = [b for b in describe() if b["name"] in ("reference", "optuna", "flaml")]
    sel = rank(_profile(rows=500), Constraints(time_budget_s=60), backends, result_files=[])
    cited = {r["backend"]: [x for x in r["reasons"] if x["rule"] == "constraint_evidence"] for r in sel.ranking}
    assert [x["reason"].split(" in ")[0] for x in cited["optuna"]] == ["best under 'seconds budget (60 s)'"]
    assert [x["reason"].split(" in ")[0] for x in cited["reference"]] == ["best under 'fewer than 1,000 rows'"]
    assert cited["flaml"] == []
    assert all(x["points"] == 0.0 for xs in cited.values() for x in xs)
    assert "+0.100 normalised score over flaml, 95% CI +0.020 to +0.200" in cited["optuna"][0]["reason"]
    assert [r["constraint"] for r in sel.to_json()["constraint_evidence"]] == ["seconds budget (60 s)",
                                                                              "fewer than 1,000 rows"]
