"""The run's memory limit (``--memory``), enforced by the parent on the worker's whole process group.

Two ways, chosen once per process (:func:`how`):

- **cgroup v2**, where this process's own cgroup is on a cgroup v2 hierarchy with
  the memory controller and a child cgroup can be made in it: each worker gets a
  child cgroup with ``memory.max`` = the limit, ``memory.swap.max`` = 0 and
  ``memory.oom.group`` = 1, and is moved into it right after it starts (before
  it can start anything). The kernel then ends the worker's processes, and only
  them, when they exceed the limit; ``memory.events``' ``oom_kill`` tells.
- **watchdog** otherwise (cgroup v1, no delegation, not Linux): a thread in the
  parent sums the RSS of every process in the worker's group and session, of its
  declared helpers and of their descendants every :data:`POLL_S` seconds, and
  SIGKILLs them all on excess. RSS counts shared pages once per process, so the
  sum is an upper bound; a burst faster than one poll can still pass the limit
  briefly.

``AUTOMUX_MEMORY_GUARD=watchdog`` forces the watchdog. Either way a run that
exceeded its limit ends ``failed`` with "memory limit of N GB exceeded" and
its candidates are kept; nothing outside the worker's processes is touched.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Optional, Tuple

from ..experiment.memory import describe, machine_mb
from . import processes

#: How often the watchdog sums the group's memory.
POLL_S = 0.25
#: ``Outcome.error_type`` of a run ended for its memory.
ERROR_TYPE = "MemoryLimitExceeded"
#: Set to ``watchdog`` to skip cgroup v2 even where it is writable (tests, debugging).
GUARD_ENV = "AUTOMUX_MEMORY_GUARD"

_detected: Optional[Tuple[Optional[Path], str]] = None
_lock = threading.Lock()


def exceeded_message(limit_mb: int, held_mb: Optional[float] = None) -> str:
    """The one-line reason a run ends with when its processes held more than ``limit_mb``."""
    held = f" (its processes held {describe(held_mb)})" if held_mb else ""
    return (f"memory limit of {describe(limit_mb)} exceeded{held}: the worker was ended, the candidates found so "
            f"far are kept; give a larger --memory (this machine has {describe(machine_mb())}) or less data")


def _cgroup2_dirs() -> Tuple[list, str]:
    """Candidate cgroup v2 directories of this process (one per cgroup2 mount), or why there are none."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as f:
            own = next((line.split(":", 2)[2].strip() for line in f if line.startswith("0::")), None)
        with open("/proc/self/mounts", encoding="ascii") as f:
            mounts = [line.split()[1] for line in f if line.split()[2:3] == ["cgroup2"]]
    except OSError as e:
        return [], f"no /proc ({e.strerror})"
    if own is None or not mounts:
        return [], "no cgroup v2 hierarchy"
    return [Path(m) / own.lstrip("/") for m in mounts], ""


def _probe(base: Path) -> str:
    """Why no run cgroup can be made under ``base``, or '' when one can (a probe cgroup is made and removed)."""
    try:
        if "memory" not in (base / "cgroup.controllers").read_text().split():
            return f"cgroup v2 at {base} has no memory controller"
        if "memory" not in (base / "cgroup.subtree_control").read_text().split():
            (base / "cgroup.subtree_control").write_text("+memory")  # only our own cgroup's children see it
        probe = base / f"automux-probe-{os.getpid()}"
        probe.mkdir()
        try:
            ok = (probe / "memory.max").exists()
        finally:
            probe.rmdir()
        return "" if ok else f"a cgroup made under {base} has no memory.max"
    except OSError as e:
        return f"cgroup v2 at {base} is not writable ({e.strerror or e})"


def how() -> Tuple[Optional[Path], str]:
    """``(base, '')`` where run cgroups are made under cgroup v2 ``base``, else ``(None, why not)``; probed once."""
    global _detected
    with _lock:
        if os.environ.get(GUARD_ENV, "").strip().lower() == "watchdog":
            return None, f"{GUARD_ENV}=watchdog"
        if _detected is None:
            dirs, why = _cgroup2_dirs()
            reasons = [why] if why else []
            for base in dirs:
                problem = _probe(base)
                if not problem:
                    _detected = (base, "")
                    break
                reasons.append(problem)
            else:
                _detected = (None, "; ".join(reasons))
        return _detected


