"""The data path (issue 22 item 4): split as arrays, data stored once per fingerprint, shared by runs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from automux.core.experiment.data import load_data
from automux.core.experiment.prepare import make_budget, prepare
from automux.core.experiment.split import _json_ints, make_split
from automux.core.run import jobfiles as jf
from automux.core.run.execute import _write_job, execute
from automux.core.run.store import RunStore
from automux.core.registry import get_adapter
from automux.core.experiment import names as feature_names


def _mixed(n=300, seed=0):
    rng = np.random.default_rng(seed)
    num = rng.normal(size=n)
    num[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "num": num, "int col": rng.integers(0, 1000, n), "flag": rng.random(n) < 0.3,
        "cat": rng.choice(["b", "a", "c"], n), "wide": rng.choice([f"v{i}" for i in range(40)], n),
        "target": rng.integers(0, 2, n)})


def _old_layout(exp):
    """What the job dir held before issue 22: the training rows and the hold-out rows, each a copy."""
    ds, split = exp.dataset, exp.split
    safe = feature_names.mapping(ds.X.columns)["safe"]
    train = ds.X.take(split.train_idx).set_axis(safe, axis=1).reset_index(drop=True)
    return train, ds.X.take(split.holdout_idx).set_axis(safe, axis=1).reset_index(drop=True)


@pytest.mark.parametrize("a", [np.array([0]), np.array([9, 10, 99, 100, 999, 1000, 10 ** 7, 12345678901]),
                               np.arange(0, 200_000, 7), np.array([3, 1, 2]), np.array([], dtype=np.int64)])
def test_split_json_text_is_built_from_arrays_exactly(a):
    assert _json_ints(a) == json.dumps(a.tolist(), separators=(",", ":")).encode()


def test_split_holds_arrays_and_keeps_its_tuple_view():
    y = np.arange(1000) % 3
    split = make_split(y, "multiclass", seed=5, n_folds=4)
    assert split.train_idx.dtype == np.int64 and not split.train_idx.flags.writeable
    assert split.holdout == tuple(split.holdout_idx.tolist())
    assert [list(f) for f in split.folds] == [v.tolist() for v in split.fold_positions()]
    assert split.row_fold_ids()[split.holdout_idx].tolist() == [-1] * len(split.holdout_idx)


def test_job_reads_back_the_rows_the_old_job_files_held(tmp_path):
    exp = prepare(load_data(_mixed(), "target"), budget=make_budget(trials=1), seed=3)
    job = tmp_path / "store" / "run1"
    job.mkdir(parents=True)
    _write_job(exp, get_adapter("reference"), {}, job)
    assert not (job / jf.TRAIN).exists() and not (job / jf.HOLDOUT).exists()
    X, y, folds = jf.read_train(job)
    old_train, old_holdout = _old_layout(exp)
    pd.testing.assert_frame_equal(X, old_train)
    assert np.array_equal(y, exp.dataset.y[exp.split.train_idx])
    assert np.array_equal(folds, exp.split.fold_ids())
    pd.testing.assert_frame_equal(jf.read_holdout(job), old_holdout)
    template = jf.read_feature_template(job)
    assert len(template) == 0 and template.dtypes.equals(old_train.dtypes)
    old = tmp_path / "old"
    old.mkdir()
    jf.write_arrow(old_train.assign(**{jf.TARGET_COL: y, jf.FOLD_COL: folds}), old / jf.TRAIN)
    assert jf.read_feature_template(old).dtypes.equals(old_train.dtypes)
    # callers written for the old layout still get the old frames
    old_style = jf.read_arrow(job / jf.TRAIN)
    assert list(old_style.columns[-2:]) == [jf.TARGET_COL, jf.FOLD_COL]
    assert jf.TARGET_COL not in jf.read_arrow(job / jf.HOLDOUT).columns


def test_two_runs_store_one_copy_and_delete_keeps_what_another_run_uses(tmp_path):
    store = RunStore(tmp_path / "runs")
    exp = prepare(load_data(_mixed(), "target"), budget=make_budget(trials=1), seed=3)
    other = prepare(load_data(_mixed(), "target"), budget=make_budget(trials=1), seed=4)  # another split
    a = execute(exp, "reference", store=store)
    b = execute(other, "reference", store=store)
    assert a.status == b.status == "ok"
    stored = sorted((store.root / jf.DATA_DIR).rglob("features.*.arrow"))
    assert len(stored) == 1  # one copy for both runs
    assert a.extra["data"]["path"] == b.extra["data"]["path"] == str(stored[0].relative_to(store.root))
    assert a.extra["data"]["sha256"] == jf.sha256_file(stored[0])
    assert a.extra["data"]["fingerprint"] == exp.dataset.fingerprint
    # the hold-out target is in no file a worker can reach
    features = jf.read_arrow(stored[0])
    assert "target" not in features.columns and jf.TARGET_COL not in features.columns
    hold = set(exp.split.holdout_idx.tolist())
    rows = jf.read_arrow(store.run_dir(a.run_id) / jf.TRAIN_ROWS)
    assert not hold & set(rows[jf.ROW_COL].tolist())

    assert store.delete(a.run_id, grace_s=0) == []  # b still uses the data
    assert stored[0].exists() and [r["run_id"] for r in store.list()] == [b.run_id]
    assert len(jf.read_train(store.run_dir(b.run_id))[0]) == len(other.split.train_idx)
    assert store.delete(b.run_id, grace_s=0) == [a.extra["data"]["path"]]
    assert not stored[0].exists()


def test_recent_data_is_kept_for_the_run_about_to_name_it(tmp_path):
    store = RunStore(tmp_path / "runs")
    exp = prepare(load_data(_mixed(), "target"), budget=make_budget(trials=1), seed=3)
    job = store.root / "r1"
    job.mkdir(parents=True)
    _write_job(exp, get_adapter("reference"), {}, job)
    (job / jf.JOB).unlink()  # as if the run had not written its job yet
    assert store.collect_data() == []  # within the grace
    assert len(store.collect_data(grace_s=0)) == 1
