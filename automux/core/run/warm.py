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
  port), owned by this process, bound to 127.0.0.1, its files under ``root``. It may
  give up early when the file ``root/CANCELLED`` appears (the pool no longer wants it).

Each runtime starts, lives and stops in a keeper thread of its own (a daemon
thread, so a runtime that dies with the thread that started it dies with this
process). An adapter with ``warm_overlap = True`` gets its lease at once, while
the runtime is still starting: its worker launches, imports and reads its data
meanwhile, and its ``start_up`` calls :func:`await_runtime` on ``task.warm`` (a
``pending`` lease: the file the pool writes the runtime's identity to once it
answers, or why it did not start). Other adapters get their lease once the
runtime is up. Either way the runtime's start is bounded by the run's start-up
cap (the launcher's hard stop), and the run starts its own runtime when the lent
one did not start.

The worker finds the lease in ``job.json`` (``warm``) and the adapter in
``SearchTask.warm``; it connects to the runtime instead of starting one and
removes every object before and after its run. One run at a time per runtime: a
lease is exclusive, so with ``--jobs N`` runs of the same key each get their own
(at most N runtimes are kept; an idle one of another key is stopped to make
room). A runtime whose worker did not end by itself (killed at its hard stop, an
interrupt, over its memory) is stopped, never lent again (one still starting is
cancelled). :meth:`WarmPool.close` stops every runtime the pool started, and the
pool's context manager calls it however the compare or bench ends.
"""
from __future__ import annotations

import collections
import contextvars
import json
import os
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

#: Written in a runtime's root to ask a start still in progress to give up (see the module docstring).
CANCELLED = "CANCELLED"
#: Written in a runtime's root once it answers (its identity) or failed to start (``error``).
READY = "ready.json"
#: Seconds :meth:`WarmPool.close` waits for starts in progress to give up.
CLOSE_WAIT_S = 10.0


@dataclass(eq=False)
class _Entry:
    key: Hashable
    root: Path
    runtime: Any = None  # None while starting (or when the start failed: ``error``)
    start_s: float = 0.0
    runs: int = 0  # runs it has served (finished)
    last_used: float = field(default_factory=time.monotonic)
    error: Optional[str] = None
    discard: bool = False  # stop it as soon as it is started
    ready: threading.Event = field(default_factory=threading.Event)  # started, or failed to
    stopped: threading.Event = field(default_factory=threading.Event)  # the keeper thread may end
    lock: threading.Lock = field(default_factory=threading.Lock)
    keeper: Optional[threading.Thread] = None

    def alive(self) -> bool:
        """Starting, or started and running."""
        if not self.ready.is_set():
            return not self.discard
        return self.runtime is not None and self.runtime.running()

    def identity(self) -> Dict[str, Any]:
        return dict(self.runtime.describe(), pid=self.runtime.pid, start_s=round(self.start_s, 3))


@dataclass
class Lease:
    """One run's exclusive use of a runtime; :meth:`to_json` is what ``job.json``'s ``warm`` holds."""

    entry: _Entry
    fresh: bool  # started for this run (its start counted in this run's start-up)

    def to_json(self) -> Dict[str, Any]:
        """The runtime's identity, whether it was warm (served runs before) and how many it served; for a
        runtime still starting, ``pending`` (the file :func:`await_runtime` reads its identity from) instead."""
        own = {"warm": not self.fresh, "runs_served": self.entry.runs}
        if not self.entry.ready.is_set():
            return dict(own, pending=str(self.entry.root / READY))
        return dict(self.entry.identity(), **own)


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
        self._keepers: List[threading.Thread] = []
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
        """An idle runtime of the run's key, else a new one; None when the adapter keeps none warm.

        With ``warm_overlap`` on the adapter the lease may be pending (the runtime still starting);
        otherwise this waits until the runtime answers.

        Raises:
            RuntimeError: the runtime did not start (the run then starts its own).
        """
        key_of = getattr(adapter, "warm_key", None)
        if key_of is None or not hasattr(adapter, "start_warm"):
            return None
        key = key_of(dict(options or {}), int(cores or 1), memory_mb)
        if key is None:
            return None
        entry, fresh, evict = self._take(adapter.name, key)
        for old in evict:
            _stop(old)
        if entry is None:
            return None
        if fresh:
            self._start(entry, adapter)
        lease_ = Lease(entry, fresh=fresh)
        if not getattr(adapter, "warm_overlap", False):
            try:
                entry.ready.wait()
            except BaseException:  # interrupted while it starts: it must not outlive the pool
                self.release(lease_, reusable=False)
                raise
        if entry.ready.is_set() and entry.runtime is None:
            self.release(lease_, reusable=False)
            raise RuntimeError(f"the warm runtime did not start: {entry.error}")
        return lease_

    def _take(self, name: str, key: Hashable) -> "tuple[Optional[_Entry], bool, List[_Entry]]":
        """Under the lock: (an idle entry of ``key`` or a new one, whether new, the entries to stop)."""
        evict: List[_Entry] = []
        with self._lock:
            later = None if self._planned is None else self._planned[name] - 1
            if self._planned is not None:
                self._planned[name] = max(0, later)
            if self._closed:
                return None, False, evict
            for entry in list(self._idle):
                if not entry.alive():
                    self._idle.remove(entry)
                    evict.append(entry)
            entry = next((e for e in self._idle if e.key == key), None)
            if entry is not None:
                self._idle.remove(entry)
                self._busy.append(entry)
                return entry, False, evict
            if later is not None and later <= 0:
                return None, False, evict  # no later run of this adapter to serve: it starts its own, as cold runs do
            while self._idle and len(self._idle) + len(self._busy) >= self.max_runtimes:
                evict.append(self._idle.pop(0))  # the oldest idle runtime of another key makes room
            entry = _Entry(key, self._new_root())
            self._busy.append(entry)
            self.started += 1
            return entry, True, evict

    def _start(self, entry: _Entry, adapter: Any) -> None:
        entry.keeper = threading.Thread(target=_keep, args=(entry, adapter), daemon=True,
                                        name=f"automux-warm-{entry.root.name}")
        with self._lock:
            self._keepers.append(entry.keeper)
        entry.keeper.start()

    def _new_root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="automux-warm-"))
        root = self._root / f"rt{len(self._idle) + len(self._busy)}-{time.monotonic_ns()}"
        root.mkdir()
        return root

    def release(self, lease: Lease, reusable: bool) -> None:
        """Give the runtime back after its run: idle for the next run of its key, or stopped."""
        entry = lease.entry
        entry.runs += 1
        entry.last_used = time.monotonic()
        with self._lock:
            if entry in self._busy:
                self._busy.remove(entry)
            keep = reusable and not self._closed and entry.ready.is_set() and entry.alive()
            if keep:
                self._idle.append(entry)
        if not keep:
            _stop(entry)

    def runtimes(self) -> List[Dict[str, Any]]:
        """What the pool holds now: each runtime's identity (None while starting), key, runs served, busy."""
        with self._lock:
            rows = [(e, False) for e in self._idle] + [(e, True) for e in self._busy]
        return [dict(e.identity() if e.runtime is not None else {"pid": None}, runs_served=e.runs, busy=busy)
                for e, busy in rows]

    def close(self) -> None:
        """Stop every runtime the pool started (idle, busy or still starting) and remove their files;
        idempotent. Waits up to :data:`CLOSE_WAIT_S` for starts in progress to give up."""
        with self._lock:
            self._closed = True
            entries, self._idle, self._busy = self._idle + self._busy, [], []
            keepers, self._keepers = self._keepers, []
            root, self._root = self._root, None
        for entry in entries:
            _stop(entry)
        end = time.monotonic() + CLOSE_WAIT_S
        for keeper in keepers:
            keeper.join(max(0.0, end - time.monotonic()))
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def _keep(entry: _Entry, adapter: Any) -> None:
    """The keeper thread: start the runtime, say so in ``READY``, hold it until it is stopped."""
    t0 = time.monotonic()
    try:
        runtime = adapter.start_warm(entry.key, entry.root)
    except BaseException as e:  # noqa: B902 - reported to the run, which starts its own
        entry.error = f"{type(e).__name__}: {e}"
        _write_ready(entry.root, {"error": entry.error})
        entry.ready.set()
        return
    processes.track_group(runtime.pid)  # an interrupt ends it with the worker groups
    with entry.lock:
        entry.runtime, entry.start_s = runtime, time.monotonic() - t0
        discard = entry.discard
        if not discard:
            _write_ready(entry.root, entry.identity())
        entry.ready.set()
    if discard:  # released or closed while it started: it must not outlive the pool
        _halt(entry)
    entry.stopped.wait()


def _write_ready(root: Path, body: Dict[str, Any]) -> None:
    tmp = root / f".{READY}.tmp"
    try:
        tmp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, root / READY)
    except OSError:  # the pool's directory is gone (closed): nobody waits for it any more
        pass


