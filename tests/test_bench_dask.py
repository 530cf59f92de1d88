"""The Dask executor against a real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Set

import pytest

pytest.importorskip("distributed")
pytest.importorskip("yaml")

from automux.bench import run_suite
from automux.bench.results import COLUMNS, read_results
from automux.bench.suite import load_suite, suite_from_dict

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "benchmarks" / "suites" / "smoke.yaml"
DASK = str(Path(sys.executable).with_name("dask"))


def _children(pid: int) -> Set[int]:
    """Every descendant of ``pid`` (from /proc), itself included."""
    parents: Dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = {pid}, [pid]
    while todo:
        p = todo.pop()
        for child, parent in parents.items():
            if parent == p and child not in out:
                out.add(child)
                todo.append(child)
    return out


def _socket_inodes(pid: int) -> Set[str]:
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", link)
            if m:
                out.add(m.group(1))
    except OSError:
        pass
    return out


def _listening() -> Dict[str, str]:
    """inode -> local address of every listening TCP socket (IPv4 and IPv6)."""
    out = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(name):
            continue
        for line in Path(name).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] != "0A":  # LISTEN
                continue
            out[f[9]] = f[1]  # HEXADDR:HEXPORT
    return out


def _is_loopback(local: str) -> bool:
    hex_addr = local.split(":")[0]
    if len(hex_addr) == 8:  # IPv4, little-endian: 127.x.x.x ends with 7F
        return hex_addr.endswith("7F")
    return hex_addr in ("00000000000000000000000001000000",) or hex_addr.startswith("0000000000000000FFFF0000") \
        and hex_addr.endswith("7F")


def _start(args: List[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=str(log.parent))


def _wait_for(pattern: str, log: Path, timeout: float = 90.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = re.search(pattern, log.read_text(errors="replace")) if log.exists() else None
        if m:
            return m.group(1)
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not seen in {log}:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.slow
def test_dask_executor_runs_the_smoke_grid_on_a_loopback_cluster(tmp_path):
    smoke = load_suite(SMOKE).to_json()
    # The smoke grid, one fold and no repeat: 2 data sets x 2 backends = 4 cells.
    suite = suite_from_dict({k: v for k, v in {
        "name": "smoke-dask", "datasets": [d["source"] for d in smoke["datasets"]], "folds": 1,
        "cv_folds": smoke["cv_folds"], "seeds": smoke["seeds"], "repeats": 1,
        "constraints": [c["name"] for c in smoke["constraints"]],
        "backends": [{"name": b["name"], "options": b["options"]} for b in smoke["backends"]]}.items()})
    procs: List[subprocess.Popen] = []
    try:
        sched_log = tmp_path / "scheduler.log"
        # --no-dashboard alone still serves HTTP (health, metrics) on 0.0.0.0:8787: bind it too.
        procs.append(_start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                             "--dashboard-address", "127.0.0.1:0"], sched_log))
        address = _wait_for(r"Scheduler at:\s+(tcp://127\.0\.0\.1:\d+)", sched_log)
        for i in range(2):
            wdir = tmp_path / f"worker{i}"
            wdir.mkdir()
            log = tmp_path / f"worker{i}.log"
            procs.append(_start([DASK, "worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
                                 "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--local-directory", str(wdir)],
                                log))
            _wait_for(r"(Registered to):", log)

        # Every listening socket of every Dask process (scheduler, nannies, workers) is on loopback.
        listening = _listening()
        pids = set().union(*(_children(p.pid) for p in procs))
        bound = {listening[i] for pid in pids for i in _socket_inodes(pid) if i in listening}
        assert len(bound) >= 5, f"expected the scheduler, 2 nannies and 2 workers to listen, saw {bound}"
        assert all(_is_loopback(a) for a in bound), f"a Dask process listens beyond 127.0.0.1: {bound}"

        out = tmp_path / "out"
        summary = run_suite(suite, out, executor="dask", scheduler=address, progress=False)
        assert summary.ran == 4 and summary.remaining == 0 and not summary.lost
        df = read_results(out)
        assert list(df.columns[: len(COLUMNS)]) == COLUMNS
        assert len(df) == 4 and set(df["mode"]) == {"dask"} and set(df["status"]) == {"ok"}, df.to_string()
        assert df["result"].notna().all() and (df["models_count"] == 5).all()
        # The same cells run again: nothing left to do.
        again = run_suite(suite, out, executor="dask", scheduler=address, progress=False)
        assert again.ran == 0 and again.already_done == 4
        all_pids = set().union(*(_children(p.pid) for p in procs))
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    time.sleep(0.5)
    alive = [pid for pid in all_pids if os.path.exists(f"/proc/{pid}") and
             "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert not alive, f"Dask processes left behind: {alive}"
