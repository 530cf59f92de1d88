"""Parent side of execution: start the worker, stream its candidates, enforce the hard stop.

The worker runs in its own process group (session). The hard stop moves with the
worker's phase (:class:`HardStop`): until it is ready (``started.json``), launch +
the start-up cap; then the budget clock's start + the cap + the grace; during an
out-of-fold refit (``oof_refit.json``), its start + its cap + the grace. Once
``result.json`` is written the worker is done: if it has not exited within
``EXIT_WAIT_S`` its group is ended and the run is ok, with a note in the log.
At the hard stop the group gets SIGTERM, then SIGKILL after ``KILL_AFTER_S``;
after any exit the group is killed again so no grandchild (a JVM, a Dask worker)
outlives the run, and so are the helper pids the adapter declared. An interrupt
of the parent ends the group the same way and is returned as an ``interrupted``
outcome; the worker's watchdog ends the group if the parent dies unannounced
(``kill -9``). Candidates are read incrementally as the worker streams them.
Inline mode runs the same job in this process, for debugging.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..experiment.spec import Candidate
from . import jobfiles as jf
from . import memory, processes, warm
from .interrupts import signal_of

#: The one worker entry point (``job.json`` says which kind of job).
WORKER_MODULE = "automux.core.run.worker"



def worker_command(job_dir: Path, python: str = sys.executable) -> List[str]:
    """The argv that runs the job in ``job_dir`` in the worker (with ``python``)."""
    return [python, "-m", WORKER_MODULE, str(job_dir)]


KILL_AFTER_S = 3.0
POLL_S = 0.1
#: Seconds a worker that wrote ``result.json`` may take to exit before its process group is ended
#: (a backend that leaves a non-daemon thread or a multiprocessing queue behind never exits by itself).
EXIT_WAIT_S = 5.0
OVERRUN = ("the worker overran its hard stop (the seconds budget or the --timeout cap, plus the grace) and was "
           "killed; the candidates found so far are kept")


@dataclass
class Outcome:
    """What the parent learned from one worker run."""

    status: str  # ok / failed / timeout / crashed / interrupted
    candidates: List[Candidate]
    result: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    error_type: Optional[str] = None
    returncode: Optional[int] = None
    wall_s: float = 0.0
    env: Dict[str, Any] = field(default_factory=dict)
    #: The interrupt (SIGINT / SIGTERM / SIGHUP) that ended the run; ``execute`` re-raises it after storing.
    interrupted: Optional[BaseException] = None
    #: The worker's ``started.json`` (start-up seconds, the hook's facts) when it got that far.
    startup: Optional[Dict[str, Any]] = None
    #: The memory guard's account (limit, peak held, how enforced: :meth:`memory.Guard.summary`), or None.
    memory: Optional[Dict[str, Any]] = None


class HardStop:
    """When the parent ends the worker, by phase (all on this process's monotonic clock).

    ``budget`` None: ``deadline_s`` after launch (None: never), as for predict jobs.
    With a budget: launch + ``startup_timeout_s`` until ``started.json`` appears, then
    clock start + ``cap_s`` + ``grace_s``; once ``oof_refit.json`` appears, refit start
    + its cap + ``grace_s``. ``phase`` names what was running when it passed.
    """

    def __init__(self, job_dir: Path, t0: float, launched_wall: float, budget: Any = None,
                 deadline_s: Optional[float] = None) -> None:
        self.job_dir, self.t0, self.wall0, self.budget = job_dir, t0, launched_wall, budget
        self.phase = "run" if budget is None else "startup"
        self.startup: Optional[Dict[str, Any]] = None
        if budget is None:
            self.at = None if deadline_s is None else t0 + deadline_s
        else:
            self.at = t0 + float(budget.startup_timeout_s)

    def _mono(self, wall: float) -> float:
        return self.t0 + (float(wall) - self.wall0)

    def update(self) -> None:
        """Move the stop when the worker announced a new phase."""
        if self.budget is None:
            return
        if self.phase == "startup" and (self.job_dir / jf.STARTED).exists():
            self.startup = jf.read_json(self.job_dir / jf.STARTED)
            self.phase, self.at = "search", self._mono(self.startup["clock_started_at"]) + self.budget.deadline_s
        if self.phase == "search" and (self.job_dir / jf.OOF_REFIT).exists():
            refit = jf.read_json(self.job_dir / jf.OOF_REFIT)
            self.phase = "oof_refit"
            self.at = self._mono(refit["started_at"]) + float(refit["cap_s"]) + self.budget.grace_s

    def passed(self, now: float) -> bool:
        return self.at is not None and now > self.at

    def message(self) -> str:
        """Why the worker was killed, by phase."""
        if self.phase == "startup":
            return (f"start-up exceeded its cap of {self.budget.startup_timeout_s:g}s (interpreter, backend "
                    "imports, runtime start: raise --startup-timeout); the worker was killed before its "
                    "search started")
        if self.phase == "oof_refit":
            return ("the out-of-fold refit (after the search, outside its budget) overran its cap plus the "
                    "grace and was killed; the candidates found are kept")
        return OVERRUN


#: Thread variables of the math libraries the worker's backends use: each gets the run's cores.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_MAX_THREADS",
               "VECLIB_MAXIMUM_THREADS")


def worker_env(seeds: Dict[str, int], extra: Optional[Dict[str, str]] = None, cores: int = 1) -> Dict[str, str]:
    """The worker's environment: hash seed, the math libraries' threads set to ``cores``."""
    env = dict(os.environ)
    env.update({"PYTHONHASHSEED": str(seeds.get("python", 0)), "PYTHONUNBUFFERED": "1", "PYTHONNOUSERSITE": "1"})
    env.update({var: str(int(cores)) for var in THREAD_VARS})
    env.update(extra or {})
    return env


#: Where an adapter lists helper processes that may escape the worker's process
#: group (one pid per line), e.g. a JVM started in its own session.
CHILD_PIDS = Path("scratch") / "child_pids"


def _kill_declared_children(job_dir: Path, launched_wall: float) -> None:
    """Backstop: end every declared helper process of this job that is still alive."""
    processes.end_pids(processes.read_pids(job_dir / CHILD_PIDS), launched_wall, KILL_AFTER_S)


def _finish(job_dir: Path, cands: List[Candidate], rc: Optional[int], wall: float, timed_out: bool,
            interrupted: Optional[BaseException] = None, why: Optional[str] = None,
            lingered: bool = False) -> Outcome:
    error_file = job_dir / jf.ERROR
    result_file = job_dir / jf.RESULT
    if interrupted is not None:
        import signal as _signal
        name = _signal.Signals(signal_of(interrupted)).name
        return Outcome("interrupted", cands, returncode=rc, wall_s=wall, interrupted=interrupted,
                       error=f"interrupted by {name}: the worker was ended, the candidates found so far are kept")
    if timed_out:
        return Outcome("timeout", cands, returncode=rc, wall_s=wall, error=why or OVERRUN)
    if (rc == 0 or lingered) and result_file.exists():
        result = jf.read_json(result_file)
        return Outcome("ok", cands, result=result, returncode=rc, wall_s=wall, env=result.get("env", {}))
    if error_file.exists():
        err = jf.read_json(error_file)
        # the adapter's BudgetExhausted (automux.core.errors): no candidate finished within the budget
        status = "timeout" if err.get("type") == "BudgetExhausted" else "failed"
        return Outcome(status, cands, error=f"{err['type']}: {err['message']}", error_type=err["type"],
                       returncode=rc, wall_s=wall, env=err.get("env", {}))
    how = f"signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
    return Outcome("crashed", cands, returncode=rc, wall_s=wall,
                   error=f"the worker died ({how}) without reporting a result")


def run_worker(job_dir: Path, python: str = sys.executable, deadline_s: Optional[float] = None,
               seeds: Optional[Dict[str, int]] = None, on_candidate: Callable[[Candidate], None] = lambda c: None,
               env_extra: Optional[Dict[str, str]] = None, cores: int = 1, budget: Any = None,
               command: Optional[Sequence[str]] = None, env_unset: Sequence[str] = ()) -> Outcome:
    """Run ``python -m automux.core.run.worker JOB_DIR`` under a hard stop, with ``cores`` threads.

    The one way this package starts a job process: search and predict jobs run the
    worker; ``command`` (argv) runs another job program in the same harness (the
    stand-alone re-validation: ``python -I _revalidate.py JOB_DIR``; its own outputs,
    so its outcome is read from ``returncode`` and ``status == "timeout"``).
    ``env_unset`` names variables the job must not inherit.

    With ``budget`` (a search job) the hard stop follows the worker's phases
    (:class:`HardStop`); without, ``deadline_s`` counts from launch (None: no
    deadline). A worker that wrote ``result.json`` and has not exited within
    ``EXIT_WAIT_S`` has its group ended and its run is ok, with a note in the log.
    The worker runs in its own process group and dies with this process (its
    watchdog). An interrupt (``KeyboardInterrupt`` /
    :class:`~automux.core.run.interrupts.Interrupted`) while it runs ends the group
    and returns an ``interrupted`` outcome holding the exception, with the
    candidates found so far; the caller re-raises it.
    """
    job_dir = Path(job_dir).resolve()
    job = jf.read_json(job_dir / jf.JOB)
    job["launched_at"] = launched_wall = time.time()
    t0 = time.monotonic()
    lease = warm.lease(job, python) if command is None else None  # a compare's / bench's warm runtime
    if lease is not None:
        job["warm"] = lease.to_json()  # a fresh one's start is this run's start-up
    elif job.get("warm_error"):
        with open(job_dir / jf.LOG, "a", encoding="utf-8") as log:
            log.write(f"[automux] no warm runtime ({job['warm_error']}): the run starts its own\n")
    jf.write_json(job_dir / jf.JOB, job)
    try:
        out = _launch(job_dir, job, python, launched_wall, t0, seeds, on_candidate, env_extra, cores, budget,
                      deadline_s, command, env_unset)
    except BaseException:
        warm.release(lease, reusable=False)
        raise
    # lent again only when the worker ended by itself (its adapter cleaned up); never after a kill
    warm.release(lease, reusable=out.status in ("ok", "failed") and out.returncode in (0, 1)
                 and out.error_type != memory.ERROR_TYPE)
    return out


def _launch(job_dir: Path, job: Dict[str, Any], python: str, launched_wall: float, t0: float,
            seeds: Optional[Dict[str, int]], on_candidate: Callable[[Candidate], None],
            env_extra: Optional[Dict[str, str]], cores: int, budget: Any, deadline_s: Optional[float],
            command: Optional[Sequence[str]], env_unset: Sequence[str]) -> Outcome:
    env = _job_env(seeds or {}, env_extra, cores, env_unset)
    argv = list(command) if command is not None else worker_command(job_dir, python)
    tail = jf.CandidateTail(job_dir)
    stop = HardStop(job_dir, t0, launched_wall, budget, deadline_s)
    timed_out = lingered = False
    interrupted: Optional[BaseException] = None
    guard: Optional[memory.Guard] = None
    with open(job_dir / jf.LOG, "ab") as log:
        proc = subprocess.Popen(argv, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env=env, cwd=str(job_dir))
    pgid = proc.pid
    try:  # from here an interrupt, wherever it lands, ends the worker's group and is recorded
        processes.track_group(pgid)
        guard = memory.guard(pgid, (job.get("budget") or {}).get("memory_mb"), job_dir / CHILD_PIDS,
                             launched_wall, job_dir / jf.LOG)  # the spec's --memory, on the whole group
        timed_out, lingered = _watch(proc, job_dir, tail, stop, on_candidate)
    except KeyboardInterrupt as e:  # SIGINT / SIGTERM / SIGHUP in the parent: the run is ended and recorded
        interrupted = e
    finally:
        _end(proc, pgid, job_dir, launched_wall)
        if guard is not None:
            guard.stop()  # with a cgroup: did the kernel end the group for its memory?
    for c in tail.new():
        on_candidate(c)
    if interrupted is None and processes.pending_interrupt() is not None:
        interrupted = processes.pending_interrupt()  # the main thread took it and ended our worker
    out = _finish(job_dir, tail.seen, proc.returncode, time.monotonic() - t0, timed_out, interrupted,
                  why=stop.message(), lingered=lingered)
    if guard is not None and guard.exceeded and interrupted is None:  # over --memory: failed, candidates kept
        out = Outcome("failed", tail.seen, error=guard.exceeded, error_type=memory.ERROR_TYPE,
                      returncode=proc.returncode, wall_s=out.wall_s)
    out.memory = guard.summary() if guard is not None else None
    out.startup = _started(job_dir)
    return out


def _job_env(seeds: Dict[str, int], extra: Optional[Dict[str, str]], cores: int,
             unset: Sequence[str]) -> Dict[str, str]:
    """:func:`worker_env`, naming this process as the parent the job must not outlive, less ``unset``."""
    env = worker_env(seeds, extra, cores)
    env[processes.PARENT_PID_ENV] = str(os.getpid())
    for name in unset:
        env.pop(name, None)
    return env


def _watch(proc: "subprocess.Popen[bytes]", job_dir: Path, tail: "jf.CandidateTail", stop: HardStop,
           on_candidate: Callable[[Candidate], None]) -> "tuple[bool, bool]":
    """Poll until the worker exits (False, False), passes its hard stop (True, False), or lingers after
    writing ``result.json`` or ``error.json`` for ``EXIT_WAIT_S`` (False, True; the note goes to the log)."""
    result_seen: Optional[float] = None
    while True:
        rc = proc.poll()
        for c in tail.new():
            on_candidate(c)
        if rc is not None:
            return False, False
        now = time.monotonic()
        if result_seen is None and ((job_dir / jf.RESULT).exists() or (job_dir / jf.ERROR).exists()):
            result_seen = now  # written atomically (rename): complete once it exists; an error report is final too
        if result_seen is not None:
            if now - result_seen > EXIT_WAIT_S:
                with open(job_dir / jf.LOG, "a", encoding="utf-8") as log:
                    log.write(f"[automux] the worker wrote its result (or error) but did not exit within {EXIT_WAIT_S:g} s; "
                              "its process group was ended\n")
                return False, True
        else:
            stop.update()
            if stop.passed(now):
                return True, False
        time.sleep(POLL_S)


def _end(proc: "subprocess.Popen[bytes]", pgid: int, job_dir: Path, launched_wall: float) -> None:
    """End the worker's group (SIGTERM, then SIGKILL), its grandchildren and its declared helpers."""
    if proc.poll() is None:
        processes.kill_group(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            pass
    # Grandchildren (JVMs, Dask workers) may outlive the worker: end the group, then declared helpers.
    processes.end_group(pgid, KILL_AFTER_S)
    proc.wait()
    processes.untrack_group(pgid)
    _kill_declared_children(job_dir, launched_wall)


def _started(job_dir: Path) -> Optional[Dict[str, Any]]:
    """The worker's ``started.json`` (start-up seconds and facts), or None if it never got ready."""
    path = job_dir / jf.STARTED
    return jf.read_json(path) if path.exists() else None


def run_inline(job_dir: Path, on_candidate: Callable[[Candidate], None] = lambda c: None) -> Outcome:
    """The same job in this process: no deadline enforcement, live tracebacks in the log."""
    import traceback

    from .worker import run_job, write_error

    job = jf.read_json(job_dir / jf.JOB)
    job["launched_at"] = time.time()
    jf.write_json(job_dir / jf.JOB, job)
    t0 = time.monotonic()
    rc = 0
    interrupted: Optional[BaseException] = None
    try:
        run_job(job_dir)
    except KeyboardInterrupt as e:
        interrupted, rc = e, 130
    except Exception as e:
        write_error(job_dir, e)
        (job_dir / jf.LOG).write_text(traceback.format_exc(), encoding="utf-8")
        rc = 1
    cands = jf.read_candidates(job_dir)
    for c in cands:
        on_candidate(c)
    out = _finish(job_dir, cands, rc, time.monotonic() - t0, False, interrupted)
    out.startup = _started(job_dir)
    return out
