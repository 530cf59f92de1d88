"""A fake adapter with a warm runtime, to test the pool of ``automux.core.run.warm`` without a JVM.

Named as a fake on purpose: its "runtime" is a sleeping Python process started the way H2O's warm
JVM is (own session, dying with the starting thread), and its search is ``FakeMeanAdapter``'s. The
worker imports it from tests/ (PYTHONPATH).

- ``warm_key``: ``("fake", cores)``; None with the option ``cold`` (an adapter that keeps none warm
  for these options).
- ``start_up``: with a lent runtime (``task.warm``), checks it is alive and returns its facts, and
  appends the runtime's pid to ``used_file`` when the option names one.
"""
from __future__ import annotations

import os
import subprocess
import sys
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
