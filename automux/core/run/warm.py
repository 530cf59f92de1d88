"""A warm runtime across runs: a compare or a bench keeps an adapter's expensive runtime (H2O's JVM) up.

The pool belongs to the parent of a compare or a bench on the local executor
(:func:`automux.executors.run_local` with ``warm=True``); a single ``automux run``,
``verify``, ``predict`` and the Dask executor have none, so their runs stay cold.
The launcher asks :func:`lease` for a runtime before it launches a search job's
worker and gives it back with :func:`release` after the worker's group has ended.

An adapter takes part by defining two methods (duck-typed: every other adapter
runs cold, as before):

* ``warm_key(options, cores, memory_mb) -> Hashable or None``: which runtime a run
  with these settings can share (H2O: heap and threads), None for none (H2O's
  ``url`` option);
* ``start_warm(key, root) -> runtime``, run in the parent: a started runtime with
  ``pid``, ``running()``, ``stop()`` and ``describe()`` (a JSON dict, e.g. kind and
  port), owned by this process, bound to 127.0.0.1, its files under ``root``.

The worker finds the lease in ``job.json`` (``warm``) and the adapter in
``SearchTask.warm``; it connects to the runtime instead of starting one and
removes every object before and after its run. One run at a time per runtime: a
lease is exclusive, so with ``--jobs N`` runs of the same key each get their own
(at most N runtimes are kept; an idle one of another key is stopped to make
room). A runtime whose worker did not end by itself (killed at its hard stop, an
interrupt, over its memory) is stopped, never lent again. :meth:`WarmPool.close`
stops every runtime the pool started, and the pool's context manager calls it
however the compare or bench ends.
"""
from __future__ import annotations

import collections
import contextvars
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Counter, Dict, Hashable, Iterable, Iterator, List, Optional

from . import processes

_CURRENT: "contextvars.ContextVar[Optional[WarmPool]]" = contextvars.ContextVar("automux_warm_pool", default=None)


@dataclass(eq=False)
class _Entry:
    key: Hashable
    runtime: Any
    start_s: float
    runs: int = 0  # runs it has served (finished)
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class Lease:
    """One run's exclusive use of a runtime; :meth:`to_json` is what ``job.json``'s ``warm`` holds."""

    entry: _Entry
    fresh: bool  # started for this run (its start counted in this run's start-up)

    def to_json(self) -> Dict[str, Any]:
        """The runtime's identity, whether it was warm (served runs before) and how many it served."""
        return dict(self.entry.runtime.describe(), pid=self.entry.runtime.pid, warm=not self.fresh,
                    runs_served=self.entry.runs, start_s=round(self.entry.start_s, 3))


