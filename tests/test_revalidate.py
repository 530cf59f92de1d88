"""The stand-alone re-validation starts through the launcher: an overrun ends its whole process group."""
from __future__ import annotations

import os
import time

import automux
from automux.core.run import processes
from automux.core.run.revalidate import revalidate

OVERRUNNING = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open({pid_file!r}, "w").write(str(child.pid))
time.sleep(120)

def build_model():
    raise AssertionError("never reached")
"""


def test_an_overrunning_rebuild_is_killed_with_its_children(tmp_path):
    exp = automux.experiment("sklearn:iris", budget_trials=1, seed=1)
    pid_file = tmp_path / "child.pid"
    code = tmp_path / "candidate.py"
    code.write_text(OVERRUNNING.format(pid_file=str(pid_file)), encoding="utf-8")
    t0 = time.time()
    out = revalidate(code, exp, [1], timeout_s=3)
    assert out == {"error": "the rebuild overran 3s and was killed"}
    assert time.time() - t0 < 30
    child = int(pid_file.read_text())
    end = time.monotonic() + 5
    while processes.started_after(child, t0) and time.monotonic() < end:
        time.sleep(0.1)
    assert not processes.started_after(child, t0), "the candidate's child outlived the rebuild"
    assert processes.own_groups() == []


def test_a_failing_candidate_reports_its_last_line(tmp_path):
    exp = automux.experiment("sklearn:iris", budget_trials=1, seed=1)
    code = tmp_path / "candidate.py"
    code.write_text("raise RuntimeError('no model here')\n", encoding="utf-8")
    out = revalidate(code, exp, [1], timeout_s=60)
    assert out["error"] == "the candidate file failed in a fresh interpreter: RuntimeError: no model here"
    assert "Traceback" in out["log"] and os.path.basename(str(code)) in out["log"]
