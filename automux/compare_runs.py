"""How ``compare`` runs its backends: one after another, side by side (``jobs``), or on a Dask cluster.

Every way runs the same experiment (spec, split, data) through ``execute``, so
the records are the same as a sequential compare's (under a count budget: the
same predictions hashes). Side by side, each backend's worker is its own
process; an interrupt ends every worker this process started, records the runs
in flight as ``interrupted`` and starts no more. On Dask, each backend's run is
one task on an existing cluster (``scheduler="tcp://HOST:PORT"``): the workers
must run this automux and see the store's path (one machine, or a shared file
system); the record is stored by the worker and read back here.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence

from .core.adapter import Adapter
from .core.experiment.prepare import Experiment
from .core.experiment.record import RunRecord
from .core.errors import SpecError, UserError
from .core.run.execute import execute
from .core.run.store import RunStore

EXECUTORS = ("local", "dask")


class CompareExecutorError(UserError):
    """The executor cannot be used as asked (bad --jobs, an unreachable scheduler)."""


def run_all(exp: Experiment, adapters: Sequence[Adapter], *, store: RunStore, options: Dict[str, Dict[str, Any]],
            jobs: int = 1, executor: str = "local", scheduler: Optional[str] = None,
            scheduler_timeout: float = 20.0, **execute_kwargs: Any) -> List[RunRecord]:
    """Records of ``exp`` on each adapter, in the adapters' order."""
    if executor not in EXECUTORS:
        raise SpecError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise CompareExecutorError(f"--jobs {jobs!r}: run at least one backend at a time")
    one: Callable[[Adapter], RunRecord] = lambda a: execute(exp, a, options=options.get(a.name), store=store,
                                                            **execute_kwargs)
    if executor == "dask":
        return _on_dask(exp, adapters, store, options, scheduler, scheduler_timeout, execute_kwargs)
    if jobs == 1 or len(adapters) == 1:
        return [one(a) for a in adapters]
    return _side_by_side(adapters, one, jobs)


def _side_by_side(adapters: Sequence[Adapter], one: Callable[[Adapter], RunRecord], jobs: int) -> List[RunRecord]:
    from .core.run import processes

    processes.clear_interrupt()
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(adapters)), thread_name_prefix="automux-compare")
    futures = [pool.submit(one, a) for a in adapters]
    try:
        return [f.result() for f in futures]
    except KeyboardInterrupt as e:  # the main thread took the signal: end the runs in flight, start no more
        for f in futures:
            f.cancel()
        processes.interrupt_own_groups(e)
        raise
    finally:
        pool.shutdown(wait=True)
        processes.clear_interrupt()


def _remote_execute(exp: Experiment, adapter_name: str, store_root: str, options: Optional[Dict[str, Any]],
                    execute_kwargs: Dict[str, Any]) -> str:
    """The Dask task: one run, stored in ``store_root``; returns the run id."""
    record = execute(exp, adapter_name, options=options, store=RunStore(store_root), **execute_kwargs)
    return record.run_id


def _on_dask(exp: Experiment, adapters: Sequence[Adapter], store: RunStore, options: Dict[str, Dict[str, Any]],
             scheduler: Optional[str], timeout: float, execute_kwargs: Dict[str, Any]) -> List[RunRecord]:
    if not scheduler:
        raise CompareExecutorError("--executor dask needs --scheduler tcp://HOST:PORT")
    try:
        from distributed import Client
    except ImportError as e:
        raise CompareExecutorError("the Dask executor needs distributed: pip install 'automux[bench]'") from e
    kwargs = {k: v for k, v in execute_kwargs.items() if k != "progress"}  # progress stays on this machine
    try:
        client = Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise CompareExecutorError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from e
    try:
        root = str(store.root.resolve())
        futures = [client.submit(_remote_execute, exp, a.name, root, options.get(a.name), kwargs, pure=False,
                                 key=f"automux-compare-{a.name}-{exp.spec.spec_id}") for a in adapters]
        try:
            ids = client.gather(futures)
        except KeyboardInterrupt:
            client.cancel(futures)
            raise
    finally:
        client.close()
    return [store.load(run_id) for run_id in ids]
