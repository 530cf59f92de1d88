"""The store defends itself: ids stay inside it, a lost or corrupt index loses no run, tampered models are refused;
records are strict JSON that validates against the committed schema, NaN never wins, params stay numbers."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import automux
from automux.core.experiment.spec import Candidate
from automux.core.errors import StoreError
from automux.core.run.store import INDEX, RunStore
from helpers import run_cli

SCHEMA = Path(automux.__file__).parent / "schemas" / "run_record.schema.json"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two real reference runs (inline: fast) in one store."""
    root = tmp_path_factory.mktemp("defended") / "runs"
    ids = [automux.run("sklearn:iris", backend="reference", budget_trials=2, seed=s, store=str(root),
                       readiness=False).run_id for s in (1, 2)]
    return root, ids


def _one_line_exit_2(proc):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("command", [["runs", "show"], ["verify"], ["predict", "--data", "sklearn:iris"],
                                     ["promote"]])
def test_ids_that_leave_the_store_are_refused(two_runs, tmp_path, command):
    root, ids = two_runs
    other = tmp_path / "other"
    other.mkdir()
    bad = f"../{other.name}/{ids[0]}"
    proc = run_cli(*command, bad, "--store", str(root))
    _one_line_exit_2(proc)
    assert "not a run id" in proc.stderr
    assert not list(other.iterdir()), "nothing may be written outside the store"


def test_a_symlinked_run_dir_pointing_outside_is_refused(two_runs, tmp_path):
    root, ids = two_runs
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    try:
        with pytest.raises(StoreError, match="outside the store"):
            RunStore(root).run_dir("escape")
    finally:
        (root / "escape").unlink()


def test_a_tampered_model_is_refused(tmp_path):
    root = tmp_path / "runs"
    record = automux.run("sklearn:iris", backend="reference", budget_trials=2, store=str(root), readiness=False)
    model = next((root / record.run_id / "model").rglob("*.pkl"))
    with open(model, "ab") as f:
        f.write(b"appended after the run")
    proc = run_cli("predict", record.run_id, "--data", "sklearn:iris", "--store", str(root))
    _one_line_exit_2(proc)
    assert "changed since the run" in proc.stderr


def test_a_deleted_or_garbage_index_loses_no_run(two_runs, tmp_path):
    root, ids = two_runs
    (root / INDEX).unlink()
    proc = run_cli("runs", "list", "--json", "--store", str(root))
    assert proc.returncode == 0 and sorted(r["run_id"] for r in json.loads(proc.stdout)) == sorted(ids)
    assert "rebuilt it from 2 run directories" in proc.stderr
    (root / INDEX).write_bytes(b"this is not an sqlite database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(str(root / INDEX) + suffix).unlink(missing_ok=True)
    third = automux.run("sklearn:iris", backend="reference", budget_trials=1, store=str(root), readiness=False)
    rows = json.loads(run_cli("runs", "list", "--json", "--store", str(root)).stdout)
    assert sorted(r["run_id"] for r in rows) == sorted(ids + [third.run_id])


def test_a_truncated_record_is_one_line_and_reindex_skips_it(tmp_path):
    root = tmp_path / "runs"
    ids = [automux.run("sklearn:iris", backend="reference", budget_trials=1, seed=s, store=str(root),
                       readiness=False).run_id for s in (1, 2)]
    path = root / ids[0] / "record.json"
    path.write_text(path.read_text()[:200])
    _one_line_exit_2(run_cli("runs", "show", ids[0], "--store", str(root)))
    proc = run_cli("runs", "reindex", "--json", "--store", str(root))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["indexed"] == 1 and [Path(s["run_dir"]).name for s in out["skipped"]] == [ids[0]]


def test_records_are_strict_json_and_match_the_schema(two_runs):
    jsonschema = pytest.importorskip("jsonschema")
    root, ids = two_runs
    schema = json.loads(SCHEMA.read_text())
    for run_id in ids:
        text = (root / run_id / "record.json").read_text()
        record = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in a record"))
        jsonschema.validate(record, schema)


def test_a_nan_score_is_stored_as_null_with_the_reason(tmp_path):
    record = automux.run("sklearn:iris", backend="reference", budget_trials=1, store=str(tmp_path),
                         readiness=False)
    import dataclasses
    broken = dataclasses.replace(record, score=float("nan"), scores=dict(record.scores, extra=float("inf")))
    d = json.loads(broken.dumps())
    assert d["score"] is None and d["scores"]["extra"] is None
    assert set(d["extra"]["non_finite"]["paths"]) == {".score", ".scores.extra"}


def test_a_nan_fold_score_never_wins():
    from automux.core.adapter import SearchTask
    from automux.core.experiment.budget import Budget
    from automux.core.experiment.metrics import get_metric

    task = SearchTask(X=None, y=np.zeros(4), task="binary", classes=["a", "b"], folds=[], metric=get_metric(
        "roc_auc", "binary"), seed=0, budget=Budget(trials=3), options={}, workdir=Path("."),
        report=lambda c: None, log=lambda m: None)
    task.add_candidate("good", {}, [0.8, 0.8, 0.8])
    task.add_candidate("nan-fold", {}, [0.99, float("nan"), 0.99])
    assert task.candidates[1].fold_scores[1] is None and task.candidates[1].info["failed_folds"] == [1]
    assert task.best_index() == 0


def test_params_round_trip_as_numbers():
    c = Candidate(index=0, algorithm="x", params={"n": np.int64(5), "lr": np.float32(0.5), "shape": (1, 2),
                                                  "arr": np.array([1, 2]), "flag": np.bool_(True)})
    again = Candidate.from_json(json.loads(json.dumps(c.to_json())))
    assert again.params == {"n": 5, "lr": 0.5, "shape": [1, 2], "arr": [1, 2], "flag": True}
    assert isinstance(again.params["n"], int) and not math.isnan(again.params["lr"])