class WarmPool:
    """Runtimes kept up across the runs of one compare or bench (see the module docstring)."""

    def __init__(self, max_runtimes: int = 1, planned: Optional[Iterable[str]] = None) -> None:
        self.max_runtimes = max(1, int(max_runtimes))
        #: Runs still to come per adapter name (None: unknown): a runtime is started only for a run
        #: that has a later run of its adapter to serve; the last one of its kind starts its own.
        self._planned: "Optional[Counter[str]]" = None if planned is None else collections.Counter(planned)
        self._lock = threading.Lock()
        self._idle: List[_Entry] = []
        self._busy: List[_Entry] = []
        self._root: Optional[Path] = None
        self._closed = False
        self.started = 0  # runtimes started, for tests and the record's account

    def __enter__(self) -> "WarmPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def active(self) -> Iterator["WarmPool"]:
        """Make this the pool the launcher leases from, in this thread, for the ``with`` block."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def call_active(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` with this pool active in the calling thread (how an executor runs each item)."""
        with self.active():
            return fn(*args)

    def lease(self, adapter: Any, options: Dict[str, Any], cores: int, memory_mb: Optional[int]) -> Optional[Lease]:
        """An idle runtime of the run's key, else a new one; None when the adapter keeps none warm."""
        key_of = getattr(adapter, "warm_key", None)
        if key_of is None or not hasattr(adapter, "start_warm"):
            return None
        key = key_of(dict(options or {}), int(cores or 1), memory_mb)
        if key is None:
            return None
        evict: List[_Entry] = []
        with self._lock:
            later = None if self._planned is None else self._planned[adapter.name] - 1
            if self._planned is not None:
                self._planned[adapter.name] = max(0, later)
            if self._closed:
                return None
            for entry in list(self._idle):
                if not entry.runtime.running():
                    self._idle.remove(entry)
                    evict.append(entry)
            entry = next((e for e in self._idle if e.key == key), None)
            if entry is not None:
                self._idle.remove(entry)
                self._busy.append(entry)
            elif later is not None and later <= 0:
                root = None  # no later run of this adapter to serve: this one starts its own, as cold runs do
            else:
                while self._idle and len(self._idle) + len(self._busy) >= self.max_runtimes:
                    evict.append(self._idle.pop(0))  # the oldest idle runtime of another key makes room
                root = self._new_root()
        for old in evict:
            _stop(old)
        if entry is not None:
            return Lease(entry, fresh=False)
        if root is None:
            return None
        t0 = time.monotonic()
        runtime = adapter.start_warm(key, root)
        entry = _Entry(key, runtime, time.monotonic() - t0)
        with self._lock:
            self.started += 1
            self._busy.append(entry)
            closed = self._closed
        processes.track_group(runtime.pid)  # an interrupt ends it with the worker groups
        if closed:  # closed while it started (an interrupt): it must not outlive the pool
            self.release(Lease(entry, True), reusable=False)
            return None
        return Lease(entry, fresh=True)

    def _new_root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="automux-warm-"))
        root = self._root / f"rt{len(self._idle) + len(self._busy)}-{time.monotonic_ns()}"
        return root

    def release(self, lease: Lease, reusable: bool) -> None:
        """Give the runtime back after its run: idle for the next run of its key, or stopped."""
        entry = lease.entry
        entry.runs += 1
        entry.last_used = time.monotonic()
        with self._lock:
            if entry in self._busy:
                self._busy.remove(entry)
            keep = reusable and not self._closed and entry.runtime.running()
            if keep:
                self._idle.append(entry)
        if not keep:
            _stop(entry)

    def runtimes(self) -> List[Dict[str, Any]]:
        """What the pool holds now: each runtime's identity, key, runs served and whether it is busy."""
        with self._lock:
            rows = [(e, False) for e in self._idle] + [(e, True) for e in self._busy]
        return [dict(e.runtime.describe(), pid=e.runtime.pid, runs_served=e.runs, busy=busy) for e, busy in rows]

    def close(self) -> None:
        """Stop every runtime the pool started (idle or not) and remove their files; idempotent."""
        with self._lock:
            self._closed = True
            entries, self._idle, self._busy = self._idle + self._busy, [], []
            root, self._root = self._root, None
        for entry in entries:
            _stop(entry)
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def _stop(entry: _Entry) -> None:
    pid = entry.runtime.pid
    try:
        entry.runtime.stop()
    finally:
        if pid is not None:
            processes.end_group(pid, 3.0)  # anything the runtime left in its own group
            processes.untrack_group(pid)


def current() -> Optional[WarmPool]:
    """The pool this thread's runs lease from (inside :meth:`WarmPool.active`), or None: runs stay cold."""
    return _CURRENT.get()


def lease(job: Dict[str, Any], python: str) -> Optional[Lease]:
    """For a search job about to launch: a runtime from the current pool, or None (no pool, another
    interpreter than this one, an adapter that keeps none warm, or the runtime did not start: the
    run then starts its own, cold, and the log says why)."""
    import sys

    pool = current()
    if pool is None or job.get("kind", "search") != "search" or python != sys.executable:
        return None
    try:
        import importlib

        ref = job["adapter"]  # the class the worker will load (module + class, as registered or given)
        adapter = getattr(importlib.import_module(ref["module"]), ref["class"])()
        budget = job.get("budget") or {}
        return pool.lease(adapter, job.get("options") or {}, budget.get("cores") or 1, budget.get("memory_mb"))
    except Exception as e:  # the run goes on cold: a warm runtime is an optimisation, never a failure
        job["warm_error"] = f"{type(e).__name__}: {e}"
        return None


def release(lease_: Optional[Lease], reusable: bool) -> None:
    """Give back what :func:`lease` lent (nothing for None)."""
    pool = current()
    if lease_ is None:
        return
    if pool is None:
        _stop(lease_.entry)
        return
    pool.release(lease_, reusable)
