"""Fake adapters for testing the core alone (no backend). Named as fakes on purpose.

The worker imports adapters by module, so tests put this directory on PYTHONPATH.
"""
from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automux.core.adapter import Adapter, SearchResult, SearchTask
from automux.core.capabilities import Capabilities


class FakeMeanAdapter(Adapter):
    """Predicts the training class frequencies / mean; one candidate per trial.

    Options: ``spawn_escaping_child`` starts a sleeper in its own session and
    lists it in ``scratch/child_pids``; ``sleep`` seconds per candidate; ``pid_file`` where it writes its pid
    after the first candidate (so a test can kill it mid-run); ``ignore_deadline``.
    """

    name = "fake-mean"
    capabilities = Capabilities(categorical=True, missing_values=True)
    accepted_options = ("spawn_escaping_child", "sleep", "pid_file", "ignore_deadline")

    def search(self, task: SearchTask) -> SearchResult:
        sleep = float(task.options.get("sleep", 0.0))
        if task.options.get("spawn_escaping_child"):
            import subprocess
            import sys
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                     start_new_session=True)
            (task.workdir / "child_pids").write_text(f"{child.pid}\n")
        ignore_deadline = bool(task.options.get("ignore_deadline", False))
        while task.trials_left() > 0 and (ignore_deadline or task.time_left() > 0):
            time.sleep(sleep)
            task.add_candidate("fake-mean", {"i": len(task.candidates)},
                               task.cross_validate(lambda Xf, yf, Xv: self._fit(task, yf).predict(Xv)))
            if task.options.get("pid_file") and len(task.candidates) == 2:
                Path(task.options["pid_file"]).write_text(str(os.getpid()))
        return SearchResult(model=self._fit(task, task.y), chosen=task.best_index())

    def _fit(self, task: SearchTask, y: np.ndarray) -> "_MeanModel":
        return _MeanModel(task.task, task.n_classes, y)

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        return model.predict(X)

    def save(self, model: Any, path: Path) -> None:
        (path / "model.pkl").write_bytes(pickle.dumps(model))

    def load(self, path: Path) -> Any:
        return pickle.loads((path / "model.pkl").read_bytes())


class _MeanModel:
    def __init__(self, task: str, n_classes: int, y: np.ndarray) -> None:
        self.task = task
        if task == "regression":
            self.value = np.array([float(np.mean(y))])
        else:
            self.value = np.bincount(y.astype(int), minlength=n_classes) / len(y)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.task == "regression":
            return np.full(len(X), self.value[0])
        return np.tile(self.value, (len(X), 1))


class FakeCoresSpyAdapter(FakeMeanAdapter):
    """A fake that reports, in its one candidate, the cores it was given and the worker's thread variables."""

    name = "fake-cores-spy"

    def search(self, task: SearchTask) -> SearchResult:
        task.add_candidate("fake-cores-spy", {"cores": task.cores,
                                              "omp": os.environ.get("OMP_NUM_THREADS"),
                                              "openblas": os.environ.get("OPENBLAS_NUM_THREADS")},
                           task.cross_validate(lambda Xf, yf, Xv: self._fit(task, yf).predict(Xv)))
        return SearchResult(model=self._fit(task, task.y), chosen=0)


class FakeMemoryHogAdapter(FakeMeanAdapter):
    """A fake that reports one candidate (its params: the ``memory_mb`` it was given), then holds memory.

    Options: ``hog_mb`` MiB allocated in 20 MiB steps (pages touched), half of it in a child process of
    the same group when ``in_child`` (so only the group's sum passes a limit); ``pid_file`` where the
    pids of both processes are written, one a line, before the allocation starts.
    """

    name = "fake-memory-hog"
    accepted_options = ("hog_mb", "in_child", "pid_file")

    def search(self, task: SearchTask) -> SearchResult:
        import subprocess
        import sys

        task.add_candidate("fake-memory-hog", {"memory_mb": task.memory_mb},
                           task.cross_validate(lambda Xf, yf, Xv: self._fit(task, yf).predict(Xv)))
        hog_mb = int(task.options.get("hog_mb", 0))
        pids, child = [os.getpid()], None
        if task.options.get("in_child"):
            hog_mb //= 2
            child = subprocess.Popen([sys.executable, "-c", _HOG.format(mb=hog_mb)])
            pids.append(child.pid)
        if task.options.get("pid_file"):
            Path(task.options["pid_file"]).write_text("".join(f"{p}\n" for p in pids))
        exec(_HOG.format(mb=hog_mb), {})
        if child is not None:
            child.wait()
        return SearchResult(model=self._fit(task, task.y), chosen=0)


#: Allocate ``mb`` MiB in 20 MiB steps, touching every page, then hold it for a second.
_HOG = ("import time\nheld = []\nfor _ in range({mb} // 20):\n"
        "    held.append(b'\\x01' * (20 * 1024 * 1024))\n    time.sleep(0.05)\ntime.sleep(1.0)\n")
