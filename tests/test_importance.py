"""Permutation importance computed by the harness (issue 16.3), on real backends and small data.

The data are built so that the answer is known by construction: the target
depends on ``signal`` only; ``noise`` and the categorical ``colour`` are
independent of it. A correct harness must rank ``signal`` first with a drop
well outside its spread, whatever the backend, and be repeatable under its seed.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

import automux
from automux.core.errors import DataError
from automux.core.run.store import RunStore
from automux.governance.importance import EXTRA_KEY, ImportanceError, compute, importance_lines

pytestmark = pytest.mark.slow


def _frame(task: str, n: int = 240, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    frame = pd.DataFrame({"signal": signal, "noise": rng.normal(size=n),
                          "colour": rng.choice(["red", "green", "blue"], size=n)})
    if task == "regression":
        frame["y"] = 3.0 * signal + rng.normal(scale=0.3, size=n)
    else:
        frame["y"] = (signal + rng.normal(scale=0.3, size=n) > 0).astype(int)
    return frame


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One stored run per (backend, task): reference (binary, regression) and flaml (binary)."""
    store = RunStore(tmp_path_factory.mktemp("imp") / "runs")
    out = {}
    for backend, task, trials in (("reference", "binary", 2), ("reference", "regression", 2), ("flaml", "binary", 5)):
        data = _frame(task)
        record = automux.run(data, "y", backend, budget_trials=trials, folds=2, seed=1, store=store, readiness=False)
        assert record.status == "ok", record.error
        out[(backend, task)] = (record.run_id, data)
    return store, out


@pytest.mark.parametrize("key", [("reference", "binary"), ("reference", "regression"), ("flaml", "binary")])
def test_signal_ranks_first_and_is_stored(runs, key):
    store, by_key = runs
    run_id, data = by_key[key]
    before = store.load(run_id)
    jobs_before = set((store.run_dir(run_id) / "predict").glob("*")) if (store.run_dir(run_id) / "predict").exists() \
        else set()
    res = compute(run_id, store=store, data=data, n_repeats=4)

    names = [f["feature"] for f in res["features"]]
    assert sorted(names) == ["colour", "noise", "signal"]
    top = res["features"][0]
    assert top["feature"] == "signal"
    others = res["features"][1:]
    assert top["mean"] > max(f["mean"] for f in others) + 2 * top["std"]
    assert all(len(f["drops"]) == 4 and f["std"] >= 0 for f in res["features"])
    # the whole hold-out in its order: the unpermuted block reproduces the record's predictions and score
    assert res["sampled"] is False and res["rows"] == res["holdout_rows"]
    assert res["baseline_matches_record"] is True
    assert res["baseline_score"] == pytest.approx(before.score, rel=1e-12)
    assert res["predict"]["rows"] == res["rows"] * (1 + 3 * 4)
    # ONE predict job for every permuted copy
    jobs = set((store.run_dir(run_id) / "predict").glob("*")) - jobs_before
    assert len(jobs) == 1
    # stored, and nothing else of the record lost
    after = store.load(run_id)
    assert after.extra[EXTRA_KEY]["features"] == res["features"]
    assert {k: v for k, v in after.extra.items() if k != EXTRA_KEY} == \
        {k: v for k, v in before.extra.items() if k != EXTRA_KEY}
    assert after.predictions_sha256 == before.predictions_sha256 and after.artifacts == before.artifacts
    assert store.list()[[r["run_id"] for r in store.list()].index(run_id)]["score"] == before.score


def test_seeded_repeatable_and_seed_matters(runs):
    store, by_key = runs
    run_id, data = by_key[("reference", "binary")]
    a = compute(run_id, store=store, data=data, n_repeats=3, save=False)
    b = compute(run_id, store=store, data=data, n_repeats=3, save=False)
    c = compute(run_id, store=store, data=data, n_repeats=3, seed=a["seed"] + 1, save=False)
    assert a["features"] == b["features"] and a["seed"] == b["seed"]
    assert a["seed"] == automux.core.experiment.seeds.derive_seed(store.load(run_id).spec.seed, "importance")
    assert [f["drops"] for f in a["features"]] != [f["drops"] for f in c["features"]]


