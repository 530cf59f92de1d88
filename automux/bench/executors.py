"""Where cells run: local processes (default) or a Dask distributed cluster.

Either way each cell is one ``automux.core.run.execute.execute`` run, which starts its
own worker process under a hard deadline; the executor only decides which
process calls ``execute``. Every cell writes its own result file as soon as it
finishes, so an executor that dies loses at most the cells still running.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..core.errors import UserError
from .cells import Cell
from ..core.run.processes import end_own_groups
from .cellrun import run_cell, run_cell_task

OnStart = Callable[[Cell], None]
OnDone = Callable[[Cell, Optional[Dict[str, Any]], Optional[str]], None]


class ExecutorError(UserError):
    """The executor cannot be used as asked (e.g. the Dask scheduler is unreachable)."""


class LocalExecutor:
    """Cells in this machine's processes: ``jobs`` at a time (default one)."""

    mode = "local"

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise ExecutorError(f"--jobs {jobs}: run at least one cell at a time")
        self.jobs = jobs

    def run(self, cells: List[Cell], out_dir: Path, on_start: OnStart, on_done: OnDone) -> None:
        if self.jobs == 1:
            for cell in cells:
                on_start(cell)
                on_done(cell, run_cell(cell, out_dir, mode=self.mode), None)
            return
        self._run_parallel(cells, out_dir, on_start, on_done)

    def _run_parallel(self, cells: List[Cell], out_dir: Path, on_start: OnStart, on_done: OnDone) -> None:
        stop = threading.Event()
        pending = list(cells)
        running: Dict[Any, Cell] = {}
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="automux-bench")
        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    cell = pending.pop(0)
                    on_start(cell)
                    running[pool.submit(run_cell, cell, out_dir, self.mode, stop.is_set)] = cell
                done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    cell = running.pop(fut)
                    on_done(cell, fut.result(), None)
        except BaseException:
            # Interrupted: the cells still running must neither finish as "crashed"
            # rows nor outlive us. End the worker groups this process started (only those).
            stop.set()
            end_own_groups()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


class DaskExecutor:
    """Cells as tasks on a Dask distributed cluster (``--scheduler tcp://HOST:PORT``).

    The workers must see ``out_dir`` at the same path (one machine, or a shared
    file system): each task writes its run record and its cell file there. A
    task lost with its worker is reported, not recorded, and runs again next time.
    """

    mode = "dask"

    def __init__(self, scheduler: str, connect_timeout: float = 20.0) -> None:
        if not scheduler:
            raise ExecutorError("--executor dask needs --scheduler tcp://HOST:PORT")
        self.scheduler = scheduler
        self.connect_timeout = connect_timeout

    def _client(self) -> Any:
        try:
            from distributed import Client
        except ImportError as e:
            raise ExecutorError("the Dask executor needs distributed: pip install 'automux[bench]'") from e
        try:
            return Client(self.scheduler, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise ExecutorError(f"cannot reach the Dask scheduler at {self.scheduler}: {e}") from e

    def run(self, cells: List[Cell], out_dir: Path, on_start: OnStart, on_done: OnDone) -> None:
        from distributed import as_completed

        client = self._client()
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
                  connect_timeout: float = 20.0) -> Any:
    """``local`` (``jobs`` cells at a time) or ``dask`` (``scheduler`` address)."""
    if kind == "local":
        return LocalExecutor(jobs=jobs)
    if kind == "dask":
        return DaskExecutor(scheduler or "", connect_timeout=connect_timeout)
    raise ExecutorError(f"unknown executor {kind!r}: use local or dask")