class Guard:
    """Holds one worker's process group to ``limit_mb``; :attr:`exceeded` is the reason once it did not.

    Call :meth:`stop` after the group has ended (it removes the run's cgroup and
    reads its final events). ``limit_mb=None`` guards nothing.
    """

    def __init__(self, pgid: int, limit_mb: Optional[int], child_pids: Path, launched_wall: float,
                 log: Optional[Path] = None) -> None:
        self.pgid, self.limit_mb, self.log = pgid, limit_mb, log
        self.child_pids, self.launched_wall = child_pids, launched_wall
        self.exceeded: Optional[str] = None
        self.peak_mb = 0.0
        self.cgroup: Optional[Path] = None
        self.mode = "none"
        self._done = threading.Event()
        self._thread: Optional[threading.Thread] = None
        if limit_mb is None:
            return
        base, _ = how()
        if base is not None:
            self.cgroup = _make_cgroup(base, pgid, limit_mb)
        self.mode = "cgroup" if self.cgroup is not None else "watchdog"
        if self.mode == "watchdog":
            self._thread = threading.Thread(target=self._watch, name=f"automux-memory-{pgid}", daemon=True)
            self._thread.start()

    def _helpers(self) -> list:
        return [p for p in processes.read_pids(self.child_pids) if processes.started_after(p, self.launched_wall)]

    def _watch(self) -> None:
        assert self.limit_mb is not None
        limit = self.limit_mb * 1024 * 1024
        while not self._done.wait(POLL_S):
            held, pids = processes.group_memory(self.pgid, self._helpers())
            self.peak_mb = max(self.peak_mb, held / 1024 / 1024)
            if held > limit:
                self._exceeded(exceeded_message(self.limit_mb, held / 1024 / 1024))
                processes.kill_group(self.pgid, signal.SIGKILL)
                for pid in pids:  # members that left the group (a helper in its own session)
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                return

    def stop(self) -> None:
        """End the watch; with a cgroup, read whether the kernel ended the group for its memory, then remove it."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.cgroup is None:
            return
        events = _read_events(self.cgroup)
        peak = _read_int(self.cgroup / "memory.peak")
        if peak:
            self.peak_mb = peak / 1024 / 1024
        if self.limit_mb is not None and (events.get("oom_kill", 0) > 0 or events.get("oom_group_kill", 0) > 0):
            self._exceeded(exceeded_message(self.limit_mb, self.peak_mb or None))
        _remove_cgroup(self.cgroup)

    def summary(self) -> Optional[dict]:
        """What the record keeps: the limit, the most the group held (MiB), how it was enforced; None unguarded.

        The watchdog's peak is its largest 0.25 s sample of summed RSS; the cgroup's is ``memory.peak``
        (None on kernels without it)."""
        if self.limit_mb is None:
            return None
        out = {"limit_mb": self.limit_mb, "peak_mb": round(self.peak_mb, 1) if self.peak_mb else None,
               "guard": self.mode, "exceeded": bool(self.exceeded)}
        if self.mode == "watchdog":
            out["why_not_cgroup"] = how()[1]
        return out

    def _exceeded(self, reason: str) -> None:
        self.exceeded = reason
        if self.log is not None:
            try:
                with open(self.log, "a", encoding="utf-8") as f:
                    f.write(f"[automux] {reason.split(':')[0]} ({self.mode}): the worker's processes were ended\n")
            except OSError:
                pass


def guard(pgid: int, limit_mb: Optional[int], child_pids: Path, launched_wall: float,
          log: Optional[Path] = None) -> Guard:
    """Start holding the worker group ``pgid`` (just started) to ``limit_mb`` MiB (None: no limit); the
    helpers listed in ``child_pids`` count too; an excess is noted in ``log``."""
    return Guard(pgid, limit_mb, child_pids, launched_wall, log)


def _make_cgroup(base: Path, pid: int, limit_mb: int) -> Optional[Path]:
    """A child cgroup holding ``pid`` under ``limit_mb``, or None (then the watchdog guards)."""
    path = base / f"automux-{os.getpid()}-{pid}"
    try:
        path.mkdir()
        (path / "memory.max").write_text(str(limit_mb * 1024 * 1024))
        for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
            if (path / name).exists():
                (path / name).write_text(value)
        (path / "cgroup.procs").write_text(str(pid))
        return path
    except OSError:
        _remove_cgroup(path)
        return None


def _read_int(path: Path) -> Optional[int]:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_events(path: Path) -> dict:
    try:
        return {k: int(v) for k, v in (line.split() for line in (path / "memory.events").read_text().splitlines())}
    except (OSError, ValueError):
        return {}


def _remove_cgroup(path: Path) -> None:
    """Remove a run's cgroup once its processes are gone (a few tries: exiting processes linger briefly).

    What is still in it (a helper that left the worker's group undeclared) was started by the
    worker, so it is ended first: ``cgroup.kill`` where the kernel has it, else SIGKILL per pid.
    """
    try:
        if (path / "cgroup.kill").exists():
            (path / "cgroup.kill").write_text("1")
        else:
            for pid in processes.read_pids(path / "cgroup.procs"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
    except OSError:
        pass
    for _ in range(40):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
