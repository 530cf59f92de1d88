"""Parent side of execution: start the worker, stream its candidates, enforce the deadline.

The worker runs in its own process group (session). At the deadline (budget
seconds + grace) the group gets SIGTERM, then SIGKILL after ``KILL_AFTER_S``;
after any exit the group is killed again so no grandchild (a JVM, a Dask worker)
outlives the run. Inline mode runs the same job in this process, for debugging.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from . import jobfiles as jf
from ..contract.spec import Candidate

KILL_AFTER_S = 3.0
POLL_S = 0.1


@dataclass
class Outcome:
    """What the parent learned from one worker run."""

    status: str  # ok / failed / timeout / crashed
    candidates: List[Candidate]
    result: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    error_type: Optional[str] = None
    returncode: Optional[int] = None
    wall_s: float = 0.0
    env: Dict[str, Any] = field(default_factory=dict)


def worker_env(seeds: Dict[str, int], extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The worker's environment: hash seed and single-threaded math libraries."""
    env = dict(os.environ)
    env.update({
        "PYTHONHASHSEED": str(seeds.get("python", 0)),
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1", "PYTHONNOUSERSITE": "1",
    })
    env.update(extra or {})
    return env


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


#: Where an adapter lists helper processes that may escape the worker's process
#: group (one pid per line), e.g. a JVM started in its own session.
CHILD_PIDS = Path("scratch") / "child_pids"


def _started_after(pid: int, wall: float) -> bool:
    """True when ``pid`` is alive and started at or after ``wall`` (so not a reused pid)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    return boot + ticks / os.sysconf("SC_CLK_TCK") >= wall - 1.0


def _kill_declared_children(job_dir: Path, launched_wall: float) -> None:
    """Backstop: end every declared helper process of this job that is still alive."""
    path = job_dir / CHILD_PIDS
    if not path.exists():
        return
    pids = [int(x) for x in path.read_text(encoding="ascii", errors="ignore").split() if x.isdigit()]
    alive = [p for p in pids if _started_after(p, launched_wall)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        end = time.monotonic() + (KILL_AFTER_S if sig == signal.SIGTERM else 0)
        while time.monotonic() < end and any(_started_after(p, launched_wall) for p in alive):
            time.sleep(0.05)
        alive = [p for p in alive if _started_after(p, launched_wall)]
        if not alive:
            return


def _finish(job_dir: Path, status: str, cands: List[Candidate], rc: Optional[int], wall: float,
            timed_out: bool) -> Outcome:
    error_file = job_dir / jf.ERROR
    result_file = job_dir / jf.RESULT
    if timed_out:
        return Outcome("timeout", cands, returncode=rc, wall_s=wall,
                       error="the worker overran the deadline (budget seconds + grace) and was killed")
    if rc == 0 and result_file.exists():
        result = jf.read_json(result_file)
        return Outcome("ok", cands, result=result, returncode=rc, wall_s=wall, env=result.get("env", {}))
    if error_file.exists():
        err = jf.read_json(error_file)
        return Outcome("failed", cands, error=f"{err['type']}: {err['message']}", error_type=err["type"],
                       returncode=rc, wall_s=wall, env=err.get("env", {}))
    how = f"signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
    return Outcome("crashed", cands, returncode=rc, wall_s=wall,
                   error=f"the worker died ({how}) without reporting a result")


def run_worker(job_dir: Path, python: str = sys.executable, deadline_s: Optional[float] = None,
               seeds: Optional[Dict[str, int]] = None, on_candidate: Callable[[Candidate], None] = lambda c: None,
               on_start: Callable[[int], None] = lambda pid: None,
               env_extra: Optional[Dict[str, str]] = None, module: str = "automux.core.run.worker") -> Outcome:
    """Run ``python -m MODULE JOB_DIR`` (the worker by default) under a hard deadline.

    ``deadline_s`` counts from launch; None means no deadline (count budgets).
    """
    job_dir = Path(job_dir).resolve()
    job = jf.read_json(job_dir / jf.JOB)
    job["launched_at"] = launched_wall = time.time()
    jf.write_json(job_dir / jf.JOB, job)
    t0 = time.monotonic()
    with open(job_dir / jf.LOG, "ab") as log:
        proc = subprocess.Popen([python, "-m", module, str(job_dir)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env=worker_env(seeds or {}, env_extra), cwd=str(job_dir))
    pgid = proc.pid
    on_start(proc.pid)
    seen = 0
    timed_out = False
    try:
        while True:
            rc = proc.poll()
            cands = jf.read_candidates(job_dir)
            for c in cands[seen:]:
                on_candidate(c)
            seen = len(cands)
            if rc is not None:
                break
            if deadline_s is not None and time.monotonic() - t0 > deadline_s:
                timed_out = True
                _kill_group(pgid, signal.SIGTERM)
                try:
                    proc.wait(timeout=KILL_AFTER_S)
                except subprocess.TimeoutExpired:
                    pass
                _kill_group(pgid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(POLL_S)
    finally:
        if proc.poll() is None:  # interrupted (KeyboardInterrupt): leave nothing behind
            _kill_group(pgid, signal.SIGKILL)
            proc.wait()
        # Grandchildren (JVMs, Dask workers) may outlive the worker: end the group.
        if _group_alive(pgid):
            _kill_group(pgid, signal.SIGTERM)
            end = time.monotonic() + KILL_AFTER_S
            while _group_alive(pgid) and time.monotonic() < end:
                time.sleep(0.05)
            _kill_group(pgid, signal.SIGKILL)
        _kill_declared_children(job_dir, launched_wall)
    cands = jf.read_candidates(job_dir)
    for c in cands[seen:]:
        on_candidate(c)
    return _finish(job_dir, "", cands, proc.returncode, time.monotonic() - t0, timed_out)


def run_inline(job_dir: Path, on_candidate: Callable[[Candidate], None] = lambda c: None) -> Outcome:
    """The same job in this process: no deadline enforcement, live tracebacks in the log."""
    import traceback

    from .worker import run_job, write_error

    job = jf.read_json(job_dir / jf.JOB)
    job["launched_at"] = time.time()
    jf.write_json(job_dir / jf.JOB, job)
    t0 = time.monotonic()
    rc = 0
    try:
        run_job(job_dir)
    except Exception as e:
        write_error(job_dir, e)
        (job_dir / jf.LOG).write_text(traceback.format_exc(), encoding="utf-8")
        rc = 1
    cands = jf.read_candidates(job_dir)
    for c in cands:
        on_candidate(c)
    return _finish(job_dir, "", cands, rc, time.monotonic() - t0, False)
