"""Interrupts are runs too: SIGINT / SIGTERM / SIGHUP store an ``interrupted`` record; nothing outlives the CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from helpers import run_cli

LEFTOVER_WAIT_S = 10.0


def _processes_mentioning(text: str) -> List[str]:
    """Command lines of live processes (other than this test) that mention ``text``: workers, JVMs, Dask."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            out.append(f"{entry}: {cmd[:200]}")
    return out


def _no_leftovers(text: str) -> List[str]:
    end = time.monotonic() + LEFTOVER_WAIT_S
    left = _processes_mentioning(text)
    while left and time.monotonic() < end:
        time.sleep(0.25)
        left = _processes_mentioning(text)
    return left


def _start(store: Path, *args: str) -> subprocess.Popen:
    """The CLI as a user's shell starts it: SIGINT at its default (a non-interactive shell would ignore it)."""
    return subprocess.Popen([sys.executable, "-m", "automux", *args, "--store", str(store), "--no-check"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_candidates(store: Path, proc: subprocess.Popen, n: int = 1, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.communicate()}"
        files = list(store.glob("*/candidates.jsonl"))
        if files and sum(f.read_text().count("\n") for f in files) >= n:
            return
        time.sleep(0.2)
    proc.kill()
    pytest.fail("no candidate appeared in time")


def _listed(store: Path) -> List[dict]:
    proc = run_cli("runs", "list", "--json", "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _shown(store: Path, run_id: str) -> dict:
    proc = run_cli("runs", "show", run_id, "--json", "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signalled_run_is_recorded_as_interrupted_and_leaves_nothing(tmp_path, sig):
    store = tmp_path / "runs"
    proc = _start(store, "run", "--data", "sklearn:breast_cancer", "--backend", "reference",
                  "--budget-trials", "100000", "--seed", "3")
    _wait_for_candidates(store, proc)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=120)  # a loaded CI machine once took over 60 s here
    assert proc.returncode == 128 + sig, err
    assert "interrupted" in err and "Traceback" not in err
    assert not _no_leftovers(str(store))
    rows = _listed(store)
    assert [r["status"] for r in rows] == ["interrupted"]
    record = _shown(store, rows[0]["run_id"])
    assert record["candidates"], "the candidates found before the signal are kept"
    assert record["extra"]["signal"] == signal.Signals(sig).name
    assert "interrupted by" in record["error"]


def test_kill_9_of_the_cli_ends_the_worker_too(tmp_path):
    store = tmp_path / "runs"
    proc = _start(store, "run", "--data", "sklearn:breast_cancer", "--backend", "reference",
                  "--budget-trials", "100000")
    _wait_for_candidates(store, proc)
    assert any("automux.core.run.worker" in p for p in _processes_mentioning(str(store)))
    proc.kill()
    proc.communicate(timeout=30)
    assert not _no_leftovers(str(store)), "the worker outlived its parent"


def test_compare_interrupted_records_the_run_in_flight_and_starts_no_more(tmp_path):
    store = tmp_path / "runs"
    proc = _start(store, "compare", "--data", "sklearn:iris", "--backends", "reference,optuna",
                  "--budget-trials", "100000")
    _wait_for_candidates(store, proc)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert not _no_leftovers(str(store))
    rows = _listed(store)
    assert [(r["backend"], r["status"]) for r in rows] == [("reference", "interrupted")]


@pytest.mark.slow
def test_an_interrupted_h2o_run_leaves_no_jvm(tmp_path):
    pytest.importorskip("h2o")
    store = tmp_path / "runs"
    proc = _start(store, "run", "--data", "sklearn:breast_cancer", "--backend", "h2o", "--budget-trials", "40")
    # H2O reports its candidates at the end: interrupt once its JVM is up (its ice_root is in the job dir).
    end = time.monotonic() + 240
    while time.monotonic() < end and not any("java" in p for p in _processes_mentioning(str(store))):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
    assert any("java" in p for p in _processes_mentioning(str(store))), "the JVM never started"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert not _no_leftovers(str(store)), "a JVM or worker outlived the interrupted run"
    assert [r["status"] for r in _listed(store)] == ["interrupted"]
