"""The run store under concurrent writers: every record indexed, nothing torn."""
from __future__ import annotations

import json
import multiprocessing as mp

from automux.core.experiment.prepare import make_budget, prepare
from automux.core.experiment.record import RunRecord
from automux.core.run.store import RunStore, atomic_write_text


def _record(run_id: str, i: int) -> RunRecord:
    spec = prepare("sklearn:iris", budget=make_budget(trials=1), seed=1).spec
    return RunRecord(run_id=run_id, spec_id=spec.spec_id, spec=spec, backend="fake", backend_options={},
                     status="ok", created_utc="2026-01-01T00:00:00+00:00", durations={"total": 1.0},
                     candidates=[], chosen=None, metric=spec.metric, score=float(i), scores={},
                     predictions_sha256=str(i), determinism={}, env={}, artifacts={}, log="")


def _writer(root: str, worker: int, n: int) -> None:
    store = RunStore(root)
    for i in range(n):
        run_id, _ = store.new_run_dir()
        store.save(_record(run_id, worker * 1000 + i))


def test_concurrent_writers_lose_nothing(tmp_path):
    root = str(tmp_path / "runs")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(root, w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = RunStore(root)
    rows = store.list()
    assert len(rows) == 60
    assert len({r["run_id"] for r in rows}) == 60
    for r in rows:
        assert store.load(r["run_id"]).predictions_sha256 == r["predictions_sha256"]


def test_reindex_rebuilds_from_records(tmp_path):
    store = RunStore(tmp_path)
    for i in range(3):
        run_id, _ = store.new_run_dir()
        store.save(_record(run_id, i))
    (tmp_path / "index.sqlite").unlink()
    for extra in ("index.sqlite-wal", "index.sqlite-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    assert store.reindex() == 3
    assert len(store.list()) == 3


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_text(path, json.dumps({"x": 1}))
    atomic_write_text(path, json.dumps({"x": 2}))
    assert json.loads(path.read_text()) == {"x": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
