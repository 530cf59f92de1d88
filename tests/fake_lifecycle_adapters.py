"""Fake adapters for the worker's life cycle (issue 22): start-up outside the budget, a worker that will not
exit. Named as fakes on purpose; no AutoML backend. The worker imports them from tests/ (PYTHONPATH).

- ``FakeSlowStartAdapter``: ``start_up`` sleeps ``startup_sleep`` seconds (an import, a JVM) and returns
  ``{"warm": False}``; the search adds a candidate every ``sleep`` seconds until the budget ends; ``shut_down``
  writes ``scratch/shut_down`` so a test sees it was called.
- ``FakeLingeringAdapter``: after its search it leaves a non-daemon thread (``linger="thread"``) or a
  multiprocessing queue with a feeder thread blocked on a full pipe (``linger="queue"``) behind: the
  interpreter cannot exit, as with some third-party backends.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Dict

from automux.core.adapter import SearchResult, SearchTask

from fake_adapters import FakeMeanAdapter


class FakeSlowStartAdapter(FakeMeanAdapter):
    name = "fake-slow-start"
    accepted_options = ("startup_sleep", "sleep")

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        self._workdir = task.workdir
        time.sleep(float(task.options.get("startup_sleep", 0.0)))
        return {"warm": False, "slept_s": float(task.options.get("startup_sleep", 0.0))}

    def search(self, task: SearchTask) -> SearchResult:
        (task.workdir / "search_started").write_text(str(time.time()))
        return super().search(task)

    def shut_down(self) -> None:
        (self._workdir / "shut_down").write_text(str(time.time()))


def _sleep_forever() -> None:
    time.sleep(3600)


class FakeLingeringAdapter(FakeMeanAdapter):
    name = "fake-lingering"
    accepted_options = ("linger",)

    def search(self, task: SearchTask) -> SearchResult:
        result = super().search(task)
        if task.options.get("linger") == "error":  # a stuck non-daemon thread, then no candidate in time
            from automux.core.errors import BudgetExhausted

            threading.Thread(target=_sleep_forever, daemon=False).start()
            raise BudgetExhausted("no candidate finished within the seconds budget (fake)")
        if task.options.get("linger", "thread") == "queue":
            import multiprocessing as mp

            q = mp.Queue()
            q.put(b"x" * (1 << 22))  # larger than the pipe: the feeder thread blocks, exit waits on it forever
            self._keep = q
        else:
            threading.Thread(target=_sleep_forever, daemon=False).start()
        return result
