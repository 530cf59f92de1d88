"""Cores are part of the spec: --cores reaches the worker's thread variables and each backend's own knob."""
from __future__ import annotations

import json
import os

import pytest

import automux
from automux.core.experiment.prepare import make_budget
from helpers import run_cli


def test_cores_default_to_one_and_all_means_this_machine():
    assert make_budget(trials=1).cores == 1
    assert make_budget(trials=1, cores="all").cores == (os.cpu_count() or 1)
    with pytest.raises(automux.SpecError, match="--cores"):
        make_budget(trials=1, cores=0)


def test_cores_reach_the_worker_process_and_the_adapter(fakes_on_path, store):
    from fake_adapters import FakeCoresSpyAdapter

    from automux.core.experiment.prepare import prepare
    from automux.core.run.execute import execute

    exp = prepare("sklearn:iris", budget=make_budget(trials=1, cores=2), seed=1)
    record = execute(exp, FakeCoresSpyAdapter(), store=store)
    assert record.status == "ok", record.log
    assert record.candidates[0].params == {"cores": 2, "omp": "2", "openblas": "2"}


def test_the_reference_forest_gets_the_cores(tmp_path):
    from automux.core.baselines import build_model
    from automux.core.experiment.data import load_data

    ds = load_data("sklearn:iris")
    model = build_model("random_forest", {}, ds.task, ds.X, seed=1, n_jobs=2)
    assert model.named_steps["model"].n_jobs == 2


def test_cores_on_the_command_line_are_recorded(tmp_path):
    proc = run_cli("run", "--data", "sklearn:iris", "--backend", "reference", "--budget-trials", "1", "--cores", "2",
                   "--no-check", "--json", "--store", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(open(json.loads(proc.stdout)["record"]).read())
    assert record["spec"]["budget"]["cores"] == 2


def test_thread_variables_follow_the_cores():
    from automux.core.run.launcher import THREAD_VARS, worker_env

    env = worker_env({"python": 1}, cores=3)
    assert all(env[v] == "3" for v in THREAD_VARS)


def _task(cores: int, **options):
    """A SearchTask as the worker builds it, with ``cores`` in its budget (no backend is run)."""
    from pathlib import Path

    import numpy as np

    from automux.core.adapter import SearchTask
    from automux.core.experiment.metrics import get_metric

    return SearchTask(X=None, y=np.zeros(4), task="binary", classes=["a", "b"], folds=[],
                      metric=get_metric("roc_auc", "binary"), seed=0, budget=make_budget(trials=4, cores=cores),
                      options=options, workdir=Path("."))


def test_each_main_env_backend_is_given_the_cores():
    """What each main-env adapter hands its backend at --cores 2 (the option, where given, wins)."""
    from automux.adapters import h2o, reference
    from automux.adapters.flaml_adapter import FlamlAdapter
    from automux.adapters.h2o.plan import _automl_settings

    assert reference._n_jobs(_task(2)) == 2 and reference._n_jobs(_task(2, n_jobs=1)) == 1
    assert FlamlAdapter()._settings(_task(2))["n_jobs"] == 2
    assert h2o.parse_options({"nthreads": _task(2).cores})["nthreads"] == 2
    assert _automl_settings(_task(2))["max_runtime_secs_per_model"] == int(make_budget(trials=4).candidate_limit_s)
    import inspect

    from automux.adapters import optuna_adapter, tpot_adapter
    assert "n_jobs" in inspect.signature(optuna_adapter.build_model).parameters
    # the Dask cluster is started outside the budget (start_up -> start_dask), TPOT itself in search
    assert "threads_per_worker=task.cores" in inspect.getsource(tpot_adapter.start_dask)
    assert "start_dask(task)" in inspect.getsource(tpot_adapter.TpotAdapter.start_up)
    assert "n_jobs=task.cores" in inspect.getsource(tpot_adapter.TpotAdapter.search)