def test_sampling_bounds_the_cost(runs):
    store, by_key = runs
    run_id, data = by_key[("reference", "regression")]
    res = compute(run_id, store=store, data=data, n_repeats=2, max_rows=20, save=False)
    assert res["sampled"] is True and res["rows"] == 20 and res["holdout_rows"] > 20
    assert res["predict"]["rows"] == 20 * (1 + 3 * 2)
    assert res["baseline_matches_record"] is None  # a sample cannot be compared with the record's hash
    assert res["features"][0]["feature"] == "signal"


def test_dataframe_run_needs_its_data_and_refuses_other_data(runs):
    store, by_key = runs
    run_id, data = by_key[("reference", "binary")]
    with pytest.raises(DataError, match="DataFrame"):
        compute(run_id, store=store, save=False)
    changed = data.copy()
    changed.loc[0, "noise"] += 1.0
    with pytest.raises(DataError, match="changed"):
        compute(run_id, store=store, data=changed, save=False)


def test_failed_run_is_refused(store):
    import dataclasses

    data = _frame("binary", n=60)
    record = automux.run(data, "y", "reference", budget_trials=1, folds=2, store=store, readiness=False)
    store.save(dataclasses.replace(record, status="failed"))
    with pytest.raises(ImportanceError, match="status failed"):
        compute(record.run_id, store=store, data=data)


def test_importance_lines(runs):
    store, by_key = runs
    run_id, data = by_key[("reference", "binary")]
    compute(run_id, store=store, data=data, n_repeats=2)
    record = store.load(run_id)
    lines = importance_lines(record)
    assert lines[0].startswith("permutation importance: drop in roc_auc")
    assert len(lines) == 1 + 3 and "signal" in lines[1]
    assert len(importance_lines(record, top=1)) == 3 and "2 more" in importance_lines(record, top=1)[-1]
    bare = store.load(by_key[("flaml", "binary")][0])
    import dataclasses
    assert importance_lines(dataclasses.replace(bare, extra={})) == []


def test_cli_explain_json_and_text(runs, tmp_path, capsys):
    from automux.cli import explain
    from automux.cli._common import Parser

    store, by_key = runs
    run_id, data = by_key[("reference", "regression")]
    csv = tmp_path / "data.csv"
    data.to_csv(csv, index=False)
    parser = Parser(prog="automux")
    explain.add_parser(parser.add_subparsers(dest="command", parser_class=Parser))

    a = parser.parse_args(["explain", run_id, "--repeats", "2", "--data", str(csv), "--json"])
    assert a.handler(a, store) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_repeats"] == 2 and out["features"][0]["feature"] == "signal"
    assert store.load(run_id).extra[EXTRA_KEY]["n_repeats"] == 2

    a = parser.parse_args(["explain", run_id, "--repeats", "1", "--data", str(csv), "--no-save"])
    assert a.handler(a, store) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("permutation importance: drop in rmse") and len(text) == 4
    assert store.load(run_id).extra[EXTRA_KEY]["n_repeats"] == 2  # --no-save kept the stored one
    assert isinstance(a, argparse.Namespace)


def test_row_limit_bounds_the_permuted_frame():
    from automux.governance.importance import MIN_ROWS, row_limit

    assert row_limit(3, 5, 2000, 20_000_000) == 2000  # small data: max_rows decides
    for p, r, cells in ((200, 5, 20_000_000), (40, 10, 1_000_000), (1000, 5, 20_000_000)):
        rows = row_limit(p, r, 2000, cells)
        assert rows >= MIN_ROWS
        assert rows == MIN_ROWS or rows * (1 + p * r) * p <= cells < (rows + 1) * (1 + p * r) * p
    assert row_limit(3, 5, 10, 20_000_000) == 10  # a smaller max_rows is kept
