"""Process tracking in one place: groups, pids started after a moment, parent-death protection.

Used by the executor (a worker's process group and the helper pids an adapter
declares), the worker (dies with its parent), the bench and the contracts'
leak checks. Linux ``/proc`` is read directly (no psutil); elsewhere the
functions degrade to what ``os`` offers. Only pids this process started, or
that a job it started declared, are ever signalled.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

#: Environment variable naming the pid a worker must not outlive.
PARENT_PID_ENV = "AUTOMUX_PARENT_PID"
#: How often the worker's watchdog looks at its parent.
WATCHDOG_S = 0.5


_own_groups: Set[int] = set()
_own_lock = threading.Lock()


def track_group(pgid: int) -> None:
    """Note a worker process group this process started (see :func:`end_own_groups`).

    A group noted after another thread took an interrupt (:func:`interrupt_own_groups`)
    is ended at once: a worker launched while the interrupt landed does not run on.
    """
    with _own_lock:
        _own_groups.add(pgid)
        late = bool(_pending_interrupt)
    if late:
        kill_group(pgid, signal.SIGTERM)


def untrack_group(pgid: int) -> None:
    with _own_lock:
        _own_groups.discard(pgid)


def own_groups() -> List[int]:
    """The worker process groups this process started and has not seen end."""
    with _own_lock:
        return sorted(_own_groups)


_pending_interrupt: List[BaseException] = []


def interrupt_own_groups(exc: BaseException) -> None:
    """Another thread took an interrupt: end every worker group this process started, as interrupted.

    Their ``run_worker`` calls (in other threads) see :func:`pending_interrupt`
    and report the run as ``interrupted`` rather than crashed.
    """
    with _own_lock:
        if not _pending_interrupt:
            _pending_interrupt.append(exc)
    end_own_groups(signal.SIGTERM)


def pending_interrupt() -> Optional[BaseException]:
    """The interrupt another thread took while this process's workers ran, if any."""
    with _own_lock:
        return _pending_interrupt[0] if _pending_interrupt else None


def clear_interrupt() -> None:
    with _own_lock:
        _pending_interrupt.clear()


def end_own_groups(sig: int = signal.SIGKILL) -> None:
    """Signal every worker group this process started (an interrupted ``bench --jobs``); nothing else."""
    for pgid in own_groups():
        kill_group(pgid, sig)


def kill_group(pgid: int, sig: int) -> None:
    """Signal a process group; a group that is gone (or not ours) is ignored."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def end_group(pgid: int, grace_s: float) -> None:
    """SIGTERM the group, wait up to ``grace_s`` for it to go, then SIGKILL what is left."""
    if not group_alive(pgid):
        return
    kill_group(pgid, signal.SIGTERM)
    end = time.monotonic() + grace_s
    while group_alive(pgid) and time.monotonic() < end:
        time.sleep(0.05)
    kill_group(pgid, signal.SIGKILL)


def start_time(pid: int) -> Optional[float]:
    """Wall-clock start of ``pid`` (Linux ``/proc``), or None when it is gone or unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def started_after(pid: int, wall: float) -> bool:
    """True when ``pid`` is alive and started at or after ``wall`` (so not a reused pid)."""
    t = start_time(pid)
    return t is not None and t >= wall - 1.0


def end_pids(pids: Iterable[int], launched_wall: float, grace_s: float) -> None:
    """SIGTERM, then SIGKILL, every pid that is alive and started after ``launched_wall``."""
    alive = [p for p in pids if started_after(p, launched_wall)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        end = time.monotonic() + (grace_s if sig == signal.SIGTERM else 0)
        while time.monotonic() < end and any(started_after(p, launched_wall) for p in alive):
            time.sleep(0.05)
        alive = [p for p in alive if started_after(p, launched_wall)]
        if not alive:
            return


def read_pids(path: Path) -> List[int]:
    """Pids listed one per line (an adapter's ``child_pids`` file); a missing file is no pids."""
    try:
        return [int(x) for x in path.read_text(encoding="ascii", errors="ignore").split() if x.isdigit()]
    except OSError:
        return []


def children(pid: int) -> List[int]:
    """Direct children of ``pid`` (Linux ``/proc``; empty elsewhere)."""
    out = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            out = [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def descendants(pid: int) -> List[int]:
    """Every process below ``pid``, breadth first."""
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop(0))
        out.extend(kids)
        todo.extend(kids)
    return out


def die_with_parent() -> None:
    """In a worker: end this process group when the parent dies, however it dies.

    A daemon thread watches the parent's pid (``$AUTOMUX_PARENT_PID``, else the
    pid at start) and SIGKILLs the whole process group, helpers such as a JVM
    included, within ``WATCHDOG_S`` of the parent's death (the worker is then
    reparented, so ``getppid`` changes). A watchdog rather than
    ``PR_SET_PDEATHSIG``: the signal would end the worker alone, not its group.
    """
    parent = int(os.environ.get(PARENT_PID_ENV) or os.getppid())

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                try:
                    os.killpg(os.getpgrp(), signal.SIGKILL)
                finally:
                    os._exit(137)
            time.sleep(WATCHDOG_S)

    if os.getppid() != parent:  # the parent is already gone
        os._exit(137)
    threading.Thread(target=watch, name="automux-parent-watchdog", daemon=True).start()


def _proc_table() -> Dict[int, Tuple[int, int, int, int]]:
    """Every process on this machine as ``pid -> (ppid, pgrp, session, rss pages)`` (Linux ``/proc``)."""
    table: Dict[int, Tuple[int, int, int, int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            table[int(name)] = (int(fields[1]), int(fields[2]), int(fields[3]), int(fields[21]))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return table


def group_memory(pgid: int, extra: Iterable[int] = ()) -> Tuple[int, List[int]]:
    """Resident bytes and pids of a worker's processes: its group and session ``pgid``, the ``extra``
    pids (declared helpers), and every descendant of these (a helper that left the group included).

    RSS is summed per process, so pages two processes share count twice: an upper bound.
    """
    table = _proc_table()
    extra = set(extra)
    members = {pid for pid, (_, pgrp, sid, _) in table.items() if pgrp == pgid or sid == pgid or pid in extra}
    kids: Dict[int, List[int]] = {}
    for pid, (ppid, _, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    todo = list(members)
    while todo:
        for kid in kids.get(todo.pop(), ()):
            if kid not in members:
                members.add(kid)
                todo.append(kid)
    pages = sum(table[pid][3] for pid in members)
    return pages * os.sysconf("SC_PAGE_SIZE"), sorted(members)
