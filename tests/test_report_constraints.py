"""The report's "which tool for which constraint" table and the ensemble against its CV-chosen backend
(fast: tiny CSV data sets and hand-made results, no backend runs)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from automux.bench import report, report_constraints as rc
from automux.bench.ensembles import cv_best_from_cells


def test_best_of_a_backend_that_always_wins_by_half():
    m = pd.DataFrame({"a": [1.0, 1.0, 0.9, 1.0], "b": [0.5, 0.5, 0.4, 0.5], "c": [0.0, 0.0, 0.0, 0.0]})
    r = rc.best_of(m)
    assert (r["best"], r["runner_up"], r["data_sets"]) == ("a", "b", 4)
    assert abs(r["margin"] - 0.5) < 1e-12 and abs(r["margin_ci_low"] - 0.5) < 1e-12 and r["best_share"] == 1.0


def test_best_of_a_coin_flip_has_a_ci_around_zero():
    m = pd.DataFrame({"a": [1.0, 0.0] * 10, "b": [0.0, 1.0] * 10})
    r = rc.best_of(m)
    assert r["margin"] == 0 and r["margin_ci_low"] < 0 < r["margin_ci_high"] and 0.2 < r["best_share"] < 0.8


def test_interpretable_follows_the_selectors_hard_rule():
    from automux.core import registry
    from automux.select.rules import Constraints, interpretable_output

    wants = Constraints(interpretable=True)
    for name, adapter in registry.adapters().items():
        b = {"name": name, "capabilities": adapter.capabilities.to_json()}
        assert rc.interpretable(name) == (interpretable_output(None, wants, b) is None), name
    assert rc.interpretable("no-such-backend") is None


def test_size_thresholds_are_the_selectors():
    from automux.select import rules

    assert (rc.FEW_ROWS, rc.MANY_ROWS) == (rules.TINY_ROWS, rules.SMALL_ROWS)


def _csv(path, n, categorical=0, missing=0.0, seed=0):
    rng = np.random.default_rng(seed)
    cols = {f"x{i}": rng.normal(size=n) for i in range(4 - categorical)}
    cols.update({f"c{i}": rng.choice(["p", "q", "r"], size=n) for i in range(categorical)})
    frame = pd.DataFrame(cols)
    if missing:
        frame = frame.mask(rng.random(frame.shape) < missing)
    frame["y"] = rng.integers(0, 2, size=n)
    frame.to_csv(path, index=False)
    return str(path)


# data set -> (rows, categorical columns of 4, missing share); each with the winner of its instances
DATA = {"tiny_a": (60, 0, 0.0), "tiny_b": (70, 0, 0.0), "tiny_c": (80, 0, 0.0), "cats": (60, 3, 0.0),
        "holes": (60, 0, 0.2), "big": (10_050, 0, 0.0)}
WINNER = {"tiny_a": "h2o", "tiny_b": "h2o", "tiny_c": "h2o", "cats": "reference", "holes": "flaml", "big": "flaml"}


def _bench(tmp_path):
    """A results dir with cells (so budgets, declared determinism and profiles are found) and results.csv."""
    out = tmp_path / "bench"
    (out / "cells").mkdir(parents=True)
    rows = []
    for i, (name, (n, cat, miss)) in enumerate(DATA.items()):
        src = _csv(tmp_path / f"{name}.csv", n, cat, miss, seed=i)
        for fw in ("flaml", "h2o", "reference"):
            res = 0.9 if fw == WINNER[name] else 0.7 if fw == "reference" else 0.6
            cid = f"{name}-{fw}"
            row = {"id": src, "task": name, "framework": fw, "constraint": "t5", "fold": 0, "seed": 0,
                   "type": "binary", "result": res, "metric": "auc", "status": "ok", "duration": 1.0,
                   "repeat": 0, "cell_id": cid, "run_id": "", "predictions_sha256": "", "info": "",
                   "app_version": "automux test", "mode": "local", "models_count": 5, "degenerate": False,
                   "budget_overrun_s": None, "training_duration": 1.0, "predict_duration": 0.1}
            rows.append(row)
            cell = {"cell_id": cid, "backend": {"name": fw, "label": fw, "options": {}},
                    "constraint": {"name": "t5", "trials": 5, "seconds": None},
                    "dataset": {"name": name, "source": src, "target": "y", "task": "binary", "metric": None}}
            body = {"schema": 1, "cell": cell, "row": row, "declared_deterministic": fw != "h2o"}
            (out / "cells" / f"{cid}.json").write_text(json.dumps(body))
    pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
    return out


def test_constraint_rows_from_cells_and_profiles(tmp_path):
    out = _bench(tmp_path)
    df = pd.read_csv(out / "results.csv")
    rows = {r["constraint"]: r for r in rc.constraint_rows(out, df)}
    budget = rows["count budget (5 trials)"]
    assert (budget["best"], budget["data_sets"], budget["qualifying"]) == ("h2o", 6, ["flaml", "h2o", "reference"])
    # h2o declares no determinism here and produces ensembles: out of both rows
    assert rows["deterministic required"]["qualifying"] == ["flaml", "reference"]
    assert rows["interpretable required"]["qualifying"] == ["flaml", "reference"]
    # normalised: a winner 1, reference 1/3 where it is second, the third 0: reference 2.67/6 > flaml 2/6
    assert rows["interpretable required"]["best"] == "reference"
    few = rows["fewer than 1,000 rows"]  # h2o wins 3 of the 5 small ones, reference 1 (and second in the rest)
    assert (few["best"], few["runner_up"], few["data_sets"]) == ("h2o", "reference", 5)
    assert abs(few["margin"] - 2 / 15) < 1e-9 and few["margin_ci_low"] < 0 < few["margin_ci_high"]
    assert few["evidence"].startswith("best by mean, not separated")
    many = rows["more than 10,000 rows"]
    assert (many["best"], many["data_sets"]) == ("flaml", 1) and many["evidence"].startswith("not enough evidence")
    assert rows["mostly categorical (> 50% of columns)"]["data_sets"] == 1
    assert rows["many missing values (> 5% of cells)"]["data_sets"] == 1
    assert rows["small memory"]["evidence"].startswith("no measured evidence")
    profiles = json.loads((out / rc.PROFILE_FILE).read_text())
    by_name = {json.loads(k)["name"]: v for k, v in profiles.items()}
    assert by_name["cats"]["categorical_share"] == 0.75 and by_name["big"]["rows"] == 10_050
    assert 0.1 < by_name["holes"]["missing_share"] < 0.3 and by_name["tiny_a"]["missing_share"] == 0


def test_the_section_writes_the_table_as_json(tmp_path):
    out = _bench(tmp_path)
    df = pd.read_csv(out / "results.csv")
    md = report.render_markdown(rc.constraint_blocks(out, df))
    assert "## Which tool for which constraint" in md and "| small memory | t5 | - |" in md
    table = json.loads((out / rc.TABLE_FILE).read_text())
    assert table["min_data_sets"] == rc.MIN_DATA_SETS and len(table["rows"]) == 8
    assert [r["constraint"] for r in table["rows"]][:3] == ["count budget (5 trials)", "deterministic required",
                                                            "interpretable required"]
    first = (out / rc.TABLE_FILE).read_bytes()
    rc.constraint_blocks(out, df)
    assert (out / rc.TABLE_FILE).read_bytes() == first  # same results, same bytes


def _ens_rows(cv_best=True):
    def row(task, fold, fw, result, pick=None, status="ok"):
        r = {"constraint": "c", "task": task, "fold": fold, "seed": 0, "framework": fw, "result": result,
             "status": status, "duration": 1.0, "metric": "auc", "cell_id": f"{task}{fold}{fw}"}
        if cv_best:
            r["cv_best"] = pick
        return r
    return pd.DataFrame([
        row("a", 0, "x", 0.8), row("a", 0, "y", 0.7), row("a", 0, "ensemble", 0.75, "y"),   # beats its CV pick
        row("a", 1, "x", 0.8), row("a", 1, "y", 0.9), row("a", 1, "ensemble", 0.9, "y"),    # ties (pick = oracle)
        row("b", 0, "x", 0.6), row("b", 0, "y", 0.5), row("b", 0, "ensemble", 0.55, "x"),   # loses
        row("c", 0, "x", 0.6), row("c", 0, "y", 0.5), row("c", 0, "ensemble", None, None, "failed")])


def test_ensemble_against_its_cv_chosen_backend():
    s = report.ensemble_vs_cv_best(_ens_rows()).iloc[0]
    assert (s["instances"], s["beats_cv_best"], s["ties_cv_best"], s["loses_cv_best"]) == (3, 1, 1, 1)
    assert abs(s["cv_best_is_oracle"] - 2 / 3) < 1e-12  # a0 picked y, x was the hold-out best
    # against the oracle the same ensemble beats nothing: the CV comparison is the honest one
    assert report.ensemble_vs_best(_ens_rows())[0].iloc[0]["beats_best"] == 0


def test_old_results_without_cv_best_say_the_comparison_needs_it(tmp_path):
    blocks = report.ensemble_blocks(_ens_rows(cv_best=False), tmp_path)
    text = " ".join(str(b.content) for b in blocks if b.kind == "p")
    assert "No comparison with the CV-chosen backend" in text
    assert not any("beats_cv_best" in b.content[0] for b in blocks if b.kind == "table")


def test_cv_best_from_cells_of_an_older_bench():
    cells = {"m1": {"cell": {}, "row": {"run_id": "r1"}}, "m2": {"cell": {}, "row": {"run_id": "r2"}},
             "e": {"cell": {"members": ["m1", "m2"], "member_backends": ["optuna", "flaml"]},
                   "best_member": {"run_id": "r2", "backend": "flaml", "oof_score": 0.9}},
             "failed": {"cell": {"members": ["m1", "m2"], "member_backends": ["optuna", "flaml"]}}}
    assert cv_best_from_cells(cells) == {"e": "flaml"}


def test_rows_by_size_come_from_the_cached_profile(tmp_path):
    from automux.bench import report_tabarena as ta

    out = _bench(tmp_path)
    df = pd.read_csv(out / "results.csv")
    want = {name: float(n) for name, (n, _, _) in DATA.items()}
    assert ta.dataset_rows(out, df) == want and (out / rc.PROFILE_FILE).is_file()
    for csv in tmp_path.glob("*.csv"):
        csv.unlink()  # the sources are gone: only the profile kept beside the results can answer
    (out / ta.SIZES_FILE).unlink()
    assert ta.dataset_rows(out, df) == want
    assert set(rc.dataset_profiles(out)) == set(DATA)
