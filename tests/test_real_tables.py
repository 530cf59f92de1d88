"""Real tables, real limits: awkward names reach every backend safely, --drop and --drop-missing-target,
every run has a hard stop (--timeout), degenerate results are named."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automux
from automux.core.experiment.names import safe_names
from automux.core.experiment.prepare import make_budget, prepare
from automux.core.run.execute import execute
from helpers import run_cli

AWKWARD = ["a:b", "x[0]", "{brace}", 'quote"d', "comma,col", "with space", "größe", "1st", "a_b", "a-b",
           "lt<gt>", "cat col"]


def _awkward_csv(path: Path, n: int = 240, missing_target: int = 0) -> Path:
    """R's write.csv: an unnamed first column of row numbers, the file sorted by the target (so it leaks)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    cols = {name: rng.normal(size=n) + (y if i == 0 else 0) for i, name in enumerate(AWKWARD[:-1])}
    cols["cat col"] = rng.choice(["x", "y", "z"], n)
    cols["const"] = 1.0
    cols["all missing"] = np.nan
    cols["flag"] = rng.integers(0, 2, n).astype(bool)
    label = np.where(y == 1, "yes", "no").astype(object)
    label[:missing_target] = None
    frame = pd.DataFrame(cols).assign(label=label).sort_values("label", na_position="first").reset_index(drop=True)
    frame.index = frame.index + 1  # R's row names start at 1
    frame.to_csv(path)
    return path


def test_safe_names_are_unique_ascii_and_refused_by_no_backend():
    names = safe_names(AWKWARD + ["a b", "a_b", "", "名前"])
    assert len(set(names)) == len(names)
    assert all(n.isascii() and all(ch.isalnum() or ch == "_" for ch in n) and not n[0].isdigit() for n in names)


@pytest.mark.needs_env
def test_every_first_party_backend_runs_on_an_awkward_r_export(tmp_path):
    """The issue's acceptance run: one CLI compare over every installed first-party backend, 5 trials."""
    csv = _awkward_csv(tmp_path / "awkward.csv")
    found = {b["name"] for b in automux.backends() if b["available"]}
    names = [b for b in ("reference", "optuna", "flaml", "tpot", "h2o", "pycaret", "autosklearn") if b in found]
    proc = run_cli("compare", "--data", str(csv), "--target", "label", "--backends", ",".join(names),
                   "--budget-trials", "5", "--no-check", "--json", "--jobs", "2", "--store", str(tmp_path / "runs"),
                   timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(proc.stdout)["results"]
    assert {r["backend"]: r["status"] for r in results} == {n: "ok" for n in names}


def test_drop_removes_the_leaking_row_numbers_and_predict_takes_the_users_names(tmp_path):
    csv = _awkward_csv(tmp_path / "awkward.csv")
    store = str(tmp_path / "runs")
    check = run_cli("check", "--data", str(csv), "--target", "label", "--json")
    assert "--drop 'Unnamed: 0'" in check.stdout or "--drop \"Unnamed: 0\"" in check.stdout or \
        "--drop Unnamed: 0" in check.stdout, check.stdout[-2000:]
    leaky = automux.run(str(csv), "label", "reference", budget_trials=3, store=store, readiness=False)
    clean = automux.run(str(csv), "label", "reference", budget_trials=3, store=store, readiness=False,
                        drop=["Unnamed: 0"])
    assert clean.spec.data["drop"] == ["Unnamed: 0"] and "Unnamed: 0" not in clean.spec.data["features"]
    assert clean.spec.data["fingerprint"] != leaky.spec.data["fingerprint"]
    assert leaky.score > 0.99 and clean.score < leaky.score
    assert automux.verify(clean.run_id, store=store)["verdict"] == "identical"
    out = automux.predict(clean.run_id, str(csv), store=store)  # the user's own names, Unnamed: 0 included
    assert out["status"] == "ok" and out["rows"] == 240 and "Unnamed: 0" in out["dropped_columns"]


def test_bad_drop_values_exit_2_with_one_line(tmp_path):
    csv = _awkward_csv(tmp_path / "awkward.csv")
    for extra in (["--drop", "no such column"], ["--drop", "label"]):
        proc = run_cli("run", "--data", str(csv), "--target", "label", "--backend", "reference", "--budget-trials",
                       "1", "--store", str(tmp_path / "runs"), *extra)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_drop_missing_target_is_explicit_and_counted(tmp_path):
    csv = _awkward_csv(tmp_path / "gaps.csv", missing_target=7)
    refused = run_cli("run", "--data", str(csv), "--target", "label", "--backend", "reference",
                      "--budget-trials", "1", "--store", str(tmp_path / "runs"))
    assert refused.returncode == 2 and "--drop-missing-target" in refused.stderr
    proc = run_cli("run", "--data", str(csv), "--target", "label", "--backend", "reference", "--budget-trials", "1",
                   "--drop-missing-target", "--drop", "Unnamed: 0", "--no-check", "--json",
                   "--store", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(Path(json.loads(proc.stdout)["record"]).read_text())
    assert record["spec"]["data"]["dropped_rows"] == 7 and record["spec"]["data"]["n_rows"] == 233


def test_a_count_budget_run_that_stalls_is_capped_by_timeout(tmp_path, fakes_on_path, store):
    """A deliberately stalling fake (named as one): 1000 trials of 1 s under --timeout 4 ends as timeout."""
    from fake_adapters import FakeMeanAdapter

    exp = prepare("sklearn:iris", budget=make_budget(trials=1000, grace_s=3, timeout_s=4), seed=1)
    t0 = time.monotonic()
    record = execute(exp, FakeMeanAdapter(), store=store, options={"sleep": 1.0})
    took = time.monotonic() - t0
    assert record.status == "timeout" and record.candidates, record.log[-2000:]
    assert took < 4 + 3 + 10, took
    assert record.spec.budget.timeout_s == 4 and record.spec.budget.candidate_limit_s == 10.0


@pytest.mark.parametrize("value", ["0", "-5", "inf", "nan", "abc"])
def test_bad_timeouts_exit_2(tmp_path, value):
    proc = run_cli("run", "--data", "sklearn:iris", "--backend", "reference", "--budget-trials", "1",
                   "--timeout", value, "--store", str(tmp_path / "runs"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr


def test_a_constant_model_is_flagged_degenerate(fakes_on_path, store):
    """The mean / class-frequency fake is a constant model: ok, but named degenerate."""
    from fake_adapters import FakeMeanAdapter

    exp = prepare("sklearn:breast_cancer", budget=make_budget(trials=2), seed=2)
    record = execute(exp, FakeMeanAdapter(), store=store)
    assert record.status == "ok"
    assert "same for every hold-out row" in record.extra["degenerate"]["reason"]
    assert record.summary()["degenerate"]
    real = execute(exp, "reference", store=store)
    assert "degenerate" not in real.extra
