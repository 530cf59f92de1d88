"""Find (and end) processes a contract run left behind, by scanning ``/proc``.

Every run the suite starts carries a marker in its environment
(``AUTOMUX_CONTRACT_MARKER=<token>``); every process it starts inherits it, even
one that escaped the worker's process group with ``setsid``. A process whose
initial environment holds the token, or whose working directory lies under the
suite's scratch root, belongs to the run. Linux only (``/proc``); elsewhere
``supported()`` is False and the process check is skipped.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

MARKER_VAR = "AUTOMUX_CONTRACT_MARKER"
PROC = Path("/proc")


@dataclass(frozen=True)
class Leftover:
    """A live process that belongs to a finished run."""

    pid: int
    cmdline: str

    def describe(self) -> str:
        return f"pid {self.pid}: {self.cmdline[:120]}"


def supported() -> bool:
    return (PROC / "self" / "environ").exists()


def _state(pid: int) -> Optional[str]:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
    return stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else None


def _belongs(pid: int, token: bytes, root: Optional[str]) -> bool:
    base = PROC / str(pid)
    try:
        if token in (base / "environ").read_bytes():
            return True
    except OSError:
        pass
    if root:
        try:
            cwd = os.readlink(str(base / "cwd"))
        except OSError:
            return False
        return cwd == root or cwd.startswith(root.rstrip("/") + "/")
    return False


def find(token: str, root: Optional[str] = None) -> List[Leftover]:
    """Live (non-zombie) processes other than this one carrying ``token`` or living under ``root``."""
    if not supported():
        return []
    marker = f"{MARKER_VAR}={token}".encode()
    me = os.getpid()
    out = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == me or not _belongs(pid, marker, root):
            continue
        state = _state(pid)
        if state is None or state in ("Z", "X"):
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            cmd = "?"
        out.append(Leftover(pid=pid, cmdline=cmd))
    return out


def settle(token: str, root: Optional[str] = None, wait_s: float = 1.0) -> List[Leftover]:
    """``find`` after giving processes that are already dying ``wait_s`` to go."""
    end = time.monotonic() + wait_s
    found = find(token, root)
    while found and time.monotonic() < end:
        time.sleep(0.2)
        found = find(token, root)
    return found


def end(leftovers: List[Leftover], wait_s: float = 3.0) -> List[Leftover]:
    """SIGKILL each leftover by pid; returns those still alive after ``wait_s``."""
    for p in leftovers:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + wait_s
    alive = list(leftovers)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _state(p.pid) not in (None, "Z", "X")]
        if alive:
            time.sleep(0.1)
    return alive
