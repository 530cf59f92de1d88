"""Where independent runs execute, for ``compare`` (one run per backend) and ``bench`` (one run per cell).

``local``: in this process, one after another or ``jobs`` at a time in threads;
``dask``: as tasks on an existing Dask distributed cluster (``scheduler="tcp://HOST:PORT"``).
Either way each run is one ``execute`` call, which starts its own worker process
under its hard stop: the executor only decides which process calls ``execute``.
An interrupt while runs are in flight ends the worker groups this process
started (only those) and starts no more. Dask workers must run this automux and
see the store's path (one machine, or a shared file system). One error class,
:class:`ExecutorError`, for every way an executor cannot be used as asked.
"""
from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from .core.adapter import Adapter
from .core.errors import UserError
from .core.experiment.prepare import Experiment
from .core.experiment.record import RunRecord
from .core.run import processes
from .core.run.execute import execute
from .core.run.warm import WarmPool
from .core.run.store import RunStore

EXECUTORS = ("local", "dask")

T = TypeVar("T")
R = TypeVar("R")


class ExecutorError(UserError):
    """The executor cannot be used as asked (unknown kind, bad --jobs, no or an unreachable scheduler)."""


def check(kind: str, jobs: Any, scheduler: Optional[str], unit: str) -> None:
    """Refuse an unknown ``kind``, ``jobs`` under one (``unit``: what runs at a time), dask without a scheduler."""
    if kind not in EXECUTORS:
        raise ExecutorError(f"--executor {kind!r}: choose one of {', '.join(EXECUTORS)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ExecutorError(f"--jobs {jobs!r}: run at least one {unit} at a time")
    if kind == "dask" and not scheduler:
        raise ExecutorError("--executor dask needs --scheduler tcp://HOST:PORT")


def dask_client(scheduler: str, timeout: float) -> Any:
    """A ``distributed.Client`` on ``scheduler`` (not made the default client)."""
    try:
        from distributed import Client
    except ImportError as e:
        raise ExecutorError("the Dask executor needs distributed: pip install 'automux[bench]'") from e
    try:
        return Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ExecutorError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from e


def run_local(items: Sequence[T], call: Callable[[T, Callable[[], bool]], R], jobs: int, *,
              on_start: Callable[[T], None] = lambda item: None, on_done: Callable[[T, R], None] = lambda i, r: None,
              on_interrupt: Optional[Callable[[BaseException], None]] = None,
              name: str = "automux", warm: Optional[Callable[[T], str]] = None) -> List[R]:
    """``call(item, stopped)`` for every item, ``jobs`` at a time; the results in the items' order.

    ``on_start`` runs as an item starts, ``on_done`` as it ends (in this thread).
    ``stopped()`` turns true once this process was interrupted. On an interrupt
    (or any error) while items run in threads, ``on_interrupt`` ends their workers
    (by default, for an interrupt: SIGTERM to this process's worker groups, which
    record their runs as interrupted), no more start, and the exception propagates
    once the threads are done.

    ``warm`` (an item's backend name): the runs keep a backend's expensive runtime (H2O's JVM) up
    across the items of that backend, one run at a time per runtime (:mod:`automux.core.run.warm`);
    every runtime is stopped when this returns or raises. None: every run starts its own.
    """
    if warm is None:
        return _run_local(items, call, jobs, on_start, on_done, on_interrupt, name)
    with WarmPool(max_runtimes=jobs, planned=[warm(item) for item in items]) as pool:
        return _run_local(items, lambda item, stopped: pool.call_active(call, item, stopped), jobs, on_start,
                          on_done, on_interrupt, name)


def _run_local(items: Sequence[T], call: Callable[[T, Callable[[], bool]], R], jobs: int,
               on_start: Callable[[T], None], on_done: Callable[[T, R], None],
               on_interrupt: Optional[Callable[[BaseException], None]], name: str) -> List[R]:
    if jobs == 1 or len(items) <= 1:
        results = []
        for item in items:
            on_start(item)
            results.append(call(item, lambda: False))
            on_done(item, results[-1])
        return results
    stop = threading.Event()
    pending = list(enumerate(items))
    running: Dict[Any, int] = {}
    results_by: Dict[int, R] = {}
    processes.clear_interrupt()
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(items)), thread_name_prefix=name)
    try:
        while pending or running:
            while pending and len(running) < jobs:
                index, item = pending.pop(0)
                on_start(item)
                running[pool.submit(call, item, stop.is_set)] = index
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                index = running.pop(fut)
                results_by[index] = fut.result()
                on_done(items[index], results_by[index])
    except BaseException as e:  # the main thread took the signal (or a run raised): end the runs in flight
        stop.set()
        (on_interrupt or _interrupt_workers)(e)
        pool.shutdown(wait=True, cancel_futures=True)
        processes.clear_interrupt()
        raise
    pool.shutdown(wait=True)
    processes.clear_interrupt()
    return [results_by[i] for i in range(len(items))]


def _interrupt_workers(exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt):
        processes.interrupt_own_groups(exc)


# -- compare: one run per backend ------------------------------------------------------------------


def compare_all(exp: Experiment, adapters: Sequence[Adapter], *, store: RunStore,
                options: Dict[str, Dict[str, Any]], jobs: int = 1, executor: str = "local",
                scheduler: Optional[str] = None, scheduler_timeout: float = 20.0, warm: bool = True,
                **execute_kwargs: Any) -> List[RunRecord]:
    """Records of ``exp`` on each adapter, in the adapters' order (the same records a sequential
    compare gives: under a count budget, the same predictions hashes). ``warm``: locally, an adapter's
    runtime (H2O's JVM) is kept up across its runs (see :func:`run_local`: only a backend named more than
    once has runs to share one); never on Dask or inline."""
    check(executor, jobs, scheduler, "backend")
    if executor == "dask":
        return _compare_on_dask(exp, adapters, store, options, scheduler or "", scheduler_timeout, execute_kwargs)
    return run_local(adapters, lambda a, stopped: execute(exp, a, options=options.get(a.name), store=store,
                                                          **execute_kwargs), jobs, name="automux-compare",
                     warm=(lambda a: a.name) if warm and not execute_kwargs.get("inline") else None)


def _remote_execute(exp: Experiment, adapter_name: str, store_root: str, options: Optional[Dict[str, Any]],
                    execute_kwargs: Dict[str, Any]) -> str:
    """The Dask task: one run, stored in ``store_root``; returns the run id."""
    record = execute(exp, adapter_name, options=options, store=RunStore(store_root), **execute_kwargs)
    return record.run_id


def _compare_on_dask(exp: Experiment, adapters: Sequence[Adapter], store: RunStore,
                     options: Dict[str, Dict[str, Any]], scheduler: str, timeout: float,
                     execute_kwargs: Dict[str, Any]) -> List[RunRecord]:
    """Each backend's run as one task; the worker stores the record, it is read back here."""
    kwargs = {k: v for k, v in execute_kwargs.items() if k != "progress"}  # progress stays on this machine
    client = dask_client(scheduler, timeout)
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
