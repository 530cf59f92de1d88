"""Bad input gets one clear DataError (and exit 2 from the CLI, without a traceback)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automux.core.experiment.data import load_data
from automux.core.errors import DataError, SpecError
from automux.core.experiment.prepare import make_budget, prepare
from helpers import run_cli


def _frame(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "y": np.arange(n) % 2})


def test_task_is_inferred():
    assert load_data("sklearn:breast_cancer").task == "binary"
    assert load_data("sklearn:iris").task == "multiclass"
    assert load_data("sklearn:diabetes").task == "regression"


def test_fingerprint_depends_on_content_only(tmp_path):
    df = _frame()
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    assert load_data(df, "y").fingerprint == load_data(str(path), "y").fingerprint
    changed = df.copy()
    changed.loc[0, "a"] += 1e-9
    assert load_data(changed, "y").fingerprint != load_data(df, "y").fingerprint


def test_string_labels_become_codes_in_sorted_order():
    df = _frame()
    df["y"] = np.where(df["y"] == 1, "yes", "no")
    ds = load_data(df, "y")
    assert ds.classes == ["no", "yes"]
    assert set(ds.y) == {0, 1}


def _bad_inputs(tmp_path):
    dup = pd.DataFrame(np.zeros((10, 3)), columns=["a", "b", "y"]).rename(columns={"b": "a"})
    nan_target = _frame()
    nan_target.loc[3, "y"] = np.nan
    single = _frame()
    single["y"] = 1
    few = _frame()
    few.loc[0, "y"] = 2  # class 2 has a single row
    weird = _frame()
    weird["when"] = pd.to_timedelta(np.arange(len(weird)), unit="h")  # durations: dates are read since issue 25
    mixed = _frame()
    mixed["m"] = ["x", 1] * (len(mixed) // 2)
    empty_csv = tmp_path / "empty.csv"
    empty_csv.write_text("a,y\n")
    return {
        "missing file": (str(tmp_path / "nope.csv"), "y"),
        "unknown target": (_frame(), "nope"),
        "empty data": (str(empty_csv), "y"),
        "NaN in target": (nan_target, "y"),
        "single class": (single, "y"),
        "duplicate columns": (dup, "y"),
        "unsupported column type": (weird, "y"),
        "mixed column type": (mixed, "y"),
        "few rows per class": (few, "y"),
    }


@pytest.mark.parametrize("case", ["missing file", "unknown target", "empty data", "NaN in target",
                                  "single class", "duplicate columns", "unsupported column type",
                                  "mixed column type", "few rows per class"])
def test_bad_input_is_a_data_error(case, tmp_path):
    data, target = _bad_inputs(tmp_path)[case]
    with pytest.raises(DataError):
        prepare(data, target, budget=make_budget(trials=1), folds=5)


@pytest.mark.parametrize("kwargs", [dict(folds=1), dict(test_size=0.0), dict(test_size=1.5), dict(seed=-1),
                                    dict(metric="rmse"), dict(metric="nope")])
def test_bad_settings_are_spec_errors(kwargs):
    with pytest.raises(SpecError):
        prepare("sklearn:breast_cancer", "target", budget=make_budget(trials=1), **kwargs)


@pytest.mark.parametrize("budget", [dict(trials=0), dict(seconds=0), dict(trials=-3), dict()])
def test_bad_budgets_are_spec_errors(budget):
    with pytest.raises(SpecError):
        make_budget(**budget)


def _assert_one_line_exit_2(proc):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("automux: error: ")


@pytest.mark.parametrize("case", ["missing file", "unknown target", "empty data", "NaN in target",
                                  "single class", "duplicate columns", "unsupported column type",
                                  "few rows per class"])
def test_cli_bad_data_exits_2_with_one_line(case, tmp_path):
    data, target = _bad_inputs(tmp_path)[case]
    if isinstance(data, pd.DataFrame):
        if data.columns.duplicated().any():  # parquet cannot hold duplicate names
            path = tmp_path / "data.csv"
            data.to_csv(path, index=False)
        else:
            path = tmp_path / "data.parquet"
            data.to_parquet(path, index=False)
        data = str(path)
    proc = run_cli("--store", str(tmp_path / "runs"), "run", "--data", data, "--target", target,
                   "--backend", "reference", "--budget-trials", "1")
    _assert_one_line_exit_2(proc)


@pytest.mark.parametrize("args", [
    ["--backend", "no-such-backend", "--budget-trials", "2"],
    ["--backend", "reference", "--budget-trials", "0"],
    ["--backend", "reference", "--budget-seconds", "0"],
    ["--backend", "reference"],
    ["--backend", "reference", "--budget-trials", "two"],
    ["--backend", "reference", "--budget-trials", "2", "--metric", "rmse"],
])
def test_cli_bad_settings_exit_2(args, tmp_path):
    proc = run_cli("--store", str(tmp_path / "runs"), "run", "--data", "sklearn:breast_cancer",
                   "--target", "target", *args)
    _assert_one_line_exit_2(proc)


def test_cli_unknown_run_exits_2(tmp_path):
    _assert_one_line_exit_2(run_cli("--store", str(tmp_path), "runs", "show", "nope"))
    _assert_one_line_exit_2(run_cli("--store", str(tmp_path), "verify", "nope"))


def test_drop_removes_columns_before_the_fingerprint():
    df = _frame()
    df["junk"] = np.arange(len(df))
    ds = load_data(df, "y", drop=["junk"])
    assert "junk" not in ds.X.columns and ds.dropped_columns == ("junk",)
    assert ds.fingerprint == load_data(df.drop(columns=["junk"]), "y").fingerprint
    assert ds.describe()["drop"] == ["junk"]
    assert "drop" not in load_data(df, "y").describe()  # plain loads keep their spec shape
    with pytest.raises(DataError, match="'nope': no such column"):
        load_data(df, "y", drop=["nope"])
    with pytest.raises(DataError, match="names the target"):
        load_data(df, "y", drop=["y"])


def test_missing_target_rows_are_dropped_only_when_asked():
    df = _frame()
    df.loc[[3, 8], "y"] = np.nan
    with pytest.raises(DataError, match="--drop-missing-target"):
        load_data(df, "y")
    ds = load_data(df, "y", drop_missing_target=True)
    assert ds.dropped_rows == 2 and ds.n_rows == len(df) - 2
    assert ds.describe()["dropped_rows"] == 2 and ds.describe()["drop_missing_target"] is True
    assert ds.fingerprint == load_data(df.dropna(subset=["y"]).reset_index(drop=True), "y").fingerprint


@pytest.mark.parametrize("header,values", [("Unnamed: 0", "ints0"), ("", "ints1"), ("", "names")])
def test_leading_row_name_column_is_recognised(header, values, tmp_path):
    df = _frame()
    n = len(df)
    col = {"ints0": np.arange(n), "ints1": np.arange(1, n + 1), "names": [f"car {i}" for i in range(n)]}[values]
    path = tmp_path / "r.csv"
    df.insert(0, header or "tmp", col)
    text = df.to_csv(index=False)
    if not header:  # R's write.csv: an empty first header
        text = '""' + text[len("tmp"):]
    path.write_text(text)
    ds = load_data(str(path), "y")
    assert ds.row_name_column == "Unnamed: 0"
    assert load_data(str(path), "y", drop=["Unnamed: 0"]).row_name_column is None
    assert load_data(_frame(), "y").row_name_column is None
