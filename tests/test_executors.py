"""automux.executors: the one local/Dask executor module compare and bench share, and its one error class."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from automux.core.errors import UserError
from automux.core.run import processes
from automux.executors import ExecutorError, check, run_local


def test_side_by_side_keeps_the_items_order_and_runs_jobs_at_a_time():
    running, peak, lock = [0], [0], threading.Lock()

    def call(item, stopped):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05 * (5 - item))  # later items finish first
        with lock:
            running[0] -= 1
        return item * 10

    started, done = [], []
    out = run_local([0, 1, 2, 3, 4], call, 2, on_start=started.append, on_done=lambda i, r: done.append((i, r)))
    assert out == [0, 10, 20, 30, 40] and started == [0, 1, 2, 3, 4]
    assert sorted(done) == [(i, i * 10) for i in range(5)] and peak[0] == 2


def test_an_error_stops_the_runs_in_flight_and_starts_no_more():
    seen, ended = [], []

    def call(item, stopped):
        seen.append(item)
        if item == 0:
            raise RuntimeError("boom")
        while not stopped():
            time.sleep(0.01)
        return item

    with pytest.raises(RuntimeError, match="boom"):
        run_local(list(range(6)), call, 2, on_interrupt=ended.append)
    assert [type(e) for e in ended] == [RuntimeError] and len(seen) <= 3


def test_a_worker_launched_as_the_interrupt_lands_is_ended_too():
    """``bench --jobs 2``: the main thread took SIGINT and ended the groups it knew; a thread that was
    between launching its worker and noting its group must not leave that worker to run its cell out."""
    processes.interrupt_own_groups(KeyboardInterrupt())  # the main thread's side, before the launch
    late = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        processes.track_group(late.pid)  # what the launcher does right after Popen
        assert late.wait(timeout=10) == -signal.SIGTERM
    finally:
        late.kill()
        processes.untrack_group(late.pid)
        processes.clear_interrupt()


@pytest.mark.parametrize("kind, jobs, scheduler, match", [
    ("threads", 1, None, "--executor 'threads': choose one of local, dask"),
    ("local", 0, None, "--jobs 0: run at least one cell at a time"),
    ("local", True, None, "--jobs True"),
    ("dask", 1, None, "--executor dask needs --scheduler"),
])
def test_what_cannot_be_used_is_one_user_error(kind, jobs, scheduler, match):
    with pytest.raises(ExecutorError, match=match.replace("(", r"\(")) as e:
        check(kind, jobs, scheduler, "cell")
    assert isinstance(e.value, UserError)