def _stop(entry: _Entry) -> None:
    """Stop the runtime, or cancel its start (the keeper stops it once started)."""
    with entry.lock:
        entry.discard = True
        started = entry.runtime is not None
        if not entry.ready.is_set():
            try:
                (entry.root / CANCELLED).touch()
            except OSError:
                pass
    if started:
        _halt(entry)
    elif entry.ready.is_set():
        entry.stopped.set()  # its start failed: nothing to stop


def _halt(entry: _Entry) -> None:
    runtime = entry.runtime
    pid = runtime.pid
    try:
        runtime.stop()
    finally:
        if pid is not None:
            processes.end_group(pid, 3.0)  # anything the runtime left in its own group
            processes.untrack_group(pid)
        entry.stopped.set()


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


def await_runtime(lent: Dict[str, Any], timeout_s: float = 600.0, poll_s: float = 0.05) -> Dict[str, Any]:
    """In the worker (an adapter's ``start_up``): the lent runtime's identity, once it answers.

    ``lent`` is ``task.warm``; one that is not ``pending`` is returned as is. The wait is bounded
    by the run's start-up cap (the parent's hard stop) and by ``timeout_s``.

    Raises:
        RuntimeError: the runtime did not start (the message says why), or not within ``timeout_s``.
    """
    if not lent.get("pending"):
        return dict(lent)
    path = Path(lent["pending"])
    end = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > end:
            raise RuntimeError(f"the warm runtime did not start within {timeout_s:g}s")
        time.sleep(poll_s)
    body = json.loads(path.read_text(encoding="utf-8"))
    if body.get("error"):
        raise RuntimeError(f"the warm runtime did not start: {body['error']}")
    return dict(body, warm=bool(lent.get("warm")), runs_served=int(lent.get("runs_served") or 0))
