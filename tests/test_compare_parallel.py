"""compare side by side (--jobs) and on a real loopback Dask cluster gives the records a sequential compare gives."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import List

import pytest

import automux
from test_bench_dask import DASK, _start, _wait_for

BACKENDS = ["reference", "optuna"]
ARGS = dict(budget_trials=3, seed=5, readiness=False)


def _hashes(records) -> dict:
    return {r.backend: (r.status, r.predictions_sha256) for r in records}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    _spec, records = automux.compare("sklearn:breast_cancer", backends=BACKENDS,
                                     store=str(tmp_path_factory.mktemp("seq")), **ARGS)
    assert all(r.status == "ok" for r in records)
    return _hashes(records)


def test_compare_jobs_2_gives_the_sequential_hashes(sequential, tmp_path):
    _spec, records = automux.compare("sklearn:breast_cancer", backends=BACKENDS, store=str(tmp_path), jobs=2, **ARGS)
    assert _hashes(records) == sequential


def test_compare_jobs_on_the_command_line(tmp_path, sequential):
    from helpers import run_cli

    proc = run_cli("compare", "--data", "sklearn:breast_cancer", "--backends", ",".join(BACKENDS), "--budget-trials",
                   "3", "--seed", "5", "--no-check", "--jobs", "2", "--json", "--store", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    got = {r["backend"]: (r["status"], r["predictions_sha256"]) for r in json.loads(proc.stdout)["results"]}
    assert got == sequential


def test_compare_bad_jobs_is_a_user_error(tmp_path):
    with pytest.raises(automux.UserError, match="--jobs"):
        automux.compare("sklearn:iris", backends=BACKENDS, store=str(tmp_path), jobs=0, **ARGS)


@pytest.mark.slow
def test_compare_on_a_loopback_dask_cluster_gives_the_sequential_hashes(sequential, tmp_path):
    procs: List[subprocess.Popen] = []
    try:
        sched_log = tmp_path / "scheduler.log"
        procs.append(_start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                             "--dashboard-address", "127.0.0.1:0"], sched_log))
        address = _wait_for(r"Scheduler at:\s+(tcp://127\.0\.0\.1:\d+)", sched_log)
        for i in range(2):
            wdir = tmp_path / f"worker{i}"
            wdir.mkdir()
            log = tmp_path / f"worker{i}.log"
            procs.append(_start([DASK, "worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
                                 "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--local-directory",
                                 str(wdir)], log))
            _wait_for(r"(Registered to):", log)
        store = tmp_path / "runs"
        _spec, records = automux.compare("sklearn:breast_cancer", backends=BACKENDS, store=str(store),
                                         executor="dask", scheduler=address, **ARGS)
        assert _hashes(records) == sequential
        assert sorted(r["run_id"] for r in automux.runs(store=str(store))) == sorted(r.run_id for r in records)
    finally:  # each Dask process leads its own session (nanny + worker): end the whole group
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def test_compare_dask_without_a_scheduler_is_a_user_error(tmp_path):
    with pytest.raises(automux.UserError, match="--scheduler"):
        automux.compare("sklearn:iris", backends=BACKENDS, store=str(tmp_path), executor="dask", **ARGS)
