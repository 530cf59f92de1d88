"""A fake adapter with a warm runtime, to test the pool of ``automux.core.run.warm`` without a JVM.

Named as a fake on purpose: its "runtime" is a sleeping Python process started the way H2O's warm
JVM is (own session, dying with the starting thread), and its search is ``FakeMeanAdapter``'s. The
worker imports it from tests/ (PYTHONPATH).

- ``warm_key``: ``("fake", cores)``; None with the option ``cold`` (an adapter that keeps none warm
  for these options).
- ``start_up``: with a lent runtime (``task.warm``), checks it is alive and returns its facts, and
  appends the runtime's pid to ``used_file`` when the option names one.
- ``FakeOverlapAdapter`` (``fake-overlap``): its runtime takes ``start_s`` to start and is lent while it
  starts (``warm_overlap``); its ``start_up`` awaits it and says whether the lease was still pending.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Optional

from automux.core.adapter import SearchTask

from fake_adapters import FakeMeanAdapter


class FakeRuntime:
    """A sleeping process in its own session, killed with the thread that started it (Linux)."""

    def __init__(self, root: Path) -> None:
        from automux.adapters.h2o.cluster import _preexec_die_with_parent

        root.mkdir(parents=True, exist_ok=True)
        self.name = f"fake_{uuid.uuid4().hex[:8]}"
        self.proc: Optional[subprocess.Popen] = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True,
            preexec_fn=_preexec_die_with_parent(any_thread=True), cwd=str(root))
        self.pid = self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def describe(self) -> Dict[str, Any]:
        return {"kind": "fake", "name": self.name, "port": None}

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


class FakeWarmAdapter(FakeMeanAdapter):
    name = "fake-warm"
    accepted_options = FakeMeanAdapter.accepted_options + ("cold", "used_file")

    def warm_key(self, options: Dict[str, Any], cores: int, memory_mb: Optional[int]) -> Any:
        return None if options.get("cold") else ("fake", cores)

    def start_warm(self, key: Any, root: Path) -> FakeRuntime:
        return FakeRuntime(root)

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        lent = task.warm
        if lent is None:
            return {}
        os.kill(int(lent["pid"]), 0)  # alive (raises otherwise: the run fails, the test sees it)
        if task.options.get("used_file"):
            with open(task.options["used_file"], "a", encoding="utf-8") as f:
                f.write(f"{lent['pid']}\n")
        return {"warm": bool(lent["warm"]), "runtime": {k: lent[k] for k in ("kind", "pid", "runs_served")}}


class SlowStartRuntime(FakeRuntime):
    """A fake runtime that takes ``start_s`` to "answer" after its process started (as a JVM does), gives up
    when the pool writes ``root/CANCELLED`` (its process killed), or fails after its start with ``fail``."""

    def __init__(self, root: Path, start_s: float, fail: bool, pid_file: Optional[str]) -> None:
        from automux.core.run.warm import CANCELLED

        super().__init__(root)
        if pid_file:
            with open(pid_file, "a", encoding="utf-8") as f:
                f.write(f"{self.pid}\n")
        end = time.monotonic() + start_s
        while time.monotonic() < end:
            if (root / CANCELLED).exists():
                self.stop()
                raise RuntimeError("cancelled")
            time.sleep(0.05)
        if fail:
            self.stop()
            raise RuntimeError("the fake runtime failed to start")


class FakeOverlapAdapter(FakeWarmAdapter):
    """A fake whose runtime is lent while it starts (``warm_overlap``): ``start_up`` awaits it and reports
    whether the lease it was given was still pending (its worker ran while the runtime started).

    Options: ``start_s`` (the runtime's start), ``fail`` (it never starts), ``runtime_pid_file`` (where the runtime's pid is written).
    """

    name = "fake-overlap"
    accepted_options = FakeWarmAdapter.accepted_options + ("start_s", "fail", "runtime_pid_file")
    warm_overlap = True

    def warm_key(self, options: Dict[str, Any], cores: int, memory_mb: Optional[int]) -> Any:
        return ("fake-overlap", cores, float(options.get("start_s", 0)), bool(options.get("fail")),
                options.get("runtime_pid_file"))

    def start_warm(self, key: Any, root: Path) -> FakeRuntime:
        return SlowStartRuntime(root, key[2], key[3], key[4])

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        from automux.core.run.warm import await_runtime

        if task.warm is None:
            return {}
        pending = bool(task.warm.get("pending"))
        try:
            lent = await_runtime(task.warm, timeout_s=60)
        except RuntimeError as e:
            task.log(f"fake-overlap: {e}; starting its own")
            return {"lent_error": str(e)}
        os.kill(int(lent["pid"]), 0)
        if task.options.get("used_file"):
            with open(task.options["used_file"], "a", encoding="utf-8") as f:
                f.write(f"{lent['pid']}\n")
        return {"warm": bool(lent["warm"]), "lent_pending": pending,
                "runtime": {k: lent[k] for k in ("kind", "pid", "runs_served")}}
