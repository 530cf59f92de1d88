"""Runs under the contract: records, determinism, crashes, deadlines, events."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

import automux
from automux.core import plugins
from automux.core.experiment.prepare import make_budget, prepare
from automux.core.hookspecs import hookimpl
from automux.core.run.execute import execute
from helpers import run_cli


def _exp(**kw):
    kw.setdefault("seed", 7)
    budget = make_budget(kw.pop("trials", None), kw.pop("seconds", None), kw.pop("grace", None))
    return prepare(kw.pop("data", "sklearn:breast_cancer"), budget=budget, **kw)


def test_same_seed_same_record(store):
    a = automux.run("sklearn:breast_cancer", "target", "reference", budget_trials=4, seed=7, store=store)
    b = automux.run("sklearn:breast_cancer", "target", "reference", budget_trials=4, seed=7, store=store)
    assert a.status == b.status == "ok"
    assert a.spec_id == b.spec_id
    assert a.predictions_sha256 == b.predictions_sha256
    assert [c.to_json() | {"fit_time_s": None} for c in a.candidates] == \
           [c.to_json() | {"fit_time_s": None} for c in b.candidates]
    assert a.scores == b.scores
    assert len(a.candidates) == 4 and all(len(c.fold_scores) == 5 for c in a.candidates)


def test_record_is_complete_and_reloadable(store):
    r = automux.run("sklearn:iris", None, "reference", budget_trials=3, seed=1, store=store)
    again = store.load(r.run_id)
    assert again == r
    d = r.to_json()
    for key in ("spec", "spec_id", "status", "durations", "candidates", "chosen", "scores", "predictions_sha256",
                "artifacts", "log", "env", "determinism", "automux_version"):
        assert d[key] not in (None, "", {}), key
    assert set(r.scores) == {"log_loss", "roc_auc", "accuracy", "balanced_accuracy"}
    assert "scikit-learn" in r.env["packages"] and r.env["python"]
    assert any(k.startswith("model/") for k in r.artifacts)
    assert r.spec.seeds["backend"] != r.spec.seeds["split"]
    assert store.list()[0]["run_id"] == r.run_id


def test_backend_never_sees_the_holdout(store):
    exp = _exp(trials=1)
    r = execute(exp, "reference", store=store)
    from automux.core.run import jobfiles as jf
    train = jf.read_arrow(store.run_dir(r.run_id) / jf.TRAIN)
    holdout = jf.read_arrow(store.run_dir(r.run_id) / jf.HOLDOUT)
    assert len(train) == len(exp.split.train) and len(holdout) == len(exp.split.holdout)
    assert jf.TARGET_COL not in holdout.columns


def test_worker_killed_mid_run_is_crashed_with_candidates(store, fakes_on_path, tmp_path):
    from fake_adapters import FakeMeanAdapter

    pid_file = tmp_path / "pid"

    def killer():
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text():
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer)
    t.start()
    r = execute(_exp(trials=1000), FakeMeanAdapter(), store=store,
                options={"sleep": 0.05, "pid_file": str(pid_file)})
    t.join()
    assert r.status == "crashed"
    assert len(r.candidates) >= 2
    assert "search: fake-mean" in r.log
    assert store.load(r.run_id).status == "crashed"
    assert [row["status"] for row in store.list()] == ["crashed"]


def test_overrun_is_a_timeout_within_budget_plus_grace(store, fakes_on_path):
    from fake_adapters import FakeMeanAdapter

    t0 = time.monotonic()
    r = execute(_exp(seconds=2.0, grace=2.0), FakeMeanAdapter(), store=store,
                options={"sleep": 0.2, "ignore_deadline": True})
    wall = time.monotonic() - t0
    assert r.status == "timeout"
    # issue 22: start-up (launch to ready) is outside the budget, so it is taken off the wall time
    assert wall - r.durations["startup"] < 2.0 + 2.0 + 3.0 + 2.0  # budget + grace + kill wait + slack
    assert len(r.candidates) >= 1
    assert r.log


def test_seconds_budget_is_respected_by_the_reference_adapter(store):
    t0 = time.monotonic()
    r = execute(_exp(seconds=4.0), "reference", store=store)
    assert r.status == "ok"
    assert time.monotonic() - t0 < 4.0 + r.spec.budget.grace_s
    assert r.determinism["declared_deterministic"] is False


def test_cli_seconds_budget_returns_within_budget_plus_grace(tmp_path):
    t0 = time.monotonic()
    proc = run_cli("--store", str(tmp_path), "run", "--data", "sklearn:breast_cancer", "--target", "target",
                   "--backend", "reference", "--budget-seconds", "10", "--no-check", "--json")
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert wall < 10 + 15
    assert json.loads(proc.stdout)["status"] == "ok"


def test_adapter_exception_is_failed_with_its_error(store, fakes_on_path):
    from fake_adapters import FakeMeanAdapter

    r = execute(_exp(trials=2), FakeMeanAdapter(), store=store, options={"sleep": "not-a-number"})
    assert r.status == "failed"
    assert "ValueError" in r.error
    assert r.extra["error_type"] == "ValueError"


def test_run_events_fire_in_order(store):
    events = []

    class Recorder:
        @hookimpl
        def automux_run_started(self, run_id, backend):
            events.append(("started", backend))

        @hookimpl
        def automux_run_candidate(self, candidate):
            events.append(("candidate", candidate.index))

        @hookimpl
        def automux_run_finished(self, record):
            events.append(("finished", record.status))

    plugins.register(Recorder(), name="recorder")
    try:
        execute(_exp(trials=2), "reference", store=store)
    finally:
        plugins.unregister("recorder")
    assert events == [("started", "reference"), ("candidate", 0), ("candidate", 1), ("finished", "ok")]


def test_verify_says_identical(tmp_path):
    proc = run_cli("--store", str(tmp_path), "run", "--data", "sklearn:breast_cancer", "--target", "target",
                   "--backend", "reference", "--budget-trials", "3", "--seed", "7", "--json")
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout)
    proc = run_cli("--store", str(tmp_path), "run", "--data", "sklearn:breast_cancer", "--target", "target",
                   "--backend", "reference", "--budget-trials", "3", "--seed", "7", "--json")
    assert json.loads(proc.stdout)["predictions_sha256"] == first["predictions_sha256"]
    proc = run_cli("--store", str(tmp_path), "verify", first["run_id"], "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["verdict"] == "identical" and out["rerun_id"] != first["run_id"]
    listed = json.loads(run_cli("--store", str(tmp_path), "runs", "list", "--json").stdout)
    assert len(listed) == 3
    shown = json.loads(run_cli("--store", str(tmp_path), "runs", "show", first["run_id"], "--json").stdout)
    assert shown["predictions_sha256"] == first["predictions_sha256"]


def test_compare_shares_one_spec_and_ranks(store, fakes_on_path):
    from fake_adapters import FakeMeanAdapter

    plugins.register(type("FakePlugin", (), {"automux_adapters": hookimpl(lambda self: [FakeMeanAdapter()])})(),
                     name="fake-plugin")
    try:
        spec, records = automux.compare("sklearn:breast_cancer", None, ["fake-mean", "reference"],
                                        budget_trials=2, seed=3, store=store)
    finally:
        plugins.unregister("fake-plugin")
    assert [r.backend for r in records] == ["reference", "fake-mean"]  # the mean predictor has AUC 0.5
    assert {r.spec_id for r in records} == {spec.spec_id}


def test_declared_child_processes_are_ended_even_outside_the_group(store, fakes_on_path, tmp_path):
    """A helper process in its own session (like a JVM started with setsid) listed in
    scratch/child_pids is ended by the parent after the worker exits."""
    from fake_adapters import FakeMeanAdapter

    r = execute(_exp(trials=2), FakeMeanAdapter(), store=store, options={"spawn_escaping_child": True})
    assert r.status == "ok", r.log
    pid = int((store.run_dir(r.run_id) / "scratch" / "child_pids").read_text().split()[0])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}") and \
            open(f"/proc/{pid}/stat").read().split()[2] != "Z":
        time.sleep(0.05)
    alive = os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive
