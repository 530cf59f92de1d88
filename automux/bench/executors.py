"""The bench's cells on the executors of :mod:`automux.executors`: local processes (default) or Dask.

Either way each cell is one ``automux.core.run.execute.execute`` run, which starts its
own worker process under a hard deadline; the executor only decides which
process calls ``execute``. Every cell writes its own result file as soon as it
finishes, so an executor that dies loses at most the cells still running.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..core.run.processes import end_own_groups
from ..executors import ExecutorError, check, dask_client, run_local
from .cells import Cell
from .cellrun import run_cell, run_cell_task

OnStart = Callable[[Cell], None]
OnDone = Callable[[Cell, Optional[Dict[str, Any]], Optional[str]], None]

__all__ = ["ExecutorError", "LocalExecutor", "DaskExecutor", "make_executor"]


class LocalExecutor:
    """Cells in this machine's processes: ``jobs`` at a time (default one)."""

    mode = "local"

    def __init__(self, jobs: int = 1, warm: bool = True) -> None:
        check(self.mode, jobs, None, "cell")
        self.jobs = jobs
        self.warm = warm  # a backend's runtime (H2O's JVM) kept up across its cells (automux.core.run.warm)

    def run(self, cells: List[Cell], out_dir: Path, on_start: OnStart, on_done: OnDone) -> None:
        # Interrupted: the cells still running must neither finish as "crashed" rows (run_cell sees
        # ``stopped``) nor outlive us: SIGKILL the worker groups this process started (only those).
        run_local(cells, lambda cell, stopped: run_cell(cell, out_dir, self.mode, stopped), self.jobs,
                  on_start=on_start, on_done=lambda cell, row: on_done(cell, row, None),
                  on_interrupt=lambda e: end_own_groups(), name="automux-bench",
                  warm=(lambda cell: cell.backend.name) if self.warm else None)


class DaskExecutor:
    """Cells as tasks on a Dask distributed cluster (``--scheduler tcp://HOST:PORT``).

    The workers must see ``out_dir`` at the same path (one machine, or a shared
    file system): each task writes its run record and its cell file there. A
    task lost with its worker is reported, not recorded, and runs again next time.
    """

    mode = "dask"

    def __init__(self, scheduler: str, connect_timeout: float = 20.0) -> None:
        check(self.mode, 1, scheduler, "cell")
        self.scheduler = scheduler
        self.connect_timeout = connect_timeout

    def run(self, cells: List[Cell], out_dir: Path, on_start: OnStart, on_done: OnDone) -> None:
        from distributed import as_completed

        client = dask_client(self.scheduler, self.connect_timeout)
        futures: Dict[Any, Cell] = {}
        try:
            token = f"{os.getpid()}-{int(time.time() * 1000)}"
            for cell in cells:
                on_start(cell)
                fut = client.submit(run_cell_task, cell.to_json(), str(Path(out_dir).resolve()), self.mode,
                                    key=f"automux-cell-{cell.cell_id}-{token}", pure=False, retries=0)
                futures[fut] = cell
            for fut in as_completed(list(futures), loop=client.loop):
                cell = futures.pop(fut)
                try:
                    row = fut.result()
                except Exception as e:  # the task died with its worker, or was cancelled
                    on_done(cell, None, f"{type(e).__name__}: {e}")
                    continue
                on_done(cell, row, None)
        finally:
            if futures:
                client.cancel(list(futures))
            client.close()


def make_executor(kind: str = "local", *, jobs: int = 1, scheduler: Optional[str] = None,
                  connect_timeout: float = 20.0, warm: bool = True) -> Any:
    """``local`` (``jobs`` cells at a time; ``warm``: runtimes kept up across cells) or ``dask``
    (``scheduler`` address; never warm)."""
    if kind == "local":
        return LocalExecutor(jobs=jobs, warm=warm)
    if kind == "dask":
        return DaskExecutor(scheduler or "", connect_timeout=connect_timeout)
    check(kind, jobs, scheduler, "cell")
    raise AssertionError(kind)  # check() refused it
