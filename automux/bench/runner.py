"""``run_suite``: expand the grid, skip finished cells, run the rest, regenerate results.csv.

Output directory layout::

    OUT/suite.json      the suite as run (the last run's)
    OUT/cells/ID.json   one file per finished cell (its results row), written atomically;
                        with ``ensemble:`` in the suite, also one per group's ensemble
                        (:mod:`automux.bench.ensembles`)
    OUT/runs/           the run store (every run record, model and prediction)
    OUT/results.csv     AMLB's columns plus automux's, regenerated from cells/

A finished cell (whatever its status) is never rerun, unless ``retry_failed``
asks to rerun cells whose status is not ``ok``. Only one bench may write to a
directory at a time (a lock file says so).
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ..core.errors import UserError
from ..core.run.store import atomic_write_text
from .cells import Cell, expand
from .executors import make_executor
from .progress import BenchProgress
from .results import read_cells, write_results
from .suite import Suite, load_suite

LOCK_FILE = ".bench.lock"


class BenchBusy(UserError):
    """Another bench is writing to the same output directory."""


@dataclass
class BenchSummary:
    """What one ``run_suite`` call did."""

    out_dir: str
    results_csv: str
    total: int
    already_done: int
    ran: int
    statuses: Dict[str, int] = field(default_factory=dict)
    lost: List[str] = field(default_factory=list)
    remaining: int = 0
    ensembles: Dict[str, int] = field(default_factory=dict)
    ensembles_without_runs: int = 0

    def to_json(self) -> Dict[str, Any]:
        return dict(self.__dict__)


def check_datasets(suite: Suite) -> None:
    """Load every data set and build fold 0's split once, so a typo fails before any run.

    Raises:
        DataError, SpecError: naming the data set.
    """
    from ..core.experiment.metrics import get_metric
    from .cellrun import build_experiment

    for ds in suite.datasets:
        cell = Cell(dataset=ds, fold=0, seed=suite.seeds[0], backend=suite.backends[0],
                    constraint=suite.constraints[0], repeat=0, cv_folds=suite.cv_folds,
                    test_size=suite.test_size, split_seed=suite.split_seed)
        try:
            exp = build_experiment(cell)
            get_metric(exp.spec.metric, exp.spec.task)
        except UserError as e:
            raise type(e)(f"suite {suite.name}, data set {ds.name!r} ({ds.source}): {e}") from e


def unknown_backends(suite: Suite) -> Dict[str, str]:
    """Backends of the suite that cannot run here, with why (their cells will be failed rows)."""
    from ..core import registry

    found = registry.adapters()
    out = {}
    for b in suite.backends:
        if b.name not in found:
            out[b.framework] = f"no adapter called {b.name!r} is registered"
        else:
            reason = found[b.name].unavailable_reason()
            if reason:
                out[b.framework] = reason
    return out


def _check_out_dir(out: Union[str, Path]) -> Path:
    """The bench's ``--out`` as a resolved directory path: refused when it (or a parent) is a file, or cannot
    be written, before anything runs."""
    import os

    from ..core.errors import StoreError
    from ..core.inputs import first_existing

    if str(out).strip() == "":
        raise StoreError("--out is empty: give a directory for the bench's results")
    p = Path(out).resolve()
    existing = first_existing(p)
    if not existing.is_dir():
        raise StoreError(f"--out {str(out)!r}: {str(existing)!r} is a file, not a directory: give a directory "
                         "(it is created; reuse it to resume)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StoreError(f"--out {str(out)!r}: {str(existing)!r} is not writable: give a writable directory")
    return p


def _lock(out: Path) -> Any:
    out.mkdir(parents=True, exist_ok=True)
    f = open(out / LOCK_FILE, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise BenchBusy(f"another `automux bench` is writing to {out}: wait for it or use another --out")
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def _ensembles(cells: List[Cell], out_dir: Path, size: int, bar: BenchProgress, summary: "BenchSummary") -> None:
    """Build the due ensemble cells (after the backend cells), noting each on the progress output."""
    from .ensembles import ensemble_cells

    def note(desc: str, row: Optional[Dict[str, Any]]) -> None:
        detail = f" {row['metric']}={row['result']:.5g}" if row and row.get("result") is not None else ""
        why = "" if not row or row.get("status") == "ok" else f" ({str(row.get('info') or '')[:120]})"
        bar.note(f"[ensemble] {desc}: {row.get('status') if row else 'lost'}{detail}{why}")
        if row is not None:
            summary.ensembles[row["status"]] = summary.ensembles.get(row["status"], 0) + 1

    done = ensemble_cells(cells, out_dir, size, note)
    if done["no_runs"]:
        bar.note(f"bench: {len(done['no_runs'])} group(s) get no ensemble row: their members' runs are not "
                 f"under {out_dir / 'runs'} (e.g. {done['no_runs'][0]})")
        summary.ensembles_without_runs = len(done["no_runs"])


def run_suite(suite: Union[str, Path, Suite], out: Union[str, Path], *, executor: str = "local",
              scheduler: Optional[str] = None, scheduler_timeout: float = 20.0, jobs: int = 1,
              retry_failed: bool = False, warm: bool = True,
              max_cells: Optional[int] = None, progress: Union[bool, BenchProgress] = True,
              stream: Any = None) -> BenchSummary:
    """Run every cell of ``suite`` not yet finished under ``out``; regenerate ``out/results.csv``.

    Args:
        suite: a suite file path or a parsed :class:`Suite`.
        out: the output directory (created; reused to resume).
        executor: ``local`` (``jobs`` cells at a time) or ``dask`` (needs ``scheduler``; connecting
            gives up after ``scheduler_timeout`` seconds).
        retry_failed: rerun finished cells whose status is not ``ok``.
        warm: on the local executor, keep a backend's runtime (H2O's JVM) up across its cells
            (:mod:`automux.core.run.warm`; the record says so); False: every cell starts its own.
        max_cells: run at most this many cells this time (the rest stay to do).

    Raises:
        SpecError / DataError: a bad suite or data set (before any cell runs).
        BenchBusy: another bench holds ``out``.
        KeyboardInterrupt: after the running cells were stopped; finished cells are kept.
    """
    the_suite = suite if isinstance(suite, Suite) else load_suite(suite)
    out_dir = _check_out_dir(out)
    from ..core.inputs import check_seconds
    check_seconds(scheduler_timeout, "--scheduler-timeout", allow_none=False)
    if max_cells is not None and max_cells < 0:
        from ..core.errors import SpecError
        raise SpecError(f"--max-cells {max_cells}: give a number >= 0")
    exe = make_executor(executor, jobs=jobs, scheduler=scheduler, connect_timeout=scheduler_timeout, warm=warm)
    check_datasets(the_suite)
    lock = _lock(out_dir)
    try:
        atomic_write_text(out_dir / "suite.json", json.dumps(the_suite.to_json(), indent=2, sort_keys=True))
        cells = expand(the_suite)
        ids = [c.cell_id for c in cells]
        finished = read_cells(out_dir)

        def is_done(cid: str) -> bool:
            body = finished.get(cid)
            return body is not None and not (retry_failed and body["row"].get("status") != "ok")

        todo = [c for c in cells if not is_done(c.cell_id)]
        already = len(cells) - len(todo)
        n_todo = len(todo)
        if max_cells is not None:
            todo = todo[:max_cells]
        stream = stream or sys.stderr
        bar = progress if isinstance(progress, BenchProgress) else \
            BenchProgress(len(cells), already, stream=stream, enabled=bool(progress))
        from ..core import registry
        from ..core.errors import BackendNotFound

        missing = sorted({b.name for b in the_suite.backends} - set(registry.adapters()))
        if missing:  # a name no adapter has is a typo, not a result: refuse before any cell runs
            raise BackendNotFound(f"suite {the_suite.name}: unknown backend {missing[0]!r}: the known backends are "
                                  f"{', '.join(registry.adapters())} (see `automux backends`)")
        for name, reason in unknown_backends(the_suite).items():
            bar.note(f"bench: backend {name} cannot run here ({reason}): its cells will be failed rows")
        summary = BenchSummary(out_dir=str(out_dir), results_csv=str(out_dir / "results.csv"), total=len(cells),
                               already_done=already, ran=0)
        bar.begin(n_todo, limit=max_cells)

        def on_done(cell: Cell, row: Optional[Dict[str, Any]], lost: Optional[str]) -> None:
            bar.done(cell, row, lost)
            if row is None:
                summary.lost.append(f"{cell.describe()}: {lost or 'no result'}")
            else:
                summary.ran += 1
                summary.statuses[row["status"]] = summary.statuses.get(row["status"], 0) + 1

        ens_ids: List[str] = []
        if the_suite.ensemble_size:
            from .ensembles import ensemble_cell_id, groups
            ens_ids = [ensemble_cell_id(g, the_suite.ensemble_size) for g in groups(cells)]
        try:
            exe.run(todo, out_dir, bar.start, on_done)
            if the_suite.ensemble_size:
                _ensembles(cells, out_dir, the_suite.ensemble_size, bar, summary)
        finally:
            bar.end()
            write_results(out_dir, ids + ens_ids)
            summary.remaining = len(cells) - sum(1 for cid in ids if cid in read_cells(out_dir))
        return summary
    finally:
        lock.close()
