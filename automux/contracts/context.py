"""The runs a contract suite makes for one adapter, made once and shared by the checks.

Checks run adapters through the real machinery (``automux.core.run.execute.execute``:
worker subprocess, hard deadline, streamed candidates) in a scratch run store.
Each run is made on first use and cached under a key, so the determinism check
and the seed check share the same base run. After every run the scratch root is
scanned for processes the run left behind; those are recorded and ended.
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..core.run import jobfiles as jf
from ..core.adapter import Adapter, SearchTask
from ..core.experiment.budget import DEFAULT_GRACE_S
from ..core.capabilities import TASK_NAMES
from ..core.experiment.prepare import Experiment
from ..core.experiment.metrics import get_metric
from ..core.experiment.record import RunRecord
from ..core.run.store import RunStore
from . import data, processes

#: Trials of the base runs unless the adapter's ``min_budget`` asks for more:
#: enough for a seeded search to show its seed, small enough to stay fast.
BASE_TRIALS = 3
#: Trials of the side runs (categorical / missing data, other tasks).
SIDE_TRIALS = 2
#: Least budget of the seconds check: the worker's start-up (interpreter, imports)
#: counts against the budget, and takes seconds on a loaded machine.
SECONDS_FLOOR = 10.0
PROBE_TIMEOUT_S = 300.0
KEEP_ENV = "AUTOMUX_CONTRACTS_KEEP"
#: The worker variable that turns on :func:`automux.core.adapter.perturb_timing`.
PERTURB_ENV = "AUTOMUX_PERTURB_TIMING"
#: CPU-busy processes running beside a perturbed run (capped by the machine's cores).
CONTENTION_PROCS = 2


@dataclass(frozen=True)
class ContractConfig:
    """How hard the suite pushes an adapter. Every field has a sensible default.

    ``trials``: trial budget of the base runs (default ``max(min_budget trials, 3)``);
    ``seconds``: budget of the seconds check (default ``max(min_budget['seconds'], 10)``);
    ``grace_s``: the grace past a seconds budget (default the core's 15 s);
    ``seeds``: the two master seeds the seed and determinism checks compare;
    ``options``: backend options passed to every run.
    """

    trials: Optional[int] = None
    seconds: Optional[float] = None
    grace_s: Optional[float] = None
    seeds: Tuple[int, int] = (1, 2)
    options: Dict[str, Any] = field(default_factory=dict)

    def key(self) -> Hashable:
        return (self.trials, self.seconds, self.grace_s, tuple(self.seeds), repr(sorted(self.options.items())))


@dataclass
class ContractRun:
    """One run made for the suite: its record, its job dir and what it left behind."""

    key: Hashable
    experiment: Experiment
    record: RunRecord
    run_dir: Path
    leftovers: List[processes.Leftover]
    not_ended: List[processes.Leftover]

    @property
    def completed(self) -> bool:
        """The worker finished search, save and predict (it wrote result.json)."""
        return (self.run_dir / jf.RESULT).exists()

    def predictions(self) -> Optional[np.ndarray]:
        path = self.run_dir / jf.PREDICTIONS
        if not path.exists():
            return None
        return jf.predictions_array(jf.read_arrow(path), self.experiment.dataset.task)

    def holdout_y(self) -> np.ndarray:
        return self.experiment.dataset.y[list(self.experiment.split.holdout)]

    def describe_failure(self) -> str:
        r = self.record
        return f"run {r.run_id} ended {r.status}" + (f": {r.error}" if r.error else "")


class ContractContext:
    """The scratch store, the run cache and the process ledger for one adapter."""

    def __init__(self, adapter: Adapter, config: Optional[ContractConfig] = None) -> None:
        self.adapter = adapter
        self.config = config or ContractConfig()
        self.root = Path(tempfile.mkdtemp(prefix=f"automux-contracts-{adapter.name or 'adapter'}-")).resolve()
        self.store = RunStore(self.root / "runs")
        self.token = uuid.uuid4().hex
        self.runs: Dict[Hashable, ContractRun] = {}
        self._finalizer = weakref.finalize(self, _remove_tree, str(self.root))

    # -- what the adapter declared, turned into run settings ---------------------------------

    @property
    def caps(self) -> Any:
        return self.adapter.capabilities

    def declared_tasks(self) -> List[str]:
        return [t for t in TASK_NAMES if t in self.caps.tasks]

    def main_task(self) -> str:
        tasks = self.declared_tasks()
        if not tasks:
            raise ValueError(f"{self.adapter.name} declares none of the tasks {', '.join(TASK_NAMES)}")
        return tasks[0]

    def base_mode(self) -> str:
        return "trials" if "trials" in self.caps.budget_modes else "seconds"

    def _min(self, mode: str, default: float) -> float:
        try:
            return float(self.caps.min_budget.get(mode, default))
        except (AttributeError, TypeError, ValueError):
            return default

    def base_trials(self) -> int:
        return int(self.config.trials or max(int(self._min("trials", 1)), BASE_TRIALS))

    def side_trials(self) -> int:
        return min(self.base_trials(), max(int(self._min("trials", 1)), SIDE_TRIALS))

    def seconds(self) -> float:
        return float(self.config.seconds or max(self._min("seconds", SECONDS_FLOOR), SECONDS_FLOOR))

    def grace(self) -> float:
        return float(DEFAULT_GRACE_S if self.config.grace_s is None else self.config.grace_s)

    def budget_args(self, mode: str, trials: Optional[int] = None) -> Dict[str, Any]:
        if mode == "trials":
            return {"budget_trials": trials or self.base_trials(), "grace_s": self.grace()}
        return {"budget_seconds": self.seconds(), "grace_s": self.grace()}

    # -- experiments and runs ------------------------------------------------------------------

    def experiment(self, frame: pd.DataFrame, split: Dict[str, Any], task: str, seed: int,
                   budget: Dict[str, Any]) -> Experiment:
        from ..core.experiment.prepare import make_budget, prepare

        # The API's experiment() without the API: the suite sits below it (import-linter contract).
        names = {"budget_trials": "trials", "budget_seconds": "seconds"}
        return prepare(frame, data.TARGET, budget=make_budget(**{names.get(k, k): v for k, v in budget.items()}),
                       seed=seed, task=task, split=split, folds=data.N_FOLDS, metric=data.FOLD_PLAN_METRIC[task])

    def run(self, key: Hashable, make: Callable[[], Experiment]) -> ContractRun:
        """The run cached under ``key``, made with the experiment ``make()`` on first use."""
        if key not in self.runs:
            self.runs[key] = self._execute(key, make())
        return self.runs[key]

    def _execute(self, key: Hashable, exp: Experiment, env: Optional[Dict[str, str]] = None) -> ContractRun:
        from ..core.run.execute import execute

        variables = dict(env or {}, **{processes.MARKER_VAR: self.token})
        previous = {k: os.environ.get(k) for k in variables}
        os.environ.update(variables)
        try:
            # oof=True: the out-of-fold check needs them (a refit outside the budget where the adapter gives none)
            record = execute(exp, self.adapter, store=self.store, options=dict(self.config.options), oof=True)
        finally:
            for k, v in previous.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        leftovers = processes.settle(self.token, str(self.root))
        not_ended = processes.end(leftovers) if leftovers else []
        return ContractRun(key=key, experiment=exp, record=record, run_dir=self.store.run_dir(record.run_id),
                           leftovers=leftovers, not_ended=not_ended)

    def base_run(self, seed_index: int = 0, repeat: int = 0, mode: Optional[str] = None) -> ContractRun:
        """The fold-plan run on the main task with seed ``config.seeds[seed_index]``.

        ``repeat`` > 0 makes an independent second run of the same experiment.
        """
        mode = mode or self.base_mode()
        task = self.main_task()
        seed = self.config.seeds[seed_index]

        def make() -> Experiment:
            frame, split = data.fold_plan(task)
            return self.experiment(frame, split, task, seed, self.budget_args(mode))

        return self.run(("base", mode, seed, repeat), make)

    def perturbed_run(self, mode: str) -> ContractRun:
        """The base run's experiment once more, with thread timing perturbed and the CPUs contended.

        The worker gets ``AUTOMUX_PERTURB_TIMING`` (random extra seconds on every
        ``time.sleep``, a 10 us thread switch interval) and ``CONTENTION_PROCS``
        busy processes run beside it for the whole run.
        """
        task = self.main_task()
        seed = self.config.seeds[0]
        key = ("base", mode, seed, "perturbed")
        if key not in self.runs:
            frame, split = data.fold_plan(task)
            exp = self.experiment(frame, split, task, seed, self.budget_args(mode))
            hogs = _start_contention(min(CONTENTION_PROCS, os.cpu_count() or 1))
            try:
                self.runs[key] = self._execute(key, exp, env={PERTURB_ENV: "1"})
            finally:
                _stop_contention(hogs)
        return self.runs[key]

    def side_run(self, name: str, task: str, frame: pd.DataFrame, split: Dict[str, Any]) -> ContractRun:
        """A small run on other data (categorical, missing values, another task)."""
        mode = self.base_mode()
        seed = self.config.seeds[0]
        return self.run(("side", name, task),
                        lambda: self.experiment(frame, split, task, seed,
                                                self.budget_args(mode, trials=self.side_trials())))

    def seconds_run(self) -> ContractRun:
        task = self.main_task()

        def make() -> Experiment:
            frame, split = data.plain(task)
            return self.experiment(frame, split, task, self.config.seeds[0], self.budget_args("seconds"))

        return self.run(("seconds", task), make)

    def search_task(self, exp: Experiment, name: str) -> SearchTask:
        """What the worker would hand ``search`` for ``exp``, built in this process."""
        ds, split = exp.dataset, exp.split
        train = list(split.train)
        workdir = self.root / "inprocess" / name
        workdir.mkdir(parents=True, exist_ok=True)
        return SearchTask(X=ds.X.iloc[train].reset_index(drop=True), y=ds.y[train], task=ds.task,
                          classes=[str(c) for c in ds.classes], folds=split.fold_pairs(),
                          metric=get_metric(exp.spec.metric, ds.task), seed=exp.spec.seeds["backend"],
                          budget=exp.spec.budget, options=dict(self.config.options), workdir=workdir,
                          log=lambda msg: None)

    def all_leftovers(self) -> List[Tuple[ContractRun, List[processes.Leftover]]]:
        return [(r, r.leftovers) for r in self.runs.values() if r.leftovers]

    # -- save / load, in the interpreter the worker used ---------------------------------------

    def reload_predictions(self, run: ContractRun) -> np.ndarray:
        """Hold-out predictions of the model the run saved, loaded in a fresh process.

        Raises:
            RuntimeError: the probe process failed; the message holds its output.
        """
        job_dir = self.root / "probe" / run.record.run_id
        job_dir.mkdir(parents=True, exist_ok=True)
        out = job_dir / jf.PREDICTIONS
        job = jf.read_json(run.run_dir / jf.JOB)
        jf.write_json(job_dir / jf.JOB, {"kind": "predict", "adapter": job["adapter"], "task": job["task"],
                                         "seeds": job["seeds"], "model_dir": str(run.run_dir / jf.MODEL_DIR),
                                         "input": str(run.run_dir / jf.HOLDOUT)})
        try:
            self.run_probe(run, job_dir, PROBE_TIMEOUT_S)
        except RuntimeError as e:
            raise RuntimeError(f"loading the saved model failed {e}") from None
        return jf.predictions_array(jf.read_arrow(out), run.experiment.dataset.task)

    def run_probe(self, run: ContractRun, job_dir: Path, timeout_s: float) -> Path:
        """Run the predict job in ``job_dir`` through the launcher, in the interpreter the run's worker
        used and without the run's marker variable; returns the predictions file.

        Raises:
            RuntimeError: ``(exit N): LOG TAIL`` when the probe failed or overran ``timeout_s``.
        """
        from ..core.run.launcher import run_worker

        python, extra = self._worker_interpreter(run)
        outcome = run_worker(job_dir, python=python, deadline_s=timeout_s, seeds=run.record.spec.seeds,
                             env_extra=extra, env_unset=(processes.MARKER_VAR,))
        if outcome.interrupted is not None:
            raise outcome.interrupted
        out = job_dir / jf.PREDICTIONS
        if outcome.status != "ok" or not out.exists():
            log = job_dir / jf.LOG
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""
            why = f"exit {outcome.returncode}" + (f", {outcome.error}" if outcome.status == "timeout" else "")
            raise RuntimeError(f"({why}):\n{tail}")
        return out

    def _worker_interpreter(self, run: ContractRun) -> Tuple[str, Dict[str, str]]:
        """The interpreter (and its extra variables) the run's worker used."""
        extra: Dict[str, str] = {}
        try:
            from ..core.env.worker_env import prepare_worker
        except ImportError:  # an automux without isolated envs: workers use this interpreter
            prepare_worker = None
        if prepare_worker is not None:
            worker = prepare_worker(self.adapter, build=False)
            return str(worker.python), dict(worker.env_extra)
        python = run.record.env.get("executable") or sys.executable
        return (python if os.path.exists(python) else sys.executable), extra

    def close(self) -> None:
        """Delete the scratch root (kept when ``AUTOMUX_CONTRACTS_KEEP`` is set)."""
        for run in self.runs.values():
            processes.end(run.not_ended)
        if os.environ.get(KEEP_ENV):
            if self._finalizer.detach() is not None:
                sys.stderr.write(f"[contracts {self.adapter.name}] {KEEP_ENV} set: kept the scratch store "
                                 f"{self.root} (runs/, probe/, inprocess/)\n")
            return
        self._finalizer()


def _start_contention(n: int) -> List[subprocess.Popen]:
    """``n`` busy-looping interpreters (at most 10 minutes each), not marked as the run's processes."""
    env = {k: v for k, v in os.environ.items() if k != processes.MARKER_VAR}
    code = "import time\nt=time.monotonic()\nwhile time.monotonic()-t<600: pass"
    return [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env) for _ in range(n)]


def _stop_contention(procs: List[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def _remove_tree(path: str) -> None:
    if not os.environ.get(KEEP_ENV):
        shutil.rmtree(path, ignore_errors=True)


_contexts: Dict[Hashable, ContractContext] = {}


def context_for(adapter: Adapter, config: Optional[ContractConfig] = None) -> ContractContext:
    """The shared context of ``adapter`` (by class and name) under ``config``."""
    config = config or ContractConfig()
    cls = type(adapter)
    key = (cls.__module__, cls.__qualname__, adapter.name, config.key())
    ctx = _contexts.get(key)
    if ctx is None:
        ctx = _contexts[key] = ContractContext(adapter, config)
    return ctx


def release(ctx: ContractContext) -> None:
    """Forget and close a context made by ``context_for``."""
    for k, v in list(_contexts.items()):
        if v is ctx:
            del _contexts[k]
    ctx.close()


@atexit.register
def _close_all() -> None:
    for ctx in list(_contexts.values()):
        ctx.close()
    _contexts.clear()
